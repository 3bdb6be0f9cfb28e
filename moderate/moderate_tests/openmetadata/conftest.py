"""Fixtures of the openmetadata tests: the ingestion environment and the OM double."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from moderate.openmetadata.config import (
    REPOSITORY_ENVIRONMENT,
    RUNNER_SCRIPT,
    VENV_PYTHON,
)
from moderate_tests.openmetadata.om_double import (
    OpenMetadataDouble,
    RunningDouble,
    serve,
)


@pytest.fixture(scope="session")
def ingestion_python() -> Path:
    """Interpreter of the ingestion environment (.ci/setup.d/30-openmetadata.sh)."""
    python = REPOSITORY_ENVIRONMENT / VENV_PYTHON
    if not python.exists():
        pytest.fail(
            f"{python} is missing: run .ci/setup.d/30-openmetadata.sh "
            "(uv sync --locked in openmetadata-ingestion/) first"
        )
    return python


@pytest.fixture(scope="session")
def runner_script() -> Path:
    """The runner entry point of the ingestion environment."""
    return REPOSITORY_ENVIRONMENT / RUNNER_SCRIPT


@pytest.fixture
def om_server() -> Iterator[RunningDouble]:
    """An OpenMetadata double on a loopback port."""
    with serve(OpenMetadataDouble()) as running:
        yield running
