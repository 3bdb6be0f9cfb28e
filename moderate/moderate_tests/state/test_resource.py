"""The state-store resource: database created on first use, SQLite fallback."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from moderate.resources.postgres import PostgresResource
from moderate.state import ItemStatus, StateStoreResource
from moderate.state.resource import StateStoreUnavailableError
from moderate_tests.support.postgres import (
    drop_database,
    postgres_resource,
    unique_database_name,
)


def database_exists(postgres: PostgresResource, database: str) -> bool:
    query = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
    with postgres.engine().connect() as connection:
        return connection.execute(query, {"name": database}).first() is not None


def test_postgres_database_and_table_are_created_on_first_use() -> None:
    postgres = postgres_resource()
    database = unique_database_name()
    resource = StateStoreResource(postgres=postgres, database=database)
    try:
        assert not database_exists(postgres, database)
        assert resource.describe().backend == "postgresql"
        store = resource.store()
        assert database_exists(postgres, database)
        store.mark_done("ns", "k", {"a": 1})
        assert resource.store() is store, "one store and engine per resource"
        assert store.engine is postgres.engine(database)
        assert store.get("ns", "k").value == {"a": 1}
    finally:
        resource.teardown_after_execution(None)
        postgres.dispose()
        drop_database(postgres, database)
        postgres.dispose()


def test_without_postgres_settings_sqlite_lives_under_dagster_home_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTGRES_HOST", "db.example")
    monkeypatch.setenv("POSTGRES_USERNAME", "moderate")
    monkeypatch.setenv("POSTGRES_PASSWORD", "")  # trust authentication
    resource = StateStoreResource(postgres=PostgresResource())
    description = resource.describe()
    expected = tmp_path / "home" / "moderate" / "state.sqlite"
    assert (description.backend, description.location) == ("sqlite", str(expected))
    assert "POSTGRES_PASSWORD" in description.reason
    with caplog.at_level(logging.INFO, logger="moderate.state.resource"):
        store = resource.store()
    assert f"State store: sqlite at {expected}" in caplog.text
    store.upsert_many("ns", {f"k{i}": i for i in range(250)}, status=ItemStatus.DONE)
    store.mark_failed("ns", "k0", "boom", None)
    store.mark_failed("ns", "k0", "boom again", None)
    record = store.get("ns", "k0")
    assert record is not None
    assert (record.status, record.attempts, record.value) == (ItemStatus.FAILED, 2, 0)
    assert record.created_at.tzinfo is not None
    assert store.counts("ns")[ItemStatus.DONE] == 249
    resource.teardown_after_execution(None)
    assert expected.exists()
    assert list((tmp_path / "work").iterdir()) == [], "nothing in the working dir"
    engine = sa.create_engine(f"sqlite:///{expected}")
    try:
        assert sa.inspect(engine).has_table("moderate_item_state")
    finally:
        engine.dispose()


def test_without_postgres_or_dagster_home_the_store_refuses_with_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    resource = StateStoreResource(postgres=PostgresResource())
    description = resource.describe()
    assert description.backend == "unavailable"
    assert (
        "DAGSTER_HOME" in description.reason and "POSTGRES_HOST" in description.reason
    )
    with pytest.raises(StateStoreUnavailableError, match="DAGSTER_HOME"):
        resource.store()


def test_postgres_description_names_server_and_database_without_secrets() -> None:
    postgres = postgres_resource()
    resource = StateStoreResource(postgres=postgres, database="some_db")
    description = resource.describe()
    assert description.backend == "postgresql"
    host, port = postgres.required_setting("host"), postgres.int_setting("port")
    assert description.location == f"{host}:{port}/some_db"
    assert "@" not in description.line(), "no credentials"


def test_the_state_layer_imports_no_resources_module_and_no_sqlalchemy() -> None:
    code = (
        "import sys, moderate.state; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('moderate.resources', 'sqlalchemy'))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert output.strip() == "[]"
