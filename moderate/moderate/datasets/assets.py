"""Software-defined assets: prepare each source, then publish it to the platform.

``building_stock`` / ``genome_project_datasets`` check out the configured ref,
convert every dataset to Parquet and stage originals, conversions and a
manifest in the job-outputs bucket. ``platform_asset_building_stock`` /
``platform_asset_genome_project_datasets`` upload from there. Between the two
only the manifest's key travels (through the state store), so each can run in
its own pod; no asset has an output for an IO manager to store (each returns a
``MaterializeResult``), so nothing is written to the run's local disk.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    asset,
)

from moderate.datasets.checks import check_results, check_specs
from moderate.datasets.config import (
    BuildingStockConfig,
    BuildingStockPublishConfig,
    GenomeProjectConfig,
    GenomeProjectPublishConfig,
)
from moderate.datasets.git import GitFetchError, GitSourceRefusedError
from moderate.datasets.metadata import prepare_metadata, publish_metadata
from moderate.datasets.naming import redact_url
from moderate.datasets.platform import ensure_platform_asset, list_objects
from moderate.datasets.prepare import (
    SOURCE_NAMESPACE,
    PreparedSource,
    SourceState,
    prepare_source,
)
from moderate.datasets.publish import (
    execute_plan,
    plan_uploads,
    publish_units,
)
from moderate.datasets.staging import (
    StagingArea,
    delete_other_commits,
    load_manifest,
)
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.s3 import S3Resource
from moderate.state import StateStoreResource

GROUP_NAME = "datasets"
SCRATCH_PREFIX = "moderate-datasets-publish-"
FAILURE_CHARS = 600


@dataclass(frozen=True)
class SourceAssets:
    """Names and texts of one source's asset pair.

    Attributes:
        source: Source name in the state store and staging bucket.
        prepare_asset: Name of the preparing asset.
        publish_asset: Name of the publishing asset.
        title: Human-readable source name.
        licence: Licence of the data.
    """

    source: str
    prepare_asset: str
    publish_asset: str
    title: str
    licence: str


BUILDING_STOCK = SourceAssets(
    source="building_stock",
    prepare_asset="building_stock",
    publish_asset="platform_asset_building_stock",
    title="MODERATE building-stock analysis",
    licence="CC BY 4.0",
)
GENOME_PROJECT = SourceAssets(
    source="genome_project",
    prepare_asset="genome_project_datasets",
    publish_asset="platform_asset_genome_project_datasets",
    title="Building Data Genome Project 2",
    licence="CC BY-SA 4.0",
)


def _prepare(
    spec: SourceAssets,
    context: AssetExecutionContext,
    config: BuildingStockConfig | GenomeProjectConfig,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    bucket = s3.job_outputs_bucket
    try:
        prepared: PreparedSource = prepare_source(
            spec.source, config, s3.client(), bucket, state_store.store(), context.log
        )
    except (GitSourceRefusedError, GitFetchError) as error:
        raise Failure(
            description=" ".join(str(error).split())[:FAILURE_CHARS],
            metadata={"repo_url": redact_url(config.repo_url), "ref": config.ref},
        ) from None
    manifest = prepared.manifest
    return MaterializeResult(
        metadata=prepare_metadata(
            manifest, prepared.bucket, prepared.manifest_key, prepared.skipped
        ),
        check_results=check_results(AssetKey(spec.prepare_asset), manifest),
    )


def _publish(
    spec: SourceAssets,
    context: AssetExecutionContext,
    config: BuildingStockPublishConfig | GenomeProjectPublishConfig,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    store = state_store.store()
    record = store.get(SOURCE_NAMESPACE, spec.source)
    known = SourceState.from_value(record.value) if record is not None else None
    if known is None:
        raise Failure(
            f"nothing prepared for {spec.source}: materialise {spec.prepare_asset} "
            "first"
        )
    s3_client = s3.client()
    try:
        manifest = load_manifest(s3_client, known.bucket, known.manifest_key)
    except ClientError as error:
        raise Failure(
            f"staged manifest s3://{known.bucket}/{known.manifest_key} cannot be "
            f"read ({error}): materialise {spec.prepare_asset} again"
        ) from error
    client = platform_api.client()
    platform_asset = ensure_platform_asset(
        client,
        config.platform_asset_name,
        f"{spec.title} datasets ({spec.licence}) from {manifest.repo_url}",
        platform_api.setting("base_url"),
        config.adopt_legacy_asset,
        context.log,
    )
    plan = plan_uploads(
        publish_units(manifest),
        list_objects(client, platform_asset.id),
        manifest.commit_sha,
        config.max_objects_per_asset,
        owned_key_prefix=f"{client.username}-assets/",
    )
    context.log.info(
        "%d to upload, %d current, %d to delete; %d objects afterwards",
        len(plan.uploads),
        len(plan.current),
        len(plan.delete_before) + len(plan.delete_after),
        plan.final_count,
    )
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch:
        result = execute_plan(
            plan,
            manifest,
            platform_asset,
            client,
            s3_client,
            known.bucket,
            Path(scratch),
            store,
            context.log,
        )
    latest = store.get(SOURCE_NAMESPACE, spec.source)
    if latest is not None and SourceState.from_value(latest.value) == known:
        store.mark_done(SOURCE_NAMESPACE, spec.source, known.to_value())
        removed = delete_other_commits(
            StagingArea.of_manifest(s3_client, known.bucket, known.manifest_key)
        )
        if removed:
            context.log.info("removed %d staged files of older commits", removed)
    else:
        context.log.info(
            "a newer commit was prepared meanwhile: its state and staged files "
            "are left for the next publish run"
        )
    return MaterializeResult(
        metadata=publish_metadata(result, config.max_objects_per_asset)
    )


@asset(
    name=BUILDING_STOCK.prepare_asset,
    group_name=GROUP_NAME,
    description=(
        "Datasets of the MODERATE building-stock analysis repository (CSV files "
        "and every sheet of the .xlsx workbooks), converted to Parquet and staged "
        "with a manifest in the job-outputs bucket."
    ),
    check_specs=check_specs(AssetKey(BUILDING_STOCK.prepare_asset)),
    kinds={"git", "parquet", "s3"},
)
def building_stock(
    context: AssetExecutionContext,
    config: BuildingStockConfig,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Prepares the building-stock source."""
    return _prepare(BUILDING_STOCK, context, config, s3, state_store)


@asset(
    name=GENOME_PROJECT.prepare_asset,
    group_name=GROUP_NAME,
    description=(
        "Meters, weather and metadata of the Building Data Genome Project 2 "
        "(Git LFS content fetched for the selected files only), converted to "
        "Parquet and staged with a manifest in the job-outputs bucket."
    ),
    check_specs=check_specs(AssetKey(GENOME_PROJECT.prepare_asset)),
    kinds={"git", "parquet", "s3"},
)
def genome_project_datasets(
    context: AssetExecutionContext,
    config: GenomeProjectConfig,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Prepares the BDG2 source."""
    return _prepare(GENOME_PROJECT, context, config, s3, state_store)


@asset(
    name=BUILDING_STOCK.publish_asset,
    group_name=GROUP_NAME,
    deps=[building_stock],
    description=(
        "The building-stock datasets on the Platform API: one ownerless public "
        "asset, each dataset as its original file and as Parquet."
    ),
    kinds={"parquet", "s3"},
)
def platform_asset_building_stock(
    context: AssetExecutionContext,
    config: BuildingStockPublishConfig,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Publishes the latest prepared building-stock commit."""
    return _publish(BUILDING_STOCK, context, config, platform_api, s3, state_store)


@asset(
    name=GENOME_PROJECT.publish_asset,
    group_name=GROUP_NAME,
    deps=[genome_project_datasets],
    description=(
        "The BDG2 datasets on the Platform API: one ownerless public asset, each "
        "dataset as its original CSV and as Parquet."
    ),
    kinds={"parquet", "s3"},
)
def platform_asset_genome_project_datasets(
    context: AssetExecutionContext,
    config: GenomeProjectPublishConfig,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Publishes the latest prepared BDG2 commit."""
    return _publish(GENOME_PROJECT, context, config, platform_api, s3, state_store)


DATASET_ASSETS: list[AssetsDefinition] = [
    building_stock,
    genome_project_datasets,
    platform_asset_building_stock,
    platform_asset_genome_project_datasets,
]
