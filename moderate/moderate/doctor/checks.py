"""Health checks of every shared resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from moderate.resources.settings import EnvBackedResource, HealthReport


def check_resources(resources: Mapping[str, Any]) -> list[HealthReport]:
    """Runs the health check of every resource that has one, in key order."""
    return [
        resource.health_check()
        for _, resource in sorted(resources.items())
        if isinstance(resource, EnvBackedResource)
    ]


def format_reports(reports: Iterable[HealthReport]) -> str:
    """Renders reports as an aligned plain-text table."""
    rows = [("service", "state", "missing variables", "detail")]
    for report in reports:
        if not report.configured:
            state = "not configured"
        elif not report.reachable:
            state = "unreachable"
        elif report.usable is False:
            state = "not usable"
        else:
            state = "ok"
        rows.append(
            (report.service, state, ", ".join(report.missing_variables), report.detail)
        )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return "\n".join(
        "  ".join(
            cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)
        )
        + "  "
        + row[3]
        for row in rows
    )
