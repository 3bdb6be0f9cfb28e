"""Durable per-item state: what was done, what failed and when to retry.

One table keyed by ``(namespace, key)`` on PostgreSQL or SQLite. Every write is one
``INSERT ... ON CONFLICT DO UPDATE`` or conditional ``UPDATE``, so concurrent
writers of one key never race to an integrity error. A claim's fencing token is
the item's new ``attempts``; a write carrying it applies only while the row still
holds that number, so a holder whose claim expired cannot overwrite the new one's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from moderate.state.records import ItemStatus, StateRecord, utc_now

TABLE_NAME = "moderate_item_state"
KEY_BATCH_SIZE = 500
UPSERT_BATCH_SIZE = 100  # 9 parameters a row stays under SQLite's 999 limit
ERROR_TEXT_LIMIT = 4000
SCHEMA_LOCK_ID = 0x6D6F64657261  # advisory lock id: "modera" in ASCII


METADATA = sa.MetaData()
STATE_TABLE = sa.Table(
    TABLE_NAME,
    METADATA,
    sa.Column("namespace", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index(f"ix_{TABLE_NAME}_status", "namespace", "status", "next_attempt_at"),
)


class StateStore:
    """State store on a SQLAlchemy engine (PostgreSQL or SQLite)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._insert = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )

    def create_schema(self) -> None:
        """Creates the table and its index if needed.

        On PostgreSQL an advisory lock serialises concurrent creators, whose
        ``CREATE TABLE`` would otherwise fail with a unique violation.
        """
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_ID))
                )
            METADATA.create_all(connection, checkfirst=True)

    def get(self, namespace: str, key: str) -> StateRecord | None:
        """The record of one item, if any."""
        return self.get_many(namespace, [key]).get(key)

    def get_many(self, namespace: str, keys: Iterable[str]) -> dict[str, StateRecord]:
        """Key to record of the known ``keys`` of ``namespace``, read in batches."""
        unique = list(dict.fromkeys(keys))
        found: dict[str, StateRecord] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(unique), KEY_BATCH_SIZE):
                batch = unique[start : start + KEY_BATCH_SIZE]
                query = sa.select(STATE_TABLE).where(
                    STATE_TABLE.c.namespace == namespace, STATE_TABLE.c.key.in_(batch)
                )
                for row in connection.execute(query).mappings():
                    found[row["key"]] = _record(row)
        return found

    def upsert_many(
        self,
        namespace: str,
        values: Mapping[str, Any],
        *,
        status: ItemStatus,
        last_error: str | None = None,
        next_attempt_at: datetime | None = None,
        count_attempt: bool = False,
    ) -> None:
        """Writes many items of one namespace in one atomic statement per batch.

        ``values`` maps keys to JSON values (None keeps the stored one); a None
        ``last_error`` or ``next_attempt_at`` clears the stored one.
        """
        self._upsert(
            namespace, values, status, last_error, next_attempt_at, count_attempt
        )

    def claim(self, namespace: str, key: str, until: datetime) -> int | None:
        """The fencing token of a claim on one item (see ``claim_many``), or None."""
        return self.claim_many(namespace, {key: None}, until).get(key)

    def claim_many(
        self, namespace: str, values: Mapping[str, Any], until: datetime
    ) -> dict[str, int]:
        """Claims the due items of ``values`` until ``until``; key to fencing token.

        Due: unknown, or :meth:`StateRecord.is_due` (a lost holder's, or a failed
        one's after its backoff). A claim marks the item pending, counts an attempt
        and keeps the stored error; a None value keeps the stored one.
        """
        return self._upsert(
            namespace, values, ItemStatus.PENDING, None, until, True, claim=True
        )

    def extend(self, namespace: str, key: str, fence: int, until: datetime) -> bool:
        """Moves a held claim's deadline to ``until``; False when no longer held."""
        return self._fenced_update(
            namespace,
            key,
            fence,
            {"status": ItemStatus.PENDING.value, "next_attempt_at": until},
            STATE_TABLE.c.status == ItemStatus.PENDING.value,
        )

    def mark_pending(self, namespace: str, key: str, value: Any = None) -> None:
        """Records a request for work, due at once; see :meth:`upsert_many`."""
        self.upsert_many(namespace, {key: value}, status=ItemStatus.PENDING)

    def mark_done(
        self, namespace: str, key: str, value: Any = None, *, fence: int | None = None
    ) -> bool:
        """Records a success, one more attempt; a None ``value`` keeps the stored one.

        With the ``fence`` of the caller's claim the write is dropped (False) when
        the item was claimed again since; the claim counted the attempt.
        """
        return self._finish(namespace, key, ItemStatus.DONE, value, None, None, fence)

    def mark_failed(
        self,
        namespace: str,
        key: str,
        error: str,
        retry_at: datetime | None,
        value: Any = None,
        *,
        fence: int | None = None,
    ) -> bool:
        """Records a failure kept as ``last_error``, like :meth:`mark_done`.

        ``retry_at`` is the earliest next try; None fails the item for good.
        """
        return self._finish(
            namespace, key, ItemStatus.FAILED, value, error, retry_at, fence
        )

    def counts(self, namespace: str) -> Mapping[ItemStatus, int]:
        """Number of items per status in ``namespace``."""
        query = (
            sa.select(STATE_TABLE.c.status, sa.func.count())
            .where(STATE_TABLE.c.namespace == namespace)
            .group_by(STATE_TABLE.c.status)
        )
        counts = dict.fromkeys(ItemStatus, 0)
        with self.engine.connect() as connection:
            for status, count in connection.execute(query):
                counts[ItemStatus(status)] = int(count)
        return counts

    def keys_due(self, namespace: str, limit: int) -> list[StateRecord]:
        """At most ``limit`` due items, least recently updated first."""
        query = (
            sa.select(STATE_TABLE)
            .where(STATE_TABLE.c.namespace == namespace, _due(utc_now()))
            .order_by(STATE_TABLE.c.updated_at)
            .limit(limit)
        )
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query).mappings()]

    def _upsert(
        self,
        namespace: str,
        values: Mapping[str, Any],
        status: ItemStatus,
        last_error: str | None,
        next_attempt_at: datetime | None,
        count_attempt: bool,
        claim: bool = False,
    ) -> dict[str, int]:
        """One upsert per batch; key to attempts (a claim keeps the stored error)."""
        now = utc_now()
        attempts = int(count_attempt)
        row = {
            "namespace": namespace,
            "status": status.value,
            "attempts": attempts,
            "last_error": _clip(last_error),
            "next_attempt_at": next_attempt_at,
            "created_at": now,
            "updated_at": now,
        }
        rows = [{**row, "key": key, "value": value} for key, value in values.items()]
        claimable = _due(now) if claim else None
        written: dict[str, int] = {}
        with self.engine.begin() as connection:
            for start in range(0, len(rows), UPSERT_BATCH_SIZE):
                insert = self._insert(STATE_TABLE).values(
                    rows[start : start + UPSERT_BATCH_SIZE]
                )
                excluded = insert.excluded
                changes = {
                    "value": sa.func.coalesce(excluded.value, STATE_TABLE.c.value),
                    "status": excluded.status,
                    "attempts": STATE_TABLE.c.attempts + attempts,
                    "next_attempt_at": excluded.next_attempt_at,
                    "updated_at": excluded.updated_at,
                }
                if not claim:
                    changes["last_error"] = excluded.last_error
                statement = insert.on_conflict_do_update(
                    index_elements=[STATE_TABLE.c.namespace, STATE_TABLE.c.key],
                    set_=changes,
                    where=claimable,
                ).returning(STATE_TABLE.c.key, STATE_TABLE.c.attempts)
                written.update(connection.execute(statement).tuples().all())
        return written

    def _finish(
        self,
        namespace: str,
        key: str,
        status: ItemStatus,
        value: Any,
        error: str | None,
        retry_at: datetime | None,
        fence: int | None,
    ) -> bool:
        """Records an outcome, fenced when ``fence`` is given."""
        if fence is None:
            self._upsert(namespace, {key: value}, status, error, retry_at, True)
            return True
        return self._fenced_update(
            namespace,
            key,
            fence,
            {
                "status": status.value,
                "value": STATE_TABLE.c.value if value is None else value,
                "last_error": _clip(error),
                "next_attempt_at": retry_at,
            },
        )

    def _fenced_update(
        self,
        namespace: str,
        key: str,
        fence: int,
        changes: Mapping[str, Any],
        *conditions: sa.ColumnElement[bool],
    ) -> bool:
        statement = (
            sa.update(STATE_TABLE)
            .where(
                STATE_TABLE.c.namespace == namespace,
                STATE_TABLE.c.key == key,
                STATE_TABLE.c.attempts == fence,
                *conditions,
            )
            .values(**changes, updated_at=utc_now())
        )
        with self.engine.begin() as connection:
            return connection.execute(statement).rowcount == 1


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """:meth:`StateRecord.is_due` in SQL (an ``IN`` the status index serves)."""
    return sa.and_(
        STATE_TABLE.c.status.in_([ItemStatus.PENDING.value, ItemStatus.FAILED.value]),
        sa.or_(
            sa.and_(
                STATE_TABLE.c.next_attempt_at.is_(None),
                STATE_TABLE.c.status == ItemStatus.PENDING.value,
            ),
            STATE_TABLE.c.next_attempt_at <= now,
        ),
    )


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:ERROR_TEXT_LIMIT]


def _as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _record(row: Mapping[Any, Any]) -> StateRecord:
    times = {
        name: _as_utc(row[name])
        for name in ("next_attempt_at", "created_at", "updated_at")
    }
    return StateRecord(**{**row, **times, "status": ItemStatus(row["status"])})
