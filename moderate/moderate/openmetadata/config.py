"""Run configuration of the ingestion jobs (no secrets here)."""

from pathlib import Path
from typing import Literal

from dagster import Config
from pydantic import Field

from moderate.openmetadata.discovery import (
    DEFAULT_DATABASE_EXCLUDES,
    DEFAULT_DATABASE_INCLUDES,
    DEFAULT_LIST_PAGE_SIZE,
    NameFilter,
)
from moderate.openmetadata.k8s import KubernetesWorkflowRunner
from moderate.openmetadata.runners import SubprocessWorkflowRunner, WorkflowRunner
from moderate.openmetadata.versions import DEFAULT_LINE

IMAGE_ENVIRONMENT = Path("/opt/ingestion")
"""Where the ingestion image (and a code image that bundles it) holds it."""
REPOSITORY_ENVIRONMENT = Path(__file__).resolve().parents[3] / "openmetadata-ingestion"
"""The ingestion project of this repository (``uv sync --locked`` builds it)."""
VENV_PYTHON = Path(".venv/bin/python")
RUNNER_SCRIPT = "run_workflow.py"
DEFAULT_TIMEOUT_S = 3600
DEFAULT_IMAGE = "moderate-openmetadata-ingestion:2.0.6.0"
DEFAULT_SECRET_NAME = "dagster-secrets"


def default_environment() -> Path:
    """The image's ingestion environment if present, else the repository's."""
    if (IMAGE_ENVIRONMENT / VENV_PYTHON).exists():
        return IMAGE_ENVIRONMENT
    return REPOSITORY_ENVIRONMENT


class RunnerConfig(Config):
    """Where and how workflow processes run."""

    mode: Literal["subprocess", "kubernetes"] = Field(
        default="subprocess",
        description="'subprocess': the ingestion virtualenv on this machine; "
        "'kubernetes': the ingestion image as a pod.",
    )
    timeout_s: int = Field(
        default=DEFAULT_TIMEOUT_S, gt=0, description="Time limit of one workflow."
    )
    environment_dir: str | None = Field(
        default=None,
        description="Ingestion project folder (holds .venv and run_workflow.py); "
        "default /opt/ingestion if present, else the repository's.",
    )
    python: str | None = Field(
        default=None,
        description="Interpreter of the ingestion environment (default "
        "<environment_dir>/.venv/bin/python).",
    )
    image: str = Field(default=DEFAULT_IMAGE, description="Ingestion image (pods).")
    image_line: str = Field(
        default=DEFAULT_LINE,
        description="major.minor of openmetadata-ingestion in the image (pods).",
    )
    namespace: str | None = Field(
        default=None, description="Pod namespace (default: the run's)."
    )
    service_account: str | None = Field(
        default=None, description="Pod service account (default: the namespace's)."
    )
    secret_name: str = Field(
        default=DEFAULT_SECRET_NAME,
        description="Kubernetes secret with the variables of the deployment.",
    )

    def build(self) -> WorkflowRunner:
        """The runner this configuration describes."""
        if self.mode == "kubernetes":
            folder = IMAGE_ENVIRONMENT
            return KubernetesWorkflowRunner(
                image=self.image,
                python=self.python or str(folder / VENV_PYTHON),
                script=str(folder / RUNNER_SCRIPT),
                timeout_s=self.timeout_s,
                line=self.image_line,
                secret_name=self.secret_name,
                namespace=self.namespace,
                service_account=self.service_account,
            )
        folder = (
            Path(self.environment_dir)
            if self.environment_dir
            else default_environment()
        )
        return SubprocessWorkflowRunner(
            python=Path(self.python) if self.python else folder / VENV_PYTHON,
            script=folder / RUNNER_SCRIPT,
            timeout_s=self.timeout_s,
        )


class PostgresIngestionConfig(Config):
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
    generate_sample_data: bool = Field(
        default=False,
        description="Store sample rows in OpenMetadata (off: they may copy "
        "credentials and internal rows into the catalogue).",
    )
    runner: RunnerConfig = Field(default_factory=RunnerConfig)

    def name_filter(self) -> NameFilter:
        """The allow/deny rules."""
        return NameFilter(
            includes=tuple(self.include_patterns), excludes=tuple(self.exclude_patterns)
        )


class DatalakeIngestionConfig(Config):
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
    runner: RunnerConfig = Field(default_factory=RunnerConfig)

    def name_filter(self) -> NameFilter:
        """The allow/deny rules."""
        return NameFilter(
            includes=tuple(self.include_patterns), excludes=tuple(self.exclude_patterns)
        )
