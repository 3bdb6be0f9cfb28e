"""OpenMetadata server: URL rules, bot token and version check."""

from __future__ import annotations

from pydantic import Field

from moderate.resources.settings import EnvBackedResource
from moderate.support.http import RetrySettings, Timeouts, retrying_session

DEFAULT_PORT = "8585"
PLAIN_HTTP_HOSTS = frozenset({"localhost", "host.docker.internal"})
VERSION_PATH = "/v1/system/version"
SCHEMES = ("http://", "https://")
VERSION_ATTEMPTS = 3


def build_host_port(host: str, port: str | int) -> str:
    """Builds the server URL the ingestion framework expects.

    A host that carries a scheme keeps it; ``localhost`` and
    ``host.docker.internal`` get ``http://``; anything else gets ``https://``.
    The ``/api`` suffix is required by the ingestion client.

    Args:
        host: Host name, optionally with a scheme.
        port: TCP port.

    Returns:
        ``<scheme>://<host>:<port>/api``.
    """
    host = host.rstrip("/")
    if not host.startswith(SCHEMES):
        scheme = "http://" if host in PLAIN_HTTP_HOSTS else "https://"
        host = f"{scheme}{host}"
    return f"{host}:{port}/api"


class OpenMetadataResource(EnvBackedResource):
    """The OpenMetadata server and its ingestion-bot JWT.

    The JWT comes from ``OPEN_METADATA_TOKEN`` only.
    """

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
        """Server URL ending in ``/api``."""
        return build_host_port(self.required_setting("host"), self.int_setting("port"))

    def server_version(self) -> str:
        """Version the server reports (``GET /api/v1/system/version``)."""
        url = f"{self.host_port}{VERSION_PATH}"
        with retrying_session(RetrySettings(attempts=VERSION_ATTEMPTS)) as session:
            response = session.get(
                url,
                headers={"Authorization": f"Bearer {self.required_setting('token')}"},
                timeout=Timeouts(
                    self.connect_timeout_s, self.read_timeout_s
                ).as_tuple(),
            )
            response.raise_for_status()
            return str(response.json()["version"])

    def _probe(self) -> str:
        return f"server {self.server_version()}"
