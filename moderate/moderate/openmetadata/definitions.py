"""Definitions of the openmetadata feature."""

from dagster import Definitions

from moderate.openmetadata.jobs import (
    DAGSTER_CRON_VARIABLE,
    DATALAKE_CRON_VARIABLE,
    POSTGRES_CRON_VARIABLE,
    dagster_pipelines_ingestion_job,
    datalake_ingestion_job,
    datalake_partitions_job,
    ingestion_schedule,
    postgres_ingestion_job,
    postgres_partitions_job,
)
from moderate.openmetadata.lineage import openmetadata_lineage_sensor
from moderate.openmetadata.steps import (
    openmetadata_catalog,
    openmetadata_datalake_prefix,
    openmetadata_postgres_database,
)

defs = Definitions(
    assets=[
        openmetadata_catalog,
        openmetadata_postgres_database,
        openmetadata_datalake_prefix,
    ],
    jobs=[
        postgres_ingestion_job,
        datalake_ingestion_job,
        postgres_partitions_job,
        datalake_partitions_job,
        dagster_pipelines_ingestion_job,
    ],
    schedules=[
        ingestion_schedule(
            postgres_ingestion_job, POSTGRES_CRON_VARIABLE, ("openmetadata", "postgres")
        ),
        ingestion_schedule(
            datalake_ingestion_job, DATALAKE_CRON_VARIABLE, ("openmetadata", "s3")
        ),
        ingestion_schedule(dagster_pipelines_ingestion_job, DAGSTER_CRON_VARIABLE),
    ],
    sensors=[openmetadata_lineage_sensor],
)
