"""The analysis reports, declared so each delivered report shows up in the catalog."""

import logging
from html.parser import HTMLParser
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    MetadataValue,
)

from moderate.matrix_profile.tags import FEATURE_TAGS
from moderate.resources.s3 import S3Resource
from moderate.support.naming import REPORT_KEY_METADATA

MATRIX_PROFILE_REPORTS_KEY = AssetKey("matrix_profile_reports")
WORKFLOW_JOB_ID_METADATA = "moderate/workflow_job_id"
PREVIEW_READ_BYTES = 256 * 1024
PREVIEW_CHARS = 1500
MAX_SUMMARY_ROWS = 5
_SKIPPED_ELEMENTS = frozenset({"script", "style", "head", "svg"})

LOGGER = logging.getLogger(__name__)

matrix_profile_reports = AssetSpec(
    MATRIX_PROFILE_REPORTS_KEY,
    group_name="matrix_profile",
    description="HTML matrix-profile reports in the job-outputs bucket. Each "
    "finalised analysis records a materialization (success: the report's key, a "
    "Markdown summary and a text preview) or an observation (failure: the error "
    "and the log's key).",
    kinds={"s3", "html"},
    tags=FEATURE_TAGS,
)


def report_event(
    workflow_job_id: int,
    results: dict[str, Any],
    description: str | None = None,
    preview: str | None = None,
) -> AssetMaterialization | AssetObservation:
    """A delivered report's materialization, or a failure's observation."""
    metadata: dict[str, Any] = {
        WORKFLOW_JOB_ID_METADATA: workflow_job_id,
        "output_bucket": str(results.get("output_bucket")),
    }
    if results.get("error") is None:
        metadata[REPORT_KEY_METADATA] = str(results.get("output_key"))
        if description:
            metadata["summary"] = MetadataValue.md(description)
        if preview:
            metadata["preview"] = MetadataValue.md(_quoted(preview))
        return AssetMaterialization(
            MATRIX_PROFILE_REPORTS_KEY, description=description, metadata=metadata
        )
    return AssetObservation(
        MATRIX_PROFILE_REPORTS_KEY,
        metadata={
            **metadata,
            "error": str(results.get("error")),
            "error_logs_key": str(results.get("error_logs_key")),
        },
    )


def summary_markdown(workflow_job_id: int, summary: dict[str, Any] | None) -> str:
    """A short Markdown summary of the worker's JSON summary line."""
    summary = summary or {}
    lines = [f"**Matrix-profile report of job {workflow_job_id}**", ""]
    facts = [
        ("Points", summary.get("points")),
        ("Window", summary.get("window")),
        ("Sampling period (s)", summary.get("sampling_period_s")),
        ("Missing share", summary.get("missing_share")),
        ("Report size (bytes)", summary.get("report_bytes")),
    ]
    known = [(name, value) for name, value in facts if value is not None]
    if known:
        lines += ["| Property | Value |", "|---|---|"]
        lines += [f"| {name} | {_number(value)} |" for name, value in known]
    discords = summary.get("discords") or []
    if isinstance(discords, list) and discords:
        lines += ["", "| Discord at | Distance |", "|---|---|"]
        for item in discords[:MAX_SUMMARY_ROWS]:
            if isinstance(item, dict):
                lines.append(
                    f"| {item.get('timestamp')} | {_number(item.get('distance'))} |"
                )
    return "\n".join(lines)


def report_preview(s3: S3Resource, bucket: str, key: str) -> str | None:
    """The visible text in the first 256 KiB of a stored report (None if unread)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = s3.client().get_object(
            Bucket=bucket, Key=key, Range=f"bytes=0-{PREVIEW_READ_BYTES - 1}"
        )
        html = response["Body"].read().decode("utf-8", "replace")
    except (BotoCoreError, ClientError) as error:
        LOGGER.warning("No preview of %s: %s", key, type(error).__name__)
        return None
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return "\n".join(parser.lines)[:PREVIEW_CHARS] or None


class _TextParser(HTMLParser):
    """Collects the visible text, one line per text run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skipping += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_ELEMENTS and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if text and not self._skipping:
            self.lines.append(text)


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" for line in text.splitlines())


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
