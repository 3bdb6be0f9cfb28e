"""Dagster metadata of the preparing asset.

Per-dataset entries are keyed ``<kind> | <dataset>`` and columns of the
combined schema ``<dataset> | <column>``, so no two datasets overwrite each other.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from moderate.datasets.staging import DatasetRecord, DatasetStatus, SourceManifest

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
        "total_rows": sum(d.rows for d in ok),
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
    rows = [[_md(cell) for cell in row[:width]] for row in dataset.preview]
    lines = [
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * width,
        *("| " + " | ".join(row) + " |" for row in rows[1:]),
    ]
    if hidden > 0:
        lines.append(f"\n{hidden} more columns not shown.")
    return "\n".join(lines)


def _md(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")
