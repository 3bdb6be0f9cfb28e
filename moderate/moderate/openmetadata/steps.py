"""Steps of the ingestion: the per-unit assets and the ops of the jobs.

Each database and data-lake prefix is a dynamic partition registered by the jobs'
discovery: a backfill of selected partitions runs the same stages for those units.
"""

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    DynamicOut,
    DynamicOutput,
    DynamicPartitionsDefinition,
    EnvVar,
    Failure,
    FreshnessPolicy,
    MaterializeResult,
    OpDefinition,
    OpExecutionContext,
    Out,
    Output,
    asset,
    op,
)

from moderate.openmetadata.config import (
    DatalakeIngestionConfig,
    PartitionIngestionConfig,
    PipelinesIngestionConfig,
    PostgresIngestionConfig,
)
from moderate.openmetadata.ingest import (
    IngestionItem,
    NameFilter,
    UnitKind,
    check_distinct_service_names,
    discover_prefixes,
    list_databases,
    list_top_level_prefixes,
    mapping_key,
    metadata_stage,
    prepare,
    profile_stage,
    retire_stale_services,
    run_workflow,
)
from moderate.openmetadata.naming import (
    DAGSTER_SERVICE_NAME,
    DATALAKE_SERVICE_PREFIX,
    POSTGRES_SERVICE_PREFIX,
    datalake_service_name,
    postgres_service_name,
)
from moderate.openmetadata.runners import WorkflowRunner
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
    TOKEN_VARIABLE,
    DagsterSource,
    ServerSettings,
    WorkflowKind,
    workflow_request,
)
from moderate.resources import (
    OpenMetadataResource,
    PostgresResource,
    S3Resource,
    ServiceNotConfiguredError,
)

GROUP_NAME = "openmetadata"
FEATURE_TAGS = {"moderate/feature": "openmetadata"}
CATALOG_KEY = AssetKey("openmetadata_catalog")
POSTGRES_UNITS = UnitKind(
    source="postgres",
    resource_key="postgres",
    unit="database",
    asset_key=AssetKey("openmetadata_postgres_database"),
    partitions=DynamicPartitionsDefinition(name="openmetadata_postgres_databases"),
    service_prefix=POSTGRES_SERVICE_PREFIX,
    service_name=postgres_service_name,
    partition_key=str,
    unit_of_partition=str,
)
DATALAKE_UNITS = UnitKind(
    source="datalake",
    resource_key="s3",
    unit="prefix",
    asset_key=AssetKey("openmetadata_datalake_prefix"),
    partitions=DynamicPartitionsDefinition(name="openmetadata_datalake_prefixes"),
    service_prefix=DATALAKE_SERVICE_PREFIX,
    service_name=datalake_service_name,
    partition_key=lambda prefix: prefix.rstrip("/"),
    unit_of_partition=lambda key: f"{key}/",
)
CATALOG_FAIL_WINDOW = timedelta(hours=26)
CATALOG_WARN_WINDOW = timedelta(hours=13)
"""The schedules run twice a day: a catalogue older than one missed run warns,
one older than two missed runs (and a margin) fails."""

openmetadata_catalog = AssetSpec(
    key=CATALOG_KEY,
    group_name=GROUP_NAME,
    description="OpenMetadata services (tables, profiles, lineage) of the "
    "platform's PostgreSQL databases and data-lake prefixes and of this code "
    "location's own pipelines; reported by the ingestion jobs.",
    kinds={"openmetadata"},
    tags=FEATURE_TAGS,
    deps=[POSTGRES_UNITS.asset_key, DATALAKE_UNITS.asset_key],
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=CATALOG_FAIL_WINDOW, warn_window=CATALOG_WARN_WINDOW
    ),
)


def _partition_asset(units: UnitKind, description: str) -> AssetsDefinition:
    """The asset of ``units`` with one partition per unit (kind: its resource)."""

    @asset(
        key=units.asset_key,
        group_name=GROUP_NAME,
        partitions_def=units.partitions,
        kinds={"openmetadata", units.resource_key},
        tags=FEATURE_TAGS,
        op_tags=FEATURE_TAGS,
        description=description,
        required_resource_keys={units.resource_key, "openmetadata"},
    )
    def ingest_partition(
        context: AssetExecutionContext, config: PartitionIngestionConfig
    ) -> MaterializeResult:
        op_context = context.op_execution_context
        resource = getattr(context.resources, units.resource_key)
        openmetadata = context.resources.openmetadata
        runner = prepare(op_context, config.runner, openmetadata, resource)
        item = units.item(
            units.unit_of_partition(context.partition_key),
            runner,
            config.generate_sample_data,
            config.schema_exclude_patterns,
        )
        item = metadata_stage(op_context, item, resource, openmetadata)
        item = profile_stage(op_context, item, resource, openmetadata)
        return MaterializeResult(metadata=item.summary())

    return ingest_partition


openmetadata_postgres_database = _partition_asset(
    POSTGRES_UNITS,
    "One PostgreSQL database in OpenMetadata (metadata, view and query lineage, "
    "profiles); one partition per database.",
)
openmetadata_datalake_prefix = _partition_asset(
    DATALAKE_UNITS,
    "One top-level data-lake prefix in OpenMetadata (its own service, tables owned "
    "by the prefix's user, profiles); one partition per prefix.",
)


DAGSTER_URL_VARIABLE = "MODERATE_OPENMETADATA_DAGSTER_URL"


def _discovered(
    context: OpExecutionContext,
    openmetadata: OpenMetadataResource,
    units: UnitKind,
    selected: Sequence[str],
    existing: Sequence[str],
    runner: WorkflowRunner,
    generate_sample_data: bool,
    schema_excludes: Sequence[str] = DEFAULT_SYSTEM_SCHEMA_EXCLUDES,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Syncs partitions and services with ``existing``; one output per selected unit."""
    try:
        check_distinct_service_names(
            selected, [units.service_name(n) for n in selected]
        )
    except ValueError as error:
        raise Failure(description=str(error)) from error
    instance, name = context.instance, str(units.partitions.name)
    registered = set(instance.get_dynamic_partitions(name))
    added = sorted({units.partition_key(unit) for unit in selected} - registered)
    removed = sorted(registered - {units.partition_key(unit) for unit in existing})
    if added:
        instance.add_dynamic_partitions(name, added)
    for key in removed:
        instance.delete_dynamic_partition(name, key)
    retired = retire_stale_services(context, openmetadata, units, existing)
    context.log.info(
        f"partitions added {added}, removed {removed}; services marked deleted "
        f"{retired}"
    )
    context.log.info(
        f"{units.unit} units to ingest ({len(selected)}): {list(selected)}"
    )
    for unit in selected:
        item = units.item(unit, runner, generate_sample_data, schema_excludes)
        yield DynamicOutput(
            item,
            mapping_key=mapping_key(item.service_name),
            metadata={"name": item.name, "service_name": item.service_name},
        )


@op(out=DynamicOut(IngestionItem), tags=FEATURE_TAGS)
def discover_postgres_databases(
    context: OpExecutionContext,
    config: PostgresIngestionConfig,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Lists the server's databases and emits one output per selected database."""
    runner = prepare(context, config.runner, openmetadata, postgres)
    existing = list_databases(postgres.engine())
    yield from _discovered(
        context,
        openmetadata,
        POSTGRES_UNITS,
        NameFilter(config.include_patterns, config.exclude_patterns).select(existing),
        existing,
        runner,
        config.generate_sample_data,
        config.schema_exclude_patterns,
    )


@op(out=DynamicOut(IngestionItem), tags=FEATURE_TAGS)
def discover_datalake_prefixes(
    context: OpExecutionContext,
    config: DatalakeIngestionConfig,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> Iterator[DynamicOutput[IngestionItem]]:
    """Lists the bucket's top-level prefixes and emits one output per prefix."""
    runner = prepare(context, config.runner, openmetadata, s3)
    existing = list_top_level_prefixes(
        s3.client(), s3.data_lake_bucket, config.list_page_size
    )
    yield from _discovered(
        context,
        openmetadata,
        DATALAKE_UNITS,
        discover_prefixes(
            existing, NameFilter(config.include_patterns, config.exclude_patterns)
        ),
        existing,
        runner,
        config.generate_sample_data,
    )


def _stage_ops(
    units: UnitKind, metadata_description: str
) -> tuple[OpDefinition, OpDefinition]:
    """The metadata op and the profiler op (which reports the partition) of a unit."""
    resource_keys = {units.resource_key, "openmetadata"}

    @op(
        name=f"run_{units.source}_metadata",
        description=metadata_description,
        required_resource_keys=resource_keys,
        tags=FEATURE_TAGS,
    )
    def run_metadata(context: OpExecutionContext, item: IngestionItem) -> IngestionItem:
        resource = getattr(context.resources, units.resource_key)
        return metadata_stage(context, item, resource, context.resources.openmetadata)

    @op(
        name=f"run_{units.source}_profiler",
        description=f"Runs the profiler (and, when asked, the sample-data) workflow "
        f"of one {units.unit}.",
        required_resource_keys=resource_keys,
        tags=FEATURE_TAGS,
    )
    def run_profiler(context: OpExecutionContext, item: IngestionItem) -> IngestionItem:
        resource = getattr(context.resources, units.resource_key)
        item = profile_stage(context, item, resource, context.resources.openmetadata)
        context.log_event(
            AssetMaterialization(
                asset_key=units.asset_key,
                partition=units.partition_key(item.name),
                metadata=item.summary(),
            )
        )
        return item

    return run_metadata, run_profiler


run_postgres_metadata, run_postgres_profiler = _stage_ops(
    POSTGRES_UNITS, "Runs the metadata and lineage workflows of one database."
)
run_datalake_metadata, run_datalake_profiler = _stage_ops(
    DATALAKE_UNITS,
    "Runs the metadata workflow of one prefix and sets its tables' owner.",
)


def _report_catalog(
    description: str, metadata: dict[str, Any], output: Any
) -> Iterator[AssetMaterialization | Output[Any]]:
    yield AssetMaterialization(
        asset_key=CATALOG_KEY, description=description, metadata=metadata
    )
    yield Output(output, metadata=metadata)


def _collect_op(units: UnitKind) -> OpDefinition:
    """The op gathering the per-unit results of ``units``; it reports the catalogue."""

    @op(
        name=f"collect_{units.source}_ingestion",
        description=f"Gathers the per-{units.unit} results; reports the catalogue "
        "asset.",
        out=Out(list[IngestionItem]),
        tags=FEATURE_TAGS,
    )
    def collect(
        context: OpExecutionContext, results: list[IngestionItem]
    ) -> Iterator[AssetMaterialization | Output[Any]]:
        ordered = sorted(results, key=lambda item: item.name)
        for item in ordered:
            context.log.info(f"{item.name}: {item.statuses}")
        metadata = {
            "source": units.source,
            "items": len(ordered),
            "services": [item.service_name for item in ordered],
            "partial_successes": sum(
                "partial_success" in item.statuses.values() for item in ordered
            ),
        }
        yield from _report_catalog(f"{units.source} ingestion", metadata, ordered)

    return collect


collect_postgres_ingestion = _collect_op(POSTGRES_UNITS)
collect_datalake_ingestion = _collect_op(DATALAKE_UNITS)


@op(tags=FEATURE_TAGS)
def ingest_dagster_pipelines(
    context: OpExecutionContext,
    config: PipelinesIngestionConfig,
    openmetadata: OpenMetadataResource,
) -> Iterator[AssetMaterialization | Output[Any]]:
    """Runs the Dagster connector against this deployment's webserver."""
    runner = prepare(context, config.runner, openmetadata)
    url = (EnvVar(DAGSTER_URL_VARIABLE).get_value() or "").strip()
    if not url:
        raise ServiceNotConfiguredError(
            "Dagster pipelines ingestion", [DAGSTER_URL_VARIABLE]
        )
    request = workflow_request(
        WorkflowKind.PIPELINES,
        DagsterSource(host=url),
        DAGSTER_SERVICE_NAME,
        ServerSettings(host_port=openmetadata.host_port),
        line_keys(runner.version_line()),
    )
    secrets = {TOKEN_VARIABLE: openmetadata.required_setting("token")}
    outcome = run_workflow(context, runner, request, secrets)
    metadata = {"source": "dagster", "services": [DAGSTER_SERVICE_NAME]}
    yield from _report_catalog("dagster pipelines", metadata, outcome.status)
