"""Streaming CSV → Parquet conversion with whole-file type inference.

Arrow's streaming CSV reader infers column types from its first block only: a
meter column that is empty for the first weeks and numeric later would fail
half-way. The conversion therefore works one block at a time:

1. the first block is read as text and each column's kind is guessed from it
   (a column still empty there is guessed to be numeric), then the whole file
   is converted with those types, one Parquet row group per block;
2. if a later value does not fit a guessed type, the file is read again as
   text to widen every column's kind over all blocks (int → float → text,
   timestamp → text), and converted with those types.

Memory stays around a few blocks, whatever the file size; a file whose first
block is representative is parsed once (plus one block).
"""

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from moderate.datasets.profile import (
    ColumnKind,
    StatsCollector,
    TableStats,
    arrow_type,
    widen,
)

MIB = 1024 * 1024
PARQUET_COMPRESSION = "zstd"
MAX_DEMOTIONS = 20
HEADER_BLOCK_BYTES = MIB
_COLUMN_IN_ERROR = re.compile(r"In CSV column #(\d+)")


class DatasetReadError(ValueError):
    """A file could not be read as a table (the message names the file)."""


@dataclass(frozen=True)
class CsvOptions:
    """Dialect of one CSV file.

    Attributes:
        skip_rows: Lines before the header.
        separator: Field separator.
        decimal: Decimal mark.
        encoding: Text encoding.
        null_values: Cell texts read as missing.
        block_size: Bytes parsed per batch.
    """

    skip_rows: int = 0
    separator: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    null_values: tuple[str, ...] = ("",)
    block_size: int = 16 * MIB


def csv_to_parquet(
    source: Path, target: Path, options: CsvOptions, preview_rows: int, label: str
) -> TableStats:
    """Converts one CSV file to Parquet without loading it whole.

    Args:
        source: CSV file.
        target: Parquet file to write.
        options: Dialect.
        preview_rows: Rows kept for the preview.
        label: Name of the file in error messages (repository path).

    Returns:
        Row, column and null counts and a preview.

    Raises:
        DatasetReadError: If the file is not a readable table.
    """
    try:
        names = _header(source, options)
        guessed = _first_block_kinds(source, options, names)
        try:
            return _write(source, target, options, names, guessed, preview_rows)
        except pa.ArrowInvalid as error:
            if _failing_column(error) is None:
                raise
        kinds = _infer_kinds(source, options, names)
        for _attempt in range(MAX_DEMOTIONS):
            try:
                return _write(source, target, options, names, kinds, preview_rows)
            except pa.ArrowInvalid as error:
                column = _failing_column(error)
                if column is None or column >= len(names):
                    raise
                if kinds[names[column]] == ColumnKind.STRING:
                    raise
                kinds[names[column]] = ColumnKind.STRING
        raise DatasetReadError(f"{label}: column types kept changing")
    except (pa.ArrowException, UnicodeDecodeError, LookupError) as error:
        target.unlink(missing_ok=True)
        raise DatasetReadError(f"{label}: {_first_line(error)}") from error


def _read_options(options: CsvOptions, names: list[str] | None) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(
        skip_rows=options.skip_rows,
        encoding=options.encoding,
        block_size=options.block_size,
        column_names=names,
        skip_rows_after_names=1 if names is not None else 0,
    )


def _parse_options(options: CsvOptions) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=options.separator)


def _header(source: Path, options: CsvOptions) -> list[str]:
    """Column names, parsing a small first block when the header fits in it."""
    small = replace(options, block_size=min(HEADER_BLOCK_BYTES, options.block_size))
    try:
        names = _names(source, small)
    except pa.ArrowInvalid:
        names = _names(source, options)
    if not names or names == [""]:
        raise pa.ArrowInvalid("no header line")
    return names


def _names(source: Path, options: CsvOptions) -> list[str]:
    reader = pacsv.open_csv(
        source,
        read_options=_read_options(options, None),
        parse_options=_parse_options(options),
        convert_options=pacsv.ConvertOptions(
            null_values=list(options.null_values), strings_can_be_null=True
        ),
    )
    try:
        return list(reader.schema.names)
    finally:
        reader.close()


def _string_reader(
    source: Path, options: CsvOptions, names: list[str]
) -> pacsv.CSVStreamingReader:
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=list(options.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    return pacsv.open_csv(
        source,
        read_options=_read_options(options, names),
        parse_options=_parse_options(options),
        convert_options=convert,
    )


def _first_block_kinds(
    source: Path, options: CsvOptions, names: list[str]
) -> dict[str, ColumnKind]:
    """Kinds guessed from the first block; columns empty there → float."""
    reader = _string_reader(source, options, names)
    try:
        batch = reader.read_next_batch()
    except StopIteration:
        return dict.fromkeys(names, ColumnKind.STRING)
    finally:
        reader.close()
    kinds = {}
    for name, column in zip(names, batch.columns, strict=True):
        kind = _kind_of(column, ColumnKind.NULL, options.decimal)
        kinds[name] = ColumnKind.FLOAT if kind == ColumnKind.NULL else kind
    return kinds


def _infer_kinds(
    source: Path, options: CsvOptions, names: list[str]
) -> dict[str, ColumnKind]:
    kinds = [ColumnKind.NULL] * len(names)
    reader = _string_reader(source, options, names)

    def update(index: int, column: pa.Array) -> None:
        if kinds[index] != ColumnKind.STRING:
            seen = _kind_of(column, kinds[index], options.decimal)
            kinds[index] = widen(kinds[index], seen)

    try:
        with ThreadPoolExecutor(max_workers=pa.cpu_count()) as pool:
            for batch in reader:
                list(pool.map(update, range(len(names)), batch.columns))
    finally:
        reader.close()
    return {
        name: ColumnKind.FLOAT if kind == ColumnKind.NULL else kind
        for name, kind in zip(names, kinds, strict=True)
    }


def _kind_of(column: pa.Array, current: ColumnKind, decimal: str) -> ColumnKind:
    """Narrowest kind of the non-null texts in ``column`` given ``current``."""
    values = column.drop_null()
    if len(values) == 0:
        return ColumnKind.NULL
    if current in (ColumnKind.NULL, ColumnKind.INT) and _casts(values, pa.int64()):
        return ColumnKind.INT
    if current in (ColumnKind.NULL, ColumnKind.INT, ColumnKind.FLOAT) and _is_float(
        values, decimal
    ):
        return ColumnKind.FLOAT
    if current in (ColumnKind.NULL, ColumnKind.TIMESTAMP) and _casts(
        values, arrow_type(ColumnKind.TIMESTAMP)
    ):
        return ColumnKind.TIMESTAMP
    return ColumnKind.STRING


def _is_float(values: pa.Array, decimal: str) -> bool:
    if decimal != ".":
        if pc.any(pc.match_substring(values, ".")).as_py():
            return False
        values = pc.replace_substring(values, decimal, ".")
    return _casts(values, pa.float64())


def _casts(values: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(values, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _write(
    source: Path,
    target: Path,
    options: CsvOptions,
    names: list[str],
    kinds: dict[str, ColumnKind],
    preview_rows: int,
) -> TableStats:
    types = {name: arrow_type(kind) for name, kind in kinds.items()}
    schema = pa.schema([(name, types[name]) for name in names])
    convert = pacsv.ConvertOptions(
        column_types=types,
        null_values=list(options.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        decimal_point=options.decimal,
    )
    stats = StatsCollector(schema, preview_rows)
    reader = pacsv.open_csv(
        source,
        read_options=_read_options(options, names),
        parse_options=_parse_options(options),
        convert_options=convert,
    )
    try:
        with pq.ParquetWriter(target, schema, compression=PARQUET_COMPRESSION) as out:
            for batch in reader:
                out.write_batch(batch)
                stats.add(batch)
    finally:
        reader.close()
    return stats.result()


def _failing_column(error: Exception) -> int | None:
    match = _COLUMN_IN_ERROR.search(str(error))
    return int(match.group(1)) if match else None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
