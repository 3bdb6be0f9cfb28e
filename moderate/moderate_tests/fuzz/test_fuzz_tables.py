"""Fuzzing the CSV and XLSX header and row handling of the datasets feature.

Any input gives either a Parquet file that pyarrow opens with distinct, non-empty
column names (one per header cell) or a ``DatasetReadError`` naming the file.
"""

from __future__ import annotations

import datetime as dt
import string
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from moderate.datasets.csv_parquet import (
    CsvOptions,
    DatasetReadError,
    column_names,
    csv_to_parquet,
)
from moderate.datasets.workbook import open_workbook, sheet_names, sheet_to_parquet
from moderate_tests.fuzz.corpus import load_corpus

LABEL = "data/fuzz/table.csv"
PREVIEW_ROWS = 3
WORKBOOK_EXAMPLES = 60
MAX_CELLS = 6
MAX_ROWS = 12

CELL_TEXT = st.text(alphabet=string.printable + "éß€\u00a0", max_size=8)
HEADER_CELL = st.one_of(
    st.sampled_from(["a", "b", "a_2", "", " a ", "timestamp", "column_1"]),
    CELL_TEXT,
)
CSV_CELL = st.one_of(
    st.sampled_from(["", "1", "2.5", "-0", "nan", "inf", "2016-01-01 00:00:00"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    CELL_TEXT,
)
SEPARATOR = st.sampled_from([",", ";", "\t"])


def _check_output(target: Path, stats_header: tuple[str, ...]) -> None:
    names = pq.read_table(target).column_names
    assert names == list(stats_header)
    assert len(set(names)) == len(names)
    assert all(name for name in names)


def _convert_csv(data: bytes, options: CsvOptions) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-tables-") as folder:
        source = Path(folder) / "table.csv"
        target = Path(folder) / "table.parquet"
        source.write_bytes(data)
        try:
            stats = csv_to_parquet(source, target, options, PREVIEW_ROWS, LABEL)
        except DatasetReadError as error:
            assert str(error).startswith(f"{LABEL}: ")
            assert not target.exists()
            return
        _check_output(target, stats.preview[0])


def _quote(cell: str, separator: str) -> str:
    if any(mark in cell for mark in (separator, '"', "\n", "\r")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[bytes, CsvOptions]:
    separator = draw(SEPARATOR)
    header = draw(st.lists(HEADER_CELL, min_size=1, max_size=MAX_CELLS))
    rows = draw(
        st.lists(
            st.lists(CSV_CELL, min_size=0, max_size=MAX_CELLS + 1), max_size=MAX_ROWS
        )
    )
    quoted = draw(st.booleans())
    lines = [
        separator.join(_quote(cell, separator) if quoted else cell for cell in row)
        for row in [header, *rows]
    ]
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    return data, CsvOptions(separator=separator, encoding=encoding)


@pytest.mark.parametrize("seed", load_corpus("tables"))
def test_seed_corpus(seed: bytes) -> None:
    _convert_csv(seed, CsvOptions())


@given(csv_tables())
def test_any_csv_gives_a_table_or_a_reason(table: tuple[bytes, CsvOptions]) -> None:
    data, options = table
    _convert_csv(data, options)


@given(st.binary(max_size=512))
def test_any_bytes_give_a_table_or_a_reason(data: bytes) -> None:
    _convert_csv(data, CsvOptions())


@given(st.lists(st.one_of(st.none(), HEADER_CELL), max_size=MAX_CELLS * 2))
def test_column_names_are_distinct_and_non_empty(header: list[str | None]) -> None:
    cells = ["" if cell is None else cell for cell in header]
    names = column_names(cells)
    assert len(names) == len(cells)
    assert len(set(names)) == len(names)
    assert all(names)


WORKBOOK_CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    CELL_TEXT.filter(lambda text: not text.startswith("=")),
)


def _cell(value: object) -> object:
    # openpyxl refuses control characters in cells; a workbook cannot hold them.
    if isinstance(value, str):
        return "".join(c for c in value if c.isprintable() or c == " ")
    return value


@settings(max_examples=WORKBOOK_EXAMPLES)
@given(
    st.lists(
        st.lists(WORKBOOK_CELL, min_size=0, max_size=MAX_CELLS + 1), max_size=MAX_ROWS
    )
)
def test_any_sheet_gives_a_table_or_a_reason(rows: list[list[object]]) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-sheets-") as folder:
        source = Path(folder) / "book.xlsx"
        target = Path(folder) / "sheet.parquet"
        book = Workbook()
        sheet = book.active
        for row in rows:
            sheet.append([_cell(value) for value in row])
        book.save(source)
        with open_workbook(source, "book.xlsx") as workbook:
            (name,) = sheet_names(workbook)
            try:
                stats = sheet_to_parquet(workbook, name, target, PREVIEW_ROWS, "book")
            except DatasetReadError as error:
                assert str(error).startswith("book")
                assert not target.exists()
                return
        if stats is None:
            # openpyxl stores neither None nor the empty text as a cell.
            assert all(_cell(value) in (None, "") for row in rows for value in row)
            return
        _check_output(target, stats.preview[0])


@given(st.binary(max_size=512))
def test_any_bytes_as_a_workbook_give_a_reason(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-books-") as folder:
        source = Path(folder) / "book.xlsx"
        source.write_bytes(data)
        with (
            pytest.raises(DatasetReadError, match=r"book\.xlsx"),
            open_workbook(source, "book.xlsx"),
        ):
            pass
