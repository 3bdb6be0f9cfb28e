"""Two runs of one source: neither deletes the other's staged files, and the
assets share one concurrency pool the deployment limits."""

from datetime import timedelta
from pathlib import Path

import pytest

from moderate.datasets import staging
from moderate.datasets.assets import POOL, platform_asset_datasets, prepared_datasets
from moderate.datasets.staging import SourceManifest, StagingArea, delete_older_commits
from moderate.resources import S3Resource

PREFIX = "datasets"
SOURCE = "genome_project"


def stage(
    s3: S3Resource, tmp_path: Path, commit: str, prepared_at: str | None
) -> StagingArea:
    """A staged commit: one file, and a manifest unless the run is still busy."""
    area = StagingArea.for_commit(
        s3.client(), s3.job_outputs_bucket, PREFIX, SOURCE, commit, "f" * 16
    )
    local = tmp_path / f"{commit}.parquet"
    local.write_bytes(commit.encode())
    area.put_file(local, "parquet/0.parquet")
    if prepared_at is not None:
        area.put_manifest(
            SourceManifest(
                source=SOURCE,
                repo_url="https://github.com/example/repo.git",
                ref="main",
                commit_sha=commit,
                fingerprint="f" * 16,
                files=(),
                datasets=(),
                prepared_at=prepared_at,
            )
        )
    return area


def keys(s3: S3Resource) -> set[str]:
    listed = s3.client().list_objects_v2(Bucket=s3.job_outputs_bucket, Prefix=PREFIX)
    return {entry["Key"] for entry in listed.get("Contents", [])}


def test_a_publish_run_deletes_only_older_commits(
    s3: S3Resource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = stage(s3, tmp_path, "a" * 40, "2026-01-01T00:00:00+00:00")
    published = stage(s3, tmp_path, "b" * 40, "2026-01-02T00:00:00+00:00")
    newer = stage(s3, tmp_path, "c" * 40, "2026-01-03T00:00:00+00:00")
    busy = stage(s3, tmp_path, "d" * 40, None)

    removed = delete_older_commits(published, "2026-01-02T00:00:00+00:00")

    remaining = keys(s3)
    assert removed == 2
    assert not any(key.startswith(f"{old.prefix}/") for key in remaining)
    for kept in (published, newer, busy):
        assert f"{kept.prefix}/parquet/0.parquet" in remaining

    monkeypatch.setattr(staging, "ABANDONED_AFTER", timedelta(seconds=-60))
    assert delete_older_commits(published, "2026-01-02T00:00:00+00:00") == 1
    assert f"{busy.prefix}/parquet/0.parquet" not in keys(s3)


def test_both_assets_share_the_datasets_pool() -> None:
    for asset in (prepared_datasets, platform_asset_datasets):
        (node,) = asset.node_def.pools
        assert node == POOL
