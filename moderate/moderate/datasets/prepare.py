"""Preparing a source: checkout, LFS content, conversion, staging, manifest."""

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, ValidationError

from moderate.datasets.config import DatasetSourceConfig
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
from moderate.datasets.profile import MIB, CsvOptions, DatasetReadError, TableStats
from moderate.datasets.staging import (
    DatasetRecord,
    DatasetStatus,
    FileKind,
    SourceFileRecord,
    SourceManifest,
    StagingArea,
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
    """A prepared commit, its manifest's key, and whether it was already published."""

    manifest: SourceManifest
    manifest_key: str
    skipped: bool


class SourceState(BaseModel):
    """What the state store remembers of a source: its latest prepared commit."""

    model_config = ConfigDict(frozen=True)

    commit_sha: str
    fingerprint: str
    manifest_key: str
    bucket: str

    @classmethod
    def read(
        cls, store: "StateStore", source: str, done_only: bool = False
    ) -> "SourceState | None":
        """The stored state (None when absent, malformed or, if asked, not done)."""
        record = store.get(SOURCE_NAMESPACE, source)
        if record is None or (done_only and record.status is not ItemStatus.DONE):
            return None
        try:
            return cls.model_validate(record.value)
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
        preparation = _Preparation(source, config, co, area, settings_hash, log)
        reused = preparation.published_manifest(state)
        if reused is not None:
            return PreparedSource(reused, area.manifest_key, skipped=True)
        manifest = preparation.manifest()
    area.put_manifest(manifest)
    known = SourceState(
        commit_sha=manifest.commit_sha,
        fingerprint=settings_hash,
        manifest_key=area.manifest_key,
        bucket=bucket,
    )
    state.mark_pending(SOURCE_NAMESPACE, source, known.model_dump())
    return PreparedSource(manifest, area.manifest_key, skipped=False)


@dataclass(frozen=True)
class _Preparation:
    """Selects, converts and stages the datasets of one checkout."""

    source: str
    config: DatasetSourceConfig
    checkout: Checkout
    area: StagingArea
    settings_hash: str
    log: logging.Logger

    def published_manifest(self, state: "StateStore") -> SourceManifest | None:
        """The manifest of this commit if it was published with these settings."""
        from botocore.exceptions import ClientError

        known = SourceState.read(state, self.source, done_only=True)
        if known is None or known.manifest_key != self.area.manifest_key:
            return None
        try:
            manifest = self.area.load_manifest()
        except ClientError as error:
            self.log.warning("staged manifest unreadable (%s); preparing again", error)
            return None
        self.log.info("commit %s already published: skipping", manifest.commit_sha)
        return manifest

    def manifest(self) -> SourceManifest:
        """Converts and stages every selected file; returns the commit's manifest."""
        config, checkout, log = self.config, self.checkout, self.log
        selection = checkout.select(config.globs, config.clone_timeout_s)
        for pattern in selection.unmatched_globs:
            log.warning("glob %r matched no file at %s", pattern, checkout.commit_sha)
        readable: list[str] = []
        unsupported: list[str] = []
        refused: list[str] = []
        for path in selection.paths:
            try:
                dataset_name(path)
            except DatasetNameError as error:
                log.warning("%s", error)
                refused.append(str(error))
                continue
            if Path(path).suffix.lower() in KINDS_BY_SUFFIX:
                readable.append(path)
            else:
                log.warning("%s matched a glob but is neither .csv nor .xlsx", path)
                unsupported.append(path)
        pointers = [p for p in readable if is_lfs_pointer(checkout.root / p)]
        lfs_error = ""
        if pointers:
            log.info("fetching Git LFS content of %d files", len(pointers))
            try:
                checkout.pull_lfs(pointers, config.clone_timeout_s)
            except GitFetchError as error:
                lfs_error = str(error)
                log.error("Git LFS content incomplete: %s", lfs_error)
        read = [
            self._file(index, path, lfs_error) for index, path in enumerate(readable)
        ]
        return SourceManifest(
            source=self.source,
            repo_url=checkout.repo_url,
            ref=config.ref,
            commit_sha=checkout.commit_sha,
            fingerprint=self.settings_hash,
            files=tuple(file for file, _ in read),
            datasets=tuple(dataset for _, datasets in read for dataset in datasets),
            unmatched_globs=selection.unmatched_globs,
            unsupported_files=tuple(unsupported),
            refused_files=tuple(refused),
            prepared_at=utc_now().isoformat(),
        )

    def _file(
        self, index: int, path: str, lfs_error: str
    ) -> tuple[SourceFileRecord, list[DatasetRecord]]:
        """One file's record and datasets; its original is staged if any is read."""
        local = self.checkout.root / path
        kind = KINDS_BY_SUFFIX[Path(path).suffix.lower()]
        empty_sheets: tuple[str, ...] = ()
        try:
            if is_lfs_pointer(local):
                error = LFS_POINTER_ERROR.format(path=path)
                if lfs_error:
                    error = f"{error}: {lfs_error[-LFS_ERROR_CHARS:]}"
                raise DatasetReadError(error)
            if kind == FileKind.CSV:
                datasets = [self._csv(index, path)]
            else:
                datasets, empty_sheets = self._workbook(index, path)
            if not datasets:
                raise DatasetReadError(f"{path}: no sheet holds data")
        except DatasetReadError as error:
            datasets = [self._record(dataset_name(path), path, None, error)]
        read = any(d.status == DatasetStatus.OK for d in datasets)
        record = SourceFileRecord(
            path=path,
            kind=kind,
            original=self.area.put_file(local, f"original/{path}") if read else None,
            error=None if read else "; ".join(d.error or "" for d in datasets),
            empty_sheets=empty_sheets,
        )
        return record, datasets

    def _csv(self, index: int, path: str) -> DatasetRecord:
        from moderate.datasets.csv_parquet import csv_to_parquet  # pyarrow: on use

        target = self.checkout.scratch / f"{index}.parquet"
        stats = csv_to_parquet(
            self.checkout.root / path,
            target,
            self._csv_options(path),
            self.config.preview_rows,
            path,
        )
        return self._record(dataset_name(path), path, None, (target, stats))

    def _workbook(
        self, index: int, path: str
    ) -> tuple[list[DatasetRecord], tuple[str, ...]]:
        from moderate.datasets.workbook import (  # openpyxl, pyarrow: on use
            open_workbook,
            sheet_names,
            sheet_to_parquet,
        )

        records: list[DatasetRecord] = []
        empty: list[str] = []
        with open_workbook(self.checkout.root / path, path) as workbook:
            for sheet_index, sheet in enumerate(sheet_names(workbook)):
                target = self.checkout.scratch / f"{index}-{sheet_index}.parquet"
                name = f"{path}{SHEET_SEPARATOR}<sheet {sheet_index + 1}>"
                try:
                    name = dataset_name(path, sheet)
                    stats = sheet_to_parquet(
                        workbook, sheet, target, self.config.preview_rows, name
                    )
                except (DatasetNameError, DatasetReadError) as error:
                    records.append(self._record(name, path, sheet, error))
                    continue
                if stats is None:
                    empty.append(sheet)
                else:
                    records.append(self._record(name, path, sheet, (target, stats)))
        return records, tuple(empty)

    def _record(
        self,
        name: str,
        path: str,
        sheet: str | None,
        outcome: Exception | tuple[Path, TableStats],
    ) -> DatasetRecord:
        """A failed dataset (``outcome`` is its error) or a converted one, staged."""
        rule = next((r for r in self.config.key_columns if matches(r.glob, path)), None)
        record = partial(
            DatasetRecord,
            name=name,
            source_path=path,
            sheet=sheet,
            key_columns=tuple(rule.columns) if rule is not None else (),
        )
        if isinstance(outcome, Exception):
            self.log.error("%s", outcome)
            return record(status=DatasetStatus.FAILED, error=str(outcome))
        target, stats = outcome
        staged = self.area.put_file(target, f"parquet/{target.name}")
        target.unlink()
        self.log.info("%s: %d rows x %d columns", name, stats.rows, len(stats.columns))
        return record(
            status=DatasetStatus.OK,
            rows=stats.rows,
            columns=stats.columns,
            preview=stats.preview,
            parquet=staged,
        )

    def _csv_options(self, path: str) -> CsvOptions:
        block_size = self.config.csv_block_size_mib * MIB
        for option in self.config.read_options:
            if matches(option.glob, path):
                dialect = option.model_dump(exclude={"glob", "null_values"})
                nulls = tuple(option.null_values)
                return CsvOptions(**dialect, null_values=nulls, block_size=block_size)
        return CsvOptions(block_size=block_size)
