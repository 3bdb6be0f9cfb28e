"""The state-store resource: database created on first use, SQLite fallback."""

from pathlib import Path

import sqlalchemy as sa

from moderate.resources.postgres import PostgresResource
from moderate.state import ItemStatus, StateStoreResource
from moderate_tests.support.postgres import (
    database_names,
    drop_database,
    postgres_resource,
    unique_database_name,
)


def test_postgres_database_and_table_are_created_on_first_use() -> None:
    postgres = postgres_resource()
    database = unique_database_name()
    resource = StateStoreResource(postgres=postgres, database=database)
    try:
        assert database not in database_names(postgres)
        assert resource.backend == "postgresql"
        store = resource.store()
        assert database in database_names(postgres)
        store.mark_done("ns", "k", {"a": 1})
        assert resource.store() is store, "one store and engine per resource"
        assert store.engine is postgres.engine(database)
        assert store.get("ns", "k").value == {"a": 1}
    finally:
        resource.teardown_after_execution(None)
        postgres.dispose()
        drop_database(postgres, database)
        postgres.dispose()


def test_falls_back_to_sqlite_without_postgres_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.sqlite"
    resource = StateStoreResource(postgres=PostgresResource(), sqlite_path=str(path))
    assert resource.backend == "sqlite"
    store = resource.store()
    store.upsert_many("ns", {f"k{i}": i for i in range(250)}, status=ItemStatus.DONE)
    store.mark_failed("ns", "k0", "boom", None)
    store.mark_failed("ns", "k0", "boom again", None)
    record = store.get("ns", "k0")
    assert record is not None
    assert (record.status, record.attempts, record.value) == (ItemStatus.FAILED, 2, 0)
    assert record.created_at.tzinfo is not None
    assert store.counts("ns")[ItemStatus.DONE] == 249
    resource.teardown_after_execution(None)
    assert path.exists()
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        assert sa.inspect(engine).has_table("moderate_item_state")
    finally:
        engine.dispose()
