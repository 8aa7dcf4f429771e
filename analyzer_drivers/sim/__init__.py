"""Simulators that speak real meter protocols, for testing a setup without hardware."""
