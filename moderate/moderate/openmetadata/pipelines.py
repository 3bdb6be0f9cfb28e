"""The code location's own jobs and assets as OpenMetadata pipelines.

OpenMetadata's Dagster connector reads this deployment's Dagster GraphQL API
(``MODERATE_OPENMETADATA_DAGSTER_URL``) and catalogues every job as a pipeline of
the service ``platform-dagster``; the lineage sensor then draws edges from these
pipelines to the tables their runs wrote.
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetMaterialization,
    EnvVar,
    Failure,
    OpExecutionContext,
    Output,
    job,
    op,
)

from moderate.openmetadata.assets import CATALOG_KEY, FEATURE_TAGS
from moderate.openmetadata.config import PipelinesIngestionConfig
from moderate.openmetadata.ingest import (
    check_server_line,
    require_configured,
    run_workflow,
)
from moderate.openmetadata.naming import DAGSTER_SERVICE_NAME
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    TOKEN_VARIABLE,
    DagsterSource,
    ServerSettings,
    dagster_pipelines_request,
)
from moderate.resources import OpenMetadataResource

DAGSTER_URL_VARIABLE = "MODERATE_OPENMETADATA_DAGSTER_URL"


def dagster_url() -> str:
    """The Dagster webserver URL of this deployment.

    Raises:
        Failure: Naming the variable when it is unset.
    """
    url = (EnvVar(DAGSTER_URL_VARIABLE).get_value() or "").strip()
    if not url:
        raise Failure(
            description=f"Dagster pipelines ingestion is not configured: set "
            f"{DAGSTER_URL_VARIABLE}",
            metadata={"missing_variables": [DAGSTER_URL_VARIABLE]},
        )
    return url


@op(tags=FEATURE_TAGS)
def ingest_dagster_pipelines(
    context: OpExecutionContext,
    config: PipelinesIngestionConfig,
    openmetadata: OpenMetadataResource,
) -> Iterator[AssetMaterialization | Output[str]]:
    """Runs the Dagster connector against this deployment's webserver."""
    require_configured(openmetadata)
    url = dagster_url()
    runner = config.runner.build()
    _, line = check_server_line(openmetadata, runner)
    request = dagster_pipelines_request(
        DagsterSource(host=url),
        DAGSTER_SERVICE_NAME,
        ServerSettings(host_port=openmetadata.host_port),
        line_keys(line),
    )
    outcome = run_workflow(
        context,
        runner,
        request,
        {TOKEN_VARIABLE: openmetadata.required_setting("token")},
    )
    metadata: dict[str, Any] = {"source": "dagster", "services": [DAGSTER_SERVICE_NAME]}
    yield AssetMaterialization(
        asset_key=CATALOG_KEY, description="dagster pipelines", metadata=metadata
    )
    yield Output(outcome.status, metadata=metadata)


@job(
    name="dagster_pipelines_ingestion_job",
    description="Catalogues this code location's jobs and assets in OpenMetadata "
    "as pipelines, through OpenMetadata's Dagster connector.",
    tags={**FEATURE_TAGS, "moderate/source": "dagster"},
)
def dagster_pipelines_ingestion_job() -> None:
    """One step: the Dagster connector's metadata workflow."""
    ingest_dagster_pipelines()
