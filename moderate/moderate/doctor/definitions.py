"""``doctor_job``: reports which services are configured and reachable."""

from dataclasses import asdict

from dagster import Definitions, MetadataValue, OpExecutionContext, Output, job, op

from moderate.doctor.checks import check_resources, format_reports
from moderate.resources import build_resources

SHARED_RESOURCE_KEYS = frozenset(build_resources())


@op(
    description="Checks every shared resource: missing variables and reachability.",
    required_resource_keys=set(SHARED_RESOURCE_KEYS),
)
def check_services(context: OpExecutionContext) -> Output[list[dict[str, object]]]:
    """Runs every health check and reports them as metadata."""
    reports = check_resources(
        {key: getattr(context.resources, key) for key in SHARED_RESOURCE_KEYS}
    )
    table = format_reports(reports)
    context.log.info("Service health:\n%s", table)
    missing = sorted({name for report in reports for name in report.missing_variables})
    return Output(
        [asdict(report) for report in reports],
        metadata={
            "report": MetadataValue.md(f"```\n{table}\n```"),
            "healthy_services": sum(report.healthy for report in reports),
            "missing_variables": ", ".join(missing) or "none",
        },
    )


@job(
    description="Reports which services are configured and reachable; never fails "
    "because a service is down.",
    tags={"moderate/feature": "doctor"},
)
def doctor_job() -> None:
    """Runs the service health checks."""
    check_services()


defs = Definitions(jobs=[doctor_job])
