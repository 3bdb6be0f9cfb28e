"""Streaming ``.xlsx`` → Parquet conversion, one dataset per sheet.

Sheets are read row by row (openpyxl read-only mode) twice: once to settle
each column's kind over the whole sheet, once to write row groups. Cell values
are kept as stored: numbers stored as text (``'1'``, ``73.3 %``) stay text.
"""

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError
from zipfile import BadZipFile

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from moderate.datasets.csv_parquet import PARQUET_COMPRESSION, column_names
from moderate.datasets.profile import (
    ColumnKind,
    DatasetReadError,
    StatsCollector,
    TableStats,
    arrow_type,
    widen,
)

ROWS_PER_BATCH = 10_000
KINDS_BY_TYPE = {
    type(None): ColumnKind.NULL,
    bool: ColumnKind.BOOL,
    int: ColumnKind.INT,
    float: ColumnKind.FLOAT,
    dt.datetime: ColumnKind.TIMESTAMP,
}
"""Kinds of the cell values openpyxl yields; any other value is text."""


@dataclass(frozen=True)
class SheetLayout:
    """The kept columns of one sheet: cell positions and Arrow schema."""

    positions: tuple[int, ...]
    schema: pa.Schema


@contextmanager
def open_workbook(path: Path, label: str) -> Iterator[Workbook]:
    """Opens a workbook read-only (values, not formulas) and closes it.

    Raises:
        DatasetReadError: If the file is not a readable workbook.
    """
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise DatasetReadError(f"{label}: not a readable .xlsx workbook") from error
    try:
        yield workbook
    finally:
        workbook.close()


def sheet_names(workbook: Workbook) -> list[str]:
    """Names of the workbook's worksheets, in order."""
    return [sheet.title for sheet in workbook.worksheets]


def sheet_to_parquet(
    workbook: Workbook, sheet: str, target: Path, preview_rows: int, label: str
) -> TableStats | None:
    """Converts one sheet (header on row 1) of a workbook from :func:`open_workbook`.

    Returns:
        The sheet's statistics, or None when the sheet holds no cell at all.

    Raises:
        DatasetReadError: If the sheet cannot be read.
    """
    try:
        layout = _layout(workbook, sheet)
        if layout is None:
            return None
        return _write(workbook, sheet, target, layout, preview_rows)
    except (ValueError, TypeError, KeyError, ParseError, pa.ArrowException) as error:
        target.unlink(missing_ok=True)
        raise DatasetReadError(f"{label}: {error}") from error


def _rows(workbook: Workbook, sheet: str) -> Iterator[tuple[Any, ...]]:
    for row in workbook[sheet].iter_rows(values_only=True):
        if any(value is not None for value in row):
            yield row


def _layout(workbook: Workbook, sheet: str) -> SheetLayout | None:
    rows = _rows(workbook, sheet)
    header = next(rows, None)
    if header is None:
        return None
    width = len(header)
    kinds = [ColumnKind.NULL] * width
    for row in rows:
        if len(row) > width:
            kinds.extend([ColumnKind.NULL] * (len(row) - width))
            width = len(row)
        for index, value in enumerate(row):
            seen = KINDS_BY_TYPE.get(type(value), ColumnKind.STRING)
            kinds[index] = widen(kinds[index], seen)
    titles = [*header, *([None] * (width - len(header)))]
    kept = [
        i
        for i in range(width)
        if titles[i] not in (None, "") or kinds[i] != ColumnKind.NULL
    ]
    names = column_names(
        ["" if titles[i] is None else str(titles[i]) for i in kept],
        [i + 1 for i in kept],
    )
    schema = pa.schema(
        [(name, arrow_type(kinds[i])) for name, i in zip(names, kept, strict=True)]
    )
    return SheetLayout(tuple(kept), schema)


def _write(
    workbook: Workbook,
    sheet: str,
    target: Path,
    layout: SheetLayout,
    preview_rows: int,
) -> TableStats:
    stats = StatsCollector(layout.schema, preview_rows)
    rows = _rows(workbook, sheet)
    next(rows, None)
    with pq.ParquetWriter(
        target, layout.schema, compression=PARQUET_COMPRESSION
    ) as out:
        while chunk := list(itertools.islice(rows, ROWS_PER_BATCH)):
            batch = _batch(chunk, layout)
            out.write_batch(batch)
            stats.add(batch)
    return stats.result()


def _batch(chunk: Sequence[tuple[Any, ...]], layout: SheetLayout) -> pa.RecordBatch:
    arrays = []
    for position, field in zip(layout.positions, layout.schema, strict=True):
        values = [row[position] if position < len(row) else None for row in chunk]
        if pa.types.is_string(field.type):
            values = [None if value is None else str(value) for value in values]
        elif pa.types.is_floating(field.type):
            values = [None if value is None else float(value) for value in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=layout.schema)
