"""Streaming CSV → Parquet conversion with types inferred over the whole file.

Arrow's streaming CSV reader infers column types from its first block only: a
meter column that is empty for the first weeks and numeric later would fail
half-way (or be typed as text). The conversion therefore:

1. infers each column's kind from a sample drawn from the whole file: Arrow
   infers the first rows' types, then runs of rows at evenly spaced offsets are
   parsed with the kinds known so far, inferring only still-empty columns (a
   run that does not fit is inferred whole; a column empty in every sample is
   numeric: float);
2. converts the file in one streaming pass with those types into row groups
   of about ``ROW_GROUP_BYTES`` (few, large column chunks read back fast);
3. only if a later value does not fit an inferred type, reads the file again
   as text to widen every column's kind over all rows (int → float → text,
   timestamp → text) and converts it with those types.

Memory stays around one row group plus one block, whatever the file size.
Column names are made unique and non-empty (``a,b,a`` → ``a``, ``b``, ``a_2``)
so that every Parquet reader can address each column.

The engine was chosen by measurement (``benchmarks/datasets_parquet_conversion``)
among pyarrow, polars and pandas; see docs/datasets.md.
"""

import codecs
import io
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from moderate.datasets.profile import (
    MIB,
    ColumnKind,
    CsvOptions,
    DatasetReadError,
    StatsCollector,
    TableStats,
    arrow_type,
    widen,
)
from moderate.support.naming import unique_names

PARQUET_COMPRESSION = "snappy"
ROW_GROUP_BYTES = 32 * MIB
MAX_DEMOTIONS = 20
HEADER_BLOCK_BYTES = MIB
SAMPLE_COUNT = 16
SAMPLE_BYTES = MIB
# Offsets can be cut at a line break only in encodings where b"\n" is a line
# break: the ASCII-compatible ones. Others are inferred with a full text pass.
SAMPLED_ENCODINGS = frozenset(
    {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"}
)
UNNAMED_COLUMN = "column_{position}"
_COLUMN_IN_ERROR = re.compile(r"In CSV column #(\d+)")


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
        header = _header(source, options)
        names = column_names(header.names)
        first = [_kind_of_type(field.type) for field in header]
        guessed = _sampled_kinds(source, options, names, first)
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


def column_names(
    header: Sequence[str], positions: Sequence[int] | None = None
) -> list[str]:
    """Header cells as names every Parquet reader can address.

    Cells are stripped; an empty one becomes ``column_<position>`` (1-based, or
    the cell's entry in ``positions`` when only some columns of a row are kept)
    and repeats get ``_2``, ``_3``, … (``a,b,a`` → ``a``, ``b``, ``a_2``).
    """
    numbers = positions or range(1, len(header) + 1)
    cleaned = [
        cell.strip() or UNNAMED_COLUMN.format(position=position)
        for cell, position in zip(header, numbers, strict=True)
    ]
    return unique_names(cleaned)


def _read_options(options: CsvOptions, names: list[str] | None) -> pacsv.ReadOptions:
    # Serial parsing: one block in flight, not one per core (lower peak memory).
    return pacsv.ReadOptions(
        use_threads=False,
        skip_rows=options.skip_rows,
        encoding=options.encoding,
        block_size=options.block_size,
        column_names=names,
        skip_rows_after_names=1 if names is not None else 0,
    )


def _parse_options(options: CsvOptions) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(delimiter=options.separator)


def _open(
    source: Path,
    options: CsvOptions,
    names: list[str] | None,
    known: dict[str, pa.DataType] | None = None,
) -> pacsv.CSVStreamingReader:
    """Streaming reader of the dialect; ``known`` columns typed, others inferred."""
    return pacsv.open_csv(
        source,
        read_options=_read_options(options, names),
        parse_options=_parse_options(options),
        convert_options=_convert(options, known),
    )


def _header(source: Path, options: CsvOptions) -> pa.Schema:
    """Header and first-rows types, parsing a small first block when it fits."""
    small = replace(options, block_size=min(HEADER_BLOCK_BYTES, options.block_size))
    try:
        schema = _first_schema(source, small)
    except pa.ArrowInvalid:
        schema = _first_schema(source, options)
    if not schema.names or schema.names == [""]:
        raise pa.ArrowInvalid("no header line")
    return schema


def _first_schema(source: Path, options: CsvOptions) -> pa.Schema:
    reader = _open(source, options, None)
    try:
        return reader.schema
    finally:
        reader.close()


def _sampled_kinds(
    source: Path,
    options: CsvOptions,
    names: list[str],
    first: list[ColumnKind] | None = None,
) -> dict[str, ColumnKind]:
    """Kinds inferred from rows drawn from the whole file; empty columns → float.

    Arrow infers the first rows' types (in C++; ``first`` when the header's
    parse already did, see ``_header``). Every later sample is parsed
    with the kinds known so far, so only the columns still empty are inferred
    (type inference costs several times a typed parse); a sample that does not
    fit the known kinds is inferred whole and widens them. A file smaller than
    the samples together, an encoding that cannot be cut at arbitrary line
    breaks, or a sample that does not parse (a quoted line break at a cut) is
    inferred from all of its rows instead.
    """
    size = source.stat().st_size
    encoding = codecs.lookup(options.encoding).name
    if size <= SAMPLE_COUNT * SAMPLE_BYTES or encoding not in SAMPLED_ENCODINGS:
        return _infer_kinds(source, options, names)
    try:
        kinds = _sample_kinds(source, options, names, size, first)
    except pa.ArrowInvalid:
        return _infer_kinds(source, options, names)
    return {
        name: ColumnKind.FLOAT if kind == ColumnKind.NULL else kind
        for name, kind in zip(names, kinds, strict=True)
    }


def _kind_of_type(inferred: pa.DataType) -> ColumnKind:
    """The kind of a type Arrow's CSV inference chose (see ``_kind_of``)."""
    if pa.types.is_null(inferred):
        return ColumnKind.NULL
    if pa.types.is_integer(inferred):
        return ColumnKind.INT
    if pa.types.is_floating(inferred):
        return ColumnKind.FLOAT
    if pa.types.is_date(inferred) or (
        pa.types.is_timestamp(inferred) and inferred.tz is None
    ):
        return ColumnKind.TIMESTAMP
    return ColumnKind.STRING


def _convert(
    options: CsvOptions, known: dict[str, pa.DataType] | None = None
) -> pacsv.ConvertOptions:
    """Dialect's nulls and decimal mark; ``known`` columns typed, others inferred."""
    return pacsv.ConvertOptions(
        column_types=known or {},
        null_values=list(options.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        decimal_point=options.decimal,
    )


def _sample_kinds(
    source: Path,
    options: CsvOptions,
    names: list[str],
    size: int,
    first: list[ColumnKind] | None,
) -> list[ColumnKind]:
    """Kinds of the first rows widened over whole lines at spread offsets."""
    if first is None:
        first = [_kind_of_type(field.type) for field in _header(source, options)]
    kinds = list(first)
    read_options = pacsv.ReadOptions(
        encoding=options.encoding,
        column_names=names,
        block_size=2 * SAMPLE_BYTES,
        use_threads=False,
    )
    with source.open("rb") as file:
        for index in range(1, SAMPLE_COUNT + 1):
            file.seek(size // (SAMPLE_COUNT + 1) * index)
            chunk = file.read(SAMPLE_BYTES)
            lines = chunk[chunk.find(b"\n") + 1 : chunk.rfind(b"\n") + 1]
            if not lines.strip():
                continue
            known = {
                name: arrow_type(kind)
                for name, kind in zip(names, kinds, strict=True)
                if kind != ColumnKind.NULL
            }
            try:
                schema = _sample_schema(lines, read_options, options, known)
            except pa.ArrowInvalid:
                schema = _sample_schema(lines, read_options, options, None)
            for index, field in enumerate(schema):
                kinds[index] = widen(kinds[index], _kind_of_type(field.type))
    return kinds


def _sample_schema(
    lines: bytes,
    read_options: pacsv.ReadOptions,
    options: CsvOptions,
    known: dict[str, pa.DataType] | None,
) -> pa.Schema:
    """Schema of one sample, parsing ``known`` columns with their types."""
    return pacsv.read_csv(
        io.BytesIO(lines),
        read_options=read_options,
        parse_options=_parse_options(options),
        convert_options=_convert(options, known),
    ).schema


def _infer_kinds(
    source: Path, options: CsvOptions, names: list[str]
) -> dict[str, ColumnKind]:
    kinds = [ColumnKind.NULL] * len(names)
    reader = _open(source, options, names, dict.fromkeys(names, pa.string()))

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
    """Converts the file in one streaming pass with the given kinds.

    Blocks are gathered into row groups of about ``ROW_GROUP_BYTES``.
    """
    types = {name: arrow_type(kind) for name, kind in kinds.items()}
    schema = pa.schema([(name, types[name]) for name in names])
    stats = StatsCollector(schema, preview_rows)
    # Dictionary pages pay off for repeated texts only (for measurements they
    # are built, found too large and dropped); min/max statistics serve filters
    # on keys and labels, not on measurements. Both cost CPU per column chunk.
    dictionary = [name for name in names if kinds[name] == ColumnKind.STRING]
    statistics = [name for name in names if kinds[name] != ColumnKind.FLOAT]
    reader = _open(source, options, names, types)
    pending: list[pa.RecordBatch] = []
    pending_bytes = 0
    try:
        with pq.ParquetWriter(
            target,
            schema,
            compression=PARQUET_COMPRESSION,
            use_dictionary=dictionary or False,
            write_statistics=statistics or False,
        ) as out:
            for batch in reader:
                stats.add(batch)
                pending.append(batch)
                pending_bytes += batch.nbytes
                if pending_bytes >= ROW_GROUP_BYTES:
                    _write_row_group(out, pending)
                    pending, pending_bytes = [], 0
            if pending:
                _write_row_group(out, pending)
    finally:
        reader.close()
    return stats.result()


def _write_row_group(out: pq.ParquetWriter, batches: list[pa.RecordBatch]) -> None:
    table = pa.Table.from_batches(batches)
    out.write_table(table, row_group_size=table.num_rows)


def _failing_column(error: Exception) -> int | None:
    match = _COLUMN_IN_ERROR.search(str(error))
    return int(match.group(1)) if match else None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
