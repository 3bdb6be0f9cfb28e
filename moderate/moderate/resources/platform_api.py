"""MODERATE Platform API: token handling, retries and paged listing."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import Field, PrivateAttr

from moderate.resources.http import (
    IDEMPOTENT_METHODS,
    RetryPolicy,
    Timeouts,
    send_with_retries,
)
from moderate.resources.settings import EnvBackedResource

TOKEN_PATH = "/api/token"
PING_PATH = "/ping/public"
MAX_PAGE_SIZE = 100
TOKEN_REFRESH_MARGIN_S = 30.0
HTTP_UNAUTHORIZED = 401
ERROR_BODY_CHARS = 500

JsonFilter = Sequence[Any]


class PlatformApiError(RuntimeError):
    """An API call ended with an error status.

    Attributes:
        status: HTTP status code.
        method: HTTP method.
        path: Request path (no query string, no credentials).
        body: Start of the response body.
    """

    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        super().__init__(f"{method} {path} returned HTTP {status}: {body}")


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float


class PlatformApiClient:
    """Authenticated client of the Platform API gateway.

    One instance per process holds a session and a token cache guarded by a lock.
    The token is refreshed a margin before ``expires_in``, and a 401 on a call
    fetches a new token and retries that call once.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        timeouts: Timeouts,
        retry_policy: RetryPolicy,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._timeouts = timeouts
        self._retry_policy = retry_policy
        self._session = requests.Session()
        self._token: _Token | None = None
        self._lock = threading.Lock()

    @property
    def username(self) -> str:
        """The account the client acts as."""
        return self._username

    def close(self) -> None:
        """Closes the underlying connection pool."""
        self._session.close()

    def ping(self) -> dict[str, Any]:
        """Calls the unauthenticated liveness route."""
        response = self._send("GET", PING_PATH, authenticated=False)
        return _json_or_raise(response, "GET", PING_PATH)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Performs an authenticated call and raises on an error status.

        Args:
            method: HTTP method.
            path: Route below the gateway root, e.g. ``/asset``.
            params: Query parameters.
            json_body: JSON body.
            data: Form fields.
            files: Multipart files (a stream must be rewindable for a retry).
            idempotent: Whether to retry timeouts and 5xx; defaults by method.
            body: A pre-encoded, rewindable body stream (e.g. a streamed
                multipart body) sent instead of ``data``; give its
                ``Content-Type`` in ``headers``.
            headers: Extra request headers (``Authorization`` is always set).

        Returns:
            The successful response.

        Raises:
            PlatformApiError: On a 4xx or 5xx status after retries.
        """
        method = method.upper()
        response = self._send(
            method,
            path,
            params=params,
            json_body=json_body,
            data=data if body is None else body,
            files=files,
            idempotent=(
                method in IDEMPOTENT_METHODS if idempotent is None else idempotent
            ),
            headers=headers,
        )
        if response.status_code >= requests.codes.bad_request:
            raise PlatformApiError(
                response.status_code, method, path, response.text[:ERROR_BODY_CHARS]
            )
        return response

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET returning the decoded JSON body."""
        return _json_or_raise(self.request("GET", path, params=params), "GET", path)

    def post_json(self, path: str, body: Any, *, idempotent: bool = False) -> Any:
        """POST a JSON body and return the decoded JSON answer."""
        response = self.request("POST", path, json_body=body, idempotent=idempotent)
        return _json_or_raise(response, "POST", path)

    def patch_json(self, path: str, body: Any) -> Any:
        """PATCH a JSON body (idempotent) and return the decoded JSON answer."""
        return _json_or_raise(
            self.request("PATCH", path, json_body=body), "PATCH", path
        )

    def iter_list(
        self,
        path: str,
        *,
        filters: Sequence[JsonFilter] | None = None,
        sort_field: str = "id",
        page_size: int = MAX_PAGE_SIZE,
        offset: int = 0,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages through a list route with an explicit sort, yielding each page.

        Paging stops on a short page; ``X-Total-Count`` is ignored because it
        counts the whole table, not the filtered rows.

        Args:
            path: List route, e.g. ``/asset/object``.
            filters: ``[field, operator, value]`` triples.
            sort_field: Field sorted ascending (``id`` keeps pages stable).
            page_size: Rows per page, at most 100.
            offset: Offset of the first page.

        Yields:
            Each non-empty page.
        """
        if not 0 < page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{MAX_PAGE_SIZE}")
        while True:
            params: dict[str, Any] = {
                "offset": offset,
                "limit": page_size,
                "sorts": json.dumps([[sort_field, "asc"]]),
            }
            if filters:
                params["filters"] = json.dumps([list(item) for item in filters])
            page = self.get_json(path, params)
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += page_size

    def _send(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Mapping[str, Any] | None = None,
        idempotent: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        send = functools.partial(
            self._send_once,
            method,
            path,
            authenticated,
            params,
            json_body,
            data,
            files,
            idempotent,
            headers,
        )
        response = send()
        if authenticated and response.status_code == HTTP_UNAUTHORIZED:
            self._invalidate_token()
            response = send()
        return response

    def _send_once(
        self,
        method: str,
        path: str,
        authenticated: bool,
        params: Mapping[str, Any] | None,
        json_body: Any,
        data: Any,
        files: Mapping[str, Any] | None,
        idempotent: bool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        headers = dict(extra_headers or {})
        if authenticated:
            headers["Authorization"] = f"Bearer {self._token_value()}"

        def send() -> requests.Response:
            _rewind(files)
            _rewind_stream(data)
            return self._session.request(
                method,
                f"{self._base_url}{path}",
                params=params,
                json=json_body,
                data=data,
                files=files,
                headers=headers,
                timeout=self._timeouts.as_tuple(),
            )

        return send_with_retries(
            send,
            idempotent=idempotent,
            policy=self._retry_policy,
            description=f"{method} {path}",
        )

    def _token_value(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._token.refresh_at:
                self._token = self._fetch_token()
            return self._token.value

    def _invalidate_token(self) -> None:
        with self._lock:
            self._token = None

    def _fetch_token(self) -> _Token:
        def send() -> requests.Response:
            return self._session.post(
                f"{self._base_url}{TOKEN_PATH}",
                data={"username": self._username, "password": self._password},
                timeout=self._timeouts.as_tuple(),
            )

        response = send_with_retries(
            send,
            idempotent=True,
            policy=self._retry_policy,
            description=f"POST {TOKEN_PATH}",
        )
        payload = _json_or_raise(response, "POST", TOKEN_PATH)
        expires_in = float(payload["expires_in"])
        margin = min(TOKEN_REFRESH_MARGIN_S, expires_in / 2)
        return _Token(payload["access_token"], time.monotonic() + expires_in - margin)


def _rewind(files: Mapping[str, Any] | None) -> None:
    for item in (files or {}).values():
        stream = item[1] if isinstance(item, tuple) else item
        if hasattr(stream, "seek"):
            stream.seek(0)


def _rewind_stream(data: Any) -> None:
    """Rewinds a streamed body (form-field mappings are left alone)."""
    if not isinstance(data, Mapping) and hasattr(data, "seek"):
        data.seek(0)


def _json_or_raise(response: requests.Response, method: str, path: str) -> Any:
    if response.status_code >= requests.codes.bad_request:
        raise PlatformApiError(
            response.status_code, method, path, response.text[:ERROR_BODY_CHARS]
        )
    return response.json()


class PlatformApiResource(EnvBackedResource):
    """The MODERATE Platform API, reached through its APISIX gateway.

    The account must hold the ``apisix:api_admin`` client role.
    """

    SERVICE_NAME = "Platform API"
    ENV_VARS = {
        "base_url": "API_BASE_URL",
        "username": "API_USERNAME",
        "password": "API_PASSWORD",
    }
    REQUIRED_FIELDS = ("base_url", "username", "password")

    base_url: str | None = Field(
        default=None, description="Gateway root URL (default: $API_BASE_URL)."
    )
    username: str | None = Field(
        default=None, description="Pipelines' admin account (default: $API_USERNAME)."
    )
    password: str | None = Field(
        default=None, description="Its password (default: $API_PASSWORD)."
    )
    connect_timeout_s: float = Field(default=5.0, description="Connect timeout.")
    read_timeout_s: float = Field(default=120.0, description="Read timeout.")
    max_attempts: int = Field(default=5, description="Attempts per call.")
    retry_base_delay_s: float = Field(default=0.5, description="First backoff delay.")

    _client: PlatformApiClient | None = PrivateAttr(default=None)

    def client(self) -> PlatformApiClient:
        """The process-wide client of this resource instance.

        Raises:
            ServiceNotConfiguredError: Naming every missing variable.
        """
        if self._client is None:
            self._client = PlatformApiClient(
                base_url=self.required_setting("base_url"),
                username=self.required_setting("username"),
                password=self.required_setting("password"),
                timeouts=Timeouts(self.connect_timeout_s, self.read_timeout_s),
                retry_policy=RetryPolicy(
                    max_attempts=self.max_attempts,
                    base_delay_s=self.retry_base_delay_s,
                ),
            )
        return self._client

    def teardown_after_execution(self, context: Any) -> None:
        """Closes the connection pool at the end of a run or tick."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _probe(self) -> str:
        client = self.client()
        info = client.ping()
        client.get_json("/asset", {"limit": 1})
        return f"gateway up (python {info.get('python_version', '?')}), token accepted"
