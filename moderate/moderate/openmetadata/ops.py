"""Ops of the ingestion jobs: discover, run workflows per item, collect.

Discovery keeps the per-unit assets' partitions in step with the sources and
marks deleted the services of vanished units. The Dagster connector's op
catalogues this code location's jobs as pipelines of ``platform-dagster``.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import (
    AssetMaterialization,
    DynamicOut,
    DynamicOutput,
    EnvVar,
    Failure,
    OpDefinition,
    OpExecutionContext,
    Out,
    Output,
    op,
)

from moderate.openmetadata.assets import (
    CATALOG_KEY,
    DATALAKE_UNITS,
    FEATURE_TAGS,
    POSTGRES_UNITS,
)
from moderate.openmetadata.config import (
    DatalakeIngestionConfig,
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
from moderate.openmetadata.naming import DAGSTER_SERVICE_NAME
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
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource

DAGSTER_URL_VARIABLE = "MODERATE_OPENMETADATA_DAGSTER_URL"


def _discovered(
    context: OpExecutionContext,
    openmetadata: OpenMetadataResource,
    units: UnitKind,
    selected: Sequence[str],
    existing: Sequence[str],
    runner: WorkflowRunner,
    line: str,
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
    context.log.info(f"{len(selected)} {units.plural} to ingest: {list(selected)}")
    for unit in selected:
        item = units.item(unit, runner, line, generate_sample_data, schema_excludes)
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
    runner, line = prepare(context, config.runner, openmetadata, postgres)
    existing = list_databases(postgres.engine())
    yield from _discovered(
        context,
        openmetadata,
        POSTGRES_UNITS,
        NameFilter(config.include_patterns, config.exclude_patterns).select(existing),
        existing,
        runner,
        line,
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
    runner, line = prepare(context, config.runner, openmetadata, s3)
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
        line,
        config.generate_sample_data,
    )


def _report_partition(
    context: OpExecutionContext, units: UnitKind, item: IngestionItem
) -> IngestionItem:
    context.log_event(
        AssetMaterialization(
            asset_key=units.asset_key,
            partition=item.partition_key,
            metadata=item.summary(),
        )
    )
    return item


@op(tags=FEATURE_TAGS)
def run_postgres_metadata(
    context: OpExecutionContext,
    item: IngestionItem,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> IngestionItem:
    """Runs the metadata and lineage workflows of one database."""
    return metadata_stage(context, item, postgres, openmetadata)


@op(tags=FEATURE_TAGS)
def run_postgres_profiler(
    context: OpExecutionContext,
    item: IngestionItem,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> IngestionItem:
    """Runs the profiler (and, when asked, the sample-data) workflow of one database."""
    item = profile_stage(context, item, postgres, openmetadata)
    return _report_partition(context, POSTGRES_UNITS, item)


@op(tags=FEATURE_TAGS)
def run_datalake_metadata(
    context: OpExecutionContext,
    item: IngestionItem,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> IngestionItem:
    """Runs the metadata workflow of one prefix and sets its tables' owner."""
    return metadata_stage(context, item, s3, openmetadata)


@op(tags=FEATURE_TAGS)
def run_datalake_profiler(
    context: OpExecutionContext,
    item: IngestionItem,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> IngestionItem:
    """Runs the profiler (and, when asked, the sample-data) workflow of one prefix."""
    item = profile_stage(context, item, s3, openmetadata)
    return _report_partition(context, DATALAKE_UNITS, item)


def _report_catalog(
    description: str, metadata: dict[str, Any], output: Any
) -> Iterator[AssetMaterialization | Output[Any]]:
    yield AssetMaterialization(
        asset_key=CATALOG_KEY, description=description, metadata=metadata
    )
    yield Output(output, metadata=metadata)


def _collect_op(source: str, unit: str) -> OpDefinition:
    """The op gathering the per-unit results of ``source``; it reports the catalogue."""

    @op(
        name=f"collect_{source}_ingestion",
        description=f"Gathers the per-{unit} results; reports the catalogue asset.",
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
            "source": source,
            "items": len(ordered),
            "services": [item.service_name for item in ordered],
            "partial_successes": sum(
                "partial_success" in item.statuses.values() for item in ordered
            ),
        }
        yield from _report_catalog(f"{source} ingestion", metadata, ordered)

    return collect


collect_postgres_ingestion = _collect_op("postgres", "database")
collect_datalake_ingestion = _collect_op("datalake", "prefix")


@op(tags=FEATURE_TAGS)
def ingest_dagster_pipelines(
    context: OpExecutionContext,
    config: PipelinesIngestionConfig,
    openmetadata: OpenMetadataResource,
) -> Iterator[AssetMaterialization | Output[Any]]:
    """Runs the Dagster connector against this deployment's webserver."""
    runner, line = prepare(context, config.runner, openmetadata)
    url = (EnvVar(DAGSTER_URL_VARIABLE).get_value() or "").strip()
    if not url:
        raise Failure(
            description=f"Dagster pipelines ingestion is not configured: set "
            f"{DAGSTER_URL_VARIABLE}",
            metadata={"missing_variables": [DAGSTER_URL_VARIABLE]},
        )
    request = workflow_request(
        WorkflowKind.PIPELINES,
        DagsterSource(host=url),
        DAGSTER_SERVICE_NAME,
        ServerSettings(host_port=openmetadata.host_port),
        line_keys(line),
    )
    secrets = {TOKEN_VARIABLE: openmetadata.required_setting("token")}
    outcome = run_workflow(context, runner, request, secrets)
    metadata = {"source": "dagster", "services": [DAGSTER_SERVICE_NAME]}
    yield from _report_catalog("dagster pipelines", metadata, outcome.status)
