import pytest
from keycloak.exceptions import KeycloakAuthenticationError

from moderate.resources import KeycloakResource
from moderate_tests.doubles import (
    KEYCLOAK_ADMIN_PASSWORD,
    KEYCLOAK_ADMIN_USERNAME,
    KEYCLOAK_MAIN_REALM,
)
from moderate_tests.support.secrets import resource_with_secrets

SEEDED_USERS = 2


def _resource(
    double, admin_password: str = KEYCLOAK_ADMIN_PASSWORD, **overrides
) -> KeycloakResource:
    settings = {
        "server_url": double.url,
        "admin_username": KEYCLOAK_ADMIN_USERNAME,
        "main_realm_name": KEYCLOAK_MAIN_REALM,
        **overrides,
    }
    return resource_with_secrets(
        KeycloakResource, {"admin_password": admin_password}, **settings
    )


def test_count_and_page_through_users_in_username_order(keycloak):
    keycloak.add_users(250)
    resource = _resource(keycloak)
    assert resource.count_users() == 250 + SEEDED_USERS
    pages = list(resource.iter_user_pages(page_size=100))
    assert [len(page) for page in pages] == [100, 100, 52]
    names = [user["username"] for page in pages for user in page]
    assert names == sorted(names)
    assert len(set(names)) == 252
    listed = [r for r in keycloak.requests if r.path.endswith("/users")]
    assert [r.query["first"] for r in listed] == [["0"], ["100"], ["200"]]


def test_realm_defaults_to_moderate(monkeypatch, keycloak):
    resource = _resource(keycloak, main_realm_name=None)
    assert resource.realm == "moderate"
    monkeypatch.setenv("KEYCLOAK_MAIN_REALM_NAME", "other")
    assert resource.realm == "other"


def test_expired_admin_token_is_renewed(keycloak):
    resource = _resource(keycloak)
    assert resource.count_users() == SEEDED_USERS
    keycloak.expire_all_tokens()
    keycloak.add_user("zoe")
    assert resource.count_users() == SEEDED_USERS + 1


def test_wrong_admin_password_is_an_authentication_error(keycloak):
    resource = _resource(keycloak, admin_password="nope")
    with pytest.raises(KeycloakAuthenticationError):
        resource.count_users()
    report = resource.health_check()
    assert report.reachable is False
    assert "nope" not in report.detail
