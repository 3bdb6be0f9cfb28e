"""The four assets end to end: local git sources, SeaweedFS, PostgreSQL state,
the Platform API double over loopback HTTP. Preparing and publishing run as
separate materialisations, as they would in separate run pods."""

import hashlib
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    AssetsDefinition,
    DagsterEventType,
    ExecuteInProcessResult,
    materialize,
)

from moderate.datasets.assets import (
    PREPARE_ASSET,
    PUBLISH_ASSET,
    platform_asset_datasets,
    prepared_datasets,
)
from moderate.datasets.naming import (
    DatasetFormat,
    legacy_platform_asset_uuid,
    platform_asset_uuid,
)
from moderate.datasets.publish import PublishStatus
from moderate_tests.datasets.repos import (
    EPC_PATH,
    PV_PATH,
    WORKBOOK_PATH,
    SourceRepo,
    epc_csv,
    meter_csv,
)
from moderate_tests.doubles.platform_api import PlatformApiDouble

STOCK_DATASETS = 4 + 28
STOCK_OBJECTS = STOCK_DATASETS + 5
BDG2_OK_DATASETS = ("electricity", "gas", "weather", "metadata")
STEAM = "data/meters/cleaned/steam_cleaned.csv"
WATER = "data/meters/cleaned/water_cleaned.csv"


STOCK = "building_stock"
BDG2 = "genome_project"


def run(
    asset: AssetsDefinition,
    resources: dict[str, Any],
    config: dict[str, Any],
    source: str,
) -> ExecuteInProcessResult:
    return materialize(
        [asset],
        resources=resources,
        run_config={"ops": {asset.key.to_user_string(): {"config": config}}},
        partition_key=source,
        raise_on_error=False,
    )


def metadata_of(result: ExecuteInProcessResult, name: str) -> dict[str, Any]:
    (materialization,) = result.asset_materializations_for_node(name)
    return {key: value.value for key, value in materialization.metadata.items()}


@dataclass(frozen=True)
class Prepared:
    """What a preparing materialisation reports (read from its metadata)."""

    commit_sha: str
    skipped: bool
    bucket: str
    manifest_key: str
    datasets: tuple[str, ...]
    failed_datasets: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    """One row of a publishing materialisation's ``objects`` table."""

    dataset: str
    data_format: str
    status: str
    object_id: int
    key: str
    sha256: str
    series_id: str


@dataclass(frozen=True)
class Publication:
    """What a publishing materialisation reports (read from its metadata)."""

    objects: tuple[Published, ...]
    deleted_object_ids: tuple[int, ...]
    failed_datasets: tuple[str, ...]


def prepared_of(result: ExecuteInProcessResult, name: str) -> Prepared:
    metadata = metadata_of(result, name)
    rows = [row.data for row in metadata["dataset_table"].records]
    return Prepared(
        commit_sha=metadata["source_commit"],
        skipped=metadata["skipped"],
        bucket=metadata["staging_bucket"],
        manifest_key=metadata["manifest_key"],
        datasets=tuple(row["dataset"] for row in rows),
        failed_datasets=tuple(
            row["dataset"] for row in rows if row["status"] == "failed"
        ),
    )


def publication_of(result: ExecuteInProcessResult, name: str) -> Publication:
    metadata = metadata_of(result, name)
    objects = tuple(
        Published(
            dataset=row.data["dataset"],
            data_format=row.data["format"],
            status=row.data["status"],
            object_id=row.data["object_id"],
            key=row.data["key"],
            sha256=row.data["sha256"],
            series_id=row.data["series_id"],
        )
        for row in metadata["objects"].records
    )
    return Publication(
        objects=objects,
        deleted_object_ids=tuple(metadata["deleted_object_ids"]),
        failed_datasets=tuple(metadata["failed_datasets"]),
    )


def checks_of(result: ExecuteInProcessResult) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def platform_objects(double: PlatformApiDouble, name: str) -> list[dict[str, Any]]:
    (asset,) = [a for a in double.assets() if a["name"] == name]
    return double.objects(asset["id"])


def test_building_stock_publishes_both_formats_and_skips_unchanged_commits(
    stock_repo: SourceRepo,
    resources: dict[str, Any],
    platform_api: PlatformApiDouble,
) -> None:
    source = {"repo_url": stock_repo.url}
    prepared = run(prepared_datasets, resources, source, STOCK)
    assert prepared.success
    ref = prepared_of(prepared, PREPARE_ASSET)
    assert len(ref.datasets) == STOCK_DATASETS and not ref.failed_datasets
    assert f"{WORKBOOK_PATH}#Europe27" in ref.datasets and PV_PATH in ref.datasets
    assert not any(name.startswith("/") or "moderate-" in name for name in ref.datasets)
    checks = checks_of(prepared)
    assert checks["datasets_readable"].passed
    assert checks["datasets_not_empty"].passed
    assert checks["globs_matched_files"].passed
    assert not checks["datasets_without_empty_columns"].passed
    assert (
        "SH_districtHeating_NA" in checks["datasets_without_empty_columns"].description
    )
    metadata = metadata_of(prepared, PREPARE_ASSET)
    assert metadata["skipped"] is False
    assert metadata["source_commit"] == ref.commit_sha
    assert "schema | " + PV_PATH in metadata and "preview | " + PV_PATH in metadata
    assert metadata["dagster/row_count"] > 0
    columns = [column.name for column in metadata["dagster/column_schema"].columns]
    assert f"{PV_PATH} | Land Use" in columns

    published = run(platform_asset_datasets, resources, {}, STOCK)
    assert published.success
    result = publication_of(published, PUBLISH_ASSET)
    assert len(result.objects) == STOCK_OBJECTS
    assert {o.status for o in result.objects} == {PublishStatus.UPLOADED}
    (asset,) = platform_api.assets()
    assert asset["uuid"] == platform_asset_uuid("building-stock")
    assert asset["username"] is None and asset["access_level"] == "public"
    objects = platform_objects(platform_api, "building-stock")
    assert len(objects) == STOCK_OBJECTS

    pv_original = next(
        o
        for o in result.objects
        if o.dataset == PV_PATH and o.data_format == DatasetFormat.ORIGINAL
    )
    source_bytes = (stock_repo.work / PV_PATH).read_bytes()
    assert platform_api.uploaded_bytes(pv_original.key) == source_bytes
    assert pv_original.sha256 == hashlib.sha256(source_bytes).hexdigest()
    assert pv_original.key.startswith("workflows-assets/")
    pv_parquet = next(
        o
        for o in result.objects
        if o.dataset == PV_PATH and o.data_format == DatasetFormat.PARQUET
    )
    table = pq.read_table(io.BytesIO(platform_api.uploaded_bytes(pv_parquet.key)))
    assert table.num_rows == 237 and "Land Use" in table.column_names
    record = platform_api.get_object(pv_parquet.object_id)
    assert record["series_id"] == pv_parquet.series_id
    assert record["tags"]["commit_sha"] == ref.commit_sha
    assert record["tags"]["repo_url"] == stock_repo.url
    sheets = [o for o in result.objects if "#" in o.dataset]
    assert len(sheets) == 28 and {o.data_format for o in sheets} == {"parquet"}
    publish_meta = metadata_of(published, PUBLISH_ASSET)
    assert publish_meta["uploaded"] == STOCK_OBJECTS
    assert publish_meta["platform_asset_origin"] == "created"
    assert publish_meta["moderate/object_keys"] == sorted(o.key for o in result.objects)
    rows = publish_meta["objects"].records
    assert len({(r.data["dataset"], r.data["format"]) for r in rows}) == STOCK_OBJECTS

    uploads_before = len(platform_api.requests_to("/asset/", "POST"))
    again = run(prepared_datasets, resources, source, STOCK)
    assert metadata_of(again, PREPARE_ASSET)["skipped"] is True
    assert checks_of(again)["datasets_readable"].passed
    republished = run(platform_asset_datasets, resources, {}, STOCK)
    skipped = publication_of(republished, PUBLISH_ASSET)
    assert {o.status for o in skipped.objects} == {PublishStatus.SKIPPED}
    assert len(platform_api.requests_to("/asset/", "POST")) == uploads_before
    assert metadata_of(republished, PUBLISH_ASSET)["uploaded"] == 0

    stock_repo.write(EPC_PATH, epc_csv(310))
    new_commit = stock_repo.commit("more EPC rows")
    changed = run(prepared_datasets, resources, source, STOCK)
    new_ref = prepared_of(changed, PREPARE_ASSET)
    assert new_ref.commit_sha == new_commit and not new_ref.skipped
    assert new_ref.datasets == ref.datasets
    updated = run(platform_asset_datasets, resources, {}, STOCK)
    new_result = publication_of(updated, PUBLISH_ASSET)
    assert {o.status for o in new_result.objects} == {PublishStatus.UPLOADED}
    assert len(new_result.deleted_object_ids) == STOCK_OBJECTS
    objects = platform_objects(platform_api, "building-stock")
    assert len(objects) == STOCK_OBJECTS
    assert {o["tags"]["commit_sha"] for o in objects} == {new_commit}
    old_series = {o.series_id for o in result.objects}
    assert {o.series_id for o in new_result.objects} == old_series


def test_bdg2_lfs_source_publishes_good_files_and_reports_broken_ones(
    genome_repo: SourceRepo,
    resources: dict[str, Any],
    platform_api: PlatformApiDouble,
) -> None:
    genome_repo.write(
        STEAM, "timestamp,a\n2016-01-01 00:00:00,1\n2016-01-01 01:00:00,2,3\n"
    )
    genome_repo.commit("broken steam meters")
    water = next(
        path
        for path in genome_repo.lfs_objects()
        if path.name
        == hashlib.sha256((genome_repo.work / WATER).read_bytes()).hexdigest()
    )
    water.unlink()

    prepared = run(prepared_datasets, resources, {"repo_url": genome_repo.url}, BDG2)
    assert prepared.success
    checks = checks_of(prepared)
    readable = checks["datasets_readable"]
    assert not readable.passed
    assert (
        STEAM in readable.description and "Expected 2 columns" in readable.description
    )
    assert WATER in readable.description and "Git LFS pointer" in readable.description
    assert checks["datasets_have_key_columns"].passed
    assert checks["datasets_not_empty"].passed
    ref = prepared_of(prepared, PREPARE_ASSET)
    assert set(ref.failed_datasets) == {STEAM, WATER}

    published = run(platform_asset_datasets, resources, {}, BDG2)
    assert published.success
    result = publication_of(published, PUBLISH_ASSET)
    published_names = {o.dataset for o in result.objects}
    assert len(published_names) == len(BDG2_OK_DATASETS)
    assert all(
        any(kind in name for kind in BDG2_OK_DATASETS) for name in published_names
    )
    assert len(result.objects) == 2 * len(BDG2_OK_DATASETS)
    assert set(result.failed_datasets) == {STEAM, WATER}
    electricity = next(
        o
        for o in result.objects
        if o.dataset.endswith("electricity_cleaned.csv") and o.data_format == "parquet"
    )
    table = pq.read_table(io.BytesIO(platform_api.uploaded_bytes(electricity.key)))
    assert table.num_rows == 200
    again = run(prepared_datasets, resources, {"repo_url": genome_repo.url}, BDG2)
    assert metadata_of(again, PREPARE_ASSET)["skipped"] is True
    assert STEAM in checks_of(again)["datasets_readable"].description
    assert str(table.schema.field("timestamp").type) == "timestamp[us]"
    assert table.column("Panther_lodging_Dean").null_count == 48
    original = next(
        o
        for o in result.objects
        if o.dataset.endswith("electricity_cleaned.csv") and o.data_format == "original"
    )
    assert platform_api.uploaded_bytes(original.key).startswith(b"timestamp,")


def test_object_limit_is_planned_for_never_hit(
    genome_repo: SourceRepo,
    resources: dict[str, Any],
    platform_api: PlatformApiDouble,
    api_resource: Any,
) -> None:
    needed = 2 * 5
    platform_api.max_objects_per_asset = needed
    legacy_id = platform_api.add_asset(
        "genome-project",
        uuid=legacy_platform_asset_uuid(platform_api.url, "genome-project"),
        access_level="public",
    )
    platform_api.add_objects(legacy_id, needed, uploader="workflows")
    assert run(
        prepared_datasets, resources, {"repo_url": genome_repo.url}, BDG2
    ).success

    too_small = run(
        platform_asset_datasets, resources, {"max_objects_per_asset": needed - 1}, BDG2
    )
    assert not too_small.success
    assert "needs 10 objects" in str(
        too_small.get_step_failure_events()[0].event_specific_data.error
    )
    assert len(platform_api.objects(legacy_id)) == needed

    published = run(
        platform_asset_datasets, resources, {"max_objects_per_asset": needed}, BDG2
    )
    assert published.success
    meta = metadata_of(published, PUBLISH_ASSET)
    assert meta["platform_asset_origin"] == "adopted (legacy uuid)"
    assert meta["objects_in_asset"] == needed
    assert len(platform_api.assets()) == 1

    genome_repo.write("data/weather/weather.csv", meter_csv(10))
    commit = genome_repo.commit("new weather")
    assert run(
        prepared_datasets, resources, {"repo_url": genome_repo.url}, BDG2
    ).success
    again = run(
        platform_asset_datasets, resources, {"max_objects_per_asset": needed}, BDG2
    )
    assert again.success
    objects = platform_api.objects(legacy_id)
    assert len(objects) == needed
    assert {json.dumps(o["tags"]["commit_sha"]) for o in objects} == {
        json.dumps(commit)
    }


def test_publishing_without_a_staged_manifest_fails_clearly(
    genome_repo: SourceRepo, resources: dict[str, Any]
) -> None:
    publish = platform_asset_datasets
    result = run(publish, resources, {}, BDG2)
    assert not result.success
    error = result.get_step_failure_events()[0].event_specific_data.error
    assert "materialise prepared_datasets for this partition first" in str(error)

    prepared = run(prepared_datasets, resources, {"repo_url": genome_repo.url}, BDG2)
    ref = prepared_of(prepared, PREPARE_ASSET)
    resources["s3"].client().delete_object(Bucket=ref.bucket, Key=ref.manifest_key)
    result = run(publish, resources, {}, BDG2)
    assert not result.success
    error = result.get_step_failure_events()[0].event_specific_data.error
    assert "materialise prepared_datasets for genome_project again" in str(error)


def test_checks_are_declared_on_the_preparing_asset() -> None:
    names = {key.name for key in prepared_datasets.check_keys}
    assert names == {
        "datasets_readable",
        "datasets_not_empty",
        "datasets_have_key_columns",
        "datasets_without_empty_columns",
        "globs_matched_files",
    }
    assert platform_asset_datasets.asset_deps[AssetKey(PUBLISH_ASSET)] == {
        AssetKey(PREPARE_ASSET)
    }


def test_runs_leave_no_checkout_behind_and_pass_only_references(
    genome_repo: SourceRepo,
    resources: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    failed = run(
        prepared_datasets,
        resources,
        {"repo_url": genome_repo.url, "ref": "no-such-branch"},
        BDG2,
    )
    assert not failed.success
    assert "no-such-branch" in str(
        failed.get_step_failure_events()[0].event_specific_data.error
    )

    prepared = run(prepared_datasets, resources, {"repo_url": genome_repo.url}, BDG2)
    published = run(platform_asset_datasets, resources, {}, BDG2)
    assert prepared.success and published.success
    assert not list(scratch.glob("moderate-datasets-*"))
    for result in (failed, prepared, published):
        stored = [
            event
            for event in result.all_events
            if event.event_type is DagsterEventType.HANDLED_OUTPUT
        ]
        assert stored == [], "an output went through an IO manager"
