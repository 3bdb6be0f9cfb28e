"""Publishing a prepared source: the platform asset, the plan, the uploads.

Strategy for the API's per-asset object limit (100 by default): a platform
asset keeps only the newest version of each series (one series per dataset
and format). Before anything is uploaded the plan counts what the asset will
hold; when the newest versions alone exceed the limit, nothing is touched and
the run fails with the numbers. Superseded versions are deleted after their
replacement is uploaded; only when the asset would overflow are objects
deleted first (objects of series the source no longer has, oldest first, then
superseded versions). ``DELETE`` removes the record only: the stored file of
an old version stays in the API's bucket.

The asset imports this module when it runs, so requests_toolbelt and boto3 are
not loaded with the definitions.
"""

import enum
import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue
from requests_toolbelt import MultipartEncoder

from moderate.datasets.metadata import table
from moderate.datasets.naming import (
    DatasetFormat,
    legacy_platform_asset_uuid,
    platform_asset_uuid,
    series_id,
    upload_file_name,
)
from moderate.datasets.staging import (
    DatasetStatus,
    SourceManifest,
    StagedObject,
    download_verified,
)
from moderate.resources.platform_api import PlatformApiClient, PlatformApiError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ASSET_PATH = "/asset"
HTTP_CONFLICT = 409
HTTP_NOT_FOUND = 404
DEFAULT_CONTENT_TYPE = "application/octet-stream"
FILE_FIELD = "obj"
CONTENT_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".parquet": "application/vnd.apache.parquet",
}
SCRATCH_PREFIX = "moderate-datasets-publish-"
OBJECT_KEYS = "moderate/object_keys"
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
        return cls(int(payload["id"]), str(payload["uuid"]), payload["name"], origin)


@dataclass(frozen=True)
class PublishUnit:
    """One object to have on the platform: a dataset in one format.

    Attributes:
        dataset: Dataset name (the file path for originals).
        file_name: File name announced to the API.
        source_path: Repository path of the source file.
        sheet: Sheet name for workbook datasets.
    """

    dataset: str
    data_format: str
    series_id: str
    staged: StagedObject
    file_name: str
    source_path: str
    sheet: str | None = None


@dataclass(frozen=True)
class UploadPlan:
    """What a publish run does, in order.

    Attributes:
        current: Units whose newest version is already on the platform,
            with that object.
        delete_before: Object ids removed before uploading (room).
        delete_after: Superseded object ids removed after uploading.
        final_count: Objects the asset holds at the end.
    """

    current: tuple[tuple[PublishUnit, Mapping[str, Any]], ...]
    uploads: tuple[PublishUnit, ...]
    delete_before: tuple[int, ...]
    delete_after: tuple[int, ...]
    final_count: int


class RewindableMultipartEncoder(MultipartEncoder):
    """requests_toolbelt's streaming encoder, rewindable for the client's retry.

    The body is read from the file as it is sent and carries its length, so
    the request has a ``Content-Length`` (and the client knows the upload's
    size through ``len()``); ``seek(0)`` starts it over (after a token refresh
    the client sends the same bytes again).
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
    deployments derived from ``api_base_url`` (this deployment's
    ``API_BASE_URL``), then the oldest ownerless asset with the same name; else
    create it. A 409 on creation means a concurrent run created it: it is read
    again.
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
        if error.status != HTTP_CONFLICT:
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
    """Uploads one file, streamed from disk, and returns the created object.

    Args:
        client: API client.
        asset_id: Target asset.
        path: Local file.
        file_name: File name announced to the API (its stem names the key).
        fields: ``tags`` (JSON text), ``series_id``, ``name``, ``description``.
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
    units: list[PublishUnit] = []
    for dataset in manifest.datasets:
        if dataset.status == DatasetStatus.OK and dataset.parquet is not None:
            units.append(
                _unit(
                    manifest.source,
                    dataset.name,
                    DatasetFormat.PARQUET,
                    dataset.parquet,
                    dataset.source_path,
                    dataset.sheet,
                )
            )
    converted = {unit.source_path for unit in units}
    for record in manifest.files:
        if record.path in converted and record.original is not None:
            units.append(
                _unit(
                    manifest.source,
                    record.path,
                    DatasetFormat.ORIGINAL,
                    record.original,
                    record.path,
                )
            )
    return units


def _unit(
    source: str,
    name: str,
    data_format: str,
    staged: StagedObject,
    source_path: str,
    sheet: str | None = None,
) -> PublishUnit:
    return PublishUnit(
        dataset=name,
        data_format=data_format,
        series_id=series_id(source, name, data_format),
        staged=staged,
        file_name=upload_file_name(name, data_format, Path(source_path).suffix),
        source_path=source_path,
        sheet=sheet,
    )


def plan_uploads(
    units: Sequence[PublishUnit],
    existing: Sequence[Mapping[str, Any]],
    commit_sha: str,
    limit: int,
    owned_key_prefix: str,
) -> UploadPlan:
    """Decides what to upload and delete so the asset never exceeds ``limit``.

    Only objects the pipelines uploaded themselves (keys under
    ``owned_key_prefix``, i.e. ``<API_USERNAME>-assets/``) are ever deleted:
    anyone may upload to a public asset, and those uploads are not ours to prune.

    Args:
        units: What the commit needs on the platform.
        existing: The asset's objects, oldest first.
        commit_sha: The commit being published.
        limit: Objects one asset may hold.
        owned_key_prefix: Key prefix of the pipelines' uploads.

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
    current: list[tuple[PublishUnit, Mapping[str, Any]]] = []
    uploads: list[PublishUnit] = []
    for unit in units:
        match = _current_version(unit, existing, commit_sha)
        if match is None:
            uploads.append(unit)
        else:
            current.append((unit, match))
    keep = {int(item["id"]) for _, item in current}
    uploading = {unit.series_id for unit in uploads}
    deletable = [
        item
        for item in existing
        if int(item["id"]) not in keep
        and str(item.get("key", "")).startswith(owned_key_prefix)
    ]
    superseded = [
        int(item["id"]) for item in deletable if item.get("series_id") in uploading
    ]
    others = [
        int(item["id"]) for item in deletable if item.get("series_id") not in wanted
    ]
    stale_current = [
        int(item["id"])
        for item in deletable
        if item.get("series_id") in wanted and item.get("series_id") not in uploading
    ]
    overflow = len(existing) + len(uploads) - limit
    candidates = [*others, *stale_current, *superseded]
    if overflow > len(candidates):
        foreign = len(existing) - len(keep) - len(deletable)
        raise ObjectLimitError(
            f"the platform asset holds {len(existing)} objects, {foreign} of them "
            f"uploaded by other accounts; {len(uploads)} uploads need {overflow} "
            f"free places but only {len(candidates)} of the pipelines' own objects "
            f"can be removed (limit {limit})"
        )
    delete_before = tuple(candidates[: max(overflow, 0)])
    delete_after = tuple(
        object_id
        for object_id in [*superseded, *stale_current]
        if object_id not in delete_before
    )
    final_count = len(existing) + len(uploads) - len(delete_before) - len(delete_after)
    return UploadPlan(
        current=tuple(current),
        uploads=tuple(uploads),
        delete_before=delete_before,
        delete_after=delete_after,
        final_count=final_count,
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
    s3_client: "S3Client",
    bucket: str,
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
            download_verified(s3_client, bucket, unit.staged, local)
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
        OBJECT_KEYS: MetadataValue.json(sorted(row["key"] for row in rows)),
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
    """One row of the ``objects`` table."""
    return {
        "dataset": unit.dataset,
        "format": unit.data_format,
        "status": str(status),
        "object_id": int(item["id"]),
        "key": str(item["key"]),
        "sha256": str(item.get("sha256_hash") or ""),
        "series_id": unit.series_id,
    }
