"""OpenMetadata server: URL rules, bot token and the REST calls besides workflows.

Home-grown on ``requests``: the official client lives in the ingestion environment.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dagster import Failure
from pydantic import Field

from moderate.resources.settings import EnvBackedResource
from moderate.support.http import HTTP_SCHEMES, RetrySettings, retrying_session

if TYPE_CHECKING:
    import requests

DEFAULT_PORT = "8585"
PLAIN_HTTP_HOSTS = frozenset({"localhost", "host.docker.internal"})
VERSION_PATH = "system/version"
LIST_PAGE_LIMIT = 100
JSON_PATCH_TYPE = "application/json-patch+json"
RETRY_SETTINGS = RetrySettings(attempts=3)
"""Idempotent calls (GET, PUT, PATCH, DELETE) retried; a POST only if never sent."""


class OpenMetadataResource(EnvBackedResource):
    """The OpenMetadata server and its ingestion-bot JWT (from the environment only)."""

    SERVICE_NAME = "OpenMetadata"
    ENV_VARS = {
        "host": "OPEN_METADATA_HOST",
        "port": "OPEN_METADATA_PORT",
        "token": "OPEN_METADATA_TOKEN",
    }
    REQUIRED_FIELDS = ("host", "token")
    DEFAULTS = {"port": DEFAULT_PORT}
    SECRETS = ("token",)

    host: str | None = Field(
        default=None, description="Host, optionally with scheme ($OPEN_METADATA_HOST)."
    )
    port: str | None = Field(
        default=None, description="Port (default: $OPEN_METADATA_PORT or 8585)."
    )
    connect_timeout_s: float = Field(default=5.0, description="Connect timeout.")
    read_timeout_s: float = Field(default=30.0, description="Read timeout.")

    @property
    def host_port(self) -> str:
        """``<scheme>://<host>:<port>/api``, the URL the ingestion framework expects.

        A host with a scheme keeps it; ``localhost`` and ``host.docker.internal``
        get ``http://``, any other host ``https://``.
        """
        host = self.required_setting("host").rstrip("/")
        if not host.startswith(HTTP_SCHEMES):
            host = f"{'http' if host in PLAIN_HTTP_HOSTS else 'https'}://{host}"
        return f"{host}:{self.int_setting('port')}/api"

    def server_version(self) -> str:
        """Version the server reports (``GET /api/v1/system/version``)."""
        return str(self.send("GET", VERSION_PATH).json()["version"])

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        allow: Sequence[int] = (),
    ) -> requests.Response:
        """``method /v1/<path>`` with the bot's token; a PATCH body is a JSON Patch.

        Raises:
            Failure: If the call fails or answers an error status not in ``allow``.
        """
        import requests

        content_type = JSON_PATCH_TYPE if method == "PATCH" else "application/json"
        headers = {
            "Authorization": f"Bearer {self.required_setting('token')}",
            "Content-Type": content_type,
        }
        description = f"{method} /v1/{path.split('?')[0]}"
        try:
            with retrying_session(RETRY_SETTINGS) as session:
                response = session.request(
                    method,
                    f"{self.host_port}/v1/{path}",
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=(self.connect_timeout_s, self.read_timeout_s),
                )
        except requests.RequestException as error:
            raise Failure(
                description=f"OpenMetadata {description} failed: "
                f"{type(error).__name__}",
                metadata={"call": description},
            ) from error
        if response.ok or response.status_code in allow:
            return response
        raise Failure(
            description=f"OpenMetadata {description} answered HTTP "
            f"{response.status_code}: {response.text[:200]}",
            metadata={"call": description, "status": response.status_code},
        )

    def get_by_name(self, collection: str, fqn: str) -> dict[str, Any] | None:
        """The entity of ``collection`` named ``fqn``; None when the server has none."""
        path = f"{collection}/name/{quote(fqn, safe='')}"
        response = self.send("GET", path, allow=(HTTPStatus.NOT_FOUND,))
        if response.status_code == HTTPStatus.NOT_FOUND:
            return None
        return dict(response.json())

    def list_all(
        self, collection: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every entity of ``collection``, following the ``after`` cursor."""
        after: str | None = None
        while True:
            query = {**(params or {}), "limit": LIST_PAGE_LIMIT}
            if after:
                query["after"] = after
            page = self.send("GET", collection, params=query).json()
            yield from page.get("data", [])
            after = (page.get("paging") or {}).get("after")
            if not after:
                return

    def put(self, collection: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create-or-update (``PUT /<collection>``): the entity, {} for no body."""
        response = self.send("PUT", collection, body=dict(body))
        return dict(response.json()) if response.content else {}

    def _probe(self) -> str:
        return f"server {self.server_version()}"
