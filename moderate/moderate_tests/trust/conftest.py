"""Fixtures of the trust tests: resources on the HTTP doubles and real PostgreSQL."""

from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, instance_for_test

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.state import StateStore, StateStoreResource
from moderate_tests.doubles import (
    API_ADMIN_PASSWORD,
    API_ADMIN_USERNAME,
    KEYCLOAK_ADMIN_PASSWORD,
    KEYCLOAK_ADMIN_USERNAME,
    KEYCLOAK_MAIN_REALM,
    KeycloakDouble,
    PlatformApiDouble,
)
from moderate_tests.support.postgres import postgres_resource
from moderate_tests.support.secrets import resource_with_secrets
from moderate_tests.trust.harness import TrustHarness


def platform_api_resource(double: PlatformApiDouble) -> PlatformApiResource:
    """The pipelines' admin account on the double, with quick retries."""
    return resource_with_secrets(
        PlatformApiResource,
        {"password": API_ADMIN_PASSWORD},
        base_url=double.url,
        username=API_ADMIN_USERNAME,
        max_attempts=2,
        retry_base_delay_s=0.01,
        read_timeout_s=10.0,
    )


def keycloak_resource(double: KeycloakDouble) -> KeycloakResource:
    """The master-realm admin on the double."""
    return resource_with_secrets(
        KeycloakResource,
        {"admin_password": KEYCLOAK_ADMIN_PASSWORD},
        server_url=double.url,
        admin_username=KEYCLOAK_ADMIN_USERNAME,
        main_realm_name=KEYCLOAK_MAIN_REALM,
    )


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """A temporary persistent Dagster instance for ticks and in-process runs."""
    with instance_for_test() as temporary:
        yield temporary


@pytest.fixture
def harness(
    keycloak: KeycloakDouble,
    platform_api: PlatformApiDouble,
    postgres_database: str,
    instance: DagsterInstance,
) -> Iterator[TrustHarness]:
    """Sensors, jobs and resources wired to the doubles and a fresh state DB."""

    def build() -> tuple[KeycloakResource, PlatformApiResource, StateStoreResource]:
        return (
            keycloak_resource(keycloak),
            platform_api_resource(platform_api),
            StateStoreResource(
                postgres=postgres_resource(), database=postgres_database
            ),
        )

    keycloak_res, api_res, state_res = build()
    harness = TrustHarness(
        keycloak_double=keycloak,
        api_double=platform_api,
        keycloak=keycloak_res,
        platform_api=api_res,
        state_store=state_res,
        instance=instance,
        rebuild=build,
    )
    yield harness
    harness.close()


@pytest.fixture
def store(harness: TrustHarness) -> StateStore:
    """The harness's state store."""
    return harness.store
