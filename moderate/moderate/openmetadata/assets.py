"""What the ingestion maintains, as assets of the ``openmetadata`` group.

The catalogue lives in OpenMetadata, not in Dagster storage. Each database and
each data-lake prefix is a partition (dynamic partitions, registered by the
discovery of the ingestion jobs), so a backfill of selected partitions from the
UI ingests exactly those units; the jobs report the same partitions when they
ingest everything. ``openmetadata_catalog`` stands for the whole catalogue and
carries its freshness expectation.
"""

from datetime import timedelta

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    DynamicPartitionsDefinition,
    FreshnessPolicy,
    MaterializeResult,
    asset,
)

from moderate.openmetadata.config import PartitionIngestionConfig
from moderate.openmetadata.ingest import (
    check_server_line,
    datalake_metadata_stage,
    datalake_profile_stage,
    postgres_metadata_stage,
    postgres_profile_stage,
    require_configured,
)
from moderate.openmetadata.items import IngestionItem, ItemResult
from moderate.openmetadata.naming import (
    datalake_service_name,
    postgres_service_name,
    prefix_of_partition_key,
)
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource

GROUP_NAME = "openmetadata"
FEATURE_TAGS = {"moderate/feature": "openmetadata"}
CATALOG_KEY = AssetKey("openmetadata_catalog")
POSTGRES_DATABASE_KEY = AssetKey("openmetadata_postgres_database")
DATALAKE_PREFIX_KEY = AssetKey("openmetadata_datalake_prefix")
POSTGRES_PARTITIONS_NAME = "openmetadata_postgres_databases"
DATALAKE_PARTITIONS_NAME = "openmetadata_datalake_prefixes"
POSTGRES_PARTITIONS = DynamicPartitionsDefinition(name=POSTGRES_PARTITIONS_NAME)
DATALAKE_PARTITIONS = DynamicPartitionsDefinition(name=DATALAKE_PARTITIONS_NAME)
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
    deps=[POSTGRES_DATABASE_KEY, DATALAKE_PREFIX_KEY],
    freshness_policy=FreshnessPolicy.time_window(
        fail_window=CATALOG_FAIL_WINDOW, warn_window=CATALOG_WARN_WINDOW
    ),
)


def _summary(result: ItemResult) -> MaterializeResult:
    return MaterializeResult(
        metadata={"service_name": result.service_name, **result.statuses}
    )


@asset(
    key=POSTGRES_DATABASE_KEY,
    group_name=GROUP_NAME,
    partitions_def=POSTGRES_PARTITIONS,
    kinds={"openmetadata", "postgres"},
    tags=FEATURE_TAGS,
    op_tags=FEATURE_TAGS,
    description="One PostgreSQL database in OpenMetadata (metadata, view and "
    "query lineage, profiles); one partition per database.",
)
def openmetadata_postgres_database(
    context: AssetExecutionContext,
    config: PartitionIngestionConfig,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
) -> MaterializeResult:
    """Ingests the database named by the partition key."""
    require_configured(openmetadata, postgres)
    runner = config.runner.build()
    _, line = check_server_line(openmetadata, runner)
    database = context.partition_key
    item = IngestionItem(
        name=database,
        service_name=postgres_service_name(database),
        line=line,
        runner=runner,
        generate_sample_data=config.generate_sample_data,
        schema_excludes=tuple(config.schema_exclude_patterns),
    )
    op_context = context.op_execution_context
    result = postgres_metadata_stage(op_context, item, postgres, openmetadata)
    return _summary(postgres_profile_stage(op_context, item, openmetadata, result))


@asset(
    key=DATALAKE_PREFIX_KEY,
    group_name=GROUP_NAME,
    partitions_def=DATALAKE_PARTITIONS,
    kinds={"openmetadata", "s3"},
    tags=FEATURE_TAGS,
    op_tags=FEATURE_TAGS,
    description="One top-level data-lake prefix in OpenMetadata (its own service, "
    "tables owned by the prefix's user, profiles); one partition per prefix.",
)
def openmetadata_datalake_prefix(
    context: AssetExecutionContext,
    config: PartitionIngestionConfig,
    s3: S3Resource,
    openmetadata: OpenMetadataResource,
) -> MaterializeResult:
    """Ingests the prefix named by the partition key."""
    require_configured(openmetadata, s3)
    runner = config.runner.build()
    _, line = check_server_line(openmetadata, runner)
    prefix = prefix_of_partition_key(context.partition_key)
    item = IngestionItem(
        name=prefix,
        service_name=datalake_service_name(prefix),
        line=line,
        runner=runner,
        generate_sample_data=config.generate_sample_data,
        bucket=s3.data_lake_bucket,
    )
    op_context = context.op_execution_context
    result = datalake_metadata_stage(op_context, item, s3, openmetadata)
    return _summary(datalake_profile_stage(op_context, item, s3, openmetadata, result))
