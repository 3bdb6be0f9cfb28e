"""What a sensor tick requests: paging, batched state lookups, caps and backoff.

Both scans are bounded per tick (pages, runs, wall time) and keep their position
in the sensor cursor, so a restarted daemon resumes where it stopped. Every item
a tick requests is marked pending in the state store with a deadline and one more
attempt; the run key carries the attempt, so a run that was requested but never
ran is requested again, under a new key, once the deadline has passed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Self

from dagster import RunRequest

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiClient
from moderate.state import ItemStatus, PostgresState, StateRecord
from moderate.trust.settings import (
    OBJECT_PROOF_NAMESPACE,
    USER_DID_NAMESPACE,
    TrustSettings,
)

USER_OP = "create_user_did"
PROOF_OP = "create_object_proof"
OBJECTS_PATH = "/asset/object"
NO_HASH_ERROR = "permanent: object has no sha256_hash, a proof can never be made"
RETRYABLE = (ItemStatus.FAILED, ItemStatus.PENDING)


@dataclass(frozen=True)
class TickPlan:
    """Result of one tick.

    Attributes:
        run_requests: Runs to request.
        cursor: Serialised cursor to store.
        metadata: Counts for the operator.
    """

    run_requests: list[RunRequest]
    cursor: str
    metadata: dict[str, Any] = field(default_factory=dict)


class _JsonCursor:
    """A sensor cursor stored as JSON; an empty or unreadable one starts afresh."""

    @classmethod
    def parse(cls, raw: str | None) -> Self:
        """Reads a stored cursor; an empty or unreadable one starts afresh."""
        if not raw:
            return cls()
        try:
            return cls(**json.loads(raw))
        except (TypeError, ValueError):
            return cls()

    def dump(self) -> str:
        """Serialises the cursor."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class UserScanCursor(_JsonCursor):
    """Position of the Keycloak scan.

    Attributes:
        offset: Offset of the next page of the pass in progress; None when no
            pass is in progress.
        pass_count: ``users/count`` when the pass in progress started.
        known_count: ``users/count`` when the last completed pass started.
        last_pass_started_at: ISO time the last pass started.
    """

    offset: int | None = None
    pass_count: int | None = None
    known_count: int | None = None
    last_pass_started_at: str | None = None


@dataclass(frozen=True)
class ObjectScanCursor(_JsonCursor):
    """Position of the scan of objects without proof.

    Attributes:
        after_id: Objects with a larger id come next; 0 starts a new pass.
    """

    after_id: int = 0


class _Budget:
    """Wall-time budget of one tick."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._deadline = clock() + seconds

    def spent(self) -> bool:
        return self._clock() >= self._deadline


def plan_user_tick(
    keycloak: KeycloakResource,
    store: PostgresState,
    raw_cursor: str | None,
    settings: TrustSettings,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
) -> TickPlan:
    """Finds users without DID and requests runs for them, up to the cap.

    A pass over the realm starts when ``users/count`` differs from the count of
    the last completed pass, or when that pass is older than the reconciliation
    interval; Keycloak orders users by username, so new users can appear at any
    offset. A pass spans as many ticks as needed. Failed users whose backoff is
    over, and requests whose deadline passed, fill what the cap leaves.

    Args:
        keycloak: Keycloak resource.
        store: State store.
        raw_cursor: The sensor's cursor.
        settings: Limits.
        now: Current time.
        clock: Monotonic clock for the tick budget.

    Returns:
        The plan of this tick.
    """
    budget = _Budget(settings.tick_budget_s, clock)
    cursor = UserScanCursor.parse(raw_cursor)
    users = keycloak.count_users()
    if cursor.offset is None and _pass_needed(cursor, users, settings, now):
        cursor = UserScanCursor(
            offset=0,
            pass_count=users,
            known_count=cursor.known_count,
            last_pass_started_at=now.isoformat(),
        )
    cap = _room(store, USER_DID_NAMESPACE, settings.max_did_runs_per_tick, settings)
    new_users: list[str] = []
    if cursor.offset is not None and cap > 0:
        offset, complete = _scan_users(
            keycloak, store, cursor.offset, settings, cap, new_users, budget
        )
        cursor = (
            replace(cursor, offset=None, known_count=cursor.pass_count)
            if complete
            else replace(cursor, offset=offset)
        )
    retries = _due(store, USER_DID_NAMESPACE, cap - len(new_users))
    attempts = {name: 1 for name in new_users}
    attempts.update({record.key: record.attempts + 1 for record in retries})
    _mark_requested(store, USER_DID_NAMESPACE, dict.fromkeys(attempts), settings, now)
    requests = [
        RunRequest(
            run_key=f"did-{username}-{attempt}",
            run_config=_op_config(
                USER_OP, {"username": username, "attempt": attempt}, settings
            ),
            tags={
                "feature": "trust",
                "trust/username": username,
                "trust/attempt": str(attempt),
            },
        )
        for username, attempt in attempts.items()
    ]
    counts = store.counts(USER_DID_NAMESPACE)
    metadata: dict[str, Any] = {
        "realm": keycloak.realm,
        "users": users,
        **{f"did_{status.value}": counts[status] for status in ItemStatus},
        "requested_new": len(new_users),
        "requested_retries": len(retries),
        "scan_offset": -1 if cursor.offset is None else cursor.offset,
    }
    return TickPlan(requests, cursor.dump(), metadata)


def _pass_needed(
    cursor: UserScanCursor, users: int, settings: TrustSettings, now: datetime
) -> bool:
    if cursor.known_count != users or cursor.last_pass_started_at is None:
        return True
    started = datetime.fromisoformat(cursor.last_pass_started_at)
    return now - started >= settings.full_reconciliation_interval


def _scan_users(
    keycloak: KeycloakResource,
    store: PostgresState,
    offset: int,
    settings: TrustSettings,
    cap: int,
    found: list[str],
    budget: _Budget,
) -> tuple[int, bool]:
    """Reads pages from ``offset``; returns the next offset and whether the pass ended.

    The offset only moves past a page once every new user on it was requested.
    """
    pages = keycloak.iter_user_pages(settings.user_page_size, first=offset)
    for read, page in enumerate(pages, start=1):
        usernames = [user["username"] for user in page]
        known = store.get_many(USER_DID_NAMESPACE, usernames)
        new = [name for name in usernames if name not in known and name not in found]
        room = cap - len(found)
        found.extend(new[:room])
        if len(new) > room:
            return offset, False
        offset += len(page)
        if len(page) < settings.user_page_size:
            return offset, True
        if (
            len(found) >= cap
            or read >= settings.max_user_pages_per_tick
            or budget.spent()
        ):
            return offset, False
    return offset, True


def plan_object_tick(
    client: PlatformApiClient,
    store: PostgresState,
    raw_cursor: str | None,
    settings: TrustSettings,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
) -> TickPlan:
    """Finds objects without proof that are due and requests runs, up to the cap.

    Objects are read sorted by id, by keyset (``id > after_id``) so objects that
    get a proof meanwhile cannot shift the pages. Objects without hash are
    recorded as failed for good without a run. Objects waiting out a backoff, or
    with a run outstanding, are skipped, except those blocked on an owner whose
    DID has since been recorded, which are due at once.

    Args:
        client: Platform API client.
        store: State store.
        raw_cursor: The sensor's cursor.
        settings: Limits.
        now: Current time.
        clock: Monotonic clock for the tick budget.

    Returns:
        The plan of this tick.
    """
    budget = _Budget(settings.tick_budget_s, clock)
    cursor = ObjectScanCursor.parse(raw_cursor)
    cap = _room(
        store, OBJECT_PROOF_NAMESPACE, settings.max_proof_runs_per_tick, settings
    )
    chosen: dict[str, tuple[dict[str, Any], int]] = {}
    hashless: dict[str, dict[str, Any]] = {}
    after_id = cursor.after_id
    skipped = 0
    pages = 0
    complete = False
    while cap > 0:
        page = _object_page(client, after_id, settings.object_page_size)
        records = store.get_many(OBJECT_PROOF_NAMESPACE, [str(o["id"]) for o in page])
        unblocked = _unblocked_owners(store, records.values())
        full = False
        for obj in page:
            if len(chosen) >= cap:
                full = True
                break
            key = str(obj["id"])
            record = records.get(key)
            after_id = int(obj["id"])
            if not obj.get("sha256_hash"):
                if record is None or record.status is not ItemStatus.FAILED:
                    hashless[key] = _object_value(obj)
                continue
            if record is None:
                chosen[key] = (_object_value(obj), 1)
            elif record.is_due(now) or _blocked_owner(record) in unblocked:
                chosen[key] = (_object_value(obj), record.attempts + 1)
            else:
                skipped += 1
        pages += 1
        if full:
            break
        if len(page) < settings.object_page_size:
            complete = True
            break
        if pages >= settings.max_object_pages_per_tick or budget.spent():
            break
    if hashless:
        store.upsert_many(
            OBJECT_PROOF_NAMESPACE,
            hashless,
            status=ItemStatus.FAILED,
            last_error=NO_HASH_ERROR,
            count_attempt=True,
        )
    _mark_requested(
        store,
        OBJECT_PROOF_NAMESPACE,
        {key: value for key, (value, _) in chosen.items()},
        settings,
        now,
    )
    requests = [
        RunRequest(
            run_key=f"proof-{key}-{attempt}",
            run_config=_op_config(
                PROOF_OP, {"object_id": int(key), "attempt": attempt}, settings
            ),
            tags={
                "feature": "trust",
                "trust/object_id": key,
                "trust/attempt": str(attempt),
            },
        )
        for key, (_, attempt) in chosen.items()
    ]
    next_cursor = ObjectScanCursor(after_id=0 if complete else after_id)
    counts = store.counts(OBJECT_PROOF_NAMESPACE)
    metadata: dict[str, Any] = {
        **{f"proof_{status.value}": counts[status] for status in ItemStatus},
        "requested": len(requests),
        "recorded_without_hash": len(hashless),
        "skipped_waiting": skipped,
        "next_after_id": next_cursor.after_id,
    }
    return TickPlan(requests, next_cursor.dump(), metadata)


def _object_page(
    client: PlatformApiClient, after_id: int, page_size: int
) -> list[dict[str, Any]]:
    filters = [["proof_id", "eq", None], ["id", "gt", after_id]]
    return list(
        client.get_json(
            OBJECTS_PATH,
            {
                "offset": 0,
                "limit": page_size,
                "filters": json.dumps(filters),
                "sorts": json.dumps([["id", "asc"]]),
            },
        )
    )


def _object_value(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "object_id": obj["id"],
        "key": obj.get("key"),
        "asset_id": obj.get("asset_id"),
    }


def _blocked_owner(record: StateRecord) -> str | None:
    if record.status is not ItemStatus.FAILED or not isinstance(record.value, dict):
        return None
    owner = record.value.get("blocked_owner")
    return owner if isinstance(owner, str) else None


def _unblocked_owners(store: PostgresState, records: Iterable[StateRecord]) -> set[str]:
    owners = {owner for record in records if (owner := _blocked_owner(record))}
    if not owners:
        return set()
    dids = store.get_many(USER_DID_NAMESPACE, owners)
    return {name for name, rec in dids.items() if rec.status is ItemStatus.DONE}


def _room(
    store: PostgresState, namespace: str, per_tick: int, settings: TrustSettings
) -> int:
    outstanding = store.count_waiting(namespace, ItemStatus.PENDING)
    return max(0, min(per_tick, settings.max_outstanding_runs - outstanding))


def _due(store: PostgresState, namespace: str, room: int) -> list[StateRecord]:
    if room <= 0:
        return []
    return store.keys_due(namespace, RETRYABLE, room)


def _mark_requested(
    store: PostgresState,
    namespace: str,
    values: Mapping[str, Any],
    settings: TrustSettings,
    now: datetime,
) -> None:
    if values:
        store.upsert_many(
            namespace,
            values,
            status=ItemStatus.PENDING,
            next_attempt_at=now + settings.pending_timeout,
            count_attempt=True,
        )


def _op_config(
    op_name: str, fields: Mapping[str, Any], settings: TrustSettings
) -> dict[str, Any]:
    return {"ops": {op_name: {"config": {**fields, **settings.op_config()}}}}
