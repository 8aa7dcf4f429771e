"""The director's TOML configuration: the loader, its sections, one meter's settings, multi-node
systems, the meter agent's config, and building a configured driver."""
