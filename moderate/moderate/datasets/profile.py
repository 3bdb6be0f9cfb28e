"""What the table readers share: read options and errors, column kinds, statistics.

It imports no pyarrow at load time, so the definitions do not pay for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

MIB = 1024 * 1024
CSV_BLOCK_SIZE_MIB = 6
PREVIEW_CELL_CHARS = 40
TIMESTAMP_UNIT = "us"


class DatasetReadError(ValueError):
    """A file could not be read as a table (the message names the file)."""


@dataclass(frozen=True)
class CsvOptions:
    """Dialect of one CSV file; ``block_size`` is the bytes parsed per batch."""

    skip_rows: int = 0
    separator: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    null_values: tuple[str, ...] = ("",)
    block_size: int = CSV_BLOCK_SIZE_MIB * MIB


class ColumnKind(enum.StrEnum):
    """Type family of a column, widened as more values are seen."""

    NULL = "null"
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    TIMESTAMP = "timestamp"
    STRING = "string"


_NUMERIC = frozenset({ColumnKind.INT, ColumnKind.FLOAT})


def widen(current: ColumnKind, seen: ColumnKind) -> ColumnKind:
    """The narrowest kind holding values of both kinds."""
    if current == seen or seen == ColumnKind.NULL:
        return current
    if current == ColumnKind.NULL:
        return seen
    if current in _NUMERIC and seen in _NUMERIC:
        return ColumnKind.FLOAT
    return ColumnKind.STRING


def arrow_type(kind: ColumnKind) -> pa.DataType:
    """The Arrow type a column of ``kind`` is written as (all-null → string)."""
    import pyarrow as pa

    return {
        ColumnKind.BOOL: pa.bool_(),
        ColumnKind.INT: pa.int64(),
        ColumnKind.FLOAT: pa.float64(),
        ColumnKind.TIMESTAMP: pa.timestamp(TIMESTAMP_UNIT),
    }.get(kind, pa.string())


@dataclass(frozen=True)
class ColumnStats:
    """One column of a converted dataset: name, Arrow type as text, missing values."""

    name: str
    type: str
    null_count: int


@dataclass(frozen=True)
class TableStats:
    """What a conversion learnt about a dataset (``preview``: header and first rows)."""

    rows: int
    columns: tuple[ColumnStats, ...]
    preview: tuple[tuple[str, ...], ...]


class StatsCollector:
    """Accumulates row and null counts and a preview over record batches."""

    def __init__(self, schema: pa.Schema, preview_rows: int) -> None:
        self._schema = schema
        self._preview_rows = preview_rows
        self._rows = 0
        self._nulls = [0] * len(schema)
        self._preview: list[tuple[str, ...]] = []

    def add(self, batch: pa.RecordBatch) -> None:
        """Counts one batch and keeps its first rows for the preview."""
        self._rows += batch.num_rows
        for index, column in enumerate(batch.columns):
            self._nulls[index] += column.null_count
        missing = self._preview_rows - len(self._preview)
        if missing > 0 and batch.num_rows:
            heads = [column.slice(0, missing).to_pylist() for column in batch.columns]
            self._preview.extend(
                tuple(_cell(value) for value in row) for row in zip(*heads, strict=True)
            )

    def result(self) -> TableStats:
        """The statistics of every batch added so far."""
        columns = tuple(
            ColumnStats(field.name, str(field.type), nulls)
            for field, nulls in zip(self._schema, self._nulls, strict=True)
        )
        header = tuple(self._schema.names)
        return TableStats(self._rows, columns, (header, *self._preview))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1]
