"""What a sensor tick requests: paging, batched state lookups, batches and caps.

Both scans are bounded per tick (pages, runs, wall time) and keep their position
in the sensor cursor, so a restarted daemon resumes where it stopped. A tick
claims the items it requests in the state store (pending until a deadline, one
more attempt, a fencing token each) and groups them into batch runs of up to
``batch_size`` items. It requests no more runs than the flow's room in the run
queue (``max_runs_in_flight`` minus the runs still queued or running), and never
re-requests items held by a run that is still queued or running, even past their
deadline: such a run will get to them.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

from dagster import RunRequest
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiClient
from moderate.state import ItemStatus, StateRecord
from moderate.trust.settings import (
    BATCH_TAG,
    FEATURE_TAGS,
    ITEMS_TAG,
    OBJECT_PROOFS,
    USER_DIDS,
    Flow,
    TrustSettings,
)

if TYPE_CHECKING:
    from moderate.state.store import StateStore

OBJECTS_PATH = "/asset/object"
NO_HASH_ERROR = "permanent: object has no sha256_hash, a proof can never be made"
RETRYABLE = (ItemStatus.FAILED, ItemStatus.PENDING)
MAX_CURSOR_INT = 2**31 - 1
CursorInt = Annotated[int, Field(ge=0, le=MAX_CURSOR_INT)]


@dataclass(frozen=True)
class InFlight:
    """The flow's runs that are still queued or running, and the item keys they hold."""

    runs: int = 0
    held: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TickPlan:
    """Result of one tick.

    Attributes:
        run_requests: Runs to request.
        cursor: Serialised cursor to store.
        metadata: Counts for the operator.
        cursor_reset: Why the stored cursor was unreadable and reset, if it was.
    """

    run_requests: list[RunRequest]
    cursor: str
    metadata: dict[str, Any] = field(default_factory=dict)
    cursor_reset: str | None = None


class _JsonCursor(BaseModel):
    """A sensor cursor stored as JSON, validated strictly when read."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    @classmethod
    def read(cls, raw: str | None) -> tuple[Self, str | None]:
        """Reads a stored cursor; never raises.

        Args:
            raw: The stored cursor.

        Returns:
            The cursor, and the reason it was reset when ``raw`` was unreadable
            (None when it was read, or empty: a first tick).
        """
        if not raw:
            return cls(), None
        try:
            return cls.model_validate_json(raw), None
        except (ValidationError, ValueError, RecursionError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            return cls(), f"unreadable {cls.__name__} reset ({reason})"


class UserScanCursor(_JsonCursor):
    """Position of the Keycloak scan.

    Attributes:
        offset: Offset of the next page of the pass in progress; None when no
            pass is in progress.
        pass_count: ``users/count`` when the pass in progress started.
        known_count: ``users/count`` when the last completed pass started.
        last_pass_started_at: When the last pass started.
    """

    offset: CursorInt | None = None
    pass_count: CursorInt | None = None
    known_count: CursorInt | None = None
    last_pass_started_at: AwareDatetime | None = None


class ObjectScanCursor(_JsonCursor):
    """Position of the scan of objects without proof.

    Attributes:
        after_id: Objects with a larger id come next; 0 starts a new pass.
    """

    after_id: CursorInt = 0


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
    counts = _status_counts(USER_DIDS, store)
    seen = sum(counts.values())
    return {
        "realm": realm,
        "users": users,
        **counts,
        "users_not_yet_seen": max(users - seen, 0),
    }


def plan_user_tick(
    keycloak: KeycloakResource,
    store: StateStore,
    raw_cursor: str | None,
    settings: TrustSettings,
    now: datetime,
    in_flight: InFlight,
) -> TickPlan:
    """Finds users without DID and requests batch runs for them, up to the room.

    A pass over the realm starts when ``users/count`` differs from the count of
    the last completed pass, or when that pass is older than the reconciliation
    interval; Keycloak orders users by username, so new users can appear at any
    offset. A pass spans as many ticks as needed. Failed users whose backoff is
    over, and claims whose deadline passed (unless a live run holds them), fill
    what the room leaves.

    Args:
        keycloak: Keycloak resource.
        store: State store.
        raw_cursor: The sensor's cursor.
        settings: Limits.
        now: Current time.
        in_flight: The flow's runs still queued or running.

    Returns:
        The plan of this tick.
    """
    deadline = time.monotonic() + settings.tick_budget_s
    cursor, reset = UserScanCursor.read(raw_cursor)
    users = keycloak.count_users()
    if cursor.offset is None and (
        cursor.known_count != users
        or cursor.last_pass_started_at is None
        or now - cursor.last_pass_started_at >= settings.full_reconciliation_interval
    ):
        cursor = cursor.model_copy(
            update={"offset": 0, "pass_count": users, "last_pass_started_at": now}
        )
    room = _room(settings, in_flight)
    new_users: list[str] = []
    if cursor.offset is not None and room > 0:
        offset, complete = _scan_users(
            keycloak, store, cursor.offset, settings, room, new_users, deadline
        )
        cursor = cursor.model_copy(
            update=(
                {"offset": None, "known_count": cursor.pass_count}
                if complete
                else {"offset": offset}
            )
        )
    retries = _due(store, room - len(new_users), in_flight)
    claimed, requests = _claim(
        USER_DIDS, store, dict.fromkeys([*new_users, *retries]), settings, now
    )
    metadata = {
        **did_progress_metadata(keycloak.realm, users, store),
        "requested_runs": len(requests),
        "requested_new": len([name for name in new_users if name in claimed]),
        "requested_retries": len([name for name in retries if name in claimed]),
        "runs_in_flight": in_flight.runs,
        "scan_offset": -1 if cursor.offset is None else cursor.offset,
    }
    return TickPlan(requests, cursor.model_dump_json(), metadata, reset)


def _scan_users(
    keycloak: KeycloakResource,
    store: StateStore,
    offset: int,
    settings: TrustSettings,
    room: int,
    found: list[str],
    deadline: float,
) -> tuple[int, bool]:
    """Reads pages from ``offset``; returns the next offset and whether the pass ended.

    The offset only moves past a page once every new user on it was requested.
    """
    pages = keycloak.iter_user_pages(settings.user_page_size, first=offset)
    for read, page in enumerate(pages, start=1):
        usernames = [user["username"] for user in page]
        known = store.get_many(USER_DIDS.namespace, usernames)
        new = [name for name in usernames if name not in known and name not in found]
        left = room - len(found)
        found.extend(new[:left])
        if len(new) > left:
            return offset, False
        offset += len(page)
        if len(page) < settings.user_page_size:
            return offset, True
        if (
            len(found) >= room
            or read >= settings.max_user_pages_per_tick
            or time.monotonic() >= deadline
        ):
            return offset, False
    return offset, True


def _due(store: StateStore, room: int, in_flight: InFlight) -> list[str]:
    """Users due for a retry that no live run holds, up to ``room``."""
    if room <= 0:
        return []
    due = store.keys_due(USER_DIDS.namespace, RETRYABLE, room + len(in_flight.held))
    return [r.key for r in due if r.key not in in_flight.held][:room]


def plan_object_tick(
    client: PlatformApiClient,
    store: StateStore,
    raw_cursor: str | None,
    settings: TrustSettings,
    now: datetime,
    in_flight: InFlight,
) -> TickPlan:
    """Finds objects without proof that are due and requests batch runs.

    Objects are read sorted by id, by keyset (``id > after_id``) so objects that
    get a proof meanwhile cannot shift the pages. Objects without hash are
    recorded as failed for good without a run. Objects waiting out a backoff, or
    held by a run, are skipped, except those blocked on an owner whose DID has
    since been recorded, which are due at once.

    Args:
        client: Platform API client.
        store: State store.
        raw_cursor: The sensor's cursor.
        settings: Limits.
        now: Current time.
        in_flight: The flow's runs still queued or running.

    Returns:
        The plan of this tick.
    """
    deadline = time.monotonic() + settings.tick_budget_s
    cursor, reset = ObjectScanCursor.read(raw_cursor)
    room = _room(settings, in_flight)
    chosen: dict[str, dict[str, Any]] = {}
    unblock: list[str] = []
    hashless: dict[str, dict[str, Any]] = {}
    after_id = cursor.after_id
    skipped = pages = 0
    complete = False
    while room > 0:
        page = _object_page(client, after_id, settings.object_page_size)
        records = store.get_many(OBJECT_PROOFS.namespace, [str(o["id"]) for o in page])
        unblocked = _unblocked_owners(store, records.values())
        full = False
        for obj in page:
            if len(chosen) >= room:
                full = True
                break
            key, after_id = str(obj["id"]), int(obj["id"])
            record = records.get(key)
            value = {"object_id": obj["id"], "key": obj.get("key")}
            value["asset_id"] = obj.get("asset_id")
            if not obj.get("sha256_hash"):
                if record is None or record.status is not ItemStatus.FAILED:
                    hashless[key] = value
            elif key in in_flight.held:
                skipped += 1
            elif record is None or record.is_due(now):
                chosen[key] = value
            elif _blocked_owner(record) in unblocked:
                chosen[key] = value
                unblock.append(key)
            else:
                skipped += 1
        pages += 1
        complete = not full and len(page) < settings.object_page_size
        if full or complete or pages >= settings.max_object_pages_per_tick:
            break
        if time.monotonic() >= deadline:
            break
    if hashless:
        store.upsert_many(
            OBJECT_PROOFS.namespace,
            hashless,
            status=ItemStatus.FAILED,
            last_error=NO_HASH_ERROR,
            count_attempt=True,
        )
    if unblock:  # the owner's DID exists now: the backoff no longer applies
        store.upsert_many(
            OBJECT_PROOFS.namespace,
            {key: chosen[key] for key in unblock},
            status=ItemStatus.FAILED,
            last_error="blocked owner has a DID now",
            next_attempt_at=now,
        )
    claimed, requests = _claim(OBJECT_PROOFS, store, chosen, settings, now)
    next_cursor = ObjectScanCursor(after_id=0 if complete else after_id)
    metadata = {
        **_status_counts(OBJECT_PROOFS, store),
        "requested_runs": len(requests),
        "requested_items": len(claimed),
        "recorded_without_hash": len(hashless),
        "skipped_waiting": skipped,
        "runs_in_flight": in_flight.runs,
        "next_after_id": next_cursor.after_id,
    }
    return TickPlan(requests, next_cursor.model_dump_json(), metadata, reset)


def _object_page(
    client: PlatformApiClient, after_id: int, page_size: int
) -> list[dict[str, Any]]:
    """One page of objects without proof and with an id above ``after_id``."""
    params = {
        "offset": 0,
        "limit": page_size,
        "filters": json.dumps([["proof_id", "eq", None], ["id", "gt", after_id]]),
        "sorts": json.dumps([["id", "asc"]]),
    }
    return list(client.get_json(OBJECTS_PATH, params))


def _blocked_owner(record: StateRecord) -> str | None:
    if record.status is not ItemStatus.FAILED or not isinstance(record.value, dict):
        return None
    owner = record.value.get("blocked_owner")
    return owner if isinstance(owner, str) else None


def _unblocked_owners(store: StateStore, records: Iterable[StateRecord]) -> set[str]:
    """The blocked owners among ``records`` whose DID is done by now."""
    owners = {owner for record in records if (owner := _blocked_owner(record))}
    if not owners:
        return set()
    dids = store.get_many(USER_DIDS.namespace, owners)
    return {name for name, rec in dids.items() if rec.status is ItemStatus.DONE}


def _room(settings: TrustSettings, in_flight: InFlight) -> int:
    """Items this tick may request: free runs (capped per tick) times batch size."""
    free = settings.max_runs_in_flight - in_flight.runs
    return max(0, min(settings.max_runs_per_tick, free)) * settings.batch_size


def _status_counts(flow: Flow, store: StateStore) -> dict[str, int]:
    counts = store.counts(flow.namespace)
    return {f"{flow.name}_{status.value}": counts[status] for status in ItemStatus}


def _claim(
    flow: Flow,
    store: StateStore,
    candidates: Mapping[str, Any],
    settings: TrustSettings,
    now: datetime,
) -> tuple[dict[str, int], list[RunRequest]]:
    """Claims the candidates and groups them (key to token) into batch runs."""
    claimed = store.claim_many(
        flow.namespace, candidates, now + settings.pending_timeout
    )
    keys = sorted(claimed)
    requests = []
    for start in range(0, len(keys), settings.batch_size):
        items = [
            {"key": key, "fence": claimed[key]}
            for key in keys[start : start + settings.batch_size]
        ]
        batch = batch_id(items)
        config = {"items": items, **settings.op_config()}
        requests.append(
            RunRequest(
                run_key=f"{flow.name}-batch-{batch}",
                run_config={"ops": {flow.op_name: {"config": config}}},
                tags={**FEATURE_TAGS, BATCH_TAG: batch, ITEMS_TAG: str(len(items))},
            )
        )
    return claimed, requests


def batch_id(items: Sequence[Mapping[str, Any]]) -> str:
    """A stable id of a batch: the same items and tokens give the same id."""
    text = json.dumps([[item["key"], item["fence"]] for item in items])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
