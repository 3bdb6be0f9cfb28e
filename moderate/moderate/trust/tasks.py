"""Trust requests through the Platform API: start, poll with a bound, classify.

``POST /user/did`` and ``POST /asset/proof`` either answer with the existing DID or
proof, or start a background task that is polled until it has a result or an error.
The API loses running tasks when it restarts, so polling is bounded and backs off.
Task errors are classified as CONTRACT §2 describes (see :class:`Outcome`).
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from moderate.resources.platform_api import PlatformApiClient, PlatformApiError

DID_PATH = "/user/did"
DID_TASK_PATH = "/user/did/task/{task_id}"
PROOF_PATH = "/asset/proof"
PROOF_TASK_PATH = "/asset/proof/task/{task_id}"
POLL_BACKOFF_FACTOR = 2.0

ALREADY_DONE_MARKERS = (
    "already has a did",
    "already has a proof",
    "created in the meantime",
)
BLOCKED_OWNER_MARKER = "does not have a did and thus cannot be a proof owner"
PERMANENT_MARKERS = ("has no hash", "not found")
TRANSIENT_ERROR_TYPES = (
    "HTTPStatusError",
    "HTTPError",
    "TransportError",
    "TimeoutException",
    "ConnectError",
    "ConnectTimeout",
    "ReadError",
    "ReadTimeout",
    "WriteError",
    "WriteTimeout",
    "PoolTimeout",
    "NetworkError",
    "RemoteProtocolError",
)
TRANSIENT_ERROR_PATTERN = re.compile(rf"^\s*(?:{'|'.join(TRANSIENT_ERROR_TYPES)})\(")
BLOCKED_OWNER_PATTERN = re.compile(r"User (?P<owner>.+?) does not have a DID", re.I)
HTTP_NOT_FOUND = 404


class Outcome(enum.StrEnum):
    """What a Trust request ended with, and so what to record.

    ``DONE``: the DID or proof exists. ``BLOCKED_OWNER``: the proof owner has no
    DID yet (retry after a long backoff). ``PERMANENT``: it can never succeed
    (no hash, not found). ``TRANSIENT``: Trust or API trouble, a lost task, or
    anything unrecognised (retry with exponential backoff).
    """

    DONE = "done"
    BLOCKED_OWNER = "blocked_owner"
    PERMANENT = "permanent"
    TRANSIENT = "transient"


@dataclass(frozen=True)
class PollPolicy:
    """Bounded polling of one task.

    Attributes:
        initial_interval_s: First wait between two polls.
        max_interval_s: Longest wait between two polls.
        timeout_s: Total time after which polling gives up.
    """

    initial_interval_s: float
    max_interval_s: float
    timeout_s: float


@dataclass(frozen=True)
class TrustResult:
    """Outcome of one DID or proof request.

    Attributes:
        outcome: Classification of the result.
        detail: Human-readable reason (the task error for failures).
        value: What was obtained (``trust_did`` or ``proof_id``) on success.
        task_id: The task that was polled, if one was started.
        already_existed: Whether the DID or proof existed before this request.
        blocked_owner: Username of a proof owner without DID.
        http_status: HTTP status of the failed API call, if one failed.
    """

    outcome: Outcome
    detail: str
    value: Mapping[str, Any] = field(default_factory=dict)
    task_id: int | None = None
    already_existed: bool = False
    blocked_owner: str | None = None
    http_status: int | None = None


class TaskTimeoutError(RuntimeError):
    """A task did not finish within the polling bound."""

    def __init__(self, path: str, timeout_s: float, polls: int) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.polls = polls
        super().__init__(
            f"task at {path} did not finish within {timeout_s:g} s ({polls} polls); "
            "it may have been lost by an API restart and will be requested again"
        )


def classify_task_error(error: str) -> Outcome:
    """Maps a ``LongRunningTask.error`` text to an outcome (CONTRACT §2)."""
    text = error.lower()
    if any(marker in text for marker in ALREADY_DONE_MARKERS):
        return Outcome.DONE
    if BLOCKED_OWNER_MARKER in text:
        return Outcome.BLOCKED_OWNER
    if TRANSIENT_ERROR_PATTERN.match(error):
        # Trust service trouble, even when its text reads "404 Not Found".
        return Outcome.TRANSIENT
    if any(marker in text for marker in PERMANENT_MARKERS):
        return Outcome.PERMANENT
    return Outcome.TRANSIENT


def blocked_owner(error: str) -> str | None:
    """The username named by an "owner has no DID" error, if any."""
    match = BLOCKED_OWNER_PATTERN.search(error)
    return match.group("owner") if match else None


def wait_for_task(
    client: PlatformApiClient,
    path: str,
    policy: PollPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Polls a task until it finished, backing off between polls.

    Args:
        client: Platform API client.
        path: Task route, e.g. ``/user/did/task/7``.
        policy: Polling bounds.
        sleep: Sleep function (injectable for tests).
        clock: Monotonic clock (injectable for tests).

    Returns:
        The finished ``LongRunningTask``.

    Raises:
        TaskTimeoutError: When the task is still running at the bound.
        PlatformApiError: When a poll fails after the client's retries.
    """
    deadline = clock() + policy.timeout_s
    interval = policy.initial_interval_s
    polls = 0
    while True:
        task = client.get_json(path)
        polls += 1
        if _finished(task):
            return task
        remaining = deadline - clock()
        if remaining <= 0:
            raise TaskTimeoutError(path, policy.timeout_s, polls)
        sleep(min(interval, remaining))
        interval = min(interval * POLL_BACKOFF_FACTOR, policy.max_interval_s)


def request_did(
    client: PlatformApiClient, username: str, policy: PollPolicy
) -> TrustResult:
    """Makes sure ``username`` has a DID.

    "Already has a DID" and "created in the meantime" count as success once a
    re-read shows the DID.

    Args:
        client: Platform API client of an admin account.
        username: Keycloak username.
        policy: Polling bounds.

    Returns:
        The classified result.
    """
    return _request(
        client,
        policy,
        start=lambda: client.post_json(
            DID_PATH, {"username": username}, idempotent=True
        ),
        existing=lambda answer: _did_of(answer.get("user_meta")),
        task_path=DID_TASK_PATH,
        from_task=lambda task: _did_of(task.get("result")),
    )


def request_proof(
    client: PlatformApiClient, object_id: int, policy: PollPolicy
) -> TrustResult:
    """Makes sure the uploaded object ``object_id`` has an integrity proof.

    Args:
        client: Platform API client of an admin account.
        object_id: Id of the uploaded object.
        policy: Polling bounds.

    Returns:
        The classified result.
    """
    return _request(
        client,
        policy,
        start=lambda: client.post_json(
            PROOF_PATH, {"object_key_or_id": object_id}, idempotent=True
        ),
        existing=lambda answer: _proof_of(answer.get("obj")),
        task_path=PROOF_TASK_PATH,
        from_task=lambda task: _proof_of(task.get("result")),
    )


def _request(
    client: PlatformApiClient,
    policy: PollPolicy,
    *,
    start: Callable[[], Any],
    existing: Callable[[Mapping[str, Any]], dict[str, Any]],
    task_path: str,
    from_task: Callable[[Mapping[str, Any]], dict[str, Any]],
) -> TrustResult:
    import requests

    try:
        answer = start()
        task_id = answer.get("task_id")
        if task_id is None:
            value = existing(answer)
            if value:
                return TrustResult(
                    Outcome.DONE, "already existed", value, already_existed=True
                )
            return TrustResult(Outcome.TRANSIENT, "no task started and no value")
        task = wait_for_task(client, task_path.format(task_id=task_id), policy)
    except TaskTimeoutError as error:
        return TrustResult(Outcome.TRANSIENT, str(error), task_id=task_id)
    except PlatformApiError as error:
        outcome = (
            Outcome.PERMANENT
            if error.status == HTTP_NOT_FOUND and error.path in (DID_PATH, PROOF_PATH)
            else Outcome.TRANSIENT
        )
        return TrustResult(outcome, str(error), http_status=error.status)
    except requests.RequestException as error:
        return TrustResult(Outcome.TRANSIENT, f"{type(error).__name__}: {error}")
    if task.get("result") is not None:
        return TrustResult(Outcome.DONE, "created", from_task(task), task_id=task_id)
    error_text = str(task.get("error"))
    outcome = classify_task_error(error_text)
    if outcome is Outcome.DONE:
        return _reread(start, existing, error_text, task_id)
    return TrustResult(
        outcome, error_text, task_id=task_id, blocked_owner=blocked_owner(error_text)
    )


def _reread(
    start: Callable[[], Any],
    existing: Callable[[Mapping[str, Any]], dict[str, Any]],
    error_text: str,
    task_id: int,
) -> TrustResult:
    import requests

    try:
        answer = start()
    except (PlatformApiError, requests.RequestException) as error:
        return TrustResult(
            Outcome.TRANSIENT,
            f"re-read after '{error_text}' failed: {error}",
            task_id=task_id,
        )
    value = existing(answer) if answer.get("task_id") is None else {}
    if value:
        return TrustResult(
            Outcome.DONE, error_text, value, task_id=task_id, already_existed=True
        )
    return TrustResult(
        Outcome.TRANSIENT,
        f"task said '{error_text}' but a re-read found nothing yet",
        task_id=task_id,
    )


def _finished(task: Mapping[str, Any]) -> bool:
    return (
        task.get("finished_at") is not None
        or task.get("result") is not None
        or task.get("error") is not None
    )


def _did_of(user_meta: Any) -> dict[str, Any]:
    if isinstance(user_meta, Mapping) and user_meta.get("trust_did"):
        return {"trust_did": user_meta["trust_did"]}
    return {}


def _proof_of(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping) and obj.get("proof_id"):
        return {"proof_id": obj["proof_id"], "key": obj.get("key")}
    return {}
