"""Preparing a source: checkout, LFS content, conversion, staging, manifest."""

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from moderate.datasets.config import DatasetSourceConfig, FileReadOptions
from moderate.datasets.git import (
    Checkout,
    GitFetchError,
    is_lfs_pointer,
    shallow_checkout,
)
from moderate.datasets.naming import (
    SHEET_SEPARATOR,
    DatasetNameError,
    dataset_name,
    matches,
)
from moderate.datasets.profile import MIB, CsvOptions, DatasetReadError
from moderate.datasets.staging import (
    DatasetRecord,
    DatasetStatus,
    FileKind,
    SourceFileRecord,
    SourceManifest,
    StagingArea,
    dataset_record,
    failed_record,
    load_manifest,
)
from moderate.state import ItemStatus, utc_now

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from moderate.state import StateStore

SOURCE_NAMESPACE = "datasets.source"
CONVERTER_VERSION = "1"
FINGERPRINT_CHARS = 16
KINDS_BY_SUFFIX = {".csv": FileKind.CSV, ".xlsx": FileKind.XLSX}
LFS_ERROR_CHARS = 500
LFS_POINTER_ERROR = (
    "{path}: still a Git LFS pointer after fetching LFS content "
    "(the LFS object is missing on the remote)"
)


@dataclass(frozen=True)
class PreparedSource:
    """Outcome of preparing a source.

    Attributes:
        manifest: What the commit holds.
        manifest_key: Key of the manifest in the staging bucket.
        bucket: The staging bucket.
        skipped: Whether the commit was already published with these settings.
    """

    manifest: SourceManifest
    manifest_key: str
    bucket: str
    skipped: bool


class SourceState(BaseModel):
    """What the state store remembers of a source (its JSON value).

    Attributes:
        commit_sha: Latest prepared commit.
        fingerprint: Settings fingerprint it was prepared with.
        manifest_key: Its manifest.
        bucket: The staging bucket.
    """

    model_config = ConfigDict(frozen=True)

    commit_sha: str
    fingerprint: str
    manifest_key: str
    bucket: str

    @classmethod
    def from_value(cls, value: Any) -> "SourceState | None":
        """Parses a stored value (None when absent or malformed)."""
        try:
            return cls.model_validate(value)
        except ValidationError:
            return None


def fingerprint(config: DatasetSourceConfig) -> str:
    """Hash of every setting that changes what a commit's datasets look like."""
    shaping = {
        "converter": CONVERTER_VERSION,
        "globs": list(config.globs),
        "read_options": [option.model_dump() for option in config.read_options],
        "key_columns": [rule.model_dump() for rule in config.key_columns],
    }
    encoded = json.dumps(shaping, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:FINGERPRINT_CHARS]


def prepare_source(
    source: str,
    config: DatasetSourceConfig,
    s3_client: "S3Client",
    bucket: str,
    state: "StateStore",
    log: logging.Logger,
) -> PreparedSource:
    """Checks out the configured ref and stages every dataset it holds.

    A commit already published with the same settings is not converted again:
    its manifest is reused and reported as skipped.

    Args:
        source: Source name (state key, staging folder).
        config: Source settings.
        s3_client: boto3 client of the staging storage.
        bucket: Staging bucket (job outputs).
        state: State store.
        log: Logger.

    Returns:
        The manifest and where it is staged.
    """
    settings_hash = fingerprint(config)
    with shallow_checkout(config.repo_url, config.ref, config.clone_timeout_s) as co:
        log.info("checked out %s at %s", co.repo_url, co.commit_sha)
        area = StagingArea.for_commit(
            s3_client,
            bucket,
            config.staging_prefix,
            source,
            co.commit_sha,
            settings_hash,
        )
        reused = _published_manifest(state, source, area, settings_hash, log)
        if reused is not None:
            return PreparedSource(reused, area.manifest_key, bucket, skipped=True)
        manifest = _build_manifest(source, config, co, area, settings_hash, log)
    area.put_manifest(manifest)
    state.mark_pending(
        SOURCE_NAMESPACE,
        source,
        SourceState(
            commit_sha=manifest.commit_sha,
            fingerprint=settings_hash,
            manifest_key=area.manifest_key,
            bucket=bucket,
        ).model_dump(),
    )
    return PreparedSource(manifest, area.manifest_key, bucket, skipped=False)


def _published_manifest(
    state: "StateStore",
    source: str,
    area: StagingArea,
    settings_hash: str,
    log: logging.Logger,
) -> SourceManifest | None:
    from botocore.exceptions import ClientError

    record = state.get(SOURCE_NAMESPACE, source)
    if record is None or record.status is not ItemStatus.DONE:
        return None
    known = SourceState.from_value(record.value)
    if known is None or known.manifest_key != area.manifest_key:
        return None
    try:
        manifest = load_manifest(area.client, area.bucket, area.manifest_key)
    except ClientError as error:
        log.warning("staged manifest unreadable (%s); preparing again", error)
        return None
    if manifest.fingerprint != settings_hash:
        return None
    log.info("commit %s already published: skipping", manifest.commit_sha)
    return manifest


def _build_manifest(
    source: str,
    config: DatasetSourceConfig,
    checkout: Checkout,
    area: StagingArea,
    settings_hash: str,
    log: logging.Logger,
) -> SourceManifest:
    selection = checkout.select(config.globs, config.clone_timeout_s)
    for pattern in selection.unmatched_globs:
        log.warning("glob %r matched no file at %s", pattern, checkout.commit_sha)
    named, refused = _usable_names(selection.paths, log)
    readable = [p for p in named if Path(p).suffix.lower() in KINDS_BY_SUFFIX]
    readable_set = set(readable)
    unsupported = tuple(p for p in named if p not in readable_set)
    for path in unsupported:
        log.warning("%s matched a glob but is neither .csv nor .xlsx", path)
    pointers = [p for p in readable if is_lfs_pointer(checkout.root / p)]
    lfs_error = ""
    if pointers:
        log.info("fetching Git LFS content of %d files", len(pointers))
        try:
            checkout.pull_lfs(pointers, config.clone_timeout_s)
        except GitFetchError as error:
            lfs_error = str(error)
            log.error("Git LFS content incomplete: %s", lfs_error)
    files: list[SourceFileRecord] = []
    datasets: list[DatasetRecord] = []
    for index, path in enumerate(readable):
        file_record, file_datasets = _prepare_file(
            index, path, config, checkout, area, lfs_error, log
        )
        files.append(file_record)
        datasets.extend(file_datasets)
    return SourceManifest(
        source=source,
        repo_url=checkout.repo_url,
        ref=config.ref,
        commit_sha=checkout.commit_sha,
        fingerprint=settings_hash,
        files=tuple(files),
        datasets=tuple(datasets),
        unmatched_globs=selection.unmatched_globs,
        unsupported_files=unsupported,
        refused_files=refused,
        prepared_at=utc_now().isoformat(),
    )


def _usable_names(
    paths: Sequence[str], log: logging.Logger
) -> tuple[list[str], tuple[str, ...]]:
    """Splits selected paths into those that name a dataset and refusals."""
    usable: list[str] = []
    refused: list[str] = []
    for path in paths:
        try:
            dataset_name(path)
        except DatasetNameError as error:
            log.warning("%s", error)
            refused.append(str(error))
        else:
            usable.append(path)
    return usable, tuple(refused)


def _prepare_file(
    index: int,
    path: str,
    config: DatasetSourceConfig,
    checkout: Checkout,
    area: StagingArea,
    lfs_error: str,
    log: logging.Logger,
) -> tuple[SourceFileRecord, list[DatasetRecord]]:
    local = checkout.root / path
    kind = KINDS_BY_SUFFIX[Path(path).suffix.lower()]
    key_columns = _key_columns(config, path)
    if is_lfs_pointer(local):
        error = LFS_POINTER_ERROR.format(path=path)
        if lfs_error:
            error = f"{error}: {lfs_error[-LFS_ERROR_CHARS:]}"
        log.error(error)
        return _failed_file(path, kind, error, key_columns)
    if kind == FileKind.CSV:
        datasets = [_convert_csv(index, path, config, checkout, area, key_columns, log)]
        empty_sheets: tuple[str, ...] = ()
    else:
        try:
            datasets, empty_sheets = _convert_workbook(
                index, path, config, checkout, area, key_columns, log
            )
        except DatasetReadError as error:
            log.error("%s", error)
            return _failed_file(path, kind, str(error), key_columns)
    if not datasets:
        return _failed_file(path, kind, f"{path}: no sheet holds data", key_columns)
    if not any(d.status == DatasetStatus.OK for d in datasets):
        reason = "; ".join(d.error or "" for d in datasets) or f"{path}: no data"
        return (
            SourceFileRecord(
                path=path, kind=kind, error=reason, empty_sheets=empty_sheets
            ),
            datasets,
        )
    original = area.put_file(local, f"original/{path}")
    return (
        SourceFileRecord(
            path=path, kind=kind, original=original, empty_sheets=empty_sheets
        ),
        datasets,
    )


def _failed_file(
    path: str, kind: FileKind, error: str, key_columns: tuple[str, ...]
) -> tuple[SourceFileRecord, list[DatasetRecord]]:
    record = failed_record(dataset_name(path), path, error, key_columns)
    return SourceFileRecord(path=path, kind=kind, error=error), [record]


def _convert_csv(
    index: int,
    path: str,
    config: DatasetSourceConfig,
    checkout: Checkout,
    area: StagingArea,
    key_columns: tuple[str, ...],
    log: logging.Logger,
) -> DatasetRecord:
    from moderate.datasets.csv_parquet import csv_to_parquet  # pyarrow: on use

    name = dataset_name(path)
    target = checkout.scratch / f"{index}.parquet"
    try:
        stats = csv_to_parquet(
            checkout.root / path,
            target,
            _csv_options(config, path),
            config.preview_rows,
            path,
        )
    except DatasetReadError as error:
        log.error("%s", error)
        return failed_record(name, path, str(error), key_columns)
    staged = area.put_file(target, f"parquet/{index}.parquet")
    target.unlink()
    log.info("%s: %d rows x %d columns", name, stats.rows, len(stats.columns))
    return dataset_record(name, path, None, stats, staged, key_columns)


def _convert_workbook(
    index: int,
    path: str,
    config: DatasetSourceConfig,
    checkout: Checkout,
    area: StagingArea,
    key_columns: tuple[str, ...],
    log: logging.Logger,
) -> tuple[list[DatasetRecord], tuple[str, ...]]:
    from moderate.datasets.workbook import (  # openpyxl, pyarrow: on use
        open_workbook,
        sheet_names,
        sheet_to_parquet,
    )

    records: list[DatasetRecord] = []
    empty: list[str] = []
    with open_workbook(checkout.root / path, path) as workbook:
        for sheet_index, sheet in enumerate(sheet_names(workbook)):
            target = checkout.scratch / f"{index}-{sheet_index}.parquet"
            name = f"{path}{SHEET_SEPARATOR}<sheet {sheet_index + 1}>"
            try:
                name = dataset_name(path, sheet)
                stats = sheet_to_parquet(
                    workbook, sheet, target, config.preview_rows, name
                )
            except (DatasetNameError, DatasetReadError) as error:
                log.error("%s", error)
                records.append(
                    failed_record(name, path, str(error), key_columns, sheet)
                )
                continue
            if stats is None:
                empty.append(sheet)
                continue
            staged = area.put_file(target, f"parquet/{index}-{sheet_index}.parquet")
            target.unlink()
            records.append(
                dataset_record(name, path, sheet, stats, staged, key_columns)
            )
    return records, tuple(empty)


def _csv_options(config: DatasetSourceConfig, path: str) -> CsvOptions:
    chosen = _first_matching(config.read_options, path)
    block_size = config.csv_block_size_mib * MIB
    if chosen is None:
        return CsvOptions(block_size=block_size)
    return CsvOptions(
        skip_rows=chosen.skip_rows,
        separator=chosen.separator,
        decimal=chosen.decimal,
        encoding=chosen.encoding,
        null_values=tuple(chosen.null_values),
        block_size=block_size,
    )


def _first_matching(
    options: Sequence[FileReadOptions], path: str
) -> FileReadOptions | None:
    return next((option for option in options if matches(option.glob, path)), None)


def _key_columns(config: DatasetSourceConfig, path: str) -> tuple[str, ...]:
    rule = next((r for r in config.key_columns if matches(r.glob, path)), None)
    return tuple(rule.columns) if rule is not None else ()
