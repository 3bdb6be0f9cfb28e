"""OpenMetadata server: URL rules, bot token and version check."""

from __future__ import annotations

from pydantic import Field

from moderate.resources.settings import EnvBackedResource
from moderate.support.http import HTTP_SCHEMES, RetrySettings, retrying_session

DEFAULT_PORT = "8585"
PLAIN_HTTP_HOSTS = frozenset({"localhost", "host.docker.internal"})
VERSION_PATH = "/v1/system/version"
VERSION_ATTEMPTS = 3


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
        with retrying_session(RetrySettings(attempts=VERSION_ATTEMPTS)) as session:
            response = session.get(
                f"{self.host_port}{VERSION_PATH}",
                headers={"Authorization": f"Bearer {self.required_setting('token')}"},
                timeout=(self.connect_timeout_s, self.read_timeout_s),
            )
            response.raise_for_status()
            return str(response.json()["version"])

    def _probe(self) -> str:
        return f"server {self.server_version()}"
