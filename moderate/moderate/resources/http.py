"""HTTP plumbing shared by the HTTP-based resources: timeouts and retries."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
import urllib3

LOGGER = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    Attributes:
        max_attempts: Total attempts, the first one included.
        base_delay_s: Delay scale of the first retry.
        max_delay_s: Upper bound of a single delay.
    """

    max_attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts of one HTTP call, in seconds."""

    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_s: float = DEFAULT_READ_TIMEOUT_S

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair ``requests`` expects."""
        return (self.connect_s, self.read_s)


def send_with_retries(
    send: Callable[[], requests.Response],
    *,
    idempotent: bool,
    policy: RetryPolicy,
    description: str,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response:
    """Sends a request, retrying transient failures with backoff.

    A request that never reached the server (refused connection, connect timeout)
    is always retried. Read timeouts, dropped connections and retryable statuses
    (429, 5xx) are retried only for idempotent requests.

    Args:
        send: Performs the request once.
        idempotent: Whether the request may safely be repeated.
        policy: Backoff policy.
        description: ``METHOD path`` for log lines (never a URL with secrets).
        sleep: Sleep function (injectable for tests).

    Returns:
        The last response (possibly an error status the caller must handle).

    Raises:
        requests.RequestException: When the last attempt failed.
    """
    for attempt in range(1, policy.max_attempts):
        try:
            response = send()
        except requests.RequestException as error:
            if not (_never_sent(error) or (idempotent and _transient(error))):
                raise
            reason = type(error).__name__
        else:
            if not idempotent or response.status_code not in RETRYABLE_STATUSES:
                return response
            reason = f"HTTP {response.status_code}"
        delay = policy.delay(attempt)
        LOGGER.warning(
            "%s failed (%s), retry %d/%d in %.1f s",
            description,
            reason,
            attempt,
            policy.max_attempts - 1,
            delay,
        )
        sleep(delay)
    return send()


def _never_sent(error: requests.RequestException) -> bool:
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(error, requests.ConnectionError) or not error.args:
        return False
    reason = getattr(error.args[0], "reason", None)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _transient(error: requests.RequestException) -> bool:
    return isinstance(error, requests.ConnectionError | requests.Timeout)
