"""The platform's PostgreSQL server: one pooled engine per database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field, PrivateAttr

from moderate.resources.settings import EnvBackedResource

if TYPE_CHECKING:
    import sqlalchemy as sa

DEFAULT_PORT = "5432"
MAINTENANCE_DATABASE = "postgres"
DRIVER = "postgresql+psycopg2"
CONNECT_TIMEOUT_S = 10
POOL_SIZE = 2
POOL_MAX_OVERFLOW = 2
POOL_RECYCLE_S = 1800
DUPLICATE_DATABASE_SQLSTATE = "42P04"


class PostgresResource(EnvBackedResource):
    """A PostgreSQL server: one pooled engine per database, disposed after a run.

    The password, from the environment only, goes into the URL object, never a string.
    """

    SERVICE_NAME = "PostgreSQL"
    ENV_VARS = {
        "host": "POSTGRES_HOST",
        "port": "POSTGRES_PORT",
        "username": "POSTGRES_USERNAME",
        "password": "POSTGRES_PASSWORD",
    }
    REQUIRED_FIELDS = ("host", "username", "password")
    DEFAULTS = {"port": DEFAULT_PORT}
    SECRETS = ("password",)

    host: str | None = Field(
        default=None, description="Host (default: $POSTGRES_HOST)."
    )
    port: str | None = Field(
        default=None, description="Port (default: $POSTGRES_PORT or 5432)."
    )
    username: str | None = Field(
        default=None, description="User (default: $POSTGRES_USERNAME)."
    )

    _engines: dict[str, Any] = PrivateAttr(default_factory=dict)

    def url(self, database: str = MAINTENANCE_DATABASE) -> sa.URL:
        """Connection URL of ``database`` with escaped credentials."""
        import sqlalchemy as sa

        return sa.URL.create(
            DRIVER,
            username=self.required_setting("username"),
            password=self.required_setting("password"),
            host=self.required_setting("host"),
            port=self.int_setting("port"),
            database=database,
        )

    def engine(self, database: str = MAINTENANCE_DATABASE) -> sa.Engine:
        """The pooled engine of ``database`` (raises if settings are missing)."""
        import sqlalchemy as sa

        engine = self._engines.get(database)
        if engine is None:
            engine = sa.create_engine(
                self.url(database),
                pool_size=POOL_SIZE,
                max_overflow=POOL_MAX_OVERFLOW,
                pool_pre_ping=True,
                pool_recycle=POOL_RECYCLE_S,
                connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
            )
            self._engines[database] = engine
        return engine

    def ensure_database(self, database: str) -> bool:
        """Creates ``database`` (quoted by the dialect) unless it exists; True if so."""
        import sqlalchemy as sa

        engine = self.engine()
        exists = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
        with engine.connect() as connection:
            if connection.execute(exists, {"name": database}).first():
                return False
        quoted = engine.dialect.identifier_preparer.quote_identifier(database)
        try:
            with engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.execute(sa.text(f"CREATE DATABASE {quoted}"))
        except sa.exc.ProgrammingError as error:
            if getattr(error.orig, "pgcode", None) != DUPLICATE_DATABASE_SQLSTATE:
                raise
            return False
        return True

    def dispose(self) -> None:
        """Disposes every engine (closes pooled connections)."""
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()

    def teardown_after_execution(self, context: Any) -> None:
        """Disposes the engines at the end of a run or tick."""
        self.dispose()

    def _probe(self) -> str:
        import sqlalchemy as sa

        with self.engine().connect() as connection:
            version = connection.execute(sa.text("SHOW server_version")).scalar_one()
        return f"server {version}"
