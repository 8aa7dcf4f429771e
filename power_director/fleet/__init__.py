"""Meters and SUTs on other machines: the wire between meter agents and the director over MQTT,
the director's ``mqtt-stream`` meter, the agent's journal, and the SUT ↔ director clock."""
