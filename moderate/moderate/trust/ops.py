"""Ops that request DIDs for a batch of users or proofs for a batch of objects.

Each item of a batch is worked on only while the run holds its claim in the state
store (the fencing token the sensor handed out, or a claim the op takes itself in
a run launched by hand), and its outcome is written with that token: done, or
failed with the reason and the time of the next attempt (exponential backoff for
transient trouble, a long backoff while a proof owner has no DID, none for
permanent failures). An item done meanwhile, or claimed again by a later run, is
left alone. The run's output metadata lists every item with its outcome; a batch
with failed items ends in a :class:`dagster.Failure` naming them.
"""

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from dagster import (
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
    op,
)
from pydantic import Field

from moderate.resources.platform_api import PlatformApiClient, PlatformApiResource
from moderate.state import (
    ItemStatus,
    StateRecord,
    StateStoreResource,
    exponential_backoff,
    utc_now,
)
from moderate.state.resource import StateStoreUnavailableError
from moderate.trust.settings import (
    DEFAULT_BLOCKED_OWNER_RETRY_BASE,
    DEFAULT_BLOCKED_OWNER_RETRY_CAP,
    DEFAULT_PENDING_TIMEOUT,
    DEFAULT_POLL_INITIAL_INTERVAL_S,
    DEFAULT_POLL_MAX_INTERVAL_S,
    DEFAULT_POLL_TIMEOUT_S,
    DEFAULT_RETRY_BASE,
    DEFAULT_RETRY_CAP,
    FEATURE_TAGS,
    MAX_BATCH_SIZE,
    OBJECT_PROOF_NAMESPACE,
    USER_DID_NAMESPACE,
)
from moderate.trust.tasks import (
    Outcome,
    PollPolicy,
    TrustResult,
    request_did,
    request_proof,
)

if TYPE_CHECKING:
    from moderate.state.store import StateStore

MANUAL_FENCE = 0
OWN_DID_CLAIM_MARGIN = timedelta(minutes=5)
DESCRIPTION_LIMIT = 300
NO_STATUS = -1


class ItemState(enum.StrEnum):
    """What a batch run did with one item (shown per item in the run's metadata).

    ``done``: the DID or proof exists. ``failed``: recorded as failed, with the
    reason and the next attempt time. ``waiting``: not worked on by this run (it
    is backing off, failed for good, or another run holds it). ``skipped``: a later
    run claimed it, so this run's claim is void.
    """

    DONE = "done"
    FAILED = "failed"
    WAITING = "waiting"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ItemOutcome:
    """The outcome of one item of a batch.

    Attributes:
        key: Username or object id.
        state: What happened.
        detail: Reason or result, one line.
        http_status: HTTP status of the failed API call, if any.
        retry_at: When the item will be tried again, if it failed and will be.
    """

    key: str
    state: ItemState
    detail: str
    http_status: int | None = None
    retry_at: datetime | None = None


class UserItem(Config):
    """One user of a DID batch."""

    key: str = Field(min_length=1, description="Keycloak username.")
    fence: int = Field(
        default=MANUAL_FENCE,
        ge=0,
        description="Fencing token of the sensor's claim; 0 in a run launched by "
        "hand, which claims the item itself.",
    )


class ObjectItem(Config):
    """One uploaded object of a proof batch."""

    key: str = Field(pattern=r"^[1-9][0-9]{0,18}$", description="Object id.")
    fence: int = Field(
        default=MANUAL_FENCE,
        ge=0,
        description="Fencing token of the sensor's claim; 0 in a run launched by "
        "hand, which claims the item itself.",
    )


class TrustBatchConfig(Config):
    """Run config shared by both trust ops (filled in by the sensors)."""

    poll_initial_interval_s: float = Field(
        default=DEFAULT_POLL_INITIAL_INTERVAL_S, gt=0
    )
    poll_max_interval_s: float = Field(default=DEFAULT_POLL_MAX_INTERVAL_S, gt=0)
    poll_timeout_s: float = Field(
        default=DEFAULT_POLL_TIMEOUT_S,
        gt=0,
        description="How long to wait for a Trust task before a retryable failure.",
    )
    pending_timeout_s: float = Field(
        default=DEFAULT_PENDING_TIMEOUT.total_seconds(),
        ge=0,
        description="How long an item stays claimed while this run works on it.",
    )
    retry_base_s: float = Field(default=DEFAULT_RETRY_BASE.total_seconds(), gt=0)
    retry_cap_s: float = Field(default=DEFAULT_RETRY_CAP.total_seconds(), gt=0)
    blocked_owner_retry_base_s: float = Field(
        default=DEFAULT_BLOCKED_OWNER_RETRY_BASE.total_seconds(), gt=0
    )
    blocked_owner_retry_cap_s: float = Field(
        default=DEFAULT_BLOCKED_OWNER_RETRY_CAP.total_seconds(), gt=0
    )

    def poll_policy(self) -> PollPolicy:
        """Polling bounds of this run."""
        return PollPolicy(
            self.poll_initial_interval_s, self.poll_max_interval_s, self.poll_timeout_s
        )


class UserDidBatchConfig(TrustBatchConfig):
    """Which users need a DID."""

    items: list[UserItem] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


class ObjectProofBatchConfig(TrustBatchConfig):
    """Which uploaded objects need a proof."""

    items: list[ObjectItem] = Field(min_length=1, max_length=MAX_BATCH_SIZE)


@op(
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
    client = _client(platform_api)
    store = _store(state_store, context)
    policy = config.poll_policy()
    outcomes = [
        _work_on(
            store,
            USER_DID_NAMESPACE,
            item.key,
            item.fence,
            config,
            lambda key: request_did(client, key, policy),
        )
        for item in config.items
    ]
    return _report(context, USER_DID_NAMESPACE, outcomes)


@op(
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
    client = _client(platform_api)
    store = _store(state_store, context)
    policy = config.poll_policy()
    own_did = ensure_own_did(client, store, config)
    if own_did.outcome is not Outcome.DONE:
        context.log.warning(
            "The pipelines' account %s has no DID yet (%s): proofs of ownerless "
            "assets will be blocked",
            client.username,
            own_did.detail,
        )
    outcomes = [
        _work_on(
            store,
            OBJECT_PROOF_NAMESPACE,
            item.key,
            item.fence,
            config,
            lambda key: request_proof(client, int(key), policy),
        )
        for item in config.items
    ]
    return _report(context, OBJECT_PROOF_NAMESPACE, outcomes)


def ensure_own_did(
    client: PlatformApiClient, store: "StateStore", config: TrustBatchConfig
) -> TrustResult:
    """Makes sure the account the pipelines use (``API_USERNAME``) has a DID.

    Ownerless public assets are proven on behalf of that account, so it needs a
    DID first (CONTRACT §2). Known from the state store after the first success.
    Only a run that claims the item requests it, so concurrent proof runs never
    start duplicate DID tasks; a failure backs off in the store, so while Trust is
    down the DID is not requested again by every proof run.

    Args:
        client: Platform API client.
        store: State store.
        config: Polling bounds and backoff of the run.

    Returns:
        The result; ``DONE`` when the DID exists.
    """
    own = client.username
    record = store.get(USER_DID_NAMESPACE, own)
    if record is not None and record.status is ItemStatus.DONE:
        return TrustResult(Outcome.DONE, "known", record.value or {})
    policy = config.poll_policy()
    claim_until = utc_now() + timedelta(seconds=policy.timeout_s) + OWN_DID_CLAIM_MARGIN
    fence = store.claim(USER_DID_NAMESPACE, own, claim_until)
    if fence is None:
        current = store.get(USER_DID_NAMESPACE, own)
        return TrustResult(Outcome.TRANSIENT, _not_claimable(current))
    result = request_did(client, own, policy)
    _record(store, USER_DID_NAMESPACE, own, fence, record, config, result)
    return result


def _client(platform_api: PlatformApiResource) -> PlatformApiClient:
    if not platform_api.is_configured():
        missing = platform_api.missing_variables()
        raise Failure(
            description=platform_api.not_configured_reason(),
            metadata={"missing_variables": ", ".join(missing)},
        )
    return platform_api.client()


def _store(
    state_store: StateStoreResource, context: OpExecutionContext
) -> "StateStore":
    try:
        return state_store.store(context.log)
    except StateStoreUnavailableError as error:
        raise Failure(
            description=str(error),
            metadata={"missing_variables": ", ".join(error.missing_variables)},
        ) from None


def _work_on(
    store: "StateStore",
    namespace: str,
    key: str,
    fence: int,
    config: TrustBatchConfig,
    perform: Callable[[str], TrustResult],
) -> ItemOutcome:
    record = store.get(namespace, key)
    if record is not None and record.status is ItemStatus.DONE:
        return ItemOutcome(key, ItemState.DONE, "already done")
    until = utc_now() + timedelta(seconds=config.pending_timeout_s)
    if fence == MANUAL_FENCE:
        claimed = store.claim(namespace, key, until)
        if claimed is None:
            return ItemOutcome(key, ItemState.WAITING, _not_claimable(record))
        fence = claimed
    elif not store.extend(namespace, key, fence, until):
        return ItemOutcome(key, ItemState.SKIPPED, "claimed again by a later run")
    try:
        result = perform(key)
    except Exception as error:  # noqa: BLE001 - one item must not stop its batch
        result = TrustResult(Outcome.TRANSIENT, f"{type(error).__name__}: {error}")
    applied, retry_at = _record(store, namespace, key, fence, record, config, result)
    if not applied:
        return ItemOutcome(
            key, ItemState.SKIPPED, "claimed again meanwhile; result not recorded"
        )
    if result.outcome is Outcome.DONE:
        return ItemOutcome(key, ItemState.DONE, result.detail)
    return ItemOutcome(
        key,
        ItemState.FAILED,
        f"{result.outcome.value}: {result.detail}",
        result.http_status,
        retry_at,
    )


def _record(
    store: "StateStore",
    namespace: str,
    key: str,
    fence: int,
    record: StateRecord | None,
    config: TrustBatchConfig,
    result: TrustResult,
) -> tuple[bool, datetime | None]:
    """Writes the outcome with the claim's token.

    Returns:
        Whether the write applied (False when a later claim voided this one),
        and the next attempt time (None when done or failed for good).
    """
    previous = dict(record.value) if record and isinstance(record.value, dict) else {}
    if result.outcome is Outcome.DONE:
        previous.pop("blocked_owner", None)
        done_value = {**previous, **result.value}
        return store.mark_done(namespace, key, done_value, fence=fence), None
    now = utc_now()
    retry_at: datetime | None = None
    value: dict[str, Any] | None = previous or None
    if result.outcome is Outcome.TRANSIENT:
        retry_at = exponential_backoff(
            fence,
            timedelta(seconds=config.retry_base_s),
            timedelta(seconds=config.retry_cap_s),
            now,
        )
    elif result.outcome is Outcome.BLOCKED_OWNER:
        retry_at = exponential_backoff(
            fence,
            timedelta(seconds=config.blocked_owner_retry_base_s),
            timedelta(seconds=config.blocked_owner_retry_cap_s),
            now,
        )
        value = {**previous, "blocked_owner": result.blocked_owner}
    error = f"{result.outcome.value}: {result.detail}"
    applied = store.mark_failed(namespace, key, error, retry_at, value, fence=fence)
    return applied, retry_at


def _not_claimable(record: StateRecord | None) -> str:
    if record is None:
        return "claimed by another run"
    if record.status is ItemStatus.DONE:
        return "done meanwhile"
    if record.status is ItemStatus.FAILED and record.next_attempt_at is None:
        return f"failed for good: {record.last_error}"
    if record.status is ItemStatus.FAILED:
        return f"backing off until {record.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    return "another run holds it"


def _report(
    context: OpExecutionContext, namespace: str, outcomes: Sequence[ItemOutcome]
) -> Output[dict[str, Any]]:
    by_state = {state: [o for o in outcomes if o.state is state] for state in ItemState}
    metadata: dict[str, Any] = {
        "namespace": namespace,
        "items": len(outcomes),
        **{f"{state.value}_items": len(found) for state, found in by_state.items()},
        "item_outcomes": MetadataValue.md(_table(outcomes)),
    }
    failed = by_state[ItemState.FAILED]
    summary = ", ".join(f"{len(v)} {k.value}" for k, v in by_state.items() if v)
    context.log.info("%s batch of %d: %s", namespace, len(outcomes), summary)
    if failed:
        first = failed[0]
        description = (
            f"{namespace}: {len(failed)} of {len(outcomes)} items failed; first "
            f"{first.key}: {first.detail}"
        )
        raise Failure(
            description=_one_line(description),
            metadata={
                **metadata,
                "failed_keys": ", ".join(o.key for o in failed),
                "item": first.key,
                "http_status": (
                    first.http_status if first.http_status is not None else NO_STATUS
                ),
            },
        )
    value = {state.value: [o.key for o in found] for state, found in by_state.items()}
    return Output(value, metadata=metadata)


def _table(outcomes: Sequence[ItemOutcome]) -> str:
    rows = [
        "| item | outcome | HTTP | next attempt | detail |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        status = "" if outcome.http_status is None else str(outcome.http_status)
        retry = "" if outcome.retry_at is None else f"{outcome.retry_at:%Y-%m-%d %H:%M}"
        detail = _one_line(outcome.detail).replace("|", "\\|")
        rows.append(
            f"| {outcome.key} | {outcome.state.value} | {status} | {retry} | {detail} |"
        )
    return "\n".join(rows)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return (
        line if len(line) <= DESCRIPTION_LIMIT else line[: DESCRIPTION_LIMIT - 1] + "…"
    )
