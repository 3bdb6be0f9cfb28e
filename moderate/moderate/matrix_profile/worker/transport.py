"""HTTP transport helpers: timeouts, retries of transient failures, safe URL display."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 4
FIRST_BACKOFF_S = 1.0
BACKOFF_FACTOR = 2.0
MAX_CONNECT_TIMEOUT_S = 10.0
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class TransientHTTPError(Exception):
    """A response worth retrying (throttling or a server-side error)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


RETRYABLE_ERRORS = (TransientHTTPError, requests.ConnectionError, requests.Timeout)


def timeouts(read_timeout_s: float) -> tuple[float, float]:
    """Connect and read timeouts for one request."""
    return (min(MAX_CONNECT_TIMEOUT_S, read_timeout_s), read_timeout_s)


def redact(url: str) -> str:
    """``url`` without its query and fragment, which may hold a signature."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def with_retries(
    action: Callable[[], T],
    what: str,
    attempts: int = MAX_ATTEMPTS,
    first_backoff_s: float = FIRST_BACKOFF_S,
) -> T:
    """Runs ``action``, retrying transient HTTP failures with exponential backoff.

    Args:
        action: The request; raises ``TransientHTTPError``, ``requests.ConnectionError``
            or ``requests.Timeout`` for failures worth retrying.
        what: What the request does, for the logs.
        attempts: Total number of tries.
        first_backoff_s: Pause after the first failure; doubled each time.

    Returns:
        The value of the first successful call.

    Raises:
        TransientHTTPError: The last transient response after the final try.
        requests.ConnectionError: The last connection failure after the final try.
        requests.Timeout: The last timeout after the final try.
    """
    delay = first_backoff_s
    for attempt in range(1, attempts):
        try:
            return action()
        except RETRYABLE_ERRORS as error:
            logger.warning(
                "%s failed (%s), attempt %d of %d; retrying in %.1f s",
                what,
                describe_failure(error),
                attempt,
                attempts,
                delay,
            )
            time.sleep(delay)
            delay *= BACKOFF_FACTOR
    return action()


def describe_failure(error: Exception) -> str:
    """A short description of a request failure that never includes the URL.

    ``requests`` puts the full URL, query string and signature included, into
    the text of its connection errors, so only the class name is shown.
    """
    if isinstance(error, TransientHTTPError):
        return str(error)
    return type(error).__name__
