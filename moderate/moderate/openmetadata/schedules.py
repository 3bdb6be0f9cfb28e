"""Schedules of the ingestion jobs (twice a day, UTC, by default)."""

from dagster import (
    DagsterInvalidDefinitionError,
    EnvVar,
    JobDefinition,
    ScheduleDefinition,
)

from moderate.automation import default_schedule_status

DEFAULT_CRON = "0 0,12 * * *"
TIMEZONE = "UTC"
POSTGRES_CRON_VARIABLE = "MODERATE_OPENMETADATA_POSTGRES_CRON"
DATALAKE_CRON_VARIABLE = "MODERATE_OPENMETADATA_DATALAKE_CRON"


def cron_from(variable: str) -> str:
    """The cron expression in ``variable``, else :data:`DEFAULT_CRON`."""
    value = (EnvVar(variable).get_value() or "").strip()
    return value or DEFAULT_CRON


def ingestion_schedule(job: JobDefinition, cron_variable: str) -> ScheduleDefinition:
    """A schedule named ``<job>_schedule`` with its cron from ``cron_variable``.

    Raises:
        ValueError: Naming the variable when its cron expression is invalid.
    """
    cron = cron_from(cron_variable)
    try:
        return ScheduleDefinition(
            name=f"{job.name}_schedule",
            job=job,
            cron_schedule=cron,
            execution_timezone=TIMEZONE,
            default_status=default_schedule_status(),
            description=f"Runs {job.name} at '{cron}' {TIMEZONE} "
            f"(set {cron_variable} to change).",
            tags={"moderate/feature": "openmetadata"},
        )
    except DagsterInvalidDefinitionError as error:
        raise ValueError(f"{cron_variable} is not a valid cron expression") from error
