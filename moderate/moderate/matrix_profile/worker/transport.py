"""HTTP transport helpers: timeouts, the shared retry policy, safe URL display."""

import logging
from urllib.parse import urlsplit, urlunsplit

import requests

from moderate.support.http import RetrySettings, retrying_session

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BACKOFF_FACTOR_S = 1.0
MAX_CONNECT_TIMEOUT_S = 10.0
RETRY = RetrySettings(attempts=MAX_ATTEMPTS, backoff_factor_s=BACKOFF_FACTOR_S)
TRANSIENT_STATUSES = RETRY.statuses


def session() -> requests.Session:
    """A session that retries transient failures with the shared policy.

    Throttling and server errors (429, 5xx) are retried with backoff and
    ``Retry-After``; after the last attempt the last response is returned, so
    callers check its status against ``TRANSIENT_STATUSES``.
    """
    return retrying_session(RETRY)


def timeouts(read_timeout_s: float) -> tuple[float, float]:
    """Connect and read timeouts for one request."""
    return (min(MAX_CONNECT_TIMEOUT_S, read_timeout_s), read_timeout_s)


def redact(url: str) -> str:
    """``url`` without its query and fragment, which may hold a signature."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def describe_failure(error: Exception) -> str:
    """A short description of a request failure that never includes the URL.

    ``requests`` puts the full URL, query string and signature included, into
    the text of its connection errors, so only the class name is shown.
    """
    return type(error).__name__
