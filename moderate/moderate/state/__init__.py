"""Durable per-item state shared by the sensors and assets (the bottom layer)."""

from moderate.state.backoff import exponential_backoff
from moderate.state.resource import (
    StateStoreResource,
    StoreDescription,
    describe_store,
)
from moderate.state.store import ItemStatus, StateRecord, StateStore, utc_now

__all__ = [
    "ItemStatus",
    "StateRecord",
    "StateStore",
    "StateStoreResource",
    "StoreDescription",
    "describe_store",
    "exponential_backoff",
    "utc_now",
]
