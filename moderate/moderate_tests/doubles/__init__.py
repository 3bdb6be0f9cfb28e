"""HTTP test doubles of the external services: real servers on 127.0.0.1.

``PlatformApiDouble`` stands in for the Platform API gateway and
``KeycloakDouble`` for Keycloak's token and admin user endpoints. The project
conftest registers the ``platform_api`` and ``keycloak`` fixtures; the constants
below are the accounts those fixtures seed.
"""

from moderate_tests.doubles.http_server import HttpDouble, HttpRequest, HttpResponse
from moderate_tests.doubles.keycloak import KeycloakDouble
from moderate_tests.doubles.platform_api import AUTO, PlatformApiDouble, TrustOutcome

API_ADMIN_USERNAME = "workflows"
API_ADMIN_PASSWORD = "workflows-password"
API_BASIC_USERNAME = "alice"
API_BASIC_PASSWORD = "alice-password"
KEYCLOAK_ADMIN_USERNAME = "admin"
KEYCLOAK_ADMIN_PASSWORD = "admin-password"
KEYCLOAK_VIEWER_USERNAME = "viewer"
KEYCLOAK_VIEWER_PASSWORD = "viewer-password"
KEYCLOAK_MAIN_REALM = "moderate"

__all__ = [
    "API_ADMIN_PASSWORD",
    "API_ADMIN_USERNAME",
    "API_BASIC_PASSWORD",
    "API_BASIC_USERNAME",
    "AUTO",
    "KEYCLOAK_ADMIN_PASSWORD",
    "KEYCLOAK_ADMIN_USERNAME",
    "KEYCLOAK_MAIN_REALM",
    "KEYCLOAK_VIEWER_PASSWORD",
    "KEYCLOAK_VIEWER_USERNAME",
    "HttpDouble",
    "HttpRequest",
    "HttpResponse",
    "KeycloakDouble",
    "PlatformApiDouble",
    "TrustOutcome",
]
