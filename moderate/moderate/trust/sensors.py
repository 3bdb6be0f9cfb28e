"""``keycloak_user_sensor`` and ``platform_api_asset_object_sensor``.

A tick is bounded (pages, runs, wall time) and resumes from its cursor. It claims
the items it requests (a fencing token each) and groups them into batch runs, no
more than the flow's room in the run queue, and never re-requests items a run still
queued or running holds, even past their deadline. It reports the item counts in
its log and skip message, and the user sensor as ``keycloak_users_count`` events.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from dagster import (
    AssetKey,
    AssetObservation,
    DagsterInstance,
    DagsterRunStatus,
    Failure,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from pydantic import AwareDatetime, Field

from moderate.automation import default_sensor_status
from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiClient, PlatformApiResource
from moderate.resources.settings import EnvBackedResource
from moderate.state import ItemStatus, StateRecord, StateStoreResource, utc_now
from moderate.support.cursors import JsonCursor
from moderate.trust.ops import (
    create_asset_object_proof_job,
    open_store,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.settings import (
    BATCH_TAG,
    DEFAULT_TRUST_SETTINGS,
    FEATURE_TAGS,
    ITEMS_TAG,
    OBJECT_PROOFS,
    SENSOR_INTERVAL_S,
    USER_DIDS,
    Flow,
    TrustSettings,
)

if TYPE_CHECKING:
    from moderate.state.store import StateStore

USERS_COUNT_ASSET = AssetKey("keycloak_users_count")
OBJECTS_PATH = "/asset/object"
NO_HASH_ERROR = "permanent: object has no sha256_hash, a proof can never be made"
IN_FLIGHT_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
IN_FLIGHT_RUNS_LIMIT = 1000
MAX_CURSOR_INT = 2**31 - 1
CursorInt = Annotated[int, Field(ge=0, le=MAX_CURSOR_INT)]


@dataclass(frozen=True)
class InFlight:
    """The flow's runs still queued or running, and the item keys they hold."""

    runs: int
    held: frozenset[str]


@dataclass(frozen=True)
class TickPlan:
    """What one tick requests, the cursor to store and the counts to report."""

    run_requests: list[RunRequest]
    cursor: str
    metadata: dict[str, Any]
    cursor_reset: str | None


Planner = Callable[["StateStore", str | None, datetime, InFlight], TickPlan]


class UserScanCursor(JsonCursor):
    """Position of the Keycloak scan.

    Attributes:
        offset: Offset of the next page of the pass in progress; None between passes.
        pass_count: ``users/count`` when the pass in progress started.
        known_count: ``users/count`` when the last completed pass started.
        last_pass_started_at: When the last pass started.
    """

    offset: CursorInt | None = None
    pass_count: CursorInt | None = None
    known_count: CursorInt | None = None
    last_pass_started_at: AwareDatetime | None = None


class ObjectScanCursor(JsonCursor):
    """Position of the scan of objects without proof.

    Attributes:
        after_id: Objects with a larger id come next; 0 starts a new pass.
    """

    after_id: CursorInt = 0


def build_keycloak_user_sensor(
    settings: TrustSettings = DEFAULT_TRUST_SETTINGS,
) -> SensorDefinition:
    """The sensor that requests DIDs for Keycloak users that have none."""

    @sensor(
        name="keycloak_user_sensor",
        job=propagate_new_user_to_trust_services_job,
        description="Pages through the main realm's Keycloak users and requests "
        f"DID runs of up to {settings.batch_size} users without one (at most "
        f"{settings.max_runs_per_tick} per tick and {settings.max_runs_in_flight} "
        "queued or running); retries failures with exponential backoff. Records "
        "DID counts as observations of keycloak_users_count.",
        **_sensor_options(settings),
    )
    def keycloak_user_sensor(
        context: SensorEvaluationContext,
        keycloak: KeycloakResource,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        plan = partial(_plan_users, keycloak, settings)
        return _tick(context, USER_DIDS, (keycloak, platform_api), state_store, plan)

    return keycloak_user_sensor


def build_platform_api_asset_object_sensor(
    settings: TrustSettings = DEFAULT_TRUST_SETTINGS,
) -> SensorDefinition:
    """The sensor that requests integrity proofs for uploaded objects."""

    @sensor(
        name="platform_api_asset_object_sensor",
        job=create_asset_object_proof_job,
        description="Pages through the Platform API's uploaded objects without "
        f"proof (sorted by id) and requests proof runs of up to {settings.batch_size} "
        f"due objects (at most {settings.max_runs_per_tick} per tick and "
        f"{settings.max_runs_in_flight} queued or running). Objects that can never "
        "get a proof are recorded as failed with the reason; failures back off "
        "without blocking the others.",
        **_sensor_options(settings),
    )
    def platform_api_asset_object_sensor(
        context: SensorEvaluationContext,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        plan = partial(_plan_objects, platform_api, settings)
        return _tick(context, OBJECT_PROOFS, (platform_api,), state_store, plan)

    return platform_api_asset_object_sensor


def did_progress_metadata(
    realm: str, users: int, store: "StateStore"
) -> dict[str, str | int]:
    """Realm size, DID states and users not yet seen, as asset metadata."""
    counts = _status_counts(USER_DIDS, store)
    unseen = max(users - sum(counts.values()), 0)
    return {"realm": realm, "users": users, **counts, "users_not_yet_seen": unseen}


def _sensor_options(settings: TrustSettings) -> dict[str, Any]:
    """The ``@sensor`` arguments both trust sensors share."""
    return {
        "minimum_interval_seconds": SENSOR_INTERVAL_S,
        "default_status": default_sensor_status(),
        "tags": FEATURE_TAGS,
        "metadata": {
            "batch_size": settings.batch_size,
            "max_runs_per_tick": settings.max_runs_per_tick,
            "max_runs_in_flight": settings.max_runs_in_flight,
        },
    }


def _tick(
    context: SensorEvaluationContext,
    flow: Flow,
    services: Sequence[EnvBackedResource],
    state_store: StateStoreResource,
    plan: Planner,
) -> SensorResult | SkipReason:
    """One tick: skips while a service is not configured, else plans and reports."""
    try:
        store = open_store(services, state_store, context.log)
    except Failure as error:
        return SkipReason(error.description)
    in_flight = _in_flight(context.instance, flow)
    result = plan(store, context.cursor, utc_now(), in_flight)
    if result.cursor_reset:
        context.log.warning("Cursor reset: %s", result.cursor_reset)
    summary = ", ".join(f"{key}={value}" for key, value in result.metadata.items())
    context.log.info("%d run(s) requested; %s", len(result.run_requests), summary)
    observations = [AssetObservation(USERS_COUNT_ASSET, metadata=result.metadata)]
    return SensorResult(
        run_requests=result.run_requests,
        cursor=result.cursor,
        asset_events=observations if flow is USER_DIDS else [],
        skip_reason=None if result.run_requests else f"Nothing due; {summary}",
    )


def _in_flight(instance: DagsterInstance, flow: Flow) -> InFlight:
    """The job's runs that are queued or running, and the items their configs list."""
    runs = instance.get_runs(
        filters=RunsFilter(job_name=flow.job_name, statuses=IN_FLIGHT_STATUSES),
        limit=IN_FLIGHT_RUNS_LIMIT,
    )
    held: set[str] = set()
    for run in runs:
        config: Any = run.run_config
        try:
            held.update(
                str(item["key"])
                for item in config["ops"][flow.op_name]["config"]["items"]
            )
        except (KeyError, TypeError):
            continue
    return InFlight(len(runs), frozenset(held))


def _plan_users(
    keycloak: KeycloakResource,
    settings: TrustSettings,
    store: "StateStore",
    raw_cursor: str | None,
    now: datetime,
    in_flight: InFlight,
) -> TickPlan:
    """New users of the pass in progress, then due retries (docs/trust.md)."""
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
        end_pass = {"offset": None, "known_count": cursor.pass_count}
        cursor = cursor.model_copy(update=end_pass if complete else {"offset": offset})
    retries: list[str] = []
    if room > len(new_users):
        left = room - len(new_users)
        due = store.keys_due(USER_DIDS.namespace, left + len(in_flight.held))
        retries = [r.key for r in due if r.key not in in_flight.held][:left]
    candidates = dict.fromkeys([*new_users, *retries])
    claimed, requests = _claim(USER_DIDS, store, candidates, settings, now)
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
    store: "StateStore",
    offset: int,
    settings: TrustSettings,
    room: int,
    found: list[str],
    deadline: float,
) -> tuple[int, bool]:
    """The next offset and whether the pass ended (docs/trust.md)."""
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


def _plan_objects(
    platform_api: PlatformApiResource,
    settings: TrustSettings,
    store: "StateStore",
    raw_cursor: str | None,
    now: datetime,
    in_flight: InFlight,
) -> TickPlan:
    """Due objects without proof, by keyset ``id > after_id`` (docs/trust.md)."""
    deadline = time.monotonic() + settings.tick_budget_s
    cursor, reset = ObjectScanCursor.read(raw_cursor)
    client = platform_api.client()
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


def _unblocked_owners(store: "StateStore", records: Iterable[StateRecord]) -> set[str]:
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


def _status_counts(flow: Flow, store: "StateStore") -> dict[str, int]:
    counts = store.counts(flow.namespace)
    return {f"{flow.name}_{status.value}": counts[status] for status in ItemStatus}


def _claim(
    flow: Flow,
    store: "StateStore",
    candidates: Mapping[str, Any],
    settings: TrustSettings,
    now: datetime,
) -> tuple[dict[str, int], list[RunRequest]]:
    """Claims the candidates and groups them (key to token) into batch runs."""
    until = now + timedelta(seconds=settings.pending_timeout_s)
    claimed = store.claim_many(flow.namespace, candidates, until)
    keys = sorted(claimed)
    requests = []
    for start in range(0, len(keys), settings.batch_size):
        items = [
            {"key": key, "fence": claimed[key]}
            for key in keys[start : start + settings.batch_size]
        ]
        batch = _batch_id(items)
        config = {"items": items, **settings.batch_config()}
        requests.append(
            RunRequest(
                run_key=f"{flow.name}-batch-{batch}",
                run_config={"ops": {flow.op_name: {"config": config}}},
                tags={**FEATURE_TAGS, BATCH_TAG: batch, ITEMS_TAG: str(len(items))},
            )
        )
    return claimed, requests


def _batch_id(items: Sequence[Mapping[str, Any]]) -> str:
    """A stable id of a batch: the same items and tokens give the same id."""
    text = json.dumps([[item["key"], item["fence"]] for item in items])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


keycloak_user_sensor = build_keycloak_user_sensor()
platform_api_asset_object_sensor = build_platform_api_asset_object_sensor()
