"""The few OpenMetadata REST calls this feature makes besides the workflows.

Home-grown on ``requests`` because the official client lives in the separate
ingestion environment (it cannot be imported here). Lookups, paging with
``after``, create-or-update and plain calls (JSON Patch, deletes); every failure is a
``dagster.Failure`` naming the call and the HTTP status, never the token.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dagster import Failure

from moderate.resources import OpenMetadataResource
from moderate.support.http import RetrySettings, Timeouts, retrying_session

if TYPE_CHECKING:
    import requests

LIST_PAGE_LIMIT = 100
JSON_PATCH_TYPE = "application/json-patch+json"
RETRY_SETTINGS = RetrySettings(attempts=3)
"""Idempotent calls (GET, PUT, PATCH, DELETE) retried; a POST only if never sent."""


def entity_reference(entity: Mapping[str, Any], entity_type: str) -> dict[str, str]:
    """``{id, type}`` of an entity, as the lineage and owner fields want it."""
    return {"id": str(entity["id"]), "type": entity_type}


@dataclass(frozen=True)
class CatalogClient:
    """Authenticated calls to one OpenMetadata server (``host_port`` ends in /api).

    ``token`` is the ingestion bot's JWT, sent as a bearer token.
    """

    host_port: str
    token: str
    timeouts: Timeouts = field(default_factory=Timeouts)

    @classmethod
    def from_resource(cls, openmetadata: OpenMetadataResource) -> "CatalogClient":
        """A client for the resource's server and token."""
        timeouts = Timeouts(openmetadata.connect_timeout_s, openmetadata.read_timeout_s)
        token = openmetadata.required_setting("token")
        return cls(openmetadata.host_port, token, timeouts)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        allow: Sequence[int] = (),
    ) -> "requests.Response":
        """``method /v1/<path>``; a PATCH body is a JSON Patch.

        Raises:
            Failure: If the call fails or answers an error status not in ``allow``.
        """
        import requests

        url = f"{self.host_port}/v1/{path}"
        content_type = JSON_PATCH_TYPE if method == "PATCH" else "application/json"
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": content_type,
        }
        description = f"{method} /v1/{path.split('?')[0]}"
        try:
            with retrying_session(RETRY_SETTINGS) as session:
                response = session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=self.timeouts.as_tuple(),
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
