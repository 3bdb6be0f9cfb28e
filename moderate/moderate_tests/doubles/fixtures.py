"""Pytest fixtures serving the HTTP doubles, one fresh server per test.

The project conftest registers them for every test.
"""

from collections.abc import Iterator

import pytest

from moderate_tests.doubles import (
    API_ADMIN_PASSWORD,
    API_ADMIN_USERNAME,
    API_BASIC_PASSWORD,
    API_BASIC_USERNAME,
    KEYCLOAK_ADMIN_PASSWORD,
    KEYCLOAK_ADMIN_USERNAME,
    KEYCLOAK_MAIN_REALM,
    KEYCLOAK_VIEWER_PASSWORD,
    KEYCLOAK_VIEWER_USERNAME,
)
from moderate_tests.doubles.keycloak import KeycloakDouble
from moderate_tests.doubles.platform_api import PlatformApiDouble


@pytest.fixture
def platform_api() -> Iterator[PlatformApiDouble]:
    """A started Platform API double with two accounts.

    ``workflows`` / ``workflows-password`` holds the admin role and
    ``alice`` / ``alice-password`` basic access.
    """
    double = PlatformApiDouble()
    double.add_user(API_ADMIN_USERNAME, API_ADMIN_PASSWORD, admin=True)
    double.add_user(API_BASIC_USERNAME, API_BASIC_PASSWORD)
    with double:
        yield double


@pytest.fixture
def keycloak() -> Iterator[KeycloakDouble]:
    """A started Keycloak double.

    Master realm: administrator ``admin`` / ``admin-password`` and
    ``viewer`` / ``viewer-password`` without admin rights. Realm ``moderate``:
    users ``workflows`` and ``alice`` with the Platform API passwords.
    """
    double = KeycloakDouble(
        admin_username=KEYCLOAK_ADMIN_USERNAME,
        admin_password=KEYCLOAK_ADMIN_PASSWORD,
        main_realm=KEYCLOAK_MAIN_REALM,
    )
    double.add_master_user(
        KEYCLOAK_VIEWER_USERNAME, KEYCLOAK_VIEWER_PASSWORD, admin=False
    )
    double.add_user(
        API_ADMIN_USERNAME,
        password=API_ADMIN_PASSWORD,
        email="workflows@moderate.example",
        email_verified=True,
    )
    double.add_user(
        API_BASIC_USERNAME,
        password=API_BASIC_PASSWORD,
        email="alice@moderate.example",
        first_name="Alice",
        last_name="Example",
    )
    with double:
        yield double
