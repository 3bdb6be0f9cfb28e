"""Counts that tell an operator how far the trust flows have got."""

from __future__ import annotations

from typing import TYPE_CHECKING

from moderate.state import ItemStatus
from moderate.trust.settings import USER_DID_NAMESPACE

if TYPE_CHECKING:
    from moderate.state.store import StateStore


def did_progress_metadata(
    realm: str, users: int, store: StateStore
) -> dict[str, str | int]:
    """Realm size plus DID states, as asset metadata.

    Args:
        realm: Keycloak realm name.
        users: Number of users of the realm.
        store: State store.

    Returns:
        Metadata entries (``users``, ``did_done``, ``did_pending``, ...).
    """
    counts = store.counts(USER_DID_NAMESPACE)
    tracked = sum(counts.values())
    return {
        "realm": realm,
        "users": users,
        **{f"did_{status.value}": counts[status] for status in ItemStatus},
        "users_not_yet_seen": max(users - tracked, 0),
    }


def summary(metadata: dict[str, str | int]) -> str:
    """One line ``key=value, ...`` for tick messages and logs."""
    return ", ".join(f"{key}={value}" for key, value in metadata.items())
