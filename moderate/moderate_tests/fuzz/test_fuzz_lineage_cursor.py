"""The lineage sensor's cursor parser is total: any stored text reads or resets."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderate.openmetadata.lineage import Cursor
from moderate_tests.fuzz.corpus import load_corpus

SEEDS = load_corpus("lineage_cursors")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
CURSOR_DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "materialization": JSON_VALUES,
        "checks": JSON_VALUES | st.dictionaries(st.text(max_size=10), JSON_VALUES),
    },
)


def check_total(raw: str) -> None:
    cursor = Cursor.parse(raw)
    assert isinstance(cursor, Cursor)
    assert Cursor.parse(cursor.model_dump_json()) == cursor


@pytest.mark.parametrize("seed", SEEDS)
def test_committed_seeds_read_or_reset(seed: bytes) -> None:
    check_total(seed.decode("utf-8", errors="replace"))


def test_unreadable_seeds_reset() -> None:
    assert Cursor.parse("{" + '"materialization": Infinity}') == Cursor()
    assert Cursor.parse("[" * 50_000) == Cursor()


@given(st.text(max_size=200))
def test_any_text_reads_or_resets(raw: str) -> None:
    check_total(raw)


@given(CURSOR_DOCUMENTS)
def test_any_cursor_shaped_json_reads_or_resets(document: dict[str, object]) -> None:
    check_total(json.dumps(document))
