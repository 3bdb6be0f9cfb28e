"""Trust requests through the Platform API: start, poll with a bound, classify.

``POST /user/did`` and ``POST /asset/proof`` answer with the existing DID or proof,
or start a task, polled with a bound (the API loses tasks when it restarts). Task
errors are classified as CONTRACT §2 describes (see :class:`Outcome`).
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from moderate.resources.platform_api import PlatformApiClient, PlatformApiError

DID_PATH = "/user/did"
PROOF_PATH = "/asset/proof"
POLL_BACKOFF_FACTOR = 2.0
ALREADY_DONE_MARKERS = (
    "already has a did",
    "already has a proof",
    "created in the meantime",
)
BLOCKED_OWNER_MARKER = "does not have a did and thus cannot be a proof owner"
PERMANENT_MARKERS = ("has no hash", "not found")
# The Trust service's HTTP client errors, as the API reports them: always transient.
TRANSIENT_ERROR_PATTERN = re.compile(
    r"^\s*(?:HTTPStatusError|HTTPError|TransportError|TimeoutException|ConnectError"
    r"|ConnectTimeout|ReadError|ReadTimeout|WriteError|WriteTimeout|PoolTimeout"
    r"|NetworkError|RemoteProtocolError)\("
)
BLOCKED_OWNER_PATTERN = re.compile(r"User (?P<owner>.+?) does not have a DID", re.I)


class Outcome(enum.StrEnum):
    """What a Trust request ended with, and so what to record."""

    DONE = "done"  # the DID or proof exists
    BLOCKED_OWNER = "blocked_owner"  # the proof owner has no DID yet: long backoff
    PERMANENT = "permanent"  # can never succeed (no hash, not found)
    TRANSIENT = "transient"  # Trust or API trouble, lost task, anything else


@dataclass(frozen=True)
class PollPolicy:
    """Bounded polling of one task: first and longest wait, total time."""

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
        already_existed: Whether the DID or proof existed before this request.
        blocked_owner: Username of a proof owner without DID.
        http_status: HTTP status of the failed API call, if one failed.
    """

    outcome: Outcome
    detail: str
    value: Mapping[str, Any] = field(default_factory=dict)
    already_existed: bool = False
    blocked_owner: str | None = None
    http_status: int | None = None


@dataclass(frozen=True)
class TrustRoute:
    """A Trust route: what to post and where its answer holds the value.

    Attributes:
        path: The ``POST`` route; its tasks are at ``<path>/task/<id>``.
        body_field: Field of the posted body that names the item.
        answer_field: Field of the answer that holds the user or object.
        value_fields: Fields kept as the value; the first one must be set.
        key_of: Turns an item key into what ``body_field`` takes.
    """

    path: str
    body_field: str
    answer_field: str
    value_fields: tuple[str, ...]
    key_of: Callable[[str], str | int] = str

    def value_of(self, obj: Any) -> dict[str, Any]:
        """The value of an answer's user or object; empty when it has none."""
        if isinstance(obj, Mapping) and obj.get(self.value_fields[0]):
            return {name: obj.get(name) for name in self.value_fields}
        return {}


DID_ROUTE = TrustRoute(DID_PATH, "username", "user_meta", ("trust_did",))
PROOF_ROUTE = TrustRoute(
    PROOF_PATH, "object_key_or_id", "obj", ("proof_id", "key"), int
)


class TaskTimeoutError(RuntimeError):
    """A task did not finish within the polling bound."""


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


def request_trust(
    client: PlatformApiClient, route: TrustRoute, key: str, policy: PollPolicy
) -> TrustResult:
    """Makes sure the user or object ``key`` has its DID or proof.

    "Already has" and "created in the meantime" count as success once a re-read
    (the same idempotent ``POST``) shows the value. ``key`` is a username
    (``DID_ROUTE``) or an object id (``PROOF_ROUTE``).
    """
    import requests

    body = {route.body_field: route.key_of(key)}
    try:
        answer = client.post_json(route.path, body, idempotent=True)
        task_id = answer.get("task_id")
        if task_id is None:
            return _existing(
                route, answer, "already existed", "no task started and no value"
            )
        task = _wait(client, f"{route.path}/task/{task_id}", policy)
    except TaskTimeoutError as error:
        return TrustResult(Outcome.TRANSIENT, str(error))
    except PlatformApiError as error:
        permanent = error.status == HTTPStatus.NOT_FOUND and error.path == route.path
        outcome = Outcome.PERMANENT if permanent else Outcome.TRANSIENT
        return TrustResult(outcome, str(error), http_status=error.status)
    except requests.RequestException as error:
        return TrustResult(Outcome.TRANSIENT, f"{type(error).__name__}: {error}")
    if task.get("result") is not None:
        return TrustResult(Outcome.DONE, "created", route.value_of(task["result"]))
    error_text = str(task.get("error"))
    outcome = classify_task_error(error_text)
    if outcome is not Outcome.DONE:
        return TrustResult(outcome, error_text, blocked_owner=blocked_owner(error_text))
    try:
        answer = client.post_json(route.path, body, idempotent=True)
    except (PlatformApiError, requests.RequestException) as error:
        detail = f"re-read after '{error_text}' failed: {error}"
        return TrustResult(Outcome.TRANSIENT, detail)
    if answer.get("task_id") is not None:
        answer = {}
    missing = f"task said '{error_text}' but a re-read found nothing yet"
    return _existing(route, answer, error_text, missing)


def _existing(
    route: TrustRoute, answer: Mapping[str, Any], detail: str, missing: str
) -> TrustResult:
    """Success when an answer without task holds the value, else transient."""
    value = route.value_of(answer.get(route.answer_field))
    if value:
        return TrustResult(Outcome.DONE, detail, value, already_existed=True)
    return TrustResult(Outcome.TRANSIENT, missing)


def _wait(
    client: PlatformApiClient, path: str, policy: PollPolicy
) -> Mapping[str, Any]:
    """Polls a task until it finished, doubling the wait up to the bound."""
    deadline = time.monotonic() + policy.timeout_s
    interval = policy.initial_interval_s
    polls = 0
    while True:
        task = client.get_json(path)
        polls += 1
        if any(
            task.get(name) is not None for name in ("finished_at", "result", "error")
        ):
            return task
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TaskTimeoutError(
                f"task at {path} did not finish within {policy.timeout_s:g} s "
                f"({polls} polls); it may have been lost by an API restart and "
                "will be requested again"
            )
        time.sleep(min(interval, remaining))
        interval = min(interval * POLL_BACKOFF_FACTOR, policy.max_interval_s)
