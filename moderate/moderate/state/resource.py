"""Dagster resource that opens the state store."""

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dagster import ConfigurableResource, ResourceDependency
from pydantic import Field, PrivateAttr

from moderate.resources.postgres import PostgresResource
from moderate.state.store import PostgresState

DEFAULT_STATE_DATABASE = "moderate_pipeline_state"
DEFAULT_SQLITE_PATH = ".moderate/state.sqlite"


class StateStoreResource(ConfigurableResource):
    """State store in the platform's PostgreSQL, or in SQLite when it is unset.

    The PostgreSQL database is created on first use.
    """

    postgres: ResourceDependency[PostgresResource]
    database: str = Field(
        default=DEFAULT_STATE_DATABASE, description="PostgreSQL database of the store."
    )
    sqlite_path: str = Field(
        default=DEFAULT_SQLITE_PATH,
        description="SQLite file used when PostgreSQL is not configured.",
    )

    _store: PostgresState | None = PrivateAttr(default=None)
    _sqlite_engine: sa.Engine | None = PrivateAttr(default=None)

    @property
    def backend(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return "postgresql" if self.postgres.is_configured() else "sqlite"

    def store(self) -> PostgresState:
        """The store, with its database and table created if needed."""
        if self._store is None:
            if self.postgres.is_configured():
                self.postgres.ensure_database(self.database)
                engine = self.postgres.engine(self.database)
            else:
                path = Path(self.sqlite_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(f"sqlite:///{path}")
                self._sqlite_engine = engine
            store = PostgresState(engine)
            store.create_schema()
            self._store = store
        return self._store

    def teardown_after_execution(self, context: Any) -> None:
        """Releases the SQLite engine; the PostgreSQL one belongs to its resource."""
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()
            self._sqlite_engine = None
        self._store = None
