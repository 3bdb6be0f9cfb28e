"""MODERATE Platform API: token handling, retries and paged listing."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from moderate.resources.settings import EnvBackedResource, NotUsableError
from moderate.support.http import RetrySettings, Timeouts, retrying_session

if TYPE_CHECKING:
    import requests

TOKEN_PATH = "/api/token"
PING_PATH = "/ping/public"
ADMIN_PROBE_PATH = "/asset/object"
ADMIN_ROLE = "apisix:api_admin"
MAX_PAGE_SIZE = 100
TOKEN_REFRESH_MARGIN_S = 30.0
ERROR_BODY_CHARS = 500
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 409, 410, 413, 422})
FILTERS_PARAM = "filters"
SORT_FIELD = "id"
DEFAULT_UPLOAD_RATE_BYTES_PER_S = 1024 * 1024


class PlatformApiError(RuntimeError):
    """An API call ended with an error status (``body``: the start of the answer).

    ``PERMANENT_STATUSES`` are permanent, and so is a 500 to a request with
    ``filters`` (the API's answer to an unknown field or operator, or to a
    numeric-looking value on a text column), never retried on 500 either.
    """

    def __init__(
        self, status: int, method: str, path: str, body: str, *, filtered: bool = False
    ) -> None:
        self.status = status
        self.path = path
        self.body = body
        self.permanent = status in PERMANENT_STATUSES or (
            filtered and status == HTTPStatus.INTERNAL_SERVER_ERROR
        )
        super().__init__(f"{method} {path} returned HTTP {status}: {body}")


class UploadTooLongError(RuntimeError):
    """An upload outlasts an access token (checked after the whole body is read)."""


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float
    lifetime_s: float

    def covers(self, needed_s: float) -> bool:
        """Whether the token outlives ``needed_s`` plus the refresh margin."""
        margin_s = min(TOKEN_REFRESH_MARGIN_S, self.lifetime_s / 2)
        return self.expires_at - time.monotonic() >= needed_s + margin_s


class PlatformApiClient:
    """Authenticated client of the Platform API gateway.

    Its token is cached under a lock and refreshed a margin before ``expires_in``
    (the API allows no leeway); a 401 fetches a new one and retries once.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        timeouts: Timeouts,
        retry: RetrySettings,
        upload_rate_bytes_per_s: float = DEFAULT_UPLOAD_RATE_BYTES_PER_S,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._login = username
        self._password = password
        self._timeout = timeouts.as_tuple()
        self._retry = retry
        self._upload_rate = upload_rate_bytes_per_s
        self._sessions: dict[RetrySettings, requests.Session] = {}
        self._token: _Token | None = None
        self._lock = threading.RLock()

    @property
    def username(self) -> str:
        """The account as the API names it: the token's lower-case username."""
        return self._login.lower()

    def close(self) -> None:
        """Closes the underlying connection pools."""
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def ping(self) -> dict[str, Any]:
        """Calls the unauthenticated liveness route."""
        response = self._session("GET", idempotent=True, filtered=False).get(
            f"{self._base_url}{PING_PATH}", timeout=self._timeout
        )
        return _checked(response, "GET", PING_PATH).json()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        idempotent: bool | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Performs an authenticated call to ``path`` (e.g. ``/asset``).

        ``idempotent`` (default: by method) retries read errors and 5xx; ``body``
        is a rewindable stream, sent only with a token that outlives it at the
        minimum upload rate.

        Raises:
            PlatformApiError: On a 4xx or 5xx status after retries.
            UploadTooLongError: When ``body`` cannot be sent within a token's
                lifetime (nothing is sent).
        """
        method = method.upper()
        filtered = bool(params and params.get(FILTERS_PARAM))
        if idempotent is None:
            idempotent = method in self._retry.methods
        session = self._session(method, idempotent, filtered)
        size = len(body) if hasattr(body, "__len__") else 0
        needed_s = float(math.ceil(size / self._upload_rate))
        for attempt in (1, 2):
            token = self._token_value(needed_s, force_new=attempt > 1)
            if hasattr(body, "seek"):
                body.seek(0)
            response = session.request(
                method,
                f"{self._base_url}{path}",
                params=params,
                json=json_body,
                data=body,
                headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )
            if response.status_code != HTTPStatus.UNAUTHORIZED:
                break
        return _checked(response, method, path, filtered)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET returning the decoded JSON body."""
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        """POST a JSON body and return the decoded JSON answer."""
        return self.request("POST", path, json_body=body, idempotent=idempotent).json()

    def patch_json(self, path: str, body: Any) -> Any:
        """PATCH a JSON body (idempotent) and return the decoded JSON answer."""
        return self.request("PATCH", path, json_body=body).json()

    def iter_list(
        self,
        path: str,
        *,
        filters: Sequence[Sequence[Any]] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yields each non-empty page of a list route, sorted by ``id``.

        ``filters`` are ``[field, operator, value]`` triples. Paging stops on a
        short page: ``X-Total-Count`` counts the whole table, not the filtered rows.
        """
        if not 0 < page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        params: dict[str, Any] = {"sorts": json.dumps([[SORT_FIELD, "asc"]])}
        if filters:
            params[FILTERS_PARAM] = json.dumps([list(item) for item in filters])
        offset = 0
        while True:
            page = self.get_json(path, {**params, "offset": offset, "limit": page_size})
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += page_size

    def _session(
        self, method: str, idempotent: bool, filtered: bool
    ) -> requests.Session:
        """The session whose retry policy fits the request (see PlatformApiError)."""
        methods = self._retry.methods - {method}
        statuses = self._retry.statuses - (
            {HTTPStatus.INTERNAL_SERVER_ERROR} if filtered else set()
        )
        settings = replace(
            self._retry,
            methods=methods | {method} if idempotent else methods,
            statuses=statuses,
        )
        with self._lock:
            if settings not in self._sessions:
                self._sessions[settings] = retrying_session(settings)
            return self._sessions[settings]

    def _token_value(self, needed_s: float, *, force_new: bool = False) -> str:
        """A token valid for ``needed_s`` plus margin; UploadTooLongError if none is."""
        with self._lock:
            token = self._token
            if force_new or token is None or not token.covers(needed_s):
                token = self._token = self._fetch_token()
            if needed_s and not token.covers(needed_s):
                raise UploadTooLongError(
                    f"an upload estimated at {needed_s:.0f} s (at "
                    f"{self._upload_rate / 1024:.0f} KiB/s) cannot finish within an "
                    f"access token's lifetime of {token.lifetime_s:.0f} s: the API "
                    "checks the token after reading the whole body, with no leeway. "
                    "Raise the realm's access token lifespan or send smaller files."
                )
            return token.value

    def _fetch_token(self) -> _Token:
        started = time.monotonic()
        response = self._session("POST", idempotent=True, filtered=False).post(
            f"{self._base_url}{TOKEN_PATH}",
            data={"username": self._login, "password": self._password},
            timeout=self._timeout,
        )
        payload = _checked(response, "POST", TOKEN_PATH).json()
        expires_in = float(payload["expires_in"])
        return _Token(payload["access_token"], started + expires_in, expires_in)


def _checked(
    response: requests.Response, method: str, path: str, filtered: bool = False
) -> requests.Response:
    """``response``, or a :class:`PlatformApiError` raised for its error status."""
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        raise PlatformApiError(
            response.status_code,
            method,
            path,
            response.text[:ERROR_BODY_CHARS],
            filtered=filtered,
        )
    return response


class PlatformApiResource(EnvBackedResource):
    """The Platform API gateway as an ``apisix:api_admin`` (password: env only)."""

    SERVICE_NAME = "Platform API"
    ENV_VARS = {
        "base_url": "API_BASE_URL",
        "username": "API_USERNAME",
        "password": "API_PASSWORD",
    }
    REQUIRED_FIELDS = ("base_url", "username", "password")
    SECRETS = ("password",)

    base_url: str | None = Field(
        default=None, description="Gateway root URL (default: $API_BASE_URL)."
    )
    username: str | None = Field(
        default=None, description="Pipelines' admin account (default: $API_USERNAME)."
    )
    connect_timeout_s: float = Field(default=5.0, description="Connect timeout.")
    read_timeout_s: float = Field(default=120.0, description="Read timeout.")
    max_attempts: int = Field(default=5, ge=1, description="Attempts per call.")
    retry_base_delay_s: float = Field(
        default=0.5, ge=0, description="urllib3 backoff factor of the retries, s."
    )
    min_upload_rate_bytes_per_s: int = Field(
        default=DEFAULT_UPLOAD_RATE_BYTES_PER_S,
        gt=0,
        description="Slowest upload rate planned for (see UploadTooLongError).",
    )

    _client: PlatformApiClient | None = PrivateAttr(default=None)

    def client(self) -> PlatformApiClient:
        """The client of this resource instance (raises if settings are missing)."""
        if self._client is None:
            self._client = PlatformApiClient(
                base_url=self.required_setting("base_url"),
                username=self.required_setting("username"),
                password=self.required_setting("password"),
                timeouts=Timeouts(self.connect_timeout_s, self.read_timeout_s),
                retry=RetrySettings(
                    attempts=self.max_attempts,
                    backoff_factor_s=self.retry_base_delay_s,
                ),
                upload_rate_bytes_per_s=self.min_upload_rate_bytes_per_s,
            )
        return self._client

    def teardown_after_execution(self, context: Any) -> None:
        """Closes the connection pool at the end of a run or tick."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _probe(self) -> str:
        """Pings, then lists objects: 403 for basic access, 401 without a role."""
        client = self.client()
        info = client.ping()
        try:
            client.get_json(ADMIN_PROBE_PATH, {"limit": 1})
        except PlatformApiError as error:
            if error.status not in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise
            raise NotUsableError(
                f"account '{client.username}' lacks the client role {ADMIN_ROLE}: "
                f"GET {ADMIN_PROBE_PATH} answered HTTP {error.status} "
                f"({error.body[:120]})"
            ) from None
        return (
            f"gateway up (python {info.get('python_version', '?')}), "
            f"'{client.username}' holds {ADMIN_ROLE}"
        )
