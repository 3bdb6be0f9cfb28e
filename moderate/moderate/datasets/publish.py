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
"""

import enum
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
FILE_FIELD = "obj"
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
    from moderate.datasets.multipart import RewindableMultipartEncoder  # on use

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


class ObjectLimitError(RuntimeError):
    """A source needs more objects than one platform asset may hold."""


class UploadIntegrityError(RuntimeError):
    """The API stored bytes whose hash differs from the staged file's."""


class PublishStatus(enum.StrEnum):
    """What happened to one series in a run."""

    UPLOADED = "uploaded"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class PublishUnit:
    """One object to have on the platform: a dataset in one format.

    Attributes:
        dataset: Dataset name (the file path for originals).
        data_format: ``original`` or ``parquet``.
        series_id: Stable id shared by its versions.
        staged: The staged bytes.
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
        uploads: Units to upload.
        delete_before: Object ids removed before uploading (room).
        delete_after: Superseded object ids removed after uploading.
        final_count: Objects the asset holds at the end.
    """

    current: tuple[tuple[PublishUnit, Mapping[str, Any]], ...]
    uploads: tuple[PublishUnit, ...]
    delete_before: tuple[int, ...]
    delete_after: tuple[int, ...]
    final_count: int


@dataclass(frozen=True)
class PublishedObject:
    """One series after a run (the upload asset's output rows).

    Attributes:
        dataset: Dataset name.
        data_format: ``original`` or ``parquet``.
        status: ``uploaded`` or ``skipped``.
        object_id: Platform object id.
        key: Object key in the API's bucket.
        sha256: Hash the API computed.
        series_id: Series id.
        commit_sha: Source commit of this version.
    """

    dataset: str
    data_format: str
    status: PublishStatus
    object_id: int
    key: str
    sha256: str
    series_id: str
    commit_sha: str


@dataclass(frozen=True)
class PublishResult:
    """Outcome of a publish run.

    Attributes:
        asset: The platform asset.
        commit_sha: Published commit.
        objects: Every series of the commit, uploaded or skipped.
        deleted_object_ids: Records removed (superseded or over the limit).
        objects_in_asset: Objects the asset holds afterwards.
        failed_datasets: Datasets of the commit that could not be read.
    """

    asset: PlatformAsset
    commit_sha: str
    objects: tuple[PublishedObject, ...]
    deleted_object_ids: tuple[int, ...]
    objects_in_asset: int
    failed_datasets: tuple[str, ...] = field(default=())


def publish_units(manifest: SourceManifest) -> list[PublishUnit]:
    """The objects a manifest asks for: Parquet per dataset, original per file."""
    units: list[PublishUnit] = []
    published_files: set[str] = set()
    for dataset in manifest.datasets:
        if dataset.status != DatasetStatus.OK or dataset.parquet is None:
            continue
        published_files.add(dataset.source_path)
        suffix = manifest.file(dataset.source_path).suffix
        units.append(
            PublishUnit(
                dataset=dataset.name,
                data_format=DatasetFormat.PARQUET,
                series_id=series_id(
                    manifest.source, dataset.name, DatasetFormat.PARQUET
                ),
                staged=dataset.parquet,
                file_name=upload_file_name(dataset.name, DatasetFormat.PARQUET, suffix),
                source_path=dataset.source_path,
                sheet=dataset.sheet,
            )
        )
    for record in manifest.files:
        if record.path not in published_files or record.original is None:
            continue
        units.append(
            PublishUnit(
                dataset=record.path,
                data_format=DatasetFormat.ORIGINAL,
                series_id=series_id(
                    manifest.source, record.path, DatasetFormat.ORIGINAL
                ),
                staged=record.original,
                file_name=upload_file_name(
                    record.path, DatasetFormat.ORIGINAL, record.suffix
                ),
                source_path=record.path,
            )
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

    Only objects the pipelines uploaded themselves (keys under
    ``owned_key_prefix``) are ever deleted: anyone may upload to a public asset, and
    those uploads are not ours to prune.

    Args:
        units: What the commit needs on the platform.
        existing: The asset's objects, oldest first.
        commit_sha: The commit being published.
        limit: Objects one asset may hold.
        owned_key_prefix: Key prefix of the pipelines' uploads
            (``<API_USERNAME>-assets/``).

    Returns:
        The plan.

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
    keep: set[int] = set()
    for unit in units:
        match = _current_version(unit, existing, commit_sha)
        if match is None:
            uploads.append(unit)
        else:
            current.append((unit, match))
            keep.add(int(match["id"]))
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


def execute_plan(
    plan: UploadPlan,
    manifest: SourceManifest,
    asset: PlatformAsset,
    client: PlatformApiClient,
    s3_client: "S3Client",
    bucket: str,
    scratch: Path,
    log: logging.Logger,
) -> PublishResult:
    """Runs a plan: room-making deletions, uploads, then superseded deletions.

    Args:
        plan: From :func:`plan_uploads`.
        manifest: The prepared commit.
        asset: Target platform asset.
        client: API client.
        s3_client: Client of the staging storage.
        bucket: Staging bucket.
        scratch: Local directory for one downloaded file at a time.
        log: Logger.

    Returns:
        Every series with its object, and what was deleted.
    """
    for object_id in plan.delete_before:
        log.info("deleting object %s to stay within the limit", object_id)
        delete_object(client, asset.id, object_id)
    published: list[PublishedObject] = [
        _published(unit, item, PublishStatus.SKIPPED, manifest.commit_sha)
        for unit, item in plan.current
    ]
    for unit in plan.uploads:
        local = scratch / "upload"
        download_verified(s3_client, bucket, unit.staged, local)
        try:
            created = upload_object(
                client, asset.id, local, unit.file_name, _fields(unit, manifest)
            )
        finally:
            local.unlink(missing_ok=True)
        if created.get("sha256_hash") != unit.staged.sha256:
            raise UploadIntegrityError(
                f"{unit.dataset} ({unit.data_format}): the API stored SHA-256 "
                f"{created.get('sha256_hash')}, the staged file has "
                f"{unit.staged.sha256}"
            )
        item = _published(unit, created, PublishStatus.UPLOADED, manifest.commit_sha)
        published.append(item)
        log.info("uploaded %s (%s) as %s", unit.dataset, unit.data_format, item.key)
    for object_id in plan.delete_after:
        log.info("deleting superseded object %s", object_id)
        delete_object(client, asset.id, object_id)
    return PublishResult(
        asset=asset,
        commit_sha=manifest.commit_sha,
        objects=tuple(sorted(published, key=lambda p: (p.dataset, p.data_format))),
        deleted_object_ids=(*plan.delete_before, *plan.delete_after),
        objects_in_asset=len(list_objects(client, asset.id)),
        failed_datasets=tuple(d.name for d in manifest.failed_datasets),
    )


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


def _published(
    unit: PublishUnit,
    item: Mapping[str, Any],
    status: PublishStatus,
    commit_sha: str,
) -> PublishedObject:
    return PublishedObject(
        dataset=unit.dataset,
        data_format=unit.data_format,
        status=status,
        object_id=int(item["id"]),
        key=str(item["key"]),
        sha256=str(item.get("sha256_hash") or ""),
        series_id=unit.series_id,
        commit_sha=commit_sha,
    )
