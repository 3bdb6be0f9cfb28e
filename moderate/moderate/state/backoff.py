"""Retry schedules for items that failed."""

from __future__ import annotations

from datetime import datetime, timedelta


def exponential_backoff(
    attempts: int, base: timedelta, cap: timedelta, now: datetime
) -> datetime:
    """Time of the next try after ``attempts`` failed attempts.

    Args:
        attempts: Failed attempts so far (1 after the first failure).
        base: Delay after the first failure.
        cap: Longest delay.
        now: Current time.

    Returns:
        ``now + min(cap, base * 2 ** (attempts - 1))``.
    """
    exponent = max(attempts - 1, 0)
    delay = min(cap, base * (2**exponent)) if exponent < 64 else cap
    return now + delay
