"""Fixtures of the datasets tests: source repositories and real services."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from moderate.datasets.git import ALLOW_LOCAL_VARIABLE
from moderate.resources import PlatformApiResource, PostgresResource, S3Resource
from moderate.state import StateStoreResource
from moderate_tests.datasets.repos import (
    SourceRepo,
    building_stock_repo,
    genome_project_repo,
)
from moderate_tests.doubles import API_ADMIN_PASSWORD, API_ADMIN_USERNAME
from moderate_tests.doubles.platform_api import PlatformApiDouble
from moderate_tests.support.secrets import resource_with_secrets


@pytest.fixture
def genome_repo(tmp_path: Path) -> SourceRepo:
    return genome_project_repo(tmp_path / "bdg2")


@pytest.fixture
def stock_repo(tmp_path: Path) -> SourceRepo:
    return building_stock_repo(tmp_path / "building-stock")


@pytest.fixture
def state_store_resource(
    postgres: PostgresResource, postgres_database: str
) -> Iterator[StateStoreResource]:
    resource = StateStoreResource(postgres=postgres, database=postgres_database)
    yield resource
    resource.teardown_after_execution(None)


@pytest.fixture
def api_resource(
    platform_api: PlatformApiDouble,
) -> Iterator[PlatformApiResource]:
    resource = resource_with_secrets(
        PlatformApiResource,
        {"password": API_ADMIN_PASSWORD},
        base_url=platform_api.url,
        username=API_ADMIN_USERNAME,
        retry_base_delay_s=0.01,
    )
    yield resource
    resource.teardown_after_execution(None)


@pytest.fixture
def resources(
    s3: S3Resource,
    state_store_resource: StateStoreResource,
    api_resource: PlatformApiResource,
) -> dict[str, object]:
    return {"s3": s3, "state_store": state_store_resource, "platform_api": api_resource}


@pytest.fixture(autouse=True)
def allow_local_repositories(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test sources are local bare repositories: the deployment setting
    that allows them (never settable from run config) is on for these tests."""
    monkeypatch.setenv(ALLOW_LOCAL_VARIABLE, "true")
