"""The two trust jobs and their ops: DIDs for a batch of users, proofs for objects.

A run works on an item only while it holds the item's claim (the sensor's fencing
token, or a claim of its own when launched by hand) and writes the outcome with
that token: done, or failed with the reason and the next attempt (backoff for
transient trouble, a long one while a proof owner has no DID, none for permanent
failures). The output metadata lists every item's outcome; a batch with failed
items ends in a :class:`dagster.Failure` naming them.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from moderate.resources.platform_api import PlatformApiClient, PlatformApiResource
from moderate.resources.settings import EnvBackedResource, ServiceNotConfiguredError
from moderate.state import ItemStatus, StateRecord, StateStoreResource, utc_now
from moderate.state.resource import StateStoreUnavailableError
from moderate.support.naming import markdown_cell, one_line
from moderate.trust.settings import (
    DEFAULT_TRUST_SETTINGS,
    FEATURE_TAGS,
    MAX_BATCH_SIZE,
    OBJECT_PROOFS,
    USER_DIDS,
    Flow,
    TrustBatchConfig,
)
from moderate.trust.tasks import Outcome, TrustResult, request_trust

if TYPE_CHECKING:
    from moderate.state.store import StateStore

MANUAL_FENCE = 0
OWN_DID_CLAIM_MARGIN = timedelta(minutes=5)
DESCRIPTION_LIMIT = 300
NO_STATUS = -1


class ItemState(enum.StrEnum):
    """What a batch run did with one item (a column of the outcome table)."""

    DONE = "done"
    FAILED = "failed"  # recorded with the reason and the next attempt
    WAITING = "waiting"  # not worked on: backing off, failed for good or held
    SKIPPED = "skipped"  # a later run claimed it: this run's claim is void


@dataclass(frozen=True)
class ItemOutcome:
    """One item's row of the outcome table (HTTP status and retry time if failed)."""

    key: str
    state: ItemState
    detail: str
    http_status: int | None = None
    retry_at: datetime | None = None


class _Item(Config):
    """One item of a batch, with the claim it was handed."""

    key: str
    fence: int = Field(
        default=MANUAL_FENCE,
        ge=0,
        description="Fencing token of the sensor's claim; 0 in a run launched by "
        "hand, which claims the item itself.",
    )


class UserItem(_Item):
    """One user of a DID batch."""

    key: str = Field(min_length=1, description="Keycloak username.")


class ObjectItem(_Item):
    """One uploaded object of a proof batch."""

    key: str = Field(pattern=r"^[1-9][0-9]{0,18}$", description="Object id.")


class UserDidBatchConfig(TrustBatchConfig):
    """Which users need a DID."""

    items: list[UserItem] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


class ObjectProofBatchConfig(TrustBatchConfig):
    """Which uploaded objects need a proof."""

    items: list[ObjectItem] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


@op(
    name=USER_DIDS.op_name,
    description="Requests a Trust DID for each user of the batch (POST /user/did), "
    "waits for each task within a bound and records done or failed per user in the "
    "state store; the output metadata lists every user with its outcome.",
    tags=FEATURE_TAGS,
)
def create_user_dids(
    context: OpExecutionContext,
    config: UserDidBatchConfig,
    platform_api: PlatformApiResource,
    state_store: StateStoreResource,
) -> Output[dict[str, Any]]:
    """Gives a batch of users a DID."""
    store = open_store([platform_api], state_store, context.log)
    client = platform_api.client()
    return _run_batch(context, client, store, USER_DIDS, config)


@op(
    name=OBJECT_PROOFS.op_name,
    description="Requests an integrity proof for each object of the batch (POST "
    "/asset/proof) after making sure the pipelines' own account has a DID, waits "
    "for each task within a bound and records done or failed per object in the "
    "state store; the output metadata lists every object with its outcome.",
    tags=FEATURE_TAGS,
)
def create_object_proofs(
    context: OpExecutionContext,
    config: ObjectProofBatchConfig,
    platform_api: PlatformApiResource,
    state_store: StateStoreResource,
) -> Output[dict[str, Any]]:
    """Gives a batch of uploaded objects a proof."""
    store = open_store([platform_api], state_store, context.log)
    client = platform_api.client()
    own_did = ensure_own_did(client, store, config)
    if own_did.state is not ItemState.DONE:
        context.log.warning(
            "The pipelines' account %s has no DID yet (%s): proofs of ownerless "
            "assets will be blocked",
            client.username,
            own_did.detail,
        )
    return _run_batch(context, client, store, OBJECT_PROOFS, config)


@job(
    name=USER_DIDS.job_name,
    description="Gives a batch of Keycloak users (up to "
    f"{DEFAULT_TRUST_SETTINGS.batch_size}) a DID through the Platform API's Trust "
    "service and records each outcome in the state store. Requested by "
    "keycloak_user_sensor, one run per batch; the step's output metadata lists "
    "every user with its outcome (done, failed with reason, waiting).",
    tags=FEATURE_TAGS,
    metadata={"state_namespace": USER_DIDS.namespace},
)
def propagate_new_user_to_trust_services_job() -> None:
    """Requests the DIDs of a batch of users."""
    create_user_dids()


@job(
    name=OBJECT_PROOFS.job_name,
    description="Gives a batch of uploaded objects (up to "
    f"{DEFAULT_TRUST_SETTINGS.batch_size}) an integrity proof through the Platform "
    "API's Trust service and records each outcome in the state store. Requested by "
    "platform_api_asset_object_sensor, one run per batch; the step's output "
    "metadata lists every object with its outcome.",
    tags=FEATURE_TAGS,
    metadata={"state_namespace": OBJECT_PROOFS.namespace},
)
def create_asset_object_proof_job() -> None:
    """Requests the proofs of a batch of objects."""
    create_object_proofs()


def ensure_own_did(
    client: PlatformApiClient, store: "StateStore", config: TrustBatchConfig
) -> ItemOutcome:
    """Makes sure the pipelines' own account (``API_USERNAME``) has a DID.

    Ownerless public assets are proven on its behalf (CONTRACT §2). It is worked
    on like a user of a batch launched by hand: claimed first, backing off on failure.
    """
    claim_for = timedelta(seconds=config.poll_timeout_s) + OWN_DID_CLAIM_MARGIN
    return _work_on(
        store, client, USER_DIDS, client.username, MANUAL_FENCE, claim_for, config
    )


def open_store(
    services: Sequence[EnvBackedResource], state_store: StateStoreResource, log: Any
) -> "StateStore":
    """The state store, once every one of ``services`` is configured.

    Raises:
        Failure: Naming the variables to set, of a service or of the store.
    """
    for service in services:
        if not service.is_configured():
            missing = service.missing_variables()
            raise ServiceNotConfiguredError(service.SERVICE_NAME, missing)
    try:
        return state_store.store(log)
    except StateStoreUnavailableError as error:
        missing_variables = ", ".join(error.missing_variables)
        raise Failure(
            str(error), metadata={"missing_variables": missing_variables}
        ) from None


def _run_batch(
    context: OpExecutionContext,
    client: PlatformApiClient,
    store: "StateStore",
    flow: Flow,
    config: UserDidBatchConfig | ObjectProofBatchConfig,
) -> Output[dict[str, Any]]:
    """Works on every item of the batch, then reports their outcomes."""
    namespace = flow.namespace
    claim_for = timedelta(seconds=config.pending_timeout_s)
    outcomes = [
        _work_on(store, client, flow, item.key, item.fence, claim_for, config)
        for item in config.items
    ]
    by_state = {state: [o for o in outcomes if o.state is state] for state in ItemState}
    metadata: dict[str, Any] = {
        "namespace": namespace,
        "items": len(outcomes),
        **{f"{state.value}_items": len(found) for state, found in by_state.items()},
        "item_outcomes": MetadataValue.md(_table(outcomes)),
    }
    summary = ", ".join(f"{len(v)} {k.value}" for k, v in by_state.items() if v)
    context.log.info("%s batch of %d: %s", namespace, len(outcomes), summary)
    failed = by_state[ItemState.FAILED]
    if failed:
        first = failed[0]
        raise Failure(
            description=one_line(
                f"{namespace}: {len(failed)} of {len(outcomes)} items failed; first "
                f"{first.key}: {first.detail}",
                DESCRIPTION_LIMIT,
            ),
            metadata={
                **metadata,
                "failed_keys": ", ".join(o.key for o in failed),
                "item": first.key,
                "http_status": (
                    NO_STATUS if first.http_status is None else first.http_status
                ),
            },
        )
    value = {state.value: [o.key for o in found] for state, found in by_state.items()}
    return Output(value, metadata=metadata)


def _work_on(
    store: "StateStore",
    client: PlatformApiClient,
    flow: Flow,
    key: str,
    fence: int,
    claim_for: timedelta,
    config: TrustBatchConfig,
) -> ItemOutcome:
    """Works on one item while holding its claim, and records the outcome."""
    namespace = flow.namespace
    record = store.get(namespace, key)
    if record is not None and record.status is ItemStatus.DONE:
        return ItemOutcome(key, ItemState.DONE, "already done")
    until = utc_now() + claim_for
    if fence == MANUAL_FENCE:
        claimed = store.claim(namespace, key, until)
        if claimed is None:
            return ItemOutcome(key, ItemState.WAITING, _not_claimable(record))
        fence = claimed
    elif not store.extend(namespace, key, fence, until):
        return ItemOutcome(key, ItemState.SKIPPED, "claimed again by a later run")
    try:
        result = request_trust(client, flow.route, key, config.poll_policy())
    except Exception as error:  # noqa: BLE001 - one item must not stop its batch
        result = TrustResult(Outcome.TRANSIENT, f"{type(error).__name__}: {error}")
    applied, retry_at = _record(store, namespace, key, fence, record, config, result)
    if not applied:
        return ItemOutcome(
            key, ItemState.SKIPPED, "claimed again meanwhile; result not recorded"
        )
    if result.outcome is Outcome.DONE:
        return ItemOutcome(key, ItemState.DONE, result.detail)
    detail = f"{result.outcome.value}: {result.detail}"
    return ItemOutcome(key, ItemState.FAILED, detail, result.http_status, retry_at)


def _record(
    store: "StateStore",
    namespace: str,
    key: str,
    fence: int,
    record: StateRecord | None,
    config: TrustBatchConfig,
    result: TrustResult,
) -> tuple[bool, datetime | None]:
    """Writes the outcome with the claim's token: applied?, next attempt time."""
    previous = dict(record.value) if record and isinstance(record.value, dict) else {}
    if result.outcome is Outcome.DONE:
        previous.pop("blocked_owner", None)
        done_value = {**previous, **result.value}
        return store.mark_done(namespace, key, done_value, fence=fence), None
    value: dict[str, Any] | None = previous or None
    if result.outcome is Outcome.BLOCKED_OWNER:
        value = {**previous, "blocked_owner": result.blocked_owner}
    retry_at = config.retry_at(result.outcome, fence)
    error = f"{result.outcome.value}: {result.detail}"
    applied = store.mark_failed(namespace, key, error, retry_at, value, fence=fence)
    return applied, retry_at


def _not_claimable(record: StateRecord | None) -> str:
    """Why an item could not be claimed, for the outcome table."""
    if record is None:
        return "claimed by another run"
    if record.status is ItemStatus.DONE:
        return "done meanwhile"
    if record.status is ItemStatus.FAILED and record.next_attempt_at is None:
        return f"failed for good: {record.last_error}"
    if record.status is ItemStatus.FAILED:
        return f"backing off until {record.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    return "another run holds it"


def _table(outcomes: Sequence[ItemOutcome]) -> str:
    """The Markdown table of the outcomes, one row per item."""
    rows = [
        "| item | outcome | HTTP | next attempt | detail |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        status = "" if outcome.http_status is None else str(outcome.http_status)
        retry = "" if outcome.retry_at is None else f"{outcome.retry_at:%Y-%m-%d %H:%M}"
        detail = markdown_cell(one_line(outcome.detail, DESCRIPTION_LIMIT))
        rows.append(
            f"| {outcome.key} | {outcome.state.value} | {status} | {retry} | {detail} |"
        )
    return "\n".join(rows)
