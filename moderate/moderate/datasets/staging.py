"""Staging area in the job-outputs bucket: converted files and manifests.

Layout: ``<prefix>/<source>/<commit>/<fingerprint>/`` holds ``manifest.json``,
``original/<repository path>`` and ``parquet/<n>.parquet``. Every run pod can
reach it, unlike the local disk of the run that prepared it.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig

from moderate.datasets.manifest import (
    HASH_CHUNK_BYTES,
    SourceManifest,
    StagedObject,
    file_sha256,
)

MANIFEST_FILE = "manifest.json"
JSON_CONTENT_TYPE = "application/json"
MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024
DELETE_BATCH = 1000
COMMIT_LEVELS = 2


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


def delete_other_commits(keep: StagingArea) -> int:
    """Deletes the source's other staged commits; returns the number of files.

    Args:
        keep: The area to keep; its source folder is two levels up
            (``<prefix>/<source>/<commit>/<fingerprint>``).
    """
    source_prefix = keep.prefix.rsplit("/", COMMIT_LEVELS)[0]
    keys = [
        key
        for key in iter_keys(keep.client, keep.bucket, f"{source_prefix}/")
        if not key.startswith(f"{keep.prefix}/")
    ]
    _delete_keys(keep.client, keep.bucket, keys)
    return len(keys)


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


def iter_keys(client: Any, bucket: str, prefix: str) -> list[str]:
    """Every key under ``prefix``."""
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(entry["Key"] for entry in page.get("Contents", []))
    return keys
