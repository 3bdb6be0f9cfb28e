"""Durable per-item state (the bottom layer); SQLAlchemy loads with ``StateStore``."""

from typing import TYPE_CHECKING, Any

from moderate.state.records import (
    ItemStatus,
    StateRecord,
    exponential_backoff,
    utc_now,
)
from moderate.state.resource import StateStoreResource

if TYPE_CHECKING:
    from moderate.state.store import StateStore

__all__ = [
    "ItemStatus",
    "StateRecord",
    "StateStore",
    "StateStoreResource",
    "exponential_backoff",
    "utc_now",
]


def __getattr__(name: str) -> Any:
    """Loads ``StateStore`` (and with it SQLAlchemy) when it is first asked for."""
    if name == "StateStore":
        from moderate.state.store import StateStore

        return StateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
