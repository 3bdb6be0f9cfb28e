"""A faithful HTTP double of the Keycloak token and admin user endpoints.

It serves what an admin client needs to read a realm's users: the OpenID
Connect token endpoint (password and refresh-token grants, ``admin-cli``) and
the admin routes ``users/count``, ``users`` and ``users/{id}``, with Keycloak's
ordering (username ascending), paging, representations and error answers.
"""

from __future__ import annotations

import bisect
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from moderate_tests.doubles.http_server import (
    EPHEMERAL_PORT,
    FORM_CONTENT_TYPE,
    LOOPBACK_HOST,
    HttpDouble,
    HttpError,
    HttpRequest,
    HttpResponse,
    Router,
    json_response,
)

MASTER_REALM = "master"
DEFAULT_MAIN_REALM = "moderate"
ADMIN_CLI = "admin-cli"
DEFAULT_ADMIN_TOKEN_LIFESPAN_S = 60
DEFAULT_REALM_TOKEN_LIFESPAN_S = 300
DEFAULT_REFRESH_TOKEN_LIFESPAN_S = 1800
DEFAULT_MAX_RESULTS = 100
MILLISECONDS = 1000
TOKEN_BYTES = 32

UNAUTHORIZED = {"error": "HTTP 401 Unauthorized"}
FORBIDDEN = {"error": "HTTP 403 Forbidden"}
REALM_NOT_FOUND = {"error": "Realm not found."}
USER_NOT_FOUND = {"error": "User not found"}
INVALID_CREDENTIALS = {
    "error": "invalid_grant",
    "error_description": "Invalid user credentials",
}
TOKEN_NOT_ACTIVE = {
    "error": "invalid_grant",
    "error_description": "Token is not active",
}
SESSION_NOT_ACTIVE = {
    "error": "invalid_grant",
    "error_description": "Session not active",
}
INVALID_REFRESH_TOKEN = {
    "error": "invalid_grant",
    "error_description": "Invalid refresh token",
}
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or Invalid client credentials",
}
ACCOUNT_DISABLED = {"error": "invalid_grant", "error_description": "Account disabled"}
UNSUPPORTED_GRANT = {
    "error": "unsupported_grant_type",
    "error_description": "Unsupported grant_type",
}
ADMIN_ACCESS = {
    "manageGroupMembership": True,
    "view": True,
    "mapRoles": True,
    "impersonate": True,
    "manage": True,
}
_TEXT_FILTERS = {
    "username": "username",
    "email": "email",
    "firstName": "first_name",
    "lastName": "last_name",
}
_BOOLEAN_FILTERS = {"enabled": "enabled", "emailVerified": "email_verified"}


@dataclass
class _User:
    id: str
    username: str
    created_timestamp: int
    password: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    enabled: bool = True
    email_verified: bool = False
    attributes: dict[str, list[str]] = field(default_factory=dict)
    required_actions: list[str] = field(default_factory=list)
    service_account: bool = False
    admin: bool = False


@dataclass
class _Grant:
    realm: str
    username: str
    client_id: str
    expires_at: float


class _Realm:
    """Users of one realm, kept sorted by username."""

    def __init__(self, name: str, token_lifespan_s: int) -> None:
        self.name = name
        self.token_lifespan_s = token_lifespan_s
        self.users: dict[str, _User] = {}
        self.order: list[str] = []

    def insert(self, user: _User) -> None:
        if user.username in self.users:
            raise ValueError(f"user {user.username} exists in realm {self.name}")
        self.users[user.username] = user
        bisect.insort(self.order, user.username)

    def insert_many(self, users: Iterable[_User]) -> None:
        batch = list(users)
        names = {user.username for user in batch}
        clash = names & self.users.keys()
        if clash or len(names) != len(batch):
            raise ValueError(f"duplicate usernames in realm {self.name}")
        self.users.update((user.username, user) for user in batch)
        self.order = sorted(self.users)

    def remove(self, username: str) -> None:
        del self.users[username]
        self.order.pop(bisect.bisect_left(self.order, username))

    def listed(self) -> list[_User]:
        """Users in username order, service accounts left out."""
        return [
            user
            for user in (self.users[name] for name in self.order)
            if not user.service_account
        ]


# ------------------------------------------------------------- representation


def _brief_json(user: _User) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.id,
        "createdTimestamp": user.created_timestamp,
        "username": user.username,
        "enabled": user.enabled,
        "emailVerified": user.email_verified,
    }
    optional = {
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def _full_json(user: _User) -> dict[str, Any]:
    data = _brief_json(user)
    data["totp"] = False
    if user.attributes:
        data["attributes"] = {
            key: list(value) for key, value in user.attributes.items()
        }
    data["disableableCredentialTypes"] = []
    data["requiredActions"] = list(user.required_actions)
    data["notBefore"] = 0
    data["access"] = dict(ADMIN_ACCESS)
    return data


# -------------------------------------------------------------------- search


def _flag(request: HttpRequest, name: str) -> bool | None:
    raw = request.query_value(name)
    return None if raw is None else raw.strip().lower() == "true"


def _text_matches(value: str | None, wanted: str, exact: bool) -> bool:
    if value is None:
        return False
    if exact:
        return value.lower() == wanted.lower()
    return wanted.lower() in value.lower()


def _search_matches(user: _User, search: str) -> bool:
    needle = search.replace("*", "").strip().lower()
    if not needle:
        return True
    fields = (user.username, user.email, user.first_name, user.last_name)
    return any(value is not None and needle in value.lower() for value in fields)


def _attribute_matches(user: _User, query: str) -> bool:
    for pair in query.split():
        key, _, value = pair.partition(":")
        if value not in user.attributes.get(key, []):
            return False
    return True


def _user_filter(request: HttpRequest) -> Callable[[_User], bool]:
    """The search filters of the list and count routes as one predicate."""
    exact = bool(_flag(request, "exact"))
    checks: list[Callable[[_User], bool]] = []
    search = request.query_value("search")
    if search is not None:
        checks.append(lambda user: _search_matches(user, search))
    for param, attribute in _TEXT_FILTERS.items():
        wanted = request.query_value(param)
        if wanted is not None:
            checks.append(
                lambda user, a=attribute, w=wanted: _text_matches(
                    getattr(user, a), w, exact
                )
            )
    for param, attribute in _BOOLEAN_FILTERS.items():
        flag = _flag(request, param)
        if flag is not None:
            checks.append(lambda user, a=attribute, f=flag: getattr(user, a) is f)
    attribute_query = request.query_value("q")
    if attribute_query:
        checks.append(lambda user: _attribute_matches(user, attribute_query))
    return lambda user: all(check(user) for check in checks)


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    raw = request.query_value(name)
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


# -------------------------------------------------------------------- double


class KeycloakDouble(HttpDouble):
    """In-memory Keycloak (token endpoint and admin user routes) over real HTTP.

    Args:
        admin_username: Master-realm administrator created at start-up.
        admin_password: Its password.
        main_realm: Realm created at start-up for the platform's users.
        admin_token_lifespan_s: Access token life in the master realm.
        realm_token_lifespan_s: Access token life in other realms.
        refresh_token_lifespan_s: Refresh token life (all realms).
        host: Address to bind.
        port: Port to bind (0 = any free port).
    """

    def __init__(
        self,
        *,
        admin_username: str = "admin",
        admin_password: str = "admin",
        main_realm: str = DEFAULT_MAIN_REALM,
        admin_token_lifespan_s: int = DEFAULT_ADMIN_TOKEN_LIFESPAN_S,
        realm_token_lifespan_s: int = DEFAULT_REALM_TOKEN_LIFESPAN_S,
        refresh_token_lifespan_s: int = DEFAULT_REFRESH_TOKEN_LIFESPAN_S,
        host: str = LOOPBACK_HOST,
        port: int = EPHEMERAL_PORT,
    ) -> None:
        super().__init__(host, port)
        self.main_realm = main_realm
        self.refresh_token_lifespan_s = refresh_token_lifespan_s
        self._realm_token_lifespan_s = realm_token_lifespan_s
        self._realms: dict[str, _Realm] = {
            MASTER_REALM: _Realm(MASTER_REALM, admin_token_lifespan_s)
        }
        self._access: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._ended_sessions: set[str] = set()
        self.add_realm(main_realm)
        self.add_master_user(admin_username, admin_password, admin=True)
        self._router: Router[Callable[[HttpRequest, dict[str, str]], HttpResponse]]
        self._router = Router()
        self._router.add(
            "POST", "/realms/{realm}/protocol/openid-connect/token", self._token_route
        )
        self._router.add("GET", "/admin/realms/{realm}/users/count", self._count_route)
        self._router.add("GET", "/admin/realms/{realm}/users", self._list_route)
        self._router.add(
            "GET", "/admin/realms/{realm}/users/{user_id}", self._user_route
        )

    # =========================================================== seeding

    def add_realm(self, name: str) -> None:
        """Creates an empty realm (no-op if it exists)."""
        with self.lock:
            if name not in self._realms:
                self._realms[name] = _Realm(name, self._realm_token_lifespan_s)

    def add_master_user(self, username: str, password: str, admin: bool = True) -> None:
        """Adds a master-realm account; only ``admin`` ones may use the admin API."""
        with self.lock:
            user = self._new_user(username, password=password)
            user.admin = admin
            self._realms[MASTER_REALM].insert(user)

    def add_user(
        self,
        username: str,
        *,
        realm: str | None = None,
        password: str | None = None,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        enabled: bool = True,
        email_verified: bool = False,
        attributes: dict[str, list[str]] | None = None,
        created_timestamp: int | None = None,
        user_id: str | None = None,
        service_account: bool = False,
        required_actions: list[str] | None = None,
    ) -> dict[str, Any]:
        """Adds a user (to the main realm by default); returns its full JSON.

        The username is stored lower-case; ``created_timestamp`` is epoch ms.
        """
        with self.lock:
            user = self._new_user(
                username, password=password, created_timestamp=created_timestamp
            )
            user.id = user_id or user.id
            user.email, user.first_name, user.last_name = email, first_name, last_name
            user.enabled, user.email_verified = enabled, email_verified
            user.attributes = {
                key: list(value) for key, value in (attributes or {}).items()
            }
            user.service_account = service_account
            user.required_actions = list(required_actions or [])
            self._realm(realm).insert(user)
            return _full_json(user)

    def add_users(
        self, count: int, *, realm: str | None = None, prefix: str = "user"
    ) -> list[str]:
        """Adds ``count`` users named ``<prefix><zero-padded n>`` quickly.

        Each gets an e-mail at ``example.org`` and names; returns the usernames.
        """
        width = len(str(max(count - 1, 0)))
        start_ms = int(self.now() * MILLISECONDS)
        with self.lock:
            users = []
            for number in range(count):
                name = f"{prefix}{number:0{width}d}".lower()
                user = self._new_user(name, created_timestamp=start_ms + number)
                user.email = f"{name}@example.org"
                user.first_name, user.last_name = prefix.title(), str(number)
                users.append(user)
            self._realm(realm).insert_many(users)
            return [user.username for user in users]

    def remove_user(self, username: str, *, realm: str | None = None) -> None:
        """Deletes a user (KeyError if unknown)."""
        with self.lock:
            self._realm(realm).remove(username.lower())

    # ======================================================== behaviour

    def expire_access_tokens(self) -> None:
        """Makes every access token expired; refresh tokens stay valid."""
        with self.lock:
            for grant in self._access.values():
                grant.expires_at = self.now() - 1

    def expire_all_tokens(self) -> None:
        """Makes access and refresh tokens expired (refresh → 400 not active)."""
        with self.lock:
            self.expire_access_tokens()
            for grant in self._refresh.values():
                grant.expires_at = self.now() - 1

    def end_all_sessions(self) -> None:
        """Drops every session, as a restart does (refresh → "Session not active")."""
        with self.lock:
            self._ended_sessions.update(self._refresh)
            self._access.clear()
            self._refresh.clear()

    # ======================================================== accessors

    def users(self, realm: str | None = None) -> list[dict[str, Any]]:
        """Full representations of a realm's listed users, by username."""
        with self.lock:
            return [_full_json(user) for user in self._realm(realm).listed()]

    def get_user(self, username: str, realm: str | None = None) -> dict[str, Any]:
        """One user's full representation (KeyError if unknown)."""
        with self.lock:
            return _full_json(self._realm(realm).users[username.lower()])

    def user_count(self, realm: str | None = None) -> int:
        """How many users the count route reports for a realm."""
        with self.lock:
            return len(self._realm(realm).listed())

    # ========================================================== serving

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Routes a request to the token or admin handlers."""
        handler, params = self._router.resolve(request.method, request.path)
        return handler(request, params)

    # token endpoint -------------------------------------------------------

    def _token_route(
        self, request: HttpRequest, params: dict[str, str]
    ) -> HttpResponse:
        realm = self._realms.get(params["realm"])
        if realm is None:
            raise HttpError(HTTPStatus.NOT_FOUND, {"error": "Realm does not exist"})
        form = request.form() if request.media_type == FORM_CONTENT_TYPE else {}
        grant_type = form.get("grant_type")
        if not grant_type:
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                {
                    "error": "invalid_request",
                    "error_description": "Missing form parameter: grant_type",
                },
            )
        if form.get("client_id") != ADMIN_CLI:
            raise HttpError(HTTPStatus.UNAUTHORIZED, INVALID_CLIENT)
        if grant_type == "password":
            return self._password_grant(realm, form)
        if grant_type == "refresh_token":
            return self._refresh_grant(realm, form)
        raise HttpError(HTTPStatus.BAD_REQUEST, UNSUPPORTED_GRANT)

    def _password_grant(self, realm: _Realm, form: dict[str, str]) -> HttpResponse:
        user = realm.users.get(form.get("username", "").lower())
        if (
            user is None
            or user.password is None
            or user.password != form.get("password")
        ):
            raise HttpError(HTTPStatus.UNAUTHORIZED, INVALID_CREDENTIALS)
        if not user.enabled:
            raise HttpError(HTTPStatus.BAD_REQUEST, ACCOUNT_DISABLED)
        return self._issue(realm, user.username, ADMIN_CLI)

    def _refresh_grant(self, realm: _Realm, form: dict[str, str]) -> HttpResponse:
        token = form.get("refresh_token", "")
        if token in self._ended_sessions:
            raise HttpError(HTTPStatus.BAD_REQUEST, SESSION_NOT_ACTIVE)
        grant = self._refresh.get(token)
        if grant is None or grant.realm != realm.name:
            raise HttpError(HTTPStatus.BAD_REQUEST, INVALID_REFRESH_TOKEN)
        if self.now() >= grant.expires_at:
            raise HttpError(HTTPStatus.BAD_REQUEST, TOKEN_NOT_ACTIVE)
        del self._refresh[token]
        return self._issue(realm, grant.username, grant.client_id)

    def _issue(self, realm: _Realm, username: str, client_id: str) -> HttpResponse:
        access = secrets.token_urlsafe(TOKEN_BYTES)
        refresh = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.now()
        self._access[access] = _Grant(
            realm.name, username, client_id, now + realm.token_lifespan_s
        )
        self._refresh[refresh] = _Grant(
            realm.name, username, client_id, now + self.refresh_token_lifespan_s
        )
        return json_response(
            {
                "access_token": access,
                "expires_in": realm.token_lifespan_s,
                "refresh_expires_in": self.refresh_token_lifespan_s,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "session_state": str(uuid.uuid4()),
                "scope": "profile email",
            }
        )

    # admin routes -----------------------------------------------------------

    def _count_route(
        self, request: HttpRequest, params: dict[str, str]
    ) -> HttpResponse:
        realm = self._admin_realm(request, params["realm"])
        matches = _user_filter(request)
        return json_response(sum(1 for user in realm.listed() if matches(user)))

    def _list_route(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        realm = self._admin_realm(request, params["realm"])
        matches = _user_filter(request)
        first = max(_int_param(request, "first", 0), 0)
        limit = _int_param(request, "max", DEFAULT_MAX_RESULTS)
        brief = bool(_flag(request, "briefRepresentation"))
        selected = [user for user in realm.listed() if matches(user)]
        page = selected[first : first + limit] if limit >= 0 else selected[first:]
        render = _brief_json if brief else _full_json
        return json_response([render(user) for user in page])

    def _user_route(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        realm = self._admin_realm(request, params["realm"])
        for user in realm.users.values():
            if user.id == params["user_id"]:
                return json_response(_full_json(user))
        raise HttpError(HTTPStatus.NOT_FOUND, USER_NOT_FOUND)

    def _admin_realm(self, request: HttpRequest, name: str) -> _Realm:
        caller = self._caller(request)
        realm = self._realms.get(name)
        if realm is None:
            raise HttpError(HTTPStatus.NOT_FOUND, REALM_NOT_FOUND)
        if not caller.admin:
            raise HttpError(HTTPStatus.FORBIDDEN, FORBIDDEN)
        return realm

    def _caller(self, request: HttpRequest) -> _User:
        header = request.header("Authorization") or ""
        scheme, _, token = header.partition(" ")
        grant = self._access.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or self.now() >= grant.expires_at:
            raise HttpError(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
        user = self._realms[grant.realm].users.get(grant.username)
        if user is None:
            raise HttpError(HTTPStatus.UNAUTHORIZED, UNAUTHORIZED)
        if grant.realm != MASTER_REALM:
            return _User(id=user.id, username=user.username, created_timestamp=0)
        return user

    # internals ----------------------------------------------------------------

    def _realm(self, name: str | None) -> _Realm:
        return self._realms[name or self.main_realm]

    def _new_user(
        self,
        username: str,
        *,
        password: str | None = None,
        created_timestamp: int | None = None,
    ) -> _User:
        created = created_timestamp
        if created is None:
            created = int(self.now() * MILLISECONDS)
        return _User(
            id=str(uuid.uuid4()),
            username=username.lower(),
            created_timestamp=created,
            password=password,
        )


__all__ = ["ADMIN_CLI", "MASTER_REALM", "KeycloakDouble"]
