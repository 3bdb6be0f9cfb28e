"""The ingestion jobs, the Dagster connector's job, the backfill jobs, schedules.

A schedule skips each tick naming the missing variables of unconfigured services,
or its invalid cron variable (the code location still loads).
"""

from collections.abc import Sequence

from dagster import (
    EnvVar,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    job,
    multiprocess_executor,
)

from moderate.automation import default_schedule_status
from moderate.openmetadata.steps import (
    DATALAKE_UNITS,
    FEATURE_TAGS,
    POSTGRES_UNITS,
    collect_datalake_ingestion,
    collect_postgres_ingestion,
    discover_datalake_prefixes,
    discover_postgres_databases,
    ingest_dagster_pipelines,
    run_datalake_metadata,
    run_datalake_profiler,
    run_postgres_metadata,
    run_postgres_profiler,
)
from moderate.support.cron import parse_cron

DEFAULT_MAX_CONCURRENT_ITEMS = 2
"""Steps running at once; each item runs its workflows one after the other, so
this bounds the workflow processes (and databases or prefixes) in flight."""
DEFAULT_RUN_CONFIG = {
    "execution": {"config": {"max_concurrent": DEFAULT_MAX_CONCURRENT_ITEMS}}
}
"""The concurrency bound, overridable per run."""
POSTGRES_TAGS = {**FEATURE_TAGS, "moderate/source": "postgres"}
DATALAKE_TAGS = {**FEATURE_TAGS, "moderate/source": "datalake"}


@job(
    name="postgres_ingestion_job",
    description="Ingests metadata and profiles of every selected database of the "
    "platform's PostgreSQL server into OpenMetadata (one service per database).",
    tags=POSTGRES_TAGS,
    executor_def=multiprocess_executor,
    config=DEFAULT_RUN_CONFIG,
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
    tags=DATALAKE_TAGS,
    executor_def=multiprocess_executor,
    config=DEFAULT_RUN_CONFIG,
)
def datalake_ingestion_job() -> None:
    """Discover prefixes, then per prefix metadata then profiler, collect."""
    prefixes = discover_datalake_prefixes()
    results = prefixes.map(
        lambda item: run_datalake_profiler(run_datalake_metadata(item))
    )
    collect_datalake_ingestion(results.collect())


@job(
    name="dagster_pipelines_ingestion_job",
    description="Catalogues this code location's jobs and assets in OpenMetadata "
    "as pipelines, through OpenMetadata's Dagster connector.",
    tags={**FEATURE_TAGS, "moderate/source": "dagster"},
)
def dagster_pipelines_ingestion_job() -> None:
    """One step: the Dagster connector's metadata workflow."""
    ingest_dagster_pipelines()


postgres_partitions_job = define_asset_job(
    name="postgres_partitions_ingestion_job",
    selection=[POSTGRES_UNITS.asset_key],
    partitions_def=POSTGRES_UNITS.partitions,
    description="Ingests the selected database partitions (backfills).",
    tags=POSTGRES_TAGS,
)
datalake_partitions_job = define_asset_job(
    name="datalake_partitions_ingestion_job",
    selection=[DATALAKE_UNITS.asset_key],
    partitions_def=DATALAKE_UNITS.partitions,
    description="Ingests the selected prefix partitions (backfills).",
    tags=DATALAKE_TAGS,
)

DEFAULT_CRON = "0 0,12 * * *"
TIMEZONE = "UTC"
POSTGRES_CRON_VARIABLE = "MODERATE_OPENMETADATA_POSTGRES_CRON"
DATALAKE_CRON_VARIABLE = "MODERATE_OPENMETADATA_DATALAKE_CRON"
DAGSTER_CRON_VARIABLE = "MODERATE_OPENMETADATA_DAGSTER_CRON"
DEFAULT_CRONS = {
    POSTGRES_CRON_VARIABLE: DEFAULT_CRON,
    DATALAKE_CRON_VARIABLE: DEFAULT_CRON,
    DAGSTER_CRON_VARIABLE: "30 * * * *",
}


def ingestion_schedule(
    job: JobDefinition,
    cron_variable: str,
    resource_keys: Sequence[str] = ("openmetadata",),
) -> ScheduleDefinition:
    """A schedule ``<job>_schedule`` at the cron of ``cron_variable``.

    A tick skips, with the reason, if that cron is invalid or a resource of
    ``resource_keys`` lacks settings.
    """
    value = EnvVar(cron_variable).get_value()
    setting = parse_cron(cron_variable, value, DEFAULT_CRONS[cron_variable])
    keys = tuple(resource_keys)

    def evaluate(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        if setting.problem:
            return SkipReason(f"{setting.problem}: fix it to run {job.name}")
        resources = [getattr(context.resources, key) for key in keys]
        missing = [name for r in resources for name in r.missing_variables()]
        if missing:
            return SkipReason(f"{job.name} is not configured: set {', '.join(missing)}")
        return RunRequest(tags=FEATURE_TAGS)

    description = (
        f"Runs {job.name} at '{setting.cron}' {TIMEZONE} (set {cron_variable} to "
        "change)."
    )
    if setting.problem:
        description = f"Skips every tick: {setting.problem}."
    return ScheduleDefinition(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=setting.cron,
        execution_timezone=TIMEZONE,
        default_status=default_schedule_status(),
        description=description,
        tags=FEATURE_TAGS,
        execution_fn=evaluate,
        required_resource_keys=set(keys),
    )
