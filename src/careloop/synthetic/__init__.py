"""Deterministic synthetic populations for the demo, tests and benchmarks."""
