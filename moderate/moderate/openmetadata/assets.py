"""What the ingestion maintains, as assets of the ``openmetadata`` group.

Each database and each data-lake prefix is a dynamic partition, registered by the
jobs' discovery, which also report them: a backfill of selected partitions
ingests exactly those units. ``openmetadata_catalog`` stands for the whole
catalogue (in OpenMetadata, not Dagster storage) and carries its freshness.
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
    UnitKind,
    metadata_stage,
    prepare,
    profile_stage,
)
from moderate.openmetadata.naming import (
    DATALAKE_SERVICE_PREFIX,
    POSTGRES_SERVICE_PREFIX,
    datalake_service_name,
    postgres_service_name,
)
from moderate.resources import OpenMetadataResource, PostgresResource, S3Resource

GROUP_NAME = "openmetadata"
FEATURE_TAGS = {"moderate/feature": "openmetadata"}
CATALOG_KEY = AssetKey("openmetadata_catalog")
POSTGRES_UNITS = UnitKind(
    plural="databases",
    asset_key=AssetKey("openmetadata_postgres_database"),
    partitions=DynamicPartitionsDefinition(name="openmetadata_postgres_databases"),
    service_prefix=POSTGRES_SERVICE_PREFIX,
    service_name=postgres_service_name,
    partition_key=str,
    unit_of_partition=str,
)
DATALAKE_UNITS = UnitKind(
    plural="prefixes",
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


def _ingest_partition(
    context: AssetExecutionContext,
    config: PartitionIngestionConfig,
    units: UnitKind,
    resource: PostgresResource | S3Resource,
    openmetadata: OpenMetadataResource,
) -> MaterializeResult:
    op_context = context.op_execution_context
    runner, line = prepare(op_context, config.runner, openmetadata, resource)
    item = units.item(
        units.unit_of_partition(context.partition_key),
        runner,
        line,
        config.generate_sample_data,
        config.schema_exclude_patterns,
    )
    item = metadata_stage(op_context, item, resource, openmetadata)
    item = profile_stage(op_context, item, resource, openmetadata)
    return MaterializeResult(metadata=item.summary())


@asset(
    key=POSTGRES_UNITS.asset_key,
    group_name=GROUP_NAME,
    partitions_def=POSTGRES_UNITS.partitions,
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
    return _ingest_partition(context, config, POSTGRES_UNITS, postgres, openmetadata)


@asset(
    key=DATALAKE_UNITS.asset_key,
    group_name=GROUP_NAME,
    partitions_def=DATALAKE_UNITS.partitions,
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
    return _ingest_partition(context, config, DATALAKE_UNITS, s3, openmetadata)
