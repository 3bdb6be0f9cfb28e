"""Dagster resource opening the state store: PostgreSQL if configured, else SQLite.

The server is any :class:`PostgresServer`, so this layer imports nothing from
``moderate.resources``.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from dagster import ConfigurableResource, EnvVar, ResourceDependency
from pydantic import Field, PrivateAttr

if TYPE_CHECKING:
    import sqlalchemy as sa

    from moderate.state.store import StateStore

DEFAULT_STATE_DATABASE = "moderate_pipeline_state"
DAGSTER_HOME_VARIABLE = "DAGSTER_HOME"
SQLITE_RELATIVE_PATH = Path("moderate") / "state.sqlite"
POSTGRESQL = "postgresql"
SQLITE = "sqlite"
UNAVAILABLE = "unavailable"

LOGGER = logging.getLogger(__name__)


@runtime_checkable
class PostgresServer(Protocol):
    """What the store needs from the PostgreSQL server resource."""

    def missing_variables(self) -> tuple[str, ...]:
        """Required environment variables without a value."""

    def ensure_database(self, database: str) -> bool:
        """Creates ``database`` unless it exists."""

    def engine(self, database: str = ...) -> "sa.Engine":
        """The pooled engine of ``database``."""

    def url(self, database: str = ...) -> "sa.URL":
        """Connection URL of ``database``."""


class StateStoreUnavailableError(RuntimeError):
    """Neither PostgreSQL nor a place for the SQLite file is configured."""

    def __init__(self, missing_variables: tuple[str, ...]) -> None:
        self.missing_variables = (*missing_variables, DAGSTER_HOME_VARIABLE)
        super().__init__(
            "state store: PostgreSQL is not configured and DAGSTER_HOME is unset, "
            f"so there is no place for SQLite: set {', '.join(self.missing_variables)}"
        )


@dataclass(frozen=True)
class StoreDescription:
    """Which store is in use, where (never with secrets) and why."""

    backend: str
    location: str
    reason: str

    def line(self) -> str:
        """One log line, e.g. ``State store: sqlite at /home/x/state.sqlite (...)``."""
        return f"State store: {self.backend} at {self.location} ({self.reason})"


class StateStoreResource(ConfigurableResource):
    """State store in the platform's PostgreSQL (database created on first use)."""

    postgres: ResourceDependency[PostgresServer]
    database: str = Field(
        default=DEFAULT_STATE_DATABASE,
        min_length=1,
        description="PostgreSQL database of the store.",
    )
    sqlite_path: str | None = Field(
        default=None,
        description="SQLite file used when PostgreSQL is not configured (default: "
        "$DAGSTER_HOME/moderate/state.sqlite).",
    )

    _store: "StateStore | None" = PrivateAttr(default=None)

    def describe(self) -> StoreDescription:
        """Which store this resource opens, and where (nothing is opened).

        The backend is ``unavailable`` when neither PostgreSQL, ``sqlite_path``
        nor ``DAGSTER_HOME`` is set.
        """
        missing = self.postgres.missing_variables()
        if not missing:
            url = self.postgres.url(self.database)
            return StoreDescription(
                POSTGRESQL,
                f"{url.host}:{url.port}/{self.database}",
                "PostgreSQL is configured",
            )
        home = EnvVar(DAGSTER_HOME_VARIABLE).get_value()
        path = self.sqlite_path or (home and str(Path(home) / SQLITE_RELATIVE_PATH))
        if not path:
            reason = str(StateStoreUnavailableError(missing))
            return StoreDescription(UNAVAILABLE, "-", reason)
        reason = f"PostgreSQL is not configured: {', '.join(missing)} unset"
        return StoreDescription(SQLITE, path, reason)

    def store(self, log: Any = None) -> "StateStore":
        """The store, created if needed; logs which one and where.

        Raises:
            StateStoreUnavailableError: When :meth:`describe` finds no place for it.
        """
        if self._store is None:
            from moderate.state.store import StateStore

            description = self.describe()
            if description.backend == UNAVAILABLE:
                raise StateStoreUnavailableError(self.postgres.missing_variables())
            if description.backend == POSTGRESQL:
                self.postgres.ensure_database(self.database)
                engine = self.postgres.engine(self.database)
            else:
                import sqlalchemy as sa

                path = Path(description.location)
                path.parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(f"sqlite:///{path}")
            store = StateStore(engine)
            store.create_schema()
            (log or LOGGER).info(description.line())
            self._store = store
        return self._store

    def teardown_after_execution(self, context: Any) -> None:
        """Releases the SQLite engine; the PostgreSQL one belongs to its resource."""
        if self._store is not None and self._store.engine.dialect.name == SQLITE:
            self._store.engine.dispose()
        self._store = None
