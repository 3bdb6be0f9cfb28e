"""What ``prepared_datasets`` reports: checks of every dataset, and its metadata.

The checks read the statistics gathered while converting, so no dataset is read
twice. Metadata keys and combined-schema columns name their dataset
(``<kind> | <dataset>``, ``<dataset> | <column>``), so none overwrites another.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
)

from moderate.datasets.staging import DatasetRecord, DatasetStatus, SourceManifest
from moderate.support.naming import markdown_cell

MAX_LISTED = 50
MAX_SCHEMA_COLUMNS = 200
MAX_PREVIEW_COLUMNS = 12
MAX_DATASET_ENTRIES = 60
COLUMN_SCHEMA = "dagster/column_schema"
ROW_COUNT = "dagster/row_count"
QUALIFIER = " | "
DATASET_COLUMNS = {
    "dataset": "string",
    "status": "string",
    "rows": "int",
    "columns": "int",
    "empty_columns": "int",
    "error": "string",
}


@dataclass(frozen=True)
class Check:
    """One check of a manifest: ``evaluate`` gives its problem lines and metadata."""

    name: str
    description: str
    severity: AssetCheckSeverity
    evaluate: Callable[[SourceManifest], tuple[list[str], dict[str, Any]]]


def _per_dataset(
    problem: Callable[[DatasetRecord], str | None], require_any: bool = False
) -> Callable[[SourceManifest], tuple[list[str], dict[str, Any]]]:
    def evaluate(manifest: SourceManifest) -> tuple[list[str], dict[str, Any]]:
        problems = {
            d.name: p for d in manifest.datasets if (p := problem(d)) is not None
        }
        lines = [f"{name}: {text}" for name, text in problems.items()]
        if require_any and not manifest.datasets:
            lines.append("no dataset: the globs matched no readable file")
        return lines, {
            "datasets_checked": len(manifest.datasets),
            "datasets_failing": len(problems),
            "failing": MetadataValue.json(problems),
        }

    return evaluate


def _unreadable(dataset: DatasetRecord) -> str | None:
    if dataset.status == DatasetStatus.FAILED:
        return dataset.error or "could not be read"
    return None


def _empty(dataset: DatasetRecord) -> str | None:
    if dataset.status == DatasetStatus.OK and not (dataset.rows and dataset.columns):
        return f"{dataset.rows} rows x {len(dataset.columns)} columns"
    return None


def _missing_keys(dataset: DatasetRecord) -> str | None:
    if dataset.status == DatasetStatus.OK and dataset.missing_key_columns:
        return "missing " + ", ".join(dataset.missing_key_columns)
    return None


def _empty_columns(dataset: DatasetRecord) -> str | None:
    empty = dataset.empty_columns
    if not empty:
        return None
    listed = ", ".join(empty[:MAX_LISTED])
    more = f" and {len(empty) - MAX_LISTED} more" if len(empty) > MAX_LISTED else ""
    return f"{len(empty)} columns without values: {listed}{more}"


def _globs(manifest: SourceManifest) -> tuple[list[str], dict[str, Any]]:
    lines = [
        *(f"glob {pattern!r} matched nothing" for pattern in manifest.unmatched_globs),
        *(f"{path}: neither .csv nor .xlsx" for path in manifest.unsupported_files),
        *manifest.refused_files,
    ]
    return lines, {
        "unmatched_globs": MetadataValue.json(list(manifest.unmatched_globs)),
        "unsupported_files": MetadataValue.json(list(manifest.unsupported_files)),
    }


CHECKS = (
    Check(
        "datasets_readable",
        "Every matched file was read (no parse error, no Git LFS pointer).",
        AssetCheckSeverity.ERROR,
        _per_dataset(_unreadable),
    ),
    Check(
        "datasets_not_empty",
        "The source has datasets and every dataset has rows and columns.",
        AssetCheckSeverity.ERROR,
        _per_dataset(_empty, require_any=True),
    ),
    Check(
        "datasets_have_key_columns",
        "Every dataset has its expected key columns (e.g. timestamp for meters).",
        AssetCheckSeverity.ERROR,
        _per_dataset(_missing_keys),
    ),
    Check(
        "datasets_without_empty_columns",
        "No dataset has a column without any value.",
        AssetCheckSeverity.WARN,
        _per_dataset(_empty_columns),
    ),
    Check(
        "globs_matched_files",
        "Every glob matched a readable (.csv or .xlsx) file.",
        AssetCheckSeverity.WARN,
        _globs,
    ),
)


def check_specs(asset_key: AssetKey) -> list[AssetCheckSpec]:
    """The check specs declared by a preparing asset."""
    return [
        AssetCheckSpec(c.name, asset=asset_key, description=c.description)
        for c in CHECKS
    ]


def check_results(
    asset_key: AssetKey, manifest: SourceManifest
) -> list[AssetCheckResult]:
    """Evaluates every check on a manifest."""
    results = []
    for check in CHECKS:
        lines, metadata = check.evaluate(manifest)
        results.append(
            AssetCheckResult(
                asset_key=asset_key,
                check_name=check.name,
                passed=not lines,
                severity=check.severity,
                description="\n".join(lines[:MAX_LISTED]) or None,
                metadata=metadata,
            )
        )
    return results


def prepare_metadata(
    manifest: SourceManifest, bucket: str, manifest_key: str, skipped: bool
) -> dict[str, Any]:
    """Metadata of a preparing asset's materialisation (its only output)."""
    ok = [d for d in manifest.datasets if d.status == DatasetStatus.OK]
    rows = [
        {
            "dataset": dataset.name,
            "status": str(dataset.status),
            "rows": dataset.rows,
            "columns": len(dataset.columns),
            "empty_columns": len(dataset.empty_columns),
            "error": dataset.error or "",
        }
        for dataset in manifest.datasets
    ]
    combined = [column for d in ok for column in _columns(d, f"{d.name}{QUALIFIER}")]
    metadata: dict[str, Any] = {
        "status": "skipped (commit already published)" if skipped else "prepared",
        "skipped": skipped,
        "source_commit": manifest.commit_sha,
        "repo_url": manifest.repo_url,
        "ref": manifest.ref,
        "manifest": MetadataValue.url(f"s3://{bucket}/{manifest_key}"),
        "staging_bucket": bucket,
        "manifest_key": manifest_key,
        "datasets": len(manifest.datasets),
        "datasets_failed": len(manifest.failed_datasets),
        "files": len(manifest.files),
        ROW_COUNT: sum(d.rows for d in ok),
        COLUMN_SCHEMA: TableSchema(columns=combined[:MAX_SCHEMA_COLUMNS]),
        "dataset_table": table(DATASET_COLUMNS, rows),
    }
    for dataset in ok[:MAX_DATASET_ENTRIES]:
        columns = _columns(dataset)[:MAX_SCHEMA_COLUMNS]
        metadata[f"schema | {dataset.name}"] = MetadataValue.table_schema(
            TableSchema(columns=columns)
        )
        metadata[f"preview | {dataset.name}"] = MetadataValue.md(_preview(dataset))
    return metadata


def table(types: Mapping[str, str], rows: Iterable[dict[str, Any]]) -> MetadataValue:
    """A table metadata value with columns of the given types."""
    return MetadataValue.table(
        records=[TableRecord(row) for row in rows],
        schema=TableSchema(columns=[TableColumn(n, t) for n, t in types.items()]),
    )


def _columns(dataset: DatasetRecord, prefix: str = "") -> list[TableColumn]:
    return [
        TableColumn(
            f"{prefix}{column.name}",
            column.type,
            description=f"{column.null_count} missing of {dataset.rows}",
        )
        for column in dataset.columns
    ]


def _preview(dataset: DatasetRecord) -> str:
    if not dataset.preview:
        return "(no rows)"
    width = min(MAX_PREVIEW_COLUMNS, len(dataset.preview[0]))
    hidden = len(dataset.preview[0]) - width
    rows = [[markdown_cell(cell) for cell in row[:width]] for row in dataset.preview]
    lines = [
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * width,
        *("| " + " | ".join(row) + " |" for row in rows[1:]),
    ]
    if hidden > 0:
        lines.append(f"\n{hidden} more columns not shown.")
    return "\n".join(lines)
