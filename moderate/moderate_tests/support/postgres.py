"""Throwaway databases on the local PostgreSQL server."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from moderate.resources.postgres import PostgresResource
from moderate_tests.support.secrets import resource_with_secrets

HOST = os.environ.get("MODERATE_TEST_POSTGRES_HOST", "127.0.0.1")
PORT = os.environ.get("MODERATE_TEST_POSTGRES_PORT", "5432")
USERNAME = os.environ.get("MODERATE_TEST_POSTGRES_USERNAME", "postgres")
PASSWORD = os.environ.get("MODERATE_TEST_POSTGRES_PASSWORD", "postgres")
TEST_DATABASE_PREFIX = "moderate_test_"


def postgres_resource() -> PostgresResource:
    """A resource pointing at the local server."""
    return resource_with_secrets(
        PostgresResource,
        {"password": PASSWORD},
        host=HOST,
        port=PORT,
        username=USERNAME,
    )


def database_names(resource: PostgresResource) -> list[str]:
    """Names of the server's databases that accept connections, templates excluded."""
    import sqlalchemy as sa

    query = sa.text(
        "SELECT datname FROM pg_database "
        "WHERE datallowconn AND NOT datistemplate ORDER BY datname"
    )
    with resource.engine().connect() as connection:
        return [row[0] for row in connection.execute(query)]


def unique_database_name() -> str:
    """A database name no other test uses."""
    return f"{TEST_DATABASE_PREFIX}{uuid.uuid4().hex[:12]}"


def drop_database(resource: PostgresResource, name: str) -> None:
    """Drops ``name``, closing other sessions on it first."""
    engine = resource.engine()
    quoted = engine.dialect.identifier_preparer.quote_identifier(name)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}"))


@contextmanager
def temporary_database() -> Iterator[str]:
    """Creates a fresh database and drops it afterwards."""
    resource = postgres_resource()
    name = unique_database_name()
    resource.ensure_database(name)
    try:
        yield name
    finally:
        resource.dispose()
        drop_database(resource, name)
        resource.dispose()
