"""Definitions of the openmetadata feature."""

from dagster import Definitions

from moderate.openmetadata.assets import openmetadata_catalog
from moderate.openmetadata.jobs import datalake_ingestion_job, postgres_ingestion_job
from moderate.openmetadata.schedules import (
    DATALAKE_CRON_VARIABLE,
    POSTGRES_CRON_VARIABLE,
    ingestion_schedule,
)

defs = Definitions(
    assets=[openmetadata_catalog],
    jobs=[postgres_ingestion_job, datalake_ingestion_job],
    schedules=[
        ingestion_schedule(postgres_ingestion_job, POSTGRES_CRON_VARIABLE),
        ingestion_schedule(datalake_ingestion_job, DATALAKE_CRON_VARIABLE),
    ],
)
