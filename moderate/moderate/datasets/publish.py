"""Publishing a prepared source: the platform asset, the plan, the uploads.

See docs/datasets.md, "The platform asset and the 100-object limit".
"""

import enum
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from dagster import MetadataValue
from requests_toolbelt import MultipartEncoder

from moderate.datasets.naming import (
    DatasetFormat,
    legacy_platform_asset_uuid,
    platform_asset_uuid,
    series_id,
    upload_file_name,
)
from moderate.datasets.report import table
from moderate.datasets.staging import (
    DatasetStatus,
    SourceManifest,
    StagedObject,
    StagingArea,
)
from moderate.resources.platform_api import PlatformApiClient, PlatformApiError
from moderate.support.naming import OBJECT_KEYS_METADATA

ASSET_PATH = "/asset"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
FILE_FIELD = "obj"
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".parquet": "application/vnd.apache.parquet",
}
SCRATCH_PREFIX = "moderate-datasets-publish-"
OBJECT_COLUMNS = {
    "dataset": "string",
    "format": "string",
    "status": "string",
    "object_id": "int",
    "key": "string",
    "sha256": "string",
    "series_id": "string",
}


class AssetOrigin:
    """How the platform asset was found."""

    FOUND = "found"
    CREATED = "created"
    LEGACY_UUID = "adopted (legacy uuid)"
    LEGACY_NAME = "adopted (legacy name)"


class ObjectLimitError(RuntimeError):
    """A source needs more objects than one platform asset may hold."""


class UploadIntegrityError(RuntimeError):
    """The API stored bytes whose hash differs from the staged file's."""


class PublishStatus(enum.StrEnum):
    """What happened to one series in a run."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class PlatformAsset:
    """A platform asset and how it was obtained (one of :class:`AssetOrigin`)."""

    id: int
    uuid: str
    name: str
    origin: str

    @classmethod
    def of(cls, payload: Mapping[str, Any], origin: str) -> "PlatformAsset":
        """The asset an API payload describes."""
        return cls(
            int(payload["id"]), str(payload["uuid"]), str(payload["name"]), origin
        )


@dataclass(frozen=True)
class PublishUnit:
    """One object to have on the platform: a dataset (or source file) in one format."""

    source: str
    dataset: str
    data_format: str
    staged: StagedObject
    source_path: str
    sheet: str | None = None

    @property
    def series_id(self) -> str:
        """The series every version of this dataset in this format belongs to."""
        return series_id(self.source, self.dataset, self.data_format)

    @property
    def file_name(self) -> str:
        """The file name sent with the upload."""
        suffix = Path(self.source_path).suffix
        return upload_file_name(self.dataset, self.data_format, suffix)


@dataclass(frozen=True)
class UploadPlan:
    """What a run does: make room, upload, delete superseded versions, in order.

    ``current`` pairs the units already on the platform with their object.
    """

    current: tuple[tuple[PublishUnit, Mapping[str, Any]], ...]
    uploads: tuple[PublishUnit, ...]
    delete_before: tuple[int, ...]
    delete_after: tuple[int, ...]
    final_count: int


class RewindableMultipartEncoder(MultipartEncoder):
    """requests_toolbelt's streaming encoder with ``len()`` and ``seek(0)``.

    The length gives the request a ``Content-Length``; rewinding lets a retry
    after a token refresh send the same bytes again.
    """

    def __len__(self) -> int:
        return int(self.len)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Rewinds to the start (the only position supported)."""
        if offset != 0 or whence != os.SEEK_SET:
            raise io.UnsupportedOperation("the body can only be rewound")
        for value in self.fields.values():
            if isinstance(value, tuple):
                value[1].seek(0)
        MultipartEncoder.__init__(self, self.fields, self.boundary_value, self.encoding)
        return 0


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
    deployments derived from ``api_base_url``, then the oldest ownerless asset
    with the same name; else create it (a 409 means a concurrent run did: it is
    read again).
    """
    asset_uuid = platform_asset_uuid(name)
    found = find_asset_by_uuid(client, asset_uuid)
    if found is not None:
        return PlatformAsset.of(found, AssetOrigin.FOUND)
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
        if error.status != HTTPStatus.CONFLICT:
            raise
        created = find_asset_by_uuid(client, asset_uuid)
        if created is None:
            raise
        return PlatformAsset.of(created, AssetOrigin.FOUND)
    log.info("created platform asset %s (%s)", created["id"], name)
    return PlatformAsset.of(created, AssetOrigin.CREATED)


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
        legacy_uuid = legacy_platform_asset_uuid(api_base_url, name)
        legacy = find_asset_by_uuid(client, legacy_uuid)
        if legacy is not None:
            return PlatformAsset.of(legacy, AssetOrigin.LEGACY_UUID)
    for page in client.iter_list(ASSET_PATH, filters=[["name", "eq", name]]):
        for candidate in page:
            if candidate.get("name") == name and candidate.get("username") is None:
                return PlatformAsset.of(candidate, AssetOrigin.LEGACY_NAME)
    return None


def list_objects(client: PlatformApiClient, asset_id: int) -> list[dict[str, Any]]:
    """The objects of an asset, oldest first."""
    asset = client.get_json(f"{ASSET_PATH}/{asset_id}")
    return sorted(asset.get("objects") or [], key=lambda item: int(item["id"]))


def delete_object(client: PlatformApiClient, asset_id: int, object_id: int) -> bool:
    """Deletes an object's record (not its stored file); False if already gone."""
    try:
        client.request("DELETE", f"{ASSET_PATH}/{asset_id}/object/{object_id}")
    except PlatformApiError as error:
        if error.status != HTTPStatus.NOT_FOUND:
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
    """Uploads one file, streamed from disk, and returns the created object.

    ``file_name``'s stem names the key; ``fields`` are the other form fields.
    """
    content_type = CONTENT_TYPES.get(Path(file_name).suffix, DEFAULT_CONTENT_TYPE)
    with path.open("rb") as handle:
        body = RewindableMultipartEncoder(
            {**fields, FILE_FIELD: (file_name, handle, content_type)}
        )
        response = client.request(
            "POST",
            f"{ASSET_PATH}/{asset_id}/object",
            body=body,
            headers={"Content-Type": body.content_type},
            idempotent=False,
        )
    return response.json()


def publish_units(manifest: SourceManifest) -> list[PublishUnit]:
    """The objects a manifest asks for: Parquet per dataset, original per file."""
    source = manifest.source
    units = [
        PublishUnit(
            source, d.name, DatasetFormat.PARQUET, d.parquet, d.source_path, d.sheet
        )
        for d in manifest.datasets
        if d.status == DatasetStatus.OK and d.parquet is not None
    ]
    units.extend(
        PublishUnit(source, f.path, DatasetFormat.ORIGINAL, f.original, f.path)
        for f in manifest.files
        if f.original is not None
    )
    return units


def plan_uploads(
    units: Sequence[PublishUnit],
    existing: Sequence[Mapping[str, Any]],
    commit_sha: str,
    limit: int,
    owned_key_prefix: str,
) -> UploadPlan:
    """Decides what to upload and delete so the asset never exceeds ``limit``.

    ``existing`` lists the asset's objects oldest first. Only objects the
    pipelines uploaded themselves (keys under ``owned_key_prefix``, i.e.
    ``<API_USERNAME>-assets/``) are ever deleted: anyone may upload to a public
    asset, and those uploads are not ours to prune. Room is made by deleting
    objects of series the source no longer has (oldest first), then superseded
    versions.

    Raises:
        ObjectLimitError: If the commit alone needs more than ``limit`` objects,
            or other accounts' objects leave too little room.
    """
    if len(units) > limit:
        raise ObjectLimitError(
            f"the source needs {len(units)} objects but a platform asset holds at "
            f"most {limit}: narrow the globs or raise max_objects_per_asset to "
            "the API's setting"
        )
    wanted = {unit.series_id for unit in units}
    found = [(unit, _current_version(unit, existing, commit_sha)) for unit in units]
    current = [(unit, item) for unit, item in found if item is not None]
    uploads = [unit for unit, item in found if item is None]
    keep = {int(item["id"]) for _, item in current}
    uploading = {unit.series_id for unit in uploads}
    owned = [
        item
        for item in existing
        if int(item["id"]) not in keep
        and str(item.get("key", "")).startswith(owned_key_prefix)
    ]
    settled = wanted - uploading
    gone = [int(i["id"]) for i in owned if i.get("series_id") not in wanted]
    stale = [int(i["id"]) for i in owned if i.get("series_id") in settled]
    superseded = [int(i["id"]) for i in owned if i.get("series_id") in uploading]
    overflow = len(existing) + len(uploads) - limit
    candidates = [*gone, *stale, *superseded]
    if overflow > len(candidates):
        foreign = len(existing) - len(keep) - len(owned)
        raise ObjectLimitError(
            f"the platform asset holds {len(existing)} objects, {foreign} of them "
            f"uploaded by other accounts; {len(uploads)} uploads need {overflow} "
            f"free places but only {len(candidates)} of the pipelines' own objects "
            f"can be removed (limit {limit})"
        )
    delete_before = tuple(candidates[: max(overflow, 0)])
    delete_after = tuple(
        object_id
        for object_id in [*superseded, *stale]
        if object_id not in delete_before
    )
    final_count = len(existing) + len(uploads) - len(delete_before) - len(delete_after)
    return UploadPlan(
        tuple(current), tuple(uploads), delete_before, delete_after, final_count
    )


def _current_version(
    unit: PublishUnit, existing: Sequence[Mapping[str, Any]], commit_sha: str
) -> Mapping[str, Any] | None:
    """The newest object of the unit's series that holds this commit's bytes."""
    for item in reversed(existing):
        tags = item.get("tags") or {}
        if (
            item.get("series_id") == unit.series_id
            and isinstance(tags, Mapping)
            and tags.get("commit_sha") == commit_sha
            and item.get("sha256_hash") == unit.staged.sha256
        ):
            return item
    return None


def publish(
    manifest: SourceManifest,
    asset: PlatformAsset,
    client: PlatformApiClient,
    area: StagingArea,
    limit: int,
    log: logging.Logger,
) -> dict[str, Any]:
    """Publishes a prepared commit to ``asset``; returns the run's metadata.

    Room-making deletions come first, then the uploads (each staged file
    checked as it is read back), then the deletions of superseded versions.

    Raises:
        ObjectLimitError: See :func:`plan_uploads`.
        UploadIntegrityError: If the API stored other bytes than the staged ones.
        StagingIntegrityError: If a staged file changed since it was prepared.
    """
    plan = plan_uploads(
        publish_units(manifest),
        list_objects(client, asset.id),
        manifest.commit_sha,
        limit,
        owned_key_prefix=f"{client.username}-assets/",
    )
    deleted = (*plan.delete_before, *plan.delete_after)
    log.info(
        "%d to upload, %d current, %d to delete; %d objects afterwards",
        len(plan.uploads),
        len(plan.current),
        len(deleted),
        plan.final_count,
    )
    for object_id in plan.delete_before:
        log.info("deleting object %s to stay within the limit", object_id)
        delete_object(client, asset.id, object_id)
    rows = [_row(unit, item, PublishStatus.SKIPPED) for unit, item in plan.current]
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch:
        local = Path(scratch) / "upload"
        for unit in plan.uploads:
            area.download_verified(unit.staged, local)
            created = upload_object(
                client, asset.id, local, unit.file_name, _fields(unit, manifest)
            )
            if created.get("sha256_hash") != unit.staged.sha256:
                raise UploadIntegrityError(
                    f"{unit.dataset} ({unit.data_format}): the API stored SHA-256 "
                    f"{created.get('sha256_hash')}, the staged file has "
                    f"{unit.staged.sha256}"
                )
            rows.append(_row(unit, created, PublishStatus.UPLOADED))
            log.info(
                "uploaded %s (%s) as %s", unit.dataset, unit.data_format, created["key"]
            )
    for object_id in plan.delete_after:
        log.info("deleting superseded object %s", object_id)
        delete_object(client, asset.id, object_id)
    rows.sort(key=lambda row: (row["dataset"], row["format"]))
    return {
        OBJECT_KEYS_METADATA: MetadataValue.json(sorted(row["key"] for row in rows)),
        "status": "uploaded" if plan.uploads else "skipped (nothing new)",
        "source_commit": manifest.commit_sha,
        "platform_asset_id": asset.id,
        "platform_asset_uuid": asset.uuid,
        "platform_asset_name": asset.name,
        "platform_asset_origin": asset.origin,
        "uploaded": len(plan.uploads),
        "skipped": len(plan.current),
        "deleted_object_ids": MetadataValue.json(list(deleted)),
        "objects_in_asset": len(list_objects(client, asset.id)),
        "object_limit": limit,
        "failed_datasets": MetadataValue.json(
            [dataset.name for dataset in manifest.failed_datasets]
        ),
        "objects": table(OBJECT_COLUMNS, rows),
    }


def _fields(unit: PublishUnit, manifest: SourceManifest) -> dict[str, str]:
    tags = {
        "repo_url": manifest.repo_url,
        "commit_sha": manifest.commit_sha,
        "dataset": unit.dataset,
        "format": unit.data_format,
        "source_path": unit.source_path,
    }
    if unit.sheet is not None:
        tags["sheet"] = unit.sheet
    return {
        "tags": json.dumps(tags),
        "series_id": unit.series_id,
        "name": f"{unit.dataset} ({unit.data_format})",
        "description": (
            f"{unit.dataset} from {manifest.repo_url} at {manifest.commit_sha} "
            f"({unit.data_format})"
        ),
    }


def _row(
    unit: PublishUnit, item: Mapping[str, Any], status: PublishStatus
) -> dict[str, Any]:
    return {
        "dataset": unit.dataset,
        "format": unit.data_format,
        "status": str(status),
        "object_id": int(item["id"]),
        "key": str(item["key"]),
        "sha256": str(item.get("sha256_hash") or ""),
        "series_id": unit.series_id,
    }
