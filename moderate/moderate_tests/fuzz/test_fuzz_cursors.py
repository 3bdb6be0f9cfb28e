"""The trust sensors' cursor parsers are total: any stored text reads or resets.

A cursor that raised would fail every tick of its sensor for good, so whatever
the cursor holds (hand-edited, truncated, from an older version) reading it
returns a cursor, with a one-line reason when it had to start afresh, and what a
cursor writes always reads back equal.
"""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderate.trust.sensors import (
    MAX_CURSOR_INT,
    ObjectScanCursor,
    UserScanCursor,
)
from moderate_tests.fuzz.corpus import load_corpus

CURSORS = (UserScanCursor, ObjectScanCursor)
FIELD_NAMES = sorted({*UserScanCursor.model_fields, *ObjectScanCursor.model_fields})

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.datetimes().map(lambda value: value.isoformat()),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def check_total(cursor_type: type[UserScanCursor | ObjectScanCursor], raw: str) -> None:
    cursor, reason = cursor_type.read(raw)
    assert isinstance(cursor, cursor_type)
    if reason is not None:
        assert cursor == cursor_type(), "an unreadable cursor starts afresh"
        assert reason.startswith(f"unreadable {cursor_type.__name__}")
        assert "\n" not in reason
    assert cursor_type.read(cursor.model_dump_json())[0] == cursor


@pytest.mark.parametrize("seed", load_corpus("cursors"))
def test_committed_seeds_read_or_reset(seed: bytes) -> None:
    raw = seed.decode("utf-8", errors="surrogateescape")
    for cursor_type in CURSORS:
        check_total(cursor_type, raw)


@given(raw=st.text(max_size=200))
def test_any_text_reads_or_resets(raw: str) -> None:
    for cursor_type in CURSORS:
        check_total(cursor_type, raw)


@given(
    document=st.dictionaries(
        st.sampled_from([*FIELD_NAMES, "unknown"]), JSON_VALUES, max_size=5
    )
)
def test_any_json_object_with_cursor_fields_reads_or_resets(document: dict) -> None:
    raw = json.dumps(document)
    for cursor_type in CURSORS:
        check_total(cursor_type, raw)


@given(document=JSON_VALUES)
def test_any_json_document_reads_or_resets(document: object) -> None:
    raw = json.dumps(document)
    for cursor_type in CURSORS:
        check_total(cursor_type, raw)


COUNTS = st.none() | st.integers(min_value=0, max_value=MAX_CURSOR_INT)


@given(
    cursor=st.builds(
        UserScanCursor,
        offset=COUNTS,
        pass_count=COUNTS,
        known_count=COUNTS,
        last_pass_started_at=st.none() | st.datetimes(timezones=st.just(UTC)),
    )
)
def test_every_user_cursor_round_trips(cursor: UserScanCursor) -> None:
    assert UserScanCursor.read(cursor.model_dump_json()) == (cursor, None)


@given(after_id=st.integers(min_value=0, max_value=MAX_CURSOR_INT))
def test_every_object_cursor_round_trips(after_id: int) -> None:
    cursor = ObjectScanCursor(after_id=after_id)
    assert ObjectScanCursor.read(cursor.model_dump_json()) == (cursor, None)
