"""Durable per-item state shared by the sensors and assets."""

from moderate.state.backoff import exponential_backoff
from moderate.state.resource import StateStoreResource
from moderate.state.store import ItemStatus, PostgresState, StateRecord, utc_now

__all__ = [
    "ItemStatus",
    "PostgresState",
    "StateRecord",
    "StateStoreResource",
    "exponential_backoff",
    "utc_now",
]
