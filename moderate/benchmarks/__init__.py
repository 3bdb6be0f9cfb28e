"""Benchmarks printing speed and memory figures; run with python -m."""
