"""Health checks of every shared resource."""

from collections.abc import Iterable, Mapping
from typing import Any

from moderate.resources.settings import EnvBackedResource, HealthReport
from moderate.state import StateStoreResource
from moderate.state.resource import UNAVAILABLE
from moderate.support.cron import invalid_cron_variables


def schedules_report() -> HealthReport:
    """Whether every set ``MODERATE_*_CRON`` variable (else ticks skip) is valid."""
    problems = invalid_cron_variables()
    return HealthReport(
        "schedules",
        detail="; ".join(problems)
        or "every MODERATE_*_CRON variable that is set is valid",
        usable=not problems,
    )


def failing(report: HealthReport) -> bool:
    """Whether a configured service or setting was tried and found wanting."""
    return report.configured and (report.reachable is False or report.usable is False)


def store_report(resource: StateStoreResource) -> HealthReport:
    """Which state store the pipelines use, where and why (nothing is opened)."""
    description = resource.describe()
    return HealthReport(
        "state store",
        configured=description.backend != UNAVAILABLE,
        detail=description.line(),
    )


def check_resources(resources: Mapping[str, Any]) -> list[HealthReport]:
    """Every resource's health check in key order, then the store and schedules."""
    ordered = [resource for _, resource in sorted(resources.items())]
    return [
        *(r.health_check() for r in ordered if isinstance(r, EnvBackedResource)),
        *(store_report(r) for r in ordered if isinstance(r, StateStoreResource)),
        schedules_report(),
    ]


def format_reports(reports: Iterable[HealthReport]) -> str:
    """Renders reports as an aligned plain-text table."""
    rows = [("service", "state", "missing variables", "detail")]
    for report in reports:
        if not report.configured:
            state = "not configured"
        elif report.usable is False:
            state = "not usable"
        elif report.reachable is None:
            state = "in use"
        elif not report.reachable:
            state = "unreachable"
        else:
            state = "ok"
        rows.append(
            (report.service, state, ", ".join(report.missing_variables), report.detail)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join([*map(str.ljust, row[:3], widths), row[3]]) for row in rows
    )
