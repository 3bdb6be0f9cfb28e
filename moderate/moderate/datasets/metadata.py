"""Dagster metadata of the dataset assets.

Per-dataset entries are keyed ``<kind> | <dataset>`` and per-object rows carry
both dataset and format, so no two datasets or formats overwrite each other.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from moderate.datasets.publish import PublishResult, PublishStatus
from moderate.datasets.staging import DatasetRecord, DatasetStatus, SourceManifest

MAX_SCHEMA_COLUMNS = 200
MAX_PREVIEW_COLUMNS = 12
MAX_DATASET_ENTRIES = 60
OBJECT_KEYS = "moderate/object_keys"
COLUMN_SCHEMA = "dagster/column_schema"
ROW_COUNT = "dagster/row_count"
QUALIFIER = " | "
OBJECT_COLUMNS = {
    "dataset": "string",
    "format": "string",
    "status": "string",
    "object_id": "int",
    "key": "string",
    "sha256": "string",
    "series_id": "string",
}
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
        COLUMN_SCHEMA: _combined_schema(ok),
        "dataset_table": _datasets_table(manifest.datasets),
    }
    for dataset in ok[:MAX_DATASET_ENTRIES]:
        metadata[f"schema | {dataset.name}"] = _schema(dataset)
        metadata[f"preview | {dataset.name}"] = MetadataValue.md(_preview(dataset))
    return metadata


def publish_metadata(result: PublishResult, limit: int) -> dict[str, Any]:
    """Metadata of a publishing asset's materialisation."""
    uploaded = [o for o in result.objects if o.status == PublishStatus.UPLOADED]
    return {
        OBJECT_KEYS: MetadataValue.json(sorted(o.key for o in result.objects)),
        "status": "uploaded" if uploaded else "skipped (nothing new)",
        "source_commit": result.commit_sha,
        "platform_asset_id": result.asset.id,
        "platform_asset_uuid": result.asset.uuid,
        "platform_asset_name": result.asset.name,
        "platform_asset_origin": result.asset.origin,
        "uploaded": len(uploaded),
        "skipped": len(result.objects) - len(uploaded),
        "deleted_object_ids": MetadataValue.json(list(result.deleted_object_ids)),
        "objects_in_asset": result.objects_in_asset,
        "object_limit": limit,
        "failed_datasets": MetadataValue.json(list(result.failed_datasets)),
        "objects": _table(
            OBJECT_COLUMNS,
            (
                {
                    "dataset": item.dataset,
                    "format": item.data_format,
                    "status": str(item.status),
                    "object_id": item.object_id,
                    "key": item.key,
                    "sha256": item.sha256,
                    "series_id": item.series_id,
                }
                for item in result.objects
            ),
        ),
    }


def _table(types: Mapping[str, str], rows: Iterable[dict[str, Any]]) -> MetadataValue:
    return MetadataValue.table(
        records=[TableRecord(row) for row in rows],
        schema=TableSchema(columns=[TableColumn(n, t) for n, t in types.items()]),
    )


def _datasets_table(datasets: tuple[DatasetRecord, ...]) -> MetadataValue:
    return _table(
        DATASET_COLUMNS,
        (
            {
                "dataset": dataset.name,
                "status": str(dataset.status),
                "rows": dataset.rows,
                "columns": len(dataset.columns),
                "empty_columns": len(dataset.empty_columns),
                "error": dataset.error or "",
            }
            for dataset in datasets
        ),
    )


def _combined_schema(datasets: list[DatasetRecord]) -> TableSchema:
    """Columns of every dataset, named ``<dataset> | <column>`` (first 200)."""
    columns = [
        TableColumn(
            f"{dataset.name}{QUALIFIER}{column.name}",
            column.type,
            description=f"{column.null_count} missing of {dataset.rows}",
        )
        for dataset in datasets
        for column in dataset.columns
    ]
    return TableSchema(columns=columns[:MAX_SCHEMA_COLUMNS])


def _schema(dataset: DatasetRecord) -> MetadataValue:
    columns = [
        TableColumn(
            column.name,
            column.type,
            description=f"{column.null_count} missing of {dataset.rows}",
        )
        for column in dataset.columns[:MAX_SCHEMA_COLUMNS]
    ]
    return MetadataValue.table_schema(TableSchema(columns=columns))


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
