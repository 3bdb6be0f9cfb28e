"""A staged object changed in storage after its manifest was written is refused."""

import hashlib
from pathlib import Path

import pytest

from moderate.datasets.staging import StagedObject, StagingArea, StagingIntegrityError
from moderate.resources import S3Resource

KEY = "datasets/source/commit/fingerprint/file.parquet"
STAGED_BYTES = b"the bytes the manifest recorded"


def _staged(s3: S3Resource) -> StagedObject:
    s3.client().put_object(Bucket=s3.job_outputs_bucket, Key=KEY, Body=STAGED_BYTES)
    digest = hashlib.sha256(STAGED_BYTES).hexdigest()
    return StagedObject(key=KEY, sha256=digest, size=len(STAGED_BYTES))


def _area(s3: S3Resource) -> StagingArea:
    return StagingArea(s3.client(), s3.job_outputs_bucket, KEY.rsplit("/", 1)[0])


def test_unchanged_object_is_read(s3: S3Resource, tmp_path: Path) -> None:
    staged = _staged(s3)
    target = tmp_path / "file.parquet"
    _area(s3).download_verified(staged, target)
    assert target.read_bytes() == STAGED_BYTES


def test_replaced_object_is_refused(s3: S3Resource, tmp_path: Path) -> None:
    staged = _staged(s3)
    s3.client().put_object(Bucket=s3.job_outputs_bucket, Key=KEY, Body=b"other")
    with pytest.raises(StagingIntegrityError, match=staged.sha256):
        _area(s3).download_verified(staged, tmp_path / "file.parquet")
