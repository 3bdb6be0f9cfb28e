"""``doctor_job``: reports which services are configured and reachable."""

from dataclasses import asdict

from dagster import (
    Definitions,
    MetadataValue,
    OpExecutionContext,
    Output,
    job,
    op,
)

from moderate.doctor.checks import format_reports, schedules_report, store_report
from moderate.resources import (
    HealthReport,
    KeycloakResource,
    OpenMetadataResource,
    PlatformApiResource,
    PostgresResource,
    RabbitMQResource,
    S3Resource,
)
from moderate.state import StateStoreResource


@op(description="Checks every shared resource: missing variables and reachability.")
def check_services(
    context: OpExecutionContext,
    keycloak: KeycloakResource,
    postgres: PostgresResource,
    openmetadata: OpenMetadataResource,
    s3: S3Resource,
    platform_api: PlatformApiResource,
    rabbitmq: RabbitMQResource,
    state_store: StateStoreResource,
) -> Output[list[dict[str, object]]]:
    """Runs every health check and reports them as metadata."""
    reports: list[HealthReport] = [
        resource.health_check()
        for resource in (keycloak, postgres, openmetadata, s3, platform_api, rabbitmq)
    ]
    reports.append(store_report(state_store))
    reports.append(schedules_report())
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
