"""The one HTTP retry policy: urllib3 ``Retry`` mounted on a ``requests`` adapter.

It imports no Dagster, for the analysis worker's sake. A request that never
reached the server is retried whatever its method; read errors and 429/5xx only
for ``methods`` (idempotent ones by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests
    from urllib3.util.retry import Retry

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
MAX_RETRY_AFTER_S = 60
DEFAULT_ATTEMPTS = 5
DEFAULT_BACKOFF_FACTOR_S = 0.5
DEFAULT_BACKOFF_MAX_S = 30.0
HTTP_SCHEMES = ("http://", "https://")
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Timeouts:
    """Connect and read timeouts of one HTTP call, in seconds."""

    connect_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_s: float = DEFAULT_READ_TIMEOUT_S

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair ``requests`` expects."""
        return (self.connect_s, self.read_s)


@dataclass(frozen=True)
class RetrySettings:
    """How many times (the first attempt included) and how patiently to retry.

    The n-th retry after the first waits ``backoff_factor_s * 2 ** (n - 1)``
    seconds, at most ``backoff_max_s``.
    """

    attempts: int = DEFAULT_ATTEMPTS
    backoff_factor_s: float = DEFAULT_BACKOFF_FACTOR_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    statuses: frozenset[int] = RETRYABLE_STATUSES
    methods: frozenset[str] = IDEMPOTENT_METHODS

    def retry(self) -> Retry:
        """The urllib3 ``Retry`` object for these settings."""
        from urllib3.util.retry import Retry

        return Retry(
            total=max(self.attempts - 1, 0),
            other=0,
            redirect=False,
            backoff_factor=self.backoff_factor_s,
            backoff_max=self.backoff_max_s,
            status_forcelist=self.statuses,
            allowed_methods=self.methods,
            retry_after_max=MAX_RETRY_AFTER_S,
            raise_on_status=False,
        )


def retrying_session(settings: RetrySettings) -> requests.Session:
    """A new ``requests`` session retrying with ``settings``."""
    import requests

    session = requests.Session()
    mount_retries(session, settings)
    return session


def mount_retries(session: requests.Session, settings: RetrySettings) -> None:
    """Mounts retrying adapters for http and https on an existing session."""
    from requests.adapters import HTTPAdapter

    for scheme in HTTP_SCHEMES:
        session.mount(scheme, HTTPAdapter(max_retries=settings.retry()))
