"""Inputs of one worker run and the limits that apply to it."""

from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOP_K = 3
MAX_TOP_K = 20
DEFAULT_HTTP_TIMEOUT_S = 60.0
DEFAULT_MAX_INPUT_MB = 512
BYTES_PER_MB = 1024 * 1024
INPUT_URL_VARIABLE = "MODERATE_MP_INPUT_URL"
REPORT_UPLOAD_URL_VARIABLE = "MODERATE_MP_REPORT_UPLOAD_URL"


@dataclass(frozen=True)
class WorkerOptions:
    """Everything one run needs; built from the command line.

    Attributes:
        input_url: Presigned http(s) URL, ``file://`` URL or local path of the CSV.
        analysis_variable: Column to analyse (case-sensitive).
        report_upload_url: Presigned PUT URL for the report, or None.
        report_path: Local file for the report, or None.
        window: Window as a pandas offset alias (``1D``, ``6h``) or a number of
            points; None picks one day of the sampling period.
        top_k: Number of discords and motifs to report.
        http_timeout_s: Read timeout of each HTTP request.
        max_input_bytes: Largest input accepted.
    """

    input_url: str
    analysis_variable: str
    report_upload_url: str | None = None
    report_path: Path | None = None
    window: str | None = None
    top_k: int = DEFAULT_TOP_K
    http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S
    max_input_bytes: int = DEFAULT_MAX_INPUT_MB * BYTES_PER_MB

    def __post_init__(self) -> None:
        """Checks that exactly one report destination is set.

        Raises:
            ValueError: If none or both destinations are given, or a limit is
                out of range.
        """
        if (self.report_upload_url is None) == (self.report_path is None):
            raise ValueError("give exactly one of report_upload_url and report_path")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
        if self.http_timeout_s <= 0:
            raise ValueError("http_timeout_s must be positive")
        if self.max_input_bytes <= 0:
            raise ValueError("max_input_bytes must be positive")
