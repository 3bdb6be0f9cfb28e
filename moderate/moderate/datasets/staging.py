"""Staging area in the job-outputs bucket: converted files and manifests.

Layout: ``<prefix>/<source>/<commit>/<fingerprint>/`` holds ``manifest.json``,
``original/<repository path>`` and ``parquet/<n>.parquet``. Every run pod can
reach it, unlike the local disk of the run that prepared it.
"""

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from moderate.datasets.manifest import (
    HASH_CHUNK_BYTES,
    SourceManifest,
    StagedObject,
    file_sha256,
)
from moderate.state import utc_now

MANIFEST_FILE = "manifest.json"
JSON_CONTENT_TYPE = "application/json"
MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024
DELETE_BATCH = 1000
COMMIT_LEVELS = 2
ABANDONED_AFTER = timedelta(days=1)


class StagingIntegrityError(RuntimeError):
    """A staged file does not have the bytes the manifest recorded."""


@dataclass(frozen=True)
class StagingArea:
    """One prepared commit's folder in the staging bucket.

    Attributes:
        client: boto3 S3 client.
        bucket: The job-outputs bucket.
        prefix: Folder of this source, commit and fingerprint (no trailing /).
    """

    client: Any
    bucket: str
    prefix: str

    @classmethod
    def for_commit(
        cls,
        client: Any,
        bucket: str,
        root_prefix: str,
        source: str,
        commit_sha: str,
        fingerprint: str,
    ) -> "StagingArea":
        """The folder of one source commit prepared with one fingerprint."""
        root = root_prefix.strip("/")
        prefix = "/".join(
            part for part in (root, source, commit_sha, fingerprint) if part
        )
        return cls(client, bucket, prefix)

    @classmethod
    def of_manifest(cls, client: Any, bucket: str, manifest_key: str) -> "StagingArea":
        """The area a manifest key belongs to."""
        return cls(client, bucket, manifest_key.rsplit("/", 1)[0])

    @property
    def manifest_key(self) -> str:
        """Key of the manifest."""
        return f"{self.prefix}/{MANIFEST_FILE}"

    def put_file(self, path: Path, relative_key: str) -> StagedObject:
        """Uploads a file (multipart above a threshold) and records its hash."""
        from boto3.s3.transfer import TransferConfig

        key = f"{self.prefix}/{relative_key}"
        sha256 = file_sha256(path)
        self.client.upload_file(
            str(path),
            self.bucket,
            key,
            Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD_BYTES),
        )
        return StagedObject(key=key, sha256=sha256, size=path.stat().st_size)

    def put_manifest(self, manifest: SourceManifest) -> str:
        """Stores the manifest and returns its key."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.manifest_key,
            Body=manifest.to_json_bytes(),
            ContentType=JSON_CONTENT_TYPE,
        )
        return self.manifest_key


def delete_older_commits(keep: StagingArea, prepared_at: str) -> int:
    """Deletes the source's staged commits older than ``keep``; returns the count.

    A folder is deleted when its manifest was prepared before ``prepared_at``,
    or, without a manifest, when nothing in it changed for a day (a run that
    died). A run still staging a newer commit has no manifest yet and recent
    files, and a newer prepared commit has a newer manifest: neither is touched,
    so overlapping runs never delete each other's files.

    Args:
        keep: The published area; its source folder is two levels up
            (``<prefix>/<source>/<commit>/<fingerprint>``).
        prepared_at: When ``keep`` was prepared (ISO timestamp).
    """
    source_prefix = keep.prefix.rsplit("/", COMMIT_LEVELS)[0]
    areas: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for key, modified in _iter_entries(keep.client, keep.bucket, f"{source_prefix}/"):
        relative = key.removeprefix(f"{source_prefix}/").split("/", COMMIT_LEVELS)
        if len(relative) <= COMMIT_LEVELS:
            continue
        area = "/".join([source_prefix, *relative[:COMMIT_LEVELS]])
        if area != keep.prefix:
            areas[area].append((key, modified))
    doomed: list[str] = []
    for area, entries in areas.items():
        manifest_key = f"{area}/{MANIFEST_FILE}"
        if any(key == manifest_key for key, _ in entries):
            older = load_manifest(keep.client, keep.bucket, manifest_key).prepared_at
            if older >= prepared_at:
                continue
        elif max(modified for _, modified in entries) > utc_now() - ABANDONED_AFTER:
            continue
        doomed.extend(key for key, _ in entries)
    _delete_keys(keep.client, keep.bucket, doomed)
    return len(doomed)


def _delete_keys(client: Any, bucket: str, keys: list[str]) -> None:
    for start in range(0, len(keys), DELETE_BATCH):
        batch = keys[start : start + DELETE_BATCH]
        client.delete_objects(
            Bucket=bucket,
            Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
        )


def load_manifest(client: Any, bucket: str, key: str) -> SourceManifest:
    """Reads a manifest from the staging bucket."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return SourceManifest.from_json_bytes(body.read())
    finally:
        body.close()


def download_verified(
    client: Any, bucket: str, staged: StagedObject, target: Path
) -> None:
    """Streams a staged object to ``target`` and checks its SHA-256.

    Raises:
        StagingIntegrityError: If the bytes differ from the manifest's hash.
    """
    body = client.get_object(Bucket=bucket, Key=staged.key)["Body"]
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
            f"s3://{bucket}/{staged.key} has SHA-256 {digest.hexdigest()}, "
            f"expected {staged.sha256}"
        )


def _iter_entries(client: Any, bucket: str, prefix: str) -> list[tuple[str, datetime]]:
    """Every key under ``prefix`` with its last modification time."""
    entries: list[tuple[str, datetime]] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        entries.extend(
            (entry["Key"], entry["LastModified"]) for entry in page.get("Contents", [])
        )
    return entries
