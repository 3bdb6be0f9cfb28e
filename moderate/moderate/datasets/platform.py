"""Platform API calls of the datasets feature: the source's asset and objects."""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moderate.datasets.multipart import MultipartFileBody
from moderate.datasets.naming import legacy_platform_asset_uuid, platform_asset_uuid
from moderate.resources.platform_api import PlatformApiClient, PlatformApiError

ASSET_PATH = "/asset"
HTTP_CONFLICT = 409
HTTP_NOT_FOUND = 404
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".parquet": PARQUET_CONTENT_TYPE,
}


class AssetOrigin:
    """How the platform asset was found."""

    FOUND = "found"
    CREATED = "created"
    LEGACY_UUID = "adopted (legacy uuid)"
    LEGACY_NAME = "adopted (legacy name)"


@dataclass(frozen=True)
class PlatformAsset:
    """A platform asset and how it was obtained.

    Attributes:
        id: Database id.
        uuid: Its uuid.
        name: Its name.
        origin: One of :class:`AssetOrigin`.
    """

    id: int
    uuid: str
    name: str
    origin: str


def ensure_platform_asset(
    client: PlatformApiClient,
    name: str,
    description: str,
    api_base_url: str | None,
    adopt_legacy: bool,
    log: logging.Logger,
) -> PlatformAsset:
    """Finds the source's ownerless public asset, or creates it.

    Lookup order: the deterministic uuid; with ``adopt_legacy``, the uuid earlier
    deployments derived from this deployment's ``API_BASE_URL``, then the oldest
    ownerless asset with the same name; else create it. A 409 on creation means
    a concurrent run created it: it is read again.

    Args:
        client: API client.
        name: Platform asset name.
        description: Description for a new asset.
        api_base_url: Base URL (only for the legacy uuid).
        adopt_legacy: Whether to reuse assets of earlier deployments.
        log: Logger.

    Returns:
        The asset.
    """
    asset_uuid = platform_asset_uuid(name)
    found = find_asset_by_uuid(client, asset_uuid)
    if found is not None:
        return _asset(found, AssetOrigin.FOUND)
    if adopt_legacy:
        legacy = _find_legacy(client, name, api_base_url)
        if legacy is not None:
            log.info("reusing asset %s of an earlier deployment", legacy.id)
            return legacy
    body = {
        "name": name,
        "uuid": asset_uuid,
        "description": description,
        "meta": {"managed_by": "moderate datasets"},
        "is_public_ownerless": True,
    }
    try:
        created = client.post_json(ASSET_PATH, body)
    except PlatformApiError as error:
        if error.status != HTTP_CONFLICT:
            raise
        created = find_asset_by_uuid(client, asset_uuid)
        if created is None:
            raise
        return _asset(created, AssetOrigin.FOUND)
    log.info("created platform asset %s (%s)", created["id"], name)
    return _asset(created, AssetOrigin.CREATED)


def find_asset_by_uuid(client: PlatformApiClient, asset_uuid: str) -> dict | None:
    """The asset with this uuid, if any."""
    page = client.get_json(
        ASSET_PATH,
        {"limit": 1, "filters": json.dumps([["uuid", "eq", asset_uuid]])},
    )
    return page[0] if page else None


def _find_legacy(
    client: PlatformApiClient, name: str, api_base_url: str | None
) -> PlatformAsset | None:
    if api_base_url:
        legacy = find_asset_by_uuid(
            client, legacy_platform_asset_uuid(api_base_url, name)
        )
        if legacy is not None:
            return _asset(legacy, AssetOrigin.LEGACY_UUID)
    for page in client.iter_list(ASSET_PATH, filters=[["name", "eq", name]]):
        for candidate in page:
            if candidate.get("name") == name and candidate.get("username") is None:
                return _asset(candidate, AssetOrigin.LEGACY_NAME)
    return None


def _asset(payload: Mapping[str, Any], origin: str) -> PlatformAsset:
    return PlatformAsset(
        id=int(payload["id"]),
        uuid=str(payload["uuid"]),
        name=str(payload["name"]),
        origin=origin,
    )


def list_objects(client: PlatformApiClient, asset_id: int) -> list[dict[str, Any]]:
    """The objects of an asset, oldest first."""
    asset = client.get_json(f"{ASSET_PATH}/{asset_id}")
    return sorted(asset.get("objects") or [], key=lambda item: int(item["id"]))


def delete_object(client: PlatformApiClient, asset_id: int, object_id: int) -> bool:
    """Deletes an object's record (the stored file stays in the bucket).

    Returns:
        False when the record was already gone (404), True otherwise.
    """
    try:
        client.request("DELETE", f"{ASSET_PATH}/{asset_id}/object/{object_id}")
    except PlatformApiError as error:
        if error.status != HTTP_NOT_FOUND:
            raise
        return False
    return True


def upload_object(
    client: PlatformApiClient,
    asset_id: int,
    path: Path,
    file_name: str,
    fields: Mapping[str, str],
) -> dict[str, Any]:
    """Uploads one file, streamed from disk, with its form fields.

    Args:
        client: API client.
        asset_id: Target asset.
        path: Local file.
        file_name: File name announced to the API (its stem names the key).
        fields: ``tags`` (JSON text), ``series_id``, ``name``, ``description``.

    Returns:
        The created object.
    """
    content_type = CONTENT_TYPES.get(Path(file_name).suffix, "application/octet-stream")
    with MultipartFileBody(fields, "obj", file_name, path, content_type) as body:
        response = client.request(
            "POST",
            f"{ASSET_PATH}/{asset_id}/object",
            body=body,
            headers={"Content-Type": body.content_type},
            idempotent=False,
        )
    return response.json()
