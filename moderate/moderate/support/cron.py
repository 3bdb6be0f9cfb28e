"""Cron expressions read from ``MODERATE_*_CRON`` variables, validated once.

An invalid value never raises at load time: the caller gets the default
expression plus a one-line problem, so a schedule can skip with the reason and
the doctor can list it while the rest of the code location loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    """The cron expression ``value`` of ``variable``, or ``default`` if bad or empty.

    Dagster itself judges the expression, by defining a schedule with it.
    """
    value = (value or "").strip()
    if not value:
        return CronSetting(variable, default)
    try:
        ScheduleDefinition(name=PROBE_NAME, cron_schedule=value, job_name=PROBE_NAME)
    except DagsterInvalidDefinitionError:
        problem = f"{variable}={value!r} is not a valid cron expression"
        return CronSetting(variable, default, problem)
    return CronSetting(variable, value)


def invalid_cron_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One problem line per set ``MODERATE_*_CRON`` variable (of ``environ``)."""
    values = os.environ if environ is None else environ
    settings = [
        parse_cron(name, value, default="")
        for name, value in sorted(values.items())
        if name.startswith(CRON_VARIABLE_PREFIX) and name.endswith(CRON_VARIABLE_SUFFIX)
    ]
    return [setting.problem for setting in settings if setting.problem]
