"""Cron expressions of ``MODERATE_*_CRON`` variables, never raising at load time.

An invalid value gives the default plus a one-line problem, so a schedule can skip
with the reason and the doctor list it while the code location loads.
"""

import os
from dataclasses import dataclass

from dagster import DagsterInvalidDefinitionError, ScheduleDefinition

CRON_VARIABLE_PREFIX = "MODERATE_"
CRON_VARIABLE_SUFFIX = "_CRON"
PROBE_NAME = "cron_probe"


@dataclass(frozen=True)
class CronSetting:
    """The cron expression a schedule uses, and why the variable was refused."""

    variable: str
    cron: str
    problem: str | None = None


def parse_cron(variable: str, value: str | None, default: str) -> CronSetting:
    """``value`` of ``variable``, or ``default`` if empty or refused by Dagster."""
    value = (value or "").strip()
    if not value:
        return CronSetting(variable, default)
    try:
        ScheduleDefinition(name=PROBE_NAME, cron_schedule=value, job_name=PROBE_NAME)
    except DagsterInvalidDefinitionError:
        problem = f"{variable}={value!r} is not a valid cron expression"
        return CronSetting(variable, default, problem)
    return CronSetting(variable, value)


def invalid_cron_variables() -> list[str]:
    """One problem line per set ``MODERATE_*_CRON`` variable."""
    settings = [
        parse_cron(name, value, default="")
        for name, value in sorted(os.environ.items())
        if name.startswith(CRON_VARIABLE_PREFIX) and name.endswith(CRON_VARIABLE_SUFFIX)
    ]
    return [setting.problem for setting in settings if setting.problem]
