"""One measurement session: its state machine, parts, raw journal, derived files, ranging,
the assembly from a config, and the recording into the results store."""
