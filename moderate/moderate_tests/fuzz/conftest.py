"""Hypothesis profile for the fuzz tests: bounded examples and per-example deadline."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings

FUZZ_MAX_EXAMPLES = 300
FUZZ_DEADLINE = timedelta(seconds=2)

settings.register_profile(
    "moderate-fuzz",
    max_examples=FUZZ_MAX_EXAMPLES,
    deadline=FUZZ_DEADLINE,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("moderate-fuzz")
