"""Reading the two needed columns of the input CSV, with clear errors."""

import csv
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.errors import InputError

logger = logging.getLogger(__name__)

TIMESTAMP_COLUMN = "timestamp"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMESTAMP_FORMAT_SHOWN = "YYYY-MM-DD HH:MM:SS"
DELIMITERS = (",", ";", "\t", "|")
DECIMAL_COMMA_DELIMITER = ";"
ENCODING = "utf-8-sig"
SNIFF_BYTES = 64 * 1024
NOT_CSV_STARTS = ("{", "[", "<")
MAX_HEADER_BYTES = 4 * 1024 * 1024
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})
MAX_LISTED_COLUMNS = 12
MAX_SHOWN_VALUE_CHARS = 40


def read_table(path: Path, variable: str) -> pd.Series:
    """Reads ``variable`` from the CSV at ``path``, indexed by its ``timestamp``.

    Returns:
        Floats in file order on a UTC index; NaN for empty, NaN or infinite cells.

    Raises:
        InputError: Not a CSV, a missing column, unreadable timestamps or values.
    """
    if variable == TIMESTAMP_COLUMN:
        raise InputError("The analysis variable cannot be the 'timestamp' column.")
    header, delimiter = _read_header(path)
    _check_column(header, TIMESTAMP_COLUMN, "")
    _check_column(header, variable, " (the analysis variable)")
    wanted = {TIMESTAMP_COLUMN, variable}
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            usecols=lambda name: name.strip() in wanted,
            dtype=str,
            keep_default_na=False,
            encoding=ENCODING,
            encoding_errors="replace",
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as error:
        raise InputError(
            f"The input could not be read as a CSV file: {error}"
        ) from error
    frame = frame.rename(columns=str.strip)
    values = _parse_values(frame[variable], variable, delimiter)
    raw = pd.Series(values, index=_parse_timestamps(frame[TIMESTAMP_COLUMN]))
    logger.info("read %d rows of '%s' (delimiter %r)", len(raw), variable, delimiter)
    return raw


def _read_header(path: Path) -> tuple[list[str], str]:
    """Column names (stripped) and delimiter, after checks on the first bytes."""
    with path.open("rb") as source:
        head = source.read(SNIFF_BYTES)
        if not head.strip():
            raise InputError("The input file is empty.")
        if b"\x00" in head:
            raise InputError(
                "The input is not a CSV text file (it contains binary data, e.g. "
                "a spreadsheet or an archive)."
            )
        source.seek(0)
        first_line = b""
        while not first_line.strip():
            first_line = source.readline(MAX_HEADER_BYTES)
    header_line = first_line.decode(ENCODING, errors="replace").rstrip("\r\n")
    if header_line.lstrip().startswith(NOT_CSV_STARTS):
        raise InputError(
            "The input is not a CSV table (it looks like JSON, HTML or XML)."
        )
    delimiter = max(DELIMITERS, key=header_line.count)  # "," when none is found
    header = next(csv.reader([header_line], delimiter=delimiter))
    return [name.strip() for name in header], delimiter


def _check_column(header: list[str], wanted: str, role: str) -> None:
    """Raises unless ``wanted`` is in ``header``; ``role`` is added to the error."""
    if wanted in header:
        return
    hint = ""
    similar = [name for name in header if name.lower() == wanted.lower()]
    if similar:
        hint = f" Did you mean '{similar[0]}'? Column names are case-sensitive."
    if len(header) == 1:
        hint += " The file does not look like a comma-separated table."
    listed = ", ".join(f"'{name}'" for name in header[:MAX_LISTED_COLUMNS])
    if len(header) > MAX_LISTED_COLUMNS:
        listed += ", ..."
    raise InputError(
        f"The input has no '{wanted}' column{role}.{hint} "
        f"Columns found ({len(header)}): {listed}"
    )


def _first(unparsed: np.ndarray, cells: pd.Series) -> str:
    """Where the first unreadable cell is, and what it holds (cut to 40 chars)."""
    position = int(np.flatnonzero(unparsed)[0])
    value = str(cells.iloc[position])
    if len(value) > MAX_SHOWN_VALUE_CHARS:
        value = value[:MAX_SHOWN_VALUE_CHARS] + "..."
    return f"the first is '{value}' on data row {position + 1}."


def _parse_timestamps(raw: pd.Series) -> pd.DatetimeIndex:
    text = raw.str.strip()
    parsed = pd.to_datetime(text, format=TIMESTAMP_FORMAT, errors="coerce", utc=True)
    unparsed = parsed.isna()
    if unparsed.any():
        parsed[unparsed] = pd.to_datetime(
            text[unparsed], format="ISO8601", errors="coerce", utc=True
        )
        unparsed = parsed.isna()
    if unparsed.any():
        raise InputError(
            f"{int(unparsed.sum())} timestamp(s) could not be read (expected "
            f"'{TIMESTAMP_FORMAT_SHOWN}', UTC); {_first(unparsed.to_numpy(), text)}"
        )
    return pd.DatetimeIndex(parsed)


def _parse_values(raw: pd.Series, variable: str, delimiter: str) -> np.ndarray:
    text = raw.str.strip()
    if delimiter == DECIMAL_COMMA_DELIMITER:
        text = text.str.replace(",", ".", regex=False)
    missing = text.str.lower().isin(MISSING_TOKENS).to_numpy()
    numbers = pd.to_numeric(text.mask(missing), errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan, copy=True
    )
    unparsed = np.isnan(numbers) & ~missing
    if unparsed.any():
        raise InputError(
            f"{int(unparsed.sum())} value(s) of '{variable}' are not numbers; "
            f"{_first(unparsed, raw)}"
        )
    numbers[~np.isfinite(numbers)] = np.nan
    return numbers
