"""The manifest: what one source commit holds, staged in S3 for publishing.

The preparing asset writes it to the job-outputs bucket; the publishing asset
reads it from there. Only these small references travel between runs, never
file contents.
"""

import enum
import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from moderate.datasets.profile import TableStats

HASH_CHUNK_BYTES = 1024 * 1024
MANIFEST_VERSION = 1


class DatasetStatus(enum.StrEnum):
    """Outcome of reading one dataset."""

    OK = "ok"
    FAILED = "failed"


class FileKind(enum.StrEnum):
    """Source file formats the pipeline reads."""

    CSV = "csv"
    XLSX = "xlsx"


class StagedObject(BaseModel):
    """A file copied to the staging bucket.

    Attributes:
        key: Object key in the job-outputs bucket.
        sha256: Lowercase hex SHA-256 of its bytes.
        size: Bytes.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    sha256: str
    size: int


class ColumnRecord(BaseModel):
    """One column of a dataset."""

    model_config = ConfigDict(frozen=True)

    name: str
    type: str
    null_count: int


class DatasetRecord(BaseModel):
    """One dataset: a CSV file or one sheet of a workbook.

    Attributes:
        name: Stable name (repository path, ``#sheet`` for sheets).
        source_path: Repository path of the file it comes from.
        sheet: Sheet name for workbooks.
        status: Whether it could be read.
        error: Why not (names the file).
        rows: Data rows.
        columns: Columns.
        preview: Header and first rows as text.
        parquet: The staged Parquet conversion.
        key_columns: Columns the checks require.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    source_path: str
    sheet: str | None = None
    status: DatasetStatus
    error: str | None = None
    rows: int = 0
    columns: tuple[ColumnRecord, ...] = ()
    preview: tuple[tuple[str, ...], ...] = ()
    parquet: StagedObject | None = None
    key_columns: tuple[str, ...] = ()

    @property
    def empty_columns(self) -> tuple[str, ...]:
        """Columns without a single value."""
        if self.rows == 0:
            return ()
        return tuple(c.name for c in self.columns if c.null_count >= self.rows)

    @property
    def missing_key_columns(self) -> tuple[str, ...]:
        """Required columns the dataset lacks."""
        present = {column.name for column in self.columns}
        return tuple(name for name in self.key_columns if name not in present)


class SourceFileRecord(BaseModel):
    """One matched file of the repository.

    Attributes:
        path: Path relative to the repository root.
        kind: File format.
        original: The staged original bytes (None if it could not be read).
        error: Why the file yielded no dataset at all.
        empty_sheets: Workbook sheets without any cell.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    kind: FileKind
    original: StagedObject | None = None
    error: str | None = None
    empty_sheets: tuple[str, ...] = ()

    @property
    def suffix(self) -> str:
        """The file's extension, with the dot."""
        return Path(self.path).suffix


class SourceManifest(BaseModel):
    """Everything one prepared commit of a source holds.

    Attributes:
        version: Manifest format version.
        source: Source name (``building_stock``, ``genome_project``).
        repo_url: Repository URL without credentials.
        ref: Requested ref.
        commit_sha: Checked-out commit.
        fingerprint: Hash of the settings that shape the output.
        files: Matched files.
        datasets: Datasets read from them.
        unmatched_globs: Globs that matched no file.
        unsupported_files: Matched files of a format that is not read.
        refused_files: Why matched paths could not name a dataset.
        prepared_at: ISO timestamp (UTC).
    """

    model_config = ConfigDict(frozen=True)

    version: int = MANIFEST_VERSION
    source: str
    repo_url: str
    ref: str
    commit_sha: str
    fingerprint: str
    files: tuple[SourceFileRecord, ...]
    datasets: tuple[DatasetRecord, ...]
    unmatched_globs: tuple[str, ...] = ()
    unsupported_files: tuple[str, ...] = ()
    refused_files: tuple[str, ...] = ()
    prepared_at: str

    @property
    def failed_datasets(self) -> tuple[DatasetRecord, ...]:
        """Datasets that could not be read."""
        return tuple(d for d in self.datasets if d.status == DatasetStatus.FAILED)

    def file(self, path: str) -> SourceFileRecord:
        """The record of one matched file."""
        return next(record for record in self.files if record.path == path)

    def to_json_bytes(self) -> bytes:
        """Serialised form for the staging bucket."""
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, payload: bytes) -> "SourceManifest":
        """Reads a serialised manifest."""
        return cls.model_validate(json.loads(payload))


def dataset_record(
    name: str,
    source_path: str,
    sheet: str | None,
    stats: TableStats,
    parquet: StagedObject,
    key_columns: tuple[str, ...],
) -> DatasetRecord:
    """A successfully converted dataset."""
    return DatasetRecord(
        name=name,
        source_path=source_path,
        sheet=sheet,
        status=DatasetStatus.OK,
        rows=stats.rows,
        columns=tuple(
            ColumnRecord(name=c.name, type=c.type, null_count=c.null_count)
            for c in stats.columns
        ),
        preview=stats.preview,
        parquet=parquet,
        key_columns=key_columns,
    )


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
