"""Watching a session from outside: the observer interface, a terminal progress line, MQTT telemetry,
the Prometheus exporter."""
