"""Contract behaviour of the Keycloak double, over HTTP and through python-keycloak."""

import time
from typing import Any

import pytest
import requests
from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

from moderate_tests.doubles import (
    KEYCLOAK_ADMIN_PASSWORD,
    KEYCLOAK_ADMIN_USERNAME,
    KEYCLOAK_MAIN_REALM,
    KEYCLOAK_VIEWER_PASSWORD,
    KEYCLOAK_VIEWER_USERNAME,
)
from moderate_tests.doubles.keycloak import KeycloakDouble

TIMEOUT_S = 5
SEEDED_USERS = 2
ADMIN_TOKEN_LIFE_S = 60
PAGE = 100
BULK_USERS = 10_000
BULK_BUDGET_S = 3.0
TOKEN_PATH = "/realms/master/protocol/openid-connect/token"
USERS_PATH = f"/admin/realms/{KEYCLOAK_MAIN_REALM}/users"


def admin_client(
    double: KeycloakDouble,
    username: str = KEYCLOAK_ADMIN_USERNAME,
    password: str = KEYCLOAK_ADMIN_PASSWORD,
) -> KeycloakAdmin:
    connection = KeycloakOpenIDConnection(
        server_url=double.url,
        username=username,
        password=password,
        realm_name=KEYCLOAK_MAIN_REALM,
        user_realm_name="master",
        client_id="admin-cli",
        timeout=TIMEOUT_S,
    )
    return KeycloakAdmin(connection=connection)


def password_grant(
    double: KeycloakDouble,
    password: str = KEYCLOAK_ADMIN_PASSWORD,
    username: str = KEYCLOAK_ADMIN_USERNAME,
) -> requests.Response:
    form = {
        "grant_type": "password",
        "client_id": "admin-cli",
        "username": username,
        "password": password,
    }
    return requests.post(f"{double.url}{TOKEN_PATH}", data=form, timeout=TIMEOUT_S)


def admin_get(
    double: KeycloakDouble, path: str, token: str | None = None, **params: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{double.url}{path}", params=params, headers=headers, timeout=TIMEOUT_S
    )


def grant_types(double: KeycloakDouble) -> list[str]:
    return [request.form()["grant_type"] for request in double.requests_to(TOKEN_PATH)]


def test_python_keycloak_counts_and_pages(keycloak: KeycloakDouble) -> None:
    keycloak.add_users(250)
    client = admin_client(keycloak)
    assert client.users_count() == 250 + SEEDED_USERS
    names: list[str] = []
    first = 0
    while True:
        page = client.get_users(
            {"first": first, "max": PAGE, "briefRepresentation": True}
        )
        names.extend(user["username"] for user in page)
        if len(page) < PAGE:
            break
        first += PAGE
    assert names == sorted(names)
    assert len(names) == 250 + SEEDED_USERS
    assert "attributes" not in page[0]


def test_token_grants(keycloak: KeycloakDouble) -> None:
    assert password_grant(keycloak, password="wrong").status_code == 401
    assert password_grant(keycloak, password="wrong").json()["error"] == "invalid_grant"
    token = password_grant(keycloak).json()
    assert token["expires_in"] == ADMIN_TOKEN_LIFE_S and token["token_type"] == "Bearer"
    form = {
        "grant_type": "refresh_token",
        "client_id": "admin-cli",
        "refresh_token": token["refresh_token"],
    }
    refreshed = requests.post(
        f"{keycloak.url}{TOKEN_PATH}", data=form, timeout=TIMEOUT_S
    )
    assert refreshed.ok and refreshed.json()["access_token"] != token["access_token"]
    keycloak.expire_all_tokens()
    form["refresh_token"] = refreshed.json()["refresh_token"]
    expired = requests.post(f"{keycloak.url}{TOKEN_PATH}", data=form, timeout=TIMEOUT_S)
    assert expired.status_code == 400
    assert expired.json() == {
        "error": "invalid_grant",
        "error_description": "Token is not active",
    }


def test_admin_route_errors(keycloak: KeycloakDouble) -> None:
    assert admin_get(keycloak, f"{USERS_PATH}/count").status_code == 401
    token = password_grant(keycloak).json()["access_token"]
    assert admin_get(keycloak, f"{USERS_PATH}/count", token).json() == SEEDED_USERS
    missing = admin_get(keycloak, "/admin/realms/nowhere/users/count", token)
    assert (missing.status_code, missing.json()) == (404, {"error": "Realm not found."})
    viewer = password_grant(
        keycloak, KEYCLOAK_VIEWER_PASSWORD, KEYCLOAK_VIEWER_USERNAME
    ).json()["access_token"]
    assert admin_get(keycloak, f"{USERS_PATH}/count", viewer).status_code == 403
    keycloak.advance_clock(ADMIN_TOKEN_LIFE_S + 1)
    assert admin_get(keycloak, f"{USERS_PATH}/count", token).status_code == 401


def test_representations(keycloak: KeycloakDouble) -> None:
    keycloak.add_user(
        "Zed",
        email="zed@example.org",
        attributes={"dept": ["energy"]},
        created_timestamp=1_700_000_000_123,
    )
    token = password_grant(keycloak).json()["access_token"]
    full = admin_get(keycloak, USERS_PATH, token).json()
    assert [user["username"] for user in full] == ["alice", "workflows", "zed"]
    zed = full[-1]
    assert zed["createdTimestamp"] == 1_700_000_000_123
    assert zed["attributes"] == {"dept": ["energy"]}
    assert zed["enabled"] is True and zed["totp"] is False and "access" in zed
    assert "attributes" not in full[0] and "firstName" not in full[1]
    brief = admin_get(keycloak, USERS_PATH, token, briefRepresentation="true").json()
    assert "attributes" not in brief[-1] and "access" not in brief[-1]
    assert (
        admin_get(keycloak, f"{USERS_PATH}/{zed['id']}", token).json()["id"]
        == zed["id"]
    )


def test_default_max_and_filters(keycloak: KeycloakDouble) -> None:
    keycloak.add_users(150, prefix="member")
    keycloak.add_user("robot", service_account=True)
    token = password_grant(keycloak).json()["access_token"]
    assert len(admin_get(keycloak, USERS_PATH, token).json()) == PAGE
    count = admin_get(keycloak, f"{USERS_PATH}/count", token, search="member01").json()
    assert count == 10
    assert (
        admin_get(keycloak, f"{USERS_PATH}/count", token).json() == 150 + SEEDED_USERS
    )
    exact = admin_get(keycloak, USERS_PATH, token, username="member001", exact="true")
    assert [user["username"] for user in exact.json()] == ["member001"]


def test_python_keycloak_recovers_from_expiry(keycloak: KeycloakDouble) -> None:
    client = admin_client(keycloak)
    assert client.users_count() == SEEDED_USERS
    keycloak.advance_clock(ADMIN_TOKEN_LIFE_S + 1)
    assert client.users_count() == SEEDED_USERS
    assert grant_types(keycloak) == ["password", "refresh_token"]
    keycloak.expire_all_tokens()
    assert client.users_count() == SEEDED_USERS
    assert grant_types(keycloak)[-2:] == ["refresh_token", "password"]
    keycloak.end_all_sessions()
    assert client.users_count() == SEEDED_USERS


def test_live_realm_and_removal(keycloak: KeycloakDouble) -> None:
    keycloak.add_users(10, prefix="b")
    client = admin_client(keycloak)
    first_page = client.get_users({"first": 0, "max": 5, "briefRepresentation": True})
    keycloak.add_user("aaron")
    keycloak.remove_user("b9")
    second_page = client.get_users({"first": 5, "max": 5, "briefRepresentation": True})
    assert first_page[-1]["username"] == second_page[0]["username"]
    assert "b9" not in [user["username"] for user in client.get_users({})]


def test_bulk_users_are_fast(keycloak: KeycloakDouble) -> None:
    started = time.monotonic()
    names = keycloak.add_users(BULK_USERS)
    assert time.monotonic() - started < BULK_BUDGET_S
    assert names[0] == "user0000" and keycloak.user_count() == BULK_USERS + SEEDED_USERS
    token = password_grant(keycloak).json()["access_token"]
    page = admin_get(keycloak, USERS_PATH, token, first=9_990, max=PAGE).json()
    assert [user["username"] for user in page][-1] == "workflows"


def test_fault_injection(keycloak: KeycloakDouble) -> None:
    keycloak.fail_next(USERS_PATH, 503)
    token = password_grant(keycloak).json()["access_token"]
    assert admin_get(keycloak, f"{USERS_PATH}/count", token).status_code == 503
    assert admin_get(keycloak, f"{USERS_PATH}/count", token).ok
    keycloak.delay_next(USERS_PATH, 1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{keycloak.url}{USERS_PATH}", timeout=0.2)
