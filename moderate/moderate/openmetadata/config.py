"""Run configuration of the ingestion jobs (no secrets here)."""

from pathlib import Path
from typing import Literal

from dagster import Config, EnvVar, Failure
from pydantic import Field

from moderate.openmetadata.ingest import (
    DEFAULT_DATABASE_EXCLUDES,
    DEFAULT_DATABASE_INCLUDES,
    DEFAULT_LIST_PAGE_SIZE,
)
from moderate.openmetadata.runners import (
    KubernetesWorkflowRunner,
    SubprocessWorkflowRunner,
    WorkflowRunner,
)
from moderate.openmetadata.versions import DEFAULT_LINE
from moderate.openmetadata.workflows import DEFAULT_SYSTEM_SCHEMA_EXCLUDES
from moderate.support.images import ImageNotAllowedError, checked_image

IMAGE_ENVIRONMENT = Path("/opt/ingestion")
"""Where the ingestion image (and a code image that bundles it) holds it."""
REPOSITORY_ENVIRONMENT = Path(__file__).resolve().parents[3] / "openmetadata-ingestion"
"""The ingestion project of this repository (``uv sync --locked`` builds it)."""
VENV_PYTHON = Path(".venv/bin/python")
RUNNER_SCRIPT = "run_workflow.py"
DEFAULT_TIMEOUT_S = 3600
DEFAULT_REPOSITORY = "moderate-openmetadata-ingestion"
DEFAULT_IMAGE = f"{DEFAULT_REPOSITORY}:2.0.6.0"
DEFAULT_SECRET_NAME = "dagster-secrets"
IMAGE_VARIABLE = "MODERATE_OPENMETADATA_INGESTION_IMAGE"
IMAGE_ALLOWLIST_VARIABLE = "MODERATE_OPENMETADATA_INGESTION_IMAGE_ALLOWLIST"
IMAGE_LINE_VARIABLE = "MODERATE_OPENMETADATA_INGESTION_IMAGE_LINE"
KUBERNETES_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
"""A DNS-1123 label: what Kubernetes accepts as a namespace or Secret name."""
SERVICE_ACCOUNT_PATTERN = (
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
"""A DNS-1123 subdomain (service account names), at most 253 characters."""


def _variable(name: str) -> str:
    return (EnvVar(name).get_value() or "").strip()


class RunnerConfig(Config):
    """Where and how workflow processes run (the image is a deployment setting)."""

    mode: Literal["subprocess", "kubernetes"] = Field(
        default="subprocess",
        description="'subprocess': the ingestion virtualenv on this machine; "
        "'kubernetes': the deployment's ingestion image as a Kubernetes Job.",
    )
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S, gt=0, description="Time limit of one workflow."
    )
    namespace: str | None = Field(
        default=None,
        pattern=KUBERNETES_NAME_PATTERN,
        description="Pod namespace (default: the run's).",
    )
    service_account: str | None = Field(
        default=None,
        max_length=253,
        pattern=SERVICE_ACCOUNT_PATTERN,
        description="Pod service account (default: the namespace's).",
    )
    secret_name: str = Field(
        default=DEFAULT_SECRET_NAME,
        pattern=KUBERNETES_NAME_PATTERN,
        description="Kubernetes secret with the variables of the deployment.",
    )

    def build(self) -> WorkflowRunner:
        """The runner this configuration describes, with the deployment's settings.

        Only the deployment chooses the interpreter and the (allow-listed) image.

        Raises:
            Failure: If the deployment's ingestion image is not allowed.
        """
        if self.mode == "subprocess":
            bundled = (IMAGE_ENVIRONMENT / VENV_PYTHON).exists()
            environment = IMAGE_ENVIRONMENT if bundled else REPOSITORY_ENVIRONMENT
            return SubprocessWorkflowRunner(
                python=environment / VENV_PYTHON,
                script=environment / RUNNER_SCRIPT,
                timeout_s=self.timeout_s,
            )
        image = _variable(IMAGE_VARIABLE) or DEFAULT_IMAGE
        listed = (
            item.strip() for item in _variable(IMAGE_ALLOWLIST_VARIABLE).split(",")
        )
        allowed = tuple(item for item in listed if item) or (DEFAULT_REPOSITORY,)
        try:
            checked_image(image, allowed, IMAGE_VARIABLE, IMAGE_ALLOWLIST_VARIABLE)
        except ImageNotAllowedError as error:
            raise Failure(description=str(error), metadata={"image": image}) from error
        return KubernetesWorkflowRunner(
            image=image,
            python=str(IMAGE_ENVIRONMENT / VENV_PYTHON),
            script=str(IMAGE_ENVIRONMENT / RUNNER_SCRIPT),
            timeout_s=self.timeout_s,
            line=_variable(IMAGE_LINE_VARIABLE) or DEFAULT_LINE,
            secret_name=self.secret_name,
            namespace=self.namespace,
            service_account=self.service_account,
        )


class PipelinesIngestionConfig(Config):
    """How the Dagster connector's workflow runs."""

    runner: RunnerConfig = Field(default_factory=RunnerConfig)


class PartitionIngestionConfig(PipelinesIngestionConfig):
    """How one partition (a database or a prefix) is ingested."""

    generate_sample_data: bool = Field(
        default=False,
        description="Store sample rows in OpenMetadata (off: they may copy "
        "credentials and internal rows into the catalogue).",
    )
    schema_exclude_patterns: list[str] = Field(
        default=list(DEFAULT_SYSTEM_SCHEMA_EXCLUDES),
        description="Regular expressions (OpenMetadata's filter syntax) of schemas "
        "never catalogued (databases); default PostgreSQL's own schemas.",
    )


class PostgresIngestionConfig(PartitionIngestionConfig):
    """Which databases to ingest, and how."""

    include_patterns: list[str] = Field(
        default=list(DEFAULT_DATABASE_INCLUDES),
        description="Shell-style patterns of databases to ingest.",
    )
    exclude_patterns: list[str] = Field(
        default=list(DEFAULT_DATABASE_EXCLUDES),
        description="Patterns of databases never ingested (win over includes). "
        "Defaults deny templates and the platform's internal databases.",
    )


class DatalakeIngestionConfig(PipelinesIngestionConfig):
    """Which top-level prefixes of the data-lake bucket to ingest, and how."""

    include_patterns: list[str] = Field(
        default=["*"], description="Patterns of prefixes (without '/') to ingest."
    )
    exclude_patterns: list[str] = Field(
        default=[], description="Patterns of prefixes never ingested."
    )
    generate_sample_data: bool = Field(
        default=False, description="Store sample rows in OpenMetadata."
    )
    list_page_size: int = Field(
        default=DEFAULT_LIST_PAGE_SIZE,
        gt=0,
        le=DEFAULT_LIST_PAGE_SIZE,
        description="Keys per listing request.",
    )
