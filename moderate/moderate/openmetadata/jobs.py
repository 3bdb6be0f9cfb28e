"""The two ingestion jobs: discover, then metadata and profiler per item, collect."""

from dagster import define_asset_job, job, multiprocess_executor

from moderate.openmetadata.assets import (
    DATALAKE_PARTITIONS,
    DATALAKE_PREFIX_KEY,
    POSTGRES_DATABASE_KEY,
    POSTGRES_PARTITIONS,
)
from moderate.openmetadata.ops import (
    collect_datalake_ingestion,
    collect_postgres_ingestion,
    discover_datalake_prefixes,
    discover_postgres_databases,
    run_datalake_metadata,
    run_datalake_profiler,
    run_postgres_metadata,
    run_postgres_profiler,
)

DEFAULT_MAX_CONCURRENT_ITEMS = 2
"""Steps running at once; each item runs its workflows one after the other, so
this bounds the workflow processes (and databases or prefixes) in flight."""
JOB_TAGS = {"moderate/feature": "openmetadata"}


def default_run_config(max_concurrent: int = DEFAULT_MAX_CONCURRENT_ITEMS) -> dict:
    """Default run config: the concurrency bound (overridable per run)."""
    return {"execution": {"config": {"max_concurrent": max_concurrent}}}


@job(
    name="postgres_ingestion_job",
    description="Ingests metadata and profiles of every selected database of the "
    "platform's PostgreSQL server into OpenMetadata (one service per database).",
    tags={**JOB_TAGS, "moderate/source": "postgres"},
    executor_def=multiprocess_executor,
    config=default_run_config(),
)
def postgres_ingestion_job() -> None:
    """Discover databases, then per database metadata then profiler, collect."""
    databases = discover_postgres_databases()
    results = databases.map(
        lambda item: run_postgres_profiler(run_postgres_metadata(item))
    )
    collect_postgres_ingestion(results.collect())


@job(
    name="datalake_ingestion_job",
    description="Ingests metadata and profiles of the data-lake bucket into "
    "OpenMetadata (one service per top-level prefix).",
    tags={**JOB_TAGS, "moderate/source": "datalake"},
    executor_def=multiprocess_executor,
    config=default_run_config(),
)
def datalake_ingestion_job() -> None:
    """Discover prefixes, then per prefix metadata then profiler, collect."""
    prefixes = discover_datalake_prefixes()
    results = prefixes.map(
        lambda item: run_datalake_profiler(run_datalake_metadata(item))
    )
    collect_datalake_ingestion(results.collect())


postgres_partitions_job = define_asset_job(
    name="postgres_partitions_ingestion_job",
    selection=[POSTGRES_DATABASE_KEY],
    partitions_def=POSTGRES_PARTITIONS,
    description="Ingests the selected database partitions (backfills).",
    tags={**JOB_TAGS, "moderate/source": "postgres"},
)
datalake_partitions_job = define_asset_job(
    name="datalake_partitions_ingestion_job",
    selection=[DATALAKE_PREFIX_KEY],
    partitions_def=DATALAKE_PARTITIONS,
    description="Ingests the selected prefix partitions (backfills).",
    tags={**JOB_TAGS, "moderate/source": "datalake"},
)
