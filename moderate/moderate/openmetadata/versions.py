"""What the workflow configurations spell differently per release line (§7.2)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DATALAKE_PROFILE_SAMPLE = {"profileSample": 5000, "profileSampleType": "ROWS"}
"""The data-lake profiler reads 5000 rows of each table."""
DEFAULT_LINE = "2.0"


@dataclass(frozen=True)
class VersionLine:
    """How one release line (``major.minor``) spells profiler and sample data.

    ``sample_data_pipeline``: samples are stored by auto-classification (2.0).
    """

    line: str
    sample_data_pipeline: bool

    def profiler_sample_keys(self, generate_sample_data: bool) -> dict[str, Any]:
        """Sample-data and PII keys of a profiler ``sourceConfig``."""
        if self.sample_data_pipeline:
            return {}
        return {
            "generateSampleData": generate_sample_data,
            "processPiiSensitive": False,
        }

    def datalake_profile_sample_keys(self) -> dict[str, Any]:
        """The row-count sampling of the data-lake profiler."""
        if self.sample_data_pipeline:
            return {
                "profileSampleConfig": {
                    "sampleConfigType": "STATIC",
                    "config": dict(DATALAKE_PROFILE_SAMPLE),
                }
            }
        return dict(DATALAKE_PROFILE_SAMPLE)


VERSION_LINES: Mapping[str, VersionLine] = {
    line.line: line for line in (VersionLine("1.5", False), VersionLine("2.0", True))
}


def line_of(version: str) -> str:
    """``major.minor`` of a version such as ``2.0.6.0``.

    Raises:
        ValueError: If the version does not start with two numbers.
    """
    parts = version.strip().lstrip("v").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        raise ValueError(f"not a version: {version!r}")
    return f"{int(parts[0])}.{int(parts[1])}"


def line_keys(line: str) -> VersionLine:
    """The key mapping of ``line`` (``major.minor``).

    Raises:
        ValueError: If the line is not supported.
    """
    if line not in VERSION_LINES:
        raise ValueError(
            f"openmetadata-ingestion line {line} is not supported "
            f"(supported: {', '.join(VERSION_LINES)})"
        )
    return VERSION_LINES[line]
