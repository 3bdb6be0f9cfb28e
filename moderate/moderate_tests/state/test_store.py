"""The state store on real PostgreSQL: atomic upserts, batched reads, due items."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from moderate.resources.postgres import PostgresResource
from moderate.state import ItemStatus, StateStore, exponential_backoff, utc_now
from moderate.state.store import KEY_BATCH_SIZE, STATE_TABLE, UPSERT_BATCH_SIZE

NAMESPACE = "test.items"


def test_upsert_inserts_then_updates_in_place(state_store: StateStore) -> None:
    state_store.mark_pending(NAMESPACE, "a", {"object_id": 1})
    first = state_store.get(NAMESPACE, "a")
    assert first is not None
    assert first.status is ItemStatus.PENDING
    assert first.attempts == 0, "a request for work is no attempt"
    assert first.value == {"object_id": 1}

    retry_at = utc_now() + timedelta(minutes=5)
    state_store.mark_failed(NAMESPACE, "a", "boom", retry_at)
    failed = state_store.get(NAMESPACE, "a")
    assert failed is not None
    assert failed.status is ItemStatus.FAILED
    assert failed.attempts == 1
    assert failed.last_error == "boom"
    assert failed.value == {"object_id": 1}, "a None value keeps the stored one"
    assert failed.next_attempt_at == retry_at
    assert failed.created_at == first.created_at
    assert failed.updated_at >= first.updated_at

    state_store.mark_done(NAMESPACE, "a", {"did": "x"})
    done = state_store.get(NAMESPACE, "a")
    assert done is not None
    assert (done.status, done.attempts, done.last_error) == (ItemStatus.DONE, 2, None)
    assert done.value == {"did": "x"}
    assert done.next_attempt_at is None


def test_namespaces_keep_equal_keys_apart(state_store: StateStore) -> None:
    state_store.mark_done("one", "same-key", 1)
    state_store.mark_failed("two", "same-key", "nope", None, 2)
    one = state_store.get("one", "same-key")
    two = state_store.get("two", "same-key")
    assert one is not None and two is not None
    assert (one.status, one.value) == (ItemStatus.DONE, 1)
    assert (two.status, two.value) == (ItemStatus.FAILED, 2)


def test_get_many_reads_in_batches_and_skips_unknown_keys(
    state_store: StateStore,
) -> None:
    total = KEY_BATCH_SIZE * 2 + 7
    keys = [f"user-{index:05d}" for index in range(total)]
    state_store.upsert_many(
        NAMESPACE,
        {key: index for index, key in enumerate(keys)},
        status=ItemStatus.DONE,
    )
    found = state_store.get_many(NAMESPACE, [*keys, "missing", keys[0]])
    assert len(found) == total
    assert "missing" not in found
    assert found[keys[-1]].value == total - 1


def test_upsert_many_is_one_statement_per_batch(state_store: StateStore) -> None:
    keys = {f"k{index}": None for index in range(UPSERT_BATCH_SIZE + 3)}
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    sa.event.listen(state_store.engine, "before_cursor_execute", record)
    try:
        state_store.upsert_many(
            NAMESPACE, keys, status=ItemStatus.PENDING, count_attempt=True
        )
        state_store.upsert_many(
            NAMESPACE, keys, status=ItemStatus.PENDING, count_attempt=True
        )
    finally:
        sa.event.remove(state_store.engine, "before_cursor_execute", record)
    assert len(statements) == 4
    assert all("ON CONFLICT" in statement for statement in statements)
    records = state_store.get_many(NAMESPACE, keys)
    assert {record.attempts for record in records.values()} == {2}


def test_concurrent_upserts_of_one_key_do_not_raise(
    state_store: StateStore,
) -> None:
    threads_count = 8
    writes_per_thread = 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_count)

    def write() -> None:
        try:
            barrier.wait()
            for _ in range(writes_per_thread):
                state_store.upsert_many(
                    NAMESPACE,
                    {"hot": None},
                    status=ItemStatus.PENDING,
                    count_attempt=True,
                )
        except BaseException as error:  # noqa: BLE001 - collected for the assert
            errors.append(error)

    workers = [threading.Thread(target=write) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    record = state_store.get(NAMESPACE, "hot")
    assert record is not None
    assert record.attempts == threads_count * writes_per_thread
    with state_store.engine.connect() as connection:
        rows = connection.execute(
            sa.select(sa.func.count()).select_from(STATE_TABLE)
        ).scalar_one()
    assert rows == 1


def test_due_items_respect_backoff_and_permanent_failures(
    state_store: StateStore,
) -> None:
    now = utc_now()
    state_store.mark_failed(NAMESPACE, "later", "transient", now + timedelta(hours=1))
    state_store.mark_failed(NAMESPACE, "now", "transient", now - timedelta(seconds=1))
    state_store.mark_failed(NAMESPACE, "never", "has no hash", None)
    state_store.upsert_many(
        NAMESPACE,
        {"lost": None},
        status=ItemStatus.PENDING,
        next_attempt_at=now - timedelta(seconds=1),
    )
    state_store.upsert_many(
        NAMESPACE,
        {"running": None},
        status=ItemStatus.PENDING,
        next_attempt_at=now + timedelta(hours=1),
    )
    state_store.mark_done(NAMESPACE, "done")

    due = state_store.keys_due(NAMESPACE, limit=10)
    assert sorted(record.key for record in due) == ["lost", "now"]
    records = state_store.get_many(
        NAMESPACE, ["later", "now", "never", "lost", "running", "done"]
    )
    assert {key for key, record in records.items() if record.is_due(now)} == {
        "now",
        "lost",
    }
    assert state_store.counts(NAMESPACE) == {
        ItemStatus.FAILED: 3,
        ItemStatus.PENDING: 2,
        ItemStatus.DONE: 1,
    }


def test_exponential_backoff_doubles_up_to_the_cap() -> None:
    now = utc_now()
    base, cap = timedelta(minutes=1), timedelta(minutes=10)
    delays = [exponential_backoff(n, base, cap, now) - now for n in range(1, 7)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 10, 10)]
    assert exponential_backoff(10_000, base, cap, now) - now == cap


def test_schema_creation_from_many_threads_at_once(
    postgres: PostgresResource, postgres_database: str
) -> None:
    engine = postgres.engine(postgres_database)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        try:
            barrier.wait()
            StateStore(engine).create_schema()
        except BaseException as error:  # noqa: BLE001 - collected for the assert
            errors.append(error)

    workers = [threading.Thread(target=create) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert sa.inspect(engine).has_table(STATE_TABLE.name)


@pytest.mark.parametrize("status", list(ItemStatus))
def test_every_status_round_trips(state_store: StateStore, status: ItemStatus) -> None:
    state_store.upsert_many(NAMESPACE, {"x": None}, status=status)
    record = state_store.get(NAMESPACE, "x")
    assert record is not None and record.status is status


def test_pending_items_past_their_deadline_are_due_again(
    state_store: StateStore,
) -> None:
    now = utc_now()
    state_store.upsert_many(
        NAMESPACE,
        {"queued": None},
        status=ItemStatus.PENDING,
        next_attempt_at=now + timedelta(hours=1),
    )
    state_store.upsert_many(
        NAMESPACE,
        {"lost": None},
        status=ItemStatus.PENDING,
        next_attempt_at=now - timedelta(seconds=1),
    )
    state_store.mark_failed(NAMESPACE, "failed", "x", now + timedelta(hours=1))
    due = state_store.keys_due(NAMESPACE, limit=10)
    assert [record.key for record in due] == ["lost"]


def test_one_claim_wins_among_concurrent_claimers(state_store: StateStore) -> None:
    threads_count = 8
    until = utc_now() + timedelta(minutes=5)
    barrier = threading.Barrier(threads_count)
    wins: list[int | None] = []

    def claim() -> None:
        barrier.wait()
        wins.append(state_store.claim(NAMESPACE, "own", until))  # type: ignore[arg-type]

    workers = [threading.Thread(target=claim) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(wins, key=bool) == [None] * (threads_count - 1) + [1]
    record = state_store.get(NAMESPACE, "own")
    assert record.status is ItemStatus.PENDING and record.next_attempt_at == until


def test_claims_take_lost_items_and_refuse_done_ones(
    state_store: StateStore,
) -> None:
    past = utc_now() - timedelta(seconds=1)
    state_store.upsert_many(
        NAMESPACE,
        {"lost": {"kept": 1}},
        status=ItemStatus.PENDING,
        next_attempt_at=past,
    )
    assert state_store.claim(NAMESPACE, "lost", utc_now() + timedelta(minutes=5))
    assert state_store.get(NAMESPACE, "lost").value == {"kept": 1}
    state_store.mark_failed(NAMESPACE, "due", "boom", past)
    assert state_store.claim(NAMESPACE, "due", utc_now() + timedelta(minutes=5))
    state_store.mark_done(NAMESPACE, "done", {"did": "x"})
    assert (
        state_store.claim(NAMESPACE, "done", utc_now() + timedelta(minutes=5)) is None
    )
    assert state_store.get(NAMESPACE, "done").status is ItemStatus.DONE


def test_claims_refuse_items_backing_off_or_failed_for_good(
    state_store: StateStore,
) -> None:
    until = utc_now() + timedelta(minutes=5)
    state_store.mark_failed(
        NAMESPACE, "later", "transient", utc_now() + timedelta(hours=1)
    )
    state_store.mark_failed(NAMESPACE, "never", "has no hash", None)
    claimed = state_store.claim_many(
        NAMESPACE, {"later": None, "never": None, "new": None}, until
    )
    assert claimed == {"new": 1}
    later = state_store.get(NAMESPACE, "later")
    never = state_store.get(NAMESPACE, "never")
    assert (later.status, later.last_error) == (ItemStatus.FAILED, "transient")
    assert (never.status, never.next_attempt_at) == (ItemStatus.FAILED, None)


def test_an_expired_holders_late_write_cannot_overwrite_the_new_claim(
    state_store: StateStore,
) -> None:
    first = state_store.claim(NAMESPACE, "item", utc_now() - timedelta(seconds=1))
    second = state_store.claim(NAMESPACE, "item", utc_now() + timedelta(hours=1))
    assert (first, second) == (1, 2), "the expired claim was taken over"
    assert not state_store.mark_done(NAMESPACE, "item", {"late": True}, fence=first)
    assert not state_store.mark_failed(NAMESPACE, "item", "late", None, fence=first)
    assert not state_store.extend(NAMESPACE, "item", first, utc_now())
    record = state_store.get(NAMESPACE, "item")
    assert (record.status, record.value, record.attempts) == (
        ItemStatus.PENDING,
        None,
        2,
    )
    assert state_store.mark_done(NAMESPACE, "item", {"did": "y"}, fence=second)
    done = state_store.get(NAMESPACE, "item")
    assert (done.status, done.value, done.attempts) == (
        ItemStatus.DONE,
        {"did": "y"},
        2,
    )


def test_claim_many_is_one_statement_per_batch_and_counts_attempts(
    state_store: StateStore,
) -> None:
    keys = {f"k{index}": {"n": index} for index in range(UPSERT_BATCH_SIZE + 3)}
    until = utc_now() - timedelta(seconds=1)
    assert set(state_store.claim_many(NAMESPACE, keys, until).values()) == {1}
    assert set(state_store.claim_many(NAMESPACE, keys, until).values()) == {2}
    assert state_store.get(NAMESPACE, "k7").value == {"n": 7}
