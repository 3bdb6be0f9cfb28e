"""The manifest of a prepared commit and its staging area in the job-outputs bucket.

``<prefix>/<source>/<commit>/<fingerprint>/`` holds ``manifest.json``,
``original/<repository path>`` and ``parquet/<n>.parquet``; every run pod can
reach it, so only the manifest's key travels between runs.
"""

import enum
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from moderate.datasets.profile import MIB, ColumnStats
from moderate.state import utc_now

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

HASH_CHUNK_BYTES = MIB
MANIFEST_VERSION = 1
MANIFEST_FILE = "manifest.json"
JSON_CONTENT_TYPE = "application/json"
MULTIPART_THRESHOLD_BYTES = 64 * MIB
DELETE_BATCH = 1000
COMMIT_LEVELS = 2
ABANDONED_AFTER = timedelta(days=1)


class DatasetStatus(enum.StrEnum):
    """Outcome of reading one dataset."""

    OK = "ok"
    FAILED = "failed"


class FileKind(enum.StrEnum):
    """Source file formats the pipeline reads."""

    CSV = "csv"
    XLSX = "xlsx"


class StagingIntegrityError(RuntimeError):
    """A staged file does not have the bytes the manifest recorded."""


class StagedObject(BaseModel):
    """A file in the staging bucket: its key, lowercase hex SHA-256 and size."""

    model_config = ConfigDict(frozen=True)

    key: str
    sha256: str
    size: int


class DatasetRecord(BaseModel):
    """One dataset: a CSV file (named by its path) or a sheet (``<path>#<sheet>``).

    ``error`` (naming the file) says why it could not be read; ``key_columns``
    are the columns the checks require.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    source_path: str
    sheet: str | None = None
    status: DatasetStatus
    error: str | None = None
    rows: int = 0
    columns: tuple[ColumnStats, ...] = ()
    preview: tuple[tuple[str, ...], ...] = ()
    parquet: StagedObject | None = None
    key_columns: tuple[str, ...] = ()

    @property
    def empty_columns(self) -> tuple[str, ...]:
        """Columns without a single value (none in a dataset without rows)."""
        return tuple(c.name for c in self.columns if c.null_count >= self.rows > 0)

    @property
    def missing_key_columns(self) -> tuple[str, ...]:
        """Required columns the dataset lacks."""
        present = {column.name for column in self.columns}
        return tuple(name for name in self.key_columns if name not in present)


class SourceFileRecord(BaseModel):
    """One matched file: its staged original, or why it yielded no dataset."""

    model_config = ConfigDict(frozen=True)

    path: str
    kind: FileKind
    original: StagedObject | None = None
    error: str | None = None
    empty_sheets: tuple[str, ...] = ()


class SourceManifest(BaseModel):
    """Everything one prepared commit of a source holds.

    ``repo_url`` carries no credentials, ``fingerprint`` hashes the settings that
    shape the output, ``refused_files`` says why matched paths could not name a
    dataset.
    """

    model_config = ConfigDict(frozen=True)

    version: int = MANIFEST_VERSION
    source: str
    repo_url: str
    ref: str
    commit_sha: str
    fingerprint: str
    files: tuple[SourceFileRecord, ...]
    datasets: tuple[DatasetRecord, ...]
    unmatched_globs: tuple[str, ...] = ()
    unsupported_files: tuple[str, ...] = ()
    refused_files: tuple[str, ...] = ()
    prepared_at: str

    @property
    def failed_datasets(self) -> tuple[DatasetRecord, ...]:
        """Datasets that could not be read."""
        return tuple(d for d in self.datasets if d.status == DatasetStatus.FAILED)


@dataclass(frozen=True)
class StagingArea:
    """One prepared commit's folder (``prefix``, no trailing /) in ``bucket``."""

    client: "S3Client"
    bucket: str
    prefix: str

    @classmethod
    def for_commit(
        cls,
        client: "S3Client",
        bucket: str,
        root_prefix: str,
        source: str,
        commit_sha: str,
        fingerprint: str,
    ) -> "StagingArea":
        """The folder of one source commit prepared with one fingerprint."""
        return cls(client, bucket, f"{root_prefix}/{source}/{commit_sha}/{fingerprint}")

    @property
    def manifest_key(self) -> str:
        """Key of the manifest."""
        return f"{self.prefix}/{MANIFEST_FILE}"

    def put_file(self, path: Path, relative_key: str) -> StagedObject:
        """Uploads a file (multipart above a threshold) and records its hash."""
        from boto3.s3.transfer import TransferConfig

        key = f"{self.prefix}/{relative_key}"
        with path.open("rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD_BYTES),
        )
        return StagedObject(key=key, sha256=sha256, size=path.stat().st_size)

    def put_manifest(self, manifest: SourceManifest) -> None:
        """Stores the manifest."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.manifest_key,
            Body=manifest.model_dump_json().encode(),
            ContentType=JSON_CONTENT_TYPE,
        )

    def load_manifest(self) -> SourceManifest:
        """Reads the manifest."""
        body = self.client.get_object(Bucket=self.bucket, Key=self.manifest_key)["Body"]
        try:
            return SourceManifest.model_validate_json(body.read())
        finally:
            body.close()

    def download_verified(self, staged: StagedObject, target: Path) -> None:
        """Streams a staged object to ``target`` and checks its SHA-256.

        Raises:
            StagingIntegrityError: If the bytes differ from the manifest's hash.
        """
        body = self.client.get_object(Bucket=self.bucket, Key=staged.key)["Body"]
        digest = hashlib.sha256()
        try:
            with target.open("wb") as handle:
                for chunk in body.iter_chunks(HASH_CHUNK_BYTES):
                    digest.update(chunk)
                    handle.write(chunk)
        finally:
            body.close()
        if digest.hexdigest() != staged.sha256:
            raise StagingIntegrityError(
                f"s3://{self.bucket}/{staged.key} has SHA-256 {digest.hexdigest()}, "
                f"expected {staged.sha256}"
            )


def delete_older_commits(keep: StagingArea, prepared_at: str) -> int:
    """Deletes the source's staged commits older than ``keep``; returns the count.

    A folder goes when its manifest was prepared before ``prepared_at`` (ISO),
    or, without one, when nothing in it changed for a day (a run that died), so
    overlapping runs never delete each other's files.
    """
    client, bucket = keep.client, keep.bucket
    source_prefix = keep.prefix.rsplit("/", COMMIT_LEVELS)[0]
    areas: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{source_prefix}/"
    )
    for page in pages:
        for entry in page.get("Contents", []):
            key = entry["Key"]
            relative = key.removeprefix(f"{source_prefix}/").split("/", COMMIT_LEVELS)
            folder = "/".join([source_prefix, *relative[:COMMIT_LEVELS]])
            if len(relative) > COMMIT_LEVELS and folder != keep.prefix:
                areas[folder].append((key, entry["LastModified"]))
    doomed: list[str] = []
    for folder, entries in areas.items():
        area = StagingArea(client, bucket, folder)
        if any(key == area.manifest_key for key, _ in entries):
            if area.load_manifest().prepared_at >= prepared_at:
                continue
        elif max(modified for _, modified in entries) > utc_now() - ABANDONED_AFTER:
            continue
        doomed.extend(key for key, _ in entries)
    for start in range(0, len(doomed), DELETE_BATCH):
        batch = doomed[start : start + DELETE_BATCH]
        client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
        )
    return len(doomed)
