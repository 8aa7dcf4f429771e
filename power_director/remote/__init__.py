"""The director service for remote SUT agents: the agent protocol, MLCommons' v3 protocol, and the
remote workload."""
