"""What the state store records per item, and retry schedules (no database code)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


class ItemStatus(enum.StrEnum):
    """Lifecycle of one tracked item."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class StateRecord:
    """One row of the state table (timestamps are timezone-aware UTC)."""

    namespace: str
    key: str
    value: Any
    status: ItemStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def is_due(self, now: datetime) -> bool:
        """Whether the item may be tried again at ``now``.

        Never when done; once its next attempt time (a pending item's deadline) has
        passed; without one, at once when pending, never when failed (for good).
        """
        if self.status is ItemStatus.DONE:
            return False
        if self.next_attempt_at is None:
            return self.status is ItemStatus.PENDING
        return self.next_attempt_at <= now


def utc_now() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(UTC)


def exponential_backoff(
    attempts: int, base: timedelta, cap: timedelta, now: datetime
) -> datetime:
    """The next try after ``attempts`` failures: ``now + min(cap, base * 2**(n-1))``."""
    exponent = max(attempts - 1, 0)
    return now + (min(cap, base * (2**exponent)) if exponent < 64 else cap)
