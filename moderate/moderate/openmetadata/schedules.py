"""Schedules of the ingestion jobs (twice a day, UTC, by default).

A schedule whose service is not configured skips each tick saying which
variables are missing; one whose cron variable is invalid skips each tick naming
the variable (and :func:`cron_problems` lists it for the doctor) while the rest
of the code location loads.
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
from moderate.resources.settings import EnvBackedResource
from moderate.support.cron import CronSetting, parse_cron

DEFAULT_CRON = "0 0,12 * * *"
DEFAULT_DAGSTER_CRON = "30 * * * *"
TIMEZONE = "UTC"
POSTGRES_CRON_VARIABLE = "MODERATE_OPENMETADATA_POSTGRES_CRON"
DATALAKE_CRON_VARIABLE = "MODERATE_OPENMETADATA_DATALAKE_CRON"
DAGSTER_CRON_VARIABLE = "MODERATE_OPENMETADATA_DAGSTER_CRON"
CRON_VARIABLES = {
    POSTGRES_CRON_VARIABLE: DEFAULT_CRON,
    DATALAKE_CRON_VARIABLE: DEFAULT_CRON,
    DAGSTER_CRON_VARIABLE: DEFAULT_DAGSTER_CRON,
}
FEATURE_TAGS = {"moderate/feature": "openmetadata"}


def cron_setting(variable: str, default: str = DEFAULT_CRON) -> CronSetting:
    """The cron expression in ``variable`` (``default`` when unset or invalid)."""
    return parse_cron(variable, EnvVar(variable).get_value(), default)


def cron_problems() -> list[str]:
    """One line per invalid cron variable of this feature (for the doctor)."""
    settings = (cron_setting(name, default) for name, default in CRON_VARIABLES.items())
    return [setting.problem for setting in settings if setting.problem]


def ingestion_schedule(
    job: JobDefinition,
    cron_variable: str,
    resource_keys: Sequence[str] = ("openmetadata",),
    default_cron: str = DEFAULT_CRON,
) -> ScheduleDefinition:
    """A schedule named ``<job>_schedule`` with its cron from ``cron_variable``.

    Each tick skips, with the reason, when the cron variable is invalid or a
    resource in ``resource_keys`` lacks settings; otherwise it requests a run.
    """
    setting = cron_setting(cron_variable, default_cron)
    keys = tuple(resource_keys)

    def evaluate(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        if setting.problem:
            return SkipReason(f"{setting.problem}: fix it to run {job.name}")
        resources: list[EnvBackedResource] = [
            getattr(context.resources, key) for key in keys
        ]
        missing = [
            name for resource in resources for name in resource.missing_variables()
        ]
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
