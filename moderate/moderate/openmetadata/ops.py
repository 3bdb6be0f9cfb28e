"""Ops of the ingestion jobs: discover, run workflows per item, collect.

Discovery also keeps the dynamic partitions of the per-unit assets in step with
the sources (new units registered, vanished ones removed) and marks deleted the
OpenMetadata services of units that no longer exist.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DynamicOut,
    DynamicOutput,
    OpExecutionContext,
    Out,
    Output,
    op,
)

from moderate.openmetadata.assets import (
    CATALOG_KEY,
    DATALAKE_PARTITIONS_NAME,
    DATALAKE_PREFIX_KEY,
    FEATURE_TAGS,
    POSTGRES_DATABASE_KEY,
    POSTGRES_PARTITIONS_NAME,
)
from moderate.openmetadata.client import CatalogClient
from moderate.openmetadata.config import (
    DatalakeIngestionConfig,
    PostgresIngestionConfig,
)
from moderate.openmetadata.ingest import (
    check_server_line,
    datalake_metadata_stage,
    datalake_profile_stage,
    discover_datalake,
    discover_postgres,
    postgres_metadata_stage,
    postgres_profile_stage,
    require_configured,
    retire_stale_datalake,
    retire_stale_postgres,
)
from moderate.openmetadata.items import (
    IngestionItem,
    ItemProgress,
    ItemResult,
    mapping_key,
)
from moderate.openmetadata.naming import (
    datalake_service_name,
    partition_key_of_prefix,
    postgres_service_name,
)
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource

OPS_TAGS = FEATURE_TAGS


def sync_partitions(
    instance: DagsterInstance,
    partitions_name: str,
    selected: Sequence[str],
    existing: Sequence[str],
) -> tuple[list[str], list[str]]:
    """Registers the selected units and removes partitions of vanished ones.

    Returns:
        The partition keys added and removed.
    """
    registered = set(instance.get_dynamic_partitions(partitions_name))
    added = sorted(set(selected) - registered)
    removed = sorted(registered - set(existing))
    if added:
        instance.add_dynamic_partitions(partitions_name, added)
    for key in removed:
        instance.delete_dynamic_partition(partitions_name, key)
    return added, removed


def _emit(
    context: OpExecutionContext,
    items: Sequence[IngestionItem],
    kind: str,
) -> Iterator[DynamicOutput[IngestionItem]]:
    context.log.info(f"{len(items)} {kind} to ingest: {[i.name for i in items]}")
    for item in items:
        yield DynamicOutput(
            item,
            mapping_key=mapping_key(item.service_name),
            metadata={"name": item.name, "service_name": item.service_name},
        )


@op(out=DynamicOut(IngestionItem), tags=OPS_TAGS)
def discover_postgres_databases(
    context: OpExecutionContext,
    config: PostgresIngestionConfig,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Lists the server's databases and emits one output per selected database.

    Registers their partitions, and marks the services of dropped databases
    deleted.
    """
    require_configured(openmetadata, postgres)
    runner = config.runner.build()
    server_version, line = check_server_line(openmetadata, runner)
    context.log.info(f"OpenMetadata server {server_version}, ingestion line {line}")
    discovery = discover_postgres(postgres, config.name_filter())
    added, removed = sync_partitions(
        context.instance,
        POSTGRES_PARTITIONS_NAME,
        discovery.selected,
        discovery.existing,
    )
    retired = retire_stale_postgres(
        context, CatalogClient.from_resource(openmetadata), discovery
    )
    context.log.info(
        f"partitions added {added}, removed {removed}; services marked deleted "
        f"{retired}"
    )
    items = [
        IngestionItem(
            name=database,
            service_name=postgres_service_name(database),
            line=line,
            runner=runner,
            generate_sample_data=config.generate_sample_data,
            schema_excludes=tuple(config.schema_exclude_patterns),
        )
        for database in discovery.selected
    ]
    yield from _emit(context, items, "databases")


def _report_partition(
    context: OpExecutionContext, asset_key: AssetKey, partition: str, result: ItemResult
) -> None:
    context.log_event(
        AssetMaterialization(
            asset_key=asset_key,
            partition=partition,
            metadata={"service_name": result.service_name, **result.statuses},
        )
    )


@op(tags=OPS_TAGS)
def run_postgres_metadata(
    context: OpExecutionContext,
    item: IngestionItem,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> ItemProgress:
    """Runs the metadata and lineage workflows of one database."""
    result = postgres_metadata_stage(context, item, postgres, openmetadata)
    return ItemProgress(item=item, result=result)


@op(tags=OPS_TAGS)
def run_postgres_profiler(
    context: OpExecutionContext,
    progress: ItemProgress,
    openmetadata: OpenMetadataResource,
) -> ItemResult:
    """Runs the profiler (and, when asked, the sample-data) workflow of one database."""
    result = postgres_profile_stage(
        context, progress.item, openmetadata, progress.result
    )
    _report_partition(context, POSTGRES_DATABASE_KEY, progress.item.name, result)
    return result


@op(out=DynamicOut(IngestionItem), tags=OPS_TAGS)
def discover_datalake_prefixes(
    context: OpExecutionContext,
    config: DatalakeIngestionConfig,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Lists the bucket's top-level prefixes and emits one output per prefix.

    Registers their partitions, and marks the services of removed prefixes
    deleted.
    """
    require_configured(openmetadata, s3)
    bucket = s3.data_lake_bucket
    runner = config.runner.build()
    server_version, line = check_server_line(openmetadata, runner)
    context.log.info(f"OpenMetadata server {server_version}, ingestion line {line}")
    discovery = discover_datalake(s3, config.name_filter(), config.list_page_size)
    added, removed = sync_partitions(
        context.instance,
        DATALAKE_PARTITIONS_NAME,
        [partition_key_of_prefix(prefix) for prefix in discovery.selected],
        [partition_key_of_prefix(prefix) for prefix in discovery.existing],
    )
    retired = retire_stale_datalake(
        context, CatalogClient.from_resource(openmetadata), discovery
    )
    context.log.info(
        f"partitions added {added}, removed {removed}; services marked deleted "
        f"{retired}"
    )
    items = [
        IngestionItem(
            name=prefix,
            service_name=datalake_service_name(prefix),
            line=line,
            runner=runner,
            generate_sample_data=config.generate_sample_data,
            bucket=bucket,
        )
        for prefix in discovery.selected
    ]
    yield from _emit(context, items, "prefixes")


@op(tags=OPS_TAGS)
def run_datalake_metadata(
    context: OpExecutionContext,
    item: IngestionItem,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> ItemProgress:
    """Runs the metadata workflow of one prefix and sets its tables' owner."""
    result = datalake_metadata_stage(context, item, s3, openmetadata)
    return ItemProgress(item=item, result=result)


@op(tags=OPS_TAGS)
def run_datalake_profiler(
    context: OpExecutionContext,
    progress: ItemProgress,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> ItemResult:
    """Runs the profiler (and, when asked, the sample-data) workflow of one prefix."""
    result = datalake_profile_stage(
        context, progress.item, s3, openmetadata, progress.result
    )
    _report_partition(
        context,
        DATALAKE_PREFIX_KEY,
        partition_key_of_prefix(progress.item.name),
        result,
    )
    return result


def _collect(
    context: OpExecutionContext, results: list[ItemResult], source: str
) -> Iterator[AssetMaterialization | Output[list[ItemResult]]]:
    ordered = sorted(results, key=lambda result: result.name)
    for result in ordered:
        context.log.info(f"{result.name}: {result.statuses}")
    metadata: dict[str, Any] = {
        "source": source,
        "items": len(ordered),
        "services": [result.service_name for result in ordered],
        "partial_successes": sum(
            "partial_success" in result.statuses.values() for result in ordered
        ),
    }
    yield AssetMaterialization(
        asset_key=CATALOG_KEY,
        description=f"{source} ingestion",
        metadata=metadata,
    )
    yield Output(ordered, metadata=metadata)


@op(out=Out(list[ItemResult]), tags=OPS_TAGS)
def collect_postgres_ingestion(
    context: OpExecutionContext, results: list[ItemResult]
) -> Iterator[AssetMaterialization | Output[list[ItemResult]]]:
    """Gathers the per-database results; reports the catalogue asset."""
    yield from _collect(context, results, "postgres")


@op(out=Out(list[ItemResult]), tags=OPS_TAGS)
def collect_datalake_ingestion(
    context: OpExecutionContext, results: list[ItemResult]
) -> Iterator[AssetMaterialization | Output[list[ItemResult]]]:
    """Gathers the per-prefix results; reports the catalogue asset."""
    yield from _collect(context, results, "datalake")
