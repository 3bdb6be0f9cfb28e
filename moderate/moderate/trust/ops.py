"""Ops that request a DID for one user or a proof for one object.

Each op records its outcome in the state store: done, or failed with the reason
and the time of the next attempt (exponential backoff for transient trouble, a
long backoff while a proof owner has no DID, none for permanent failures). A run
whose item is already done, or that a later attempt superseded, does nothing.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

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
    PostgresState,
    StateRecord,
    StateStoreResource,
    exponential_backoff,
    utc_now,
)
from moderate.trust.settings import (
    DEFAULT_BLOCKED_OWNER_RETRY_BASE,
    DEFAULT_BLOCKED_OWNER_RETRY_CAP,
    DEFAULT_PENDING_TIMEOUT,
    DEFAULT_POLL_INITIAL_INTERVAL_S,
    DEFAULT_POLL_MAX_INTERVAL_S,
    DEFAULT_POLL_TIMEOUT_S,
    DEFAULT_RETRY_BASE,
    DEFAULT_RETRY_CAP,
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

MANUAL_ATTEMPT = 0
SKIPPED = "skipped"
OWN_DID_CLAIM_MARGIN = timedelta(minutes=5)
OWN_DID_IN_PROGRESS = "another run is requesting the pipelines' own DID"


class TrustRequestConfig(Config):
    """Run config shared by both trust ops (filled in by the sensors)."""

    attempt: int = Field(
        default=MANUAL_ATTEMPT,
        description="Attempt number given by the sensor; 0 for a run launched by "
        "hand, which is never treated as superseded.",
    )
    poll_initial_interval_s: float = Field(default=DEFAULT_POLL_INITIAL_INTERVAL_S)
    poll_max_interval_s: float = Field(default=DEFAULT_POLL_MAX_INTERVAL_S)
    poll_timeout_s: float = Field(
        default=DEFAULT_POLL_TIMEOUT_S,
        description="How long to wait for the Trust task before a retryable failure.",
    )
    pending_timeout_s: float = Field(
        default=DEFAULT_PENDING_TIMEOUT.total_seconds(),
        description="How long the item stays pending while this run works on it.",
    )
    retry_base_s: float = Field(default=DEFAULT_RETRY_BASE.total_seconds())
    retry_cap_s: float = Field(default=DEFAULT_RETRY_CAP.total_seconds())
    blocked_owner_retry_base_s: float = Field(
        default=DEFAULT_BLOCKED_OWNER_RETRY_BASE.total_seconds()
    )
    blocked_owner_retry_cap_s: float = Field(
        default=DEFAULT_BLOCKED_OWNER_RETRY_CAP.total_seconds()
    )

    def poll_policy(self) -> PollPolicy:
        """Polling bounds of this run."""
        return PollPolicy(
            self.poll_initial_interval_s, self.poll_max_interval_s, self.poll_timeout_s
        )


class UserDidConfig(TrustRequestConfig):
    """Which user needs a DID."""

    username: str = Field(description="Keycloak username.")


class ObjectProofConfig(TrustRequestConfig):
    """Which uploaded object needs a proof."""

    object_id: int = Field(description="Id of the uploaded object.")


@op(
    description="Requests a Trust DID for one Keycloak user (POST /user/did), waits "
    "for the task within a bound and records done or failed in the state store.",
    tags={"feature": "trust"},
)
def create_user_did(
    context: OpExecutionContext,
    config: UserDidConfig,
    platform_api: PlatformApiResource,
    state_store: StateStoreResource,
) -> Output[dict[str, Any]]:
    """Gives one user a DID."""
    store = state_store.store()
    client = platform_api.client()
    return _handle(
        context,
        store,
        USER_DID_NAMESPACE,
        config.username,
        config,
        lambda: request_did(client, config.username, config.poll_policy()),
    )


@op(
    description="Requests an integrity proof for one uploaded object (POST "
    "/asset/proof) after making sure the pipelines' own account has a DID, waits "
    "for the task within a bound and records done or failed in the state store.",
    tags={"feature": "trust"},
)
def create_object_proof(
    context: OpExecutionContext,
    config: ObjectProofConfig,
    platform_api: PlatformApiResource,
    state_store: StateStoreResource,
) -> Output[dict[str, Any]]:
    """Gives one uploaded object a proof."""
    store = state_store.store()
    client = platform_api.client()

    def prove() -> TrustResult:
        own_did = ensure_own_did(client, store, config.poll_policy())
        if own_did.outcome is not Outcome.DONE:
            context.log.warning(
                "The pipelines' account %s has no DID yet (%s): proofs of ownerless "
                "assets will be blocked",
                client.username,
                own_did.detail,
            )
        return request_proof(client, config.object_id, config.poll_policy())

    return _handle(
        context, store, OBJECT_PROOF_NAMESPACE, str(config.object_id), config, prove
    )


def ensure_own_did(
    client: PlatformApiClient, store: PostgresState, policy: PollPolicy
) -> TrustResult:
    """Makes sure the account the pipelines use (``API_USERNAME``) has a DID.

    Ownerless public assets are proven on behalf of that account, so it needs a
    DID first (CONTRACT §2). Known from the state store after the first success.
    Only the run that claims the item in the state store requests it; runs that
    find it claimed go on without it, so concurrent proof runs never start
    duplicate DID tasks.

    Args:
        client: Platform API client.
        store: State store.
        policy: Polling bounds.

    Returns:
        The result; ``DONE`` when the DID exists.
    """
    record = store.get(USER_DID_NAMESPACE, client.username)
    if record is not None and record.status is ItemStatus.DONE:
        return TrustResult(Outcome.DONE, "known", record.value or {})
    claim_until = utc_now() + timedelta(seconds=policy.timeout_s) + OWN_DID_CLAIM_MARGIN
    if not store.claim(USER_DID_NAMESPACE, client.username, claim_until):
        return TrustResult(Outcome.TRANSIENT, OWN_DID_IN_PROGRESS)
    result = request_did(client, client.username, policy)
    if result.outcome is Outcome.DONE:
        store.mark_done(
            USER_DID_NAMESPACE, client.username, dict(result.value), count_attempt=False
        )
    else:
        store.mark_failed(
            USER_DID_NAMESPACE,
            client.username,
            f"{result.outcome.value}: {result.detail}",
            utc_now(),
            count_attempt=False,
        )
    return result


def _handle(
    context: OpExecutionContext,
    store: PostgresState,
    namespace: str,
    key: str,
    config: TrustRequestConfig,
    perform: Callable[[], TrustResult],
) -> Output[dict[str, Any]]:
    record = store.get(namespace, key)
    skip_reason = _skip_reason(record, config.attempt)
    if skip_reason is not None:
        context.log.info("%s %s: %s", namespace, key, skip_reason)
        return Output(
            {"key": key, "outcome": SKIPPED},
            metadata={"key": key, "outcome": SKIPPED, "reason": skip_reason},
        )
    store.mark_pending(
        namespace,
        key,
        retry_at=utc_now() + timedelta(seconds=config.pending_timeout_s),
    )
    try:
        result = perform()
    except Exception as error:
        # Whatever went wrong, the item must not stay pending until its timeout.
        result = TrustResult(Outcome.TRANSIENT, f"{type(error).__name__}: {error}")
        _record(store, namespace, key, record, config, result)
        raise
    _record(store, namespace, key, record, config, result)
    metadata = _metadata(store, namespace, key, config, result)
    if result.outcome is not Outcome.DONE:
        raise Failure(
            description=f"{namespace} {key}: {result.outcome.value}: {result.detail}",
            metadata=metadata,
        )
    context.log.info("%s %s done: %s", namespace, key, result.detail)
    return Output(
        {"key": key, "outcome": result.outcome.value, **result.value},
        metadata=metadata,
    )


def _skip_reason(record: StateRecord | None, attempt: int) -> str | None:
    if record is None:
        return None
    if record.status is ItemStatus.DONE:
        return "already done"
    if attempt != MANUAL_ATTEMPT and record.attempts > attempt:
        return f"superseded by attempt {record.attempts}"
    return None


def _record(
    store: PostgresState,
    namespace: str,
    key: str,
    record: StateRecord | None,
    config: TrustRequestConfig,
    result: TrustResult,
) -> None:
    previous = dict(record.value) if record and isinstance(record.value, dict) else {}
    if result.outcome is Outcome.DONE:
        previous.pop("blocked_owner", None)
        store.mark_done(
            namespace, key, {**previous, **result.value}, count_attempt=False
        )
        return
    attempts = max(record.attempts if record else 0, 1)
    now = utc_now()
    retry_at = None
    value = previous or None
    if result.outcome is Outcome.TRANSIENT:
        retry_at = exponential_backoff(
            attempts,
            timedelta(seconds=config.retry_base_s),
            timedelta(seconds=config.retry_cap_s),
            now,
        )
    elif result.outcome is Outcome.BLOCKED_OWNER:
        retry_at = exponential_backoff(
            attempts,
            timedelta(seconds=config.blocked_owner_retry_base_s),
            timedelta(seconds=config.blocked_owner_retry_cap_s),
            now,
        )
        value = {**previous, "blocked_owner": result.blocked_owner}
    store.mark_failed(
        namespace,
        key,
        f"{result.outcome.value}: {result.detail}",
        retry_at,
        value,
        count_attempt=False,
    )


def _metadata(
    store: PostgresState,
    namespace: str,
    key: str,
    config: TrustRequestConfig,
    result: TrustResult,
) -> dict[str, Any]:
    counts = store.counts(namespace)
    return {
        "key": key,
        "attempt": config.attempt,
        "outcome": result.outcome.value,
        "detail": MetadataValue.text(result.detail),
        "already_existed": result.already_existed,
        "task_id": result.task_id if result.task_id is not None else -1,
        **{f"{status.value}_items": count for status, count in counts.items()},
    }
