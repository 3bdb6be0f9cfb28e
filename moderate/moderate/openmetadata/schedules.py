"""Schedules of the ingestion jobs (twice a day, UTC, by default).

A schedule whose service is not configured skips each tick saying which
variables are missing; one whose cron variable is invalid skips each tick naming
the variable (the doctor lists it too) while the rest of the code location loads.
"""

from collections.abc import Sequence

from dagster import (
    EnvVar,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
)

from moderate.automation import default_schedule_status
from moderate.openmetadata.assets import FEATURE_TAGS
from moderate.resources.settings import EnvBackedResource
from moderate.support.cron import parse_cron

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
    """A schedule named ``<job>_schedule`` with its cron from ``cron_variable``.

    Each tick skips, with the reason, when the cron variable is invalid or a
    resource in ``resource_keys`` lacks settings; otherwise it requests a run.
    """
    value = EnvVar(cron_variable).get_value()
    setting = parse_cron(cron_variable, value, DEFAULT_CRONS[cron_variable])
    keys = tuple(resource_keys)

    def evaluate(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        if setting.problem:
            return SkipReason(f"{setting.problem}: fix it to run {job.name}")
        resources: list[EnvBackedResource] = [
            getattr(context.resources, key) for key in keys
        ]
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
