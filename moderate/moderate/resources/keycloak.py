"""Keycloak admin API: counting and paging through the users of the main realm."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from moderate.resources.settings import EnvBackedResource
from moderate.support.http import RetrySettings, mount_retries

if TYPE_CHECKING:
    from keycloak import KeycloakAdmin

ADMIN_REALM = "master"
ADMIN_CLIENT_ID = "admin-cli"
DEFAULT_MAIN_REALM = "moderate"
DEFAULT_PAGE_SIZE = 100


class KeycloakResource(EnvBackedResource):
    """Keycloak's main realm via the master-realm admin (password: env only).

    python-keycloak refreshes the token and retries once after a 401; its session
    gets the shared retry policy.
    """

    SERVICE_NAME = "Keycloak"
    ENV_VARS = {
        "server_url": "KEYCLOAK_SERVER_URL",
        "admin_username": "KEYCLOAK_ADMIN_USERNAME",
        "admin_password": "KEYCLOAK_ADMIN_PASSWORD",
        "main_realm_name": "KEYCLOAK_MAIN_REALM_NAME",
    }
    REQUIRED_FIELDS = ("server_url", "admin_username", "admin_password")
    DEFAULTS = {"main_realm_name": DEFAULT_MAIN_REALM}
    SECRETS = ("admin_password",)

    server_url: str | None = Field(
        default=None, description="Server root URL (default: $KEYCLOAK_SERVER_URL)."
    )
    admin_username: str | None = Field(
        default=None,
        description="Master-realm admin (default: $KEYCLOAK_ADMIN_USERNAME).",
    )
    main_realm_name: str | None = Field(
        default=None,
        description="Realm whose users are read (default: $KEYCLOAK_MAIN_REALM_NAME "
        "or 'moderate').",
    )
    timeout_s: int = Field(default=30, description="Timeout of each call, seconds.")

    _admin: Any = PrivateAttr(default=None)

    @property
    def realm(self) -> str:
        """Name of the realm whose users are read."""
        return self.setting("main_realm_name") or DEFAULT_MAIN_REALM

    def admin(self) -> KeycloakAdmin:
        """The admin client of this resource (raises if settings are missing)."""
        from keycloak import KeycloakAdmin, KeycloakOpenIDConnection

        if self._admin is None:
            connection = KeycloakOpenIDConnection(
                server_url=self.required_setting("server_url"),
                username=self.required_setting("admin_username"),
                password=self.required_setting("admin_password"),
                realm_name=self.realm,
                user_realm_name=ADMIN_REALM,
                client_id=ADMIN_CLIENT_ID,
                timeout=self.timeout_s,
            )
            # python-keycloak exposes its requests session only as ``_s``.
            mount_retries(connection._s, RetrySettings())
            self._admin = KeycloakAdmin(connection=connection)
        return self._admin

    def count_users(self) -> int:
        """Number of users of the realm (service accounts excluded)."""
        return int(self.admin().users_count())

    def iter_user_pages(
        self, page_size: int = DEFAULT_PAGE_SIZE, first: int = 0
    ) -> Iterator[list[dict[str, Any]]]:
        """Yields each non-empty page of brief user representations.

        Keycloak orders by username, so users created meanwhile can shift pages:
        callers that must see everyone also reconcile (see the trust sensors).
        """
        admin = self.admin()
        while True:
            page = admin.get_users(
                {"first": first, "max": page_size, "briefRepresentation": True}
            )
            if page:
                yield page
            if len(page) < page_size:
                return
            first += page_size

    def teardown_after_execution(self, context: Any) -> None:
        """Drops the admin client (and its HTTP session) at the end of a run."""
        self._admin = None

    def _probe(self) -> str:
        return f"realm {self.realm}: {self.count_users()} users"
