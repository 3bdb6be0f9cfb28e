"""Inputs of one worker run and the limits that apply to it."""

from dataclasses import dataclass
from pathlib import Path

DEFAULT_TOP_K = 3
MIN_APPROXIMATE_ABOVE_POINTS = 1
MAX_TOP_K = 20
DEFAULT_HTTP_TIMEOUT_S = 60.0
DEFAULT_MAX_INPUT_MB = 512
BYTES_PER_MB = 1024 * 1024
INPUT_URL_VARIABLE = "MODERATE_MP_INPUT_URL"
REPORT_UPLOAD_URL_VARIABLE = "MODERATE_MP_REPORT_UPLOAD_URL"
REPORT_CONTENT_TYPE = "text/html"
SUMMARY_MESSAGE_TYPE = "matrix_profile_summary"


@dataclass(frozen=True)
class Approximation:
    """``stumpy.scrump`` over ``share`` of the diagonals above ``above_points``."""

    above_points: int
    share: float

    def __post_init__(self) -> None:
        """Raises ValueError for a threshold below 1 or a share outside (0, 1]."""
        if self.above_points < MIN_APPROXIMATE_ABOVE_POINTS:
            raise ValueError("the approximate-mode threshold must be at least 1 point")
        if not 0 < self.share <= 1:
            raise ValueError("the approximate-mode share must be in (0, 1]")


@dataclass(frozen=True)
class WorkerOptions:
    """Everything one run needs (see the command line's help); one destination."""

    input_url: str
    analysis_variable: str
    report_upload_url: str | None = None
    report_path: Path | None = None
    window: str | None = None
    top_k: int = DEFAULT_TOP_K
    http_timeout_s: float = DEFAULT_HTTP_TIMEOUT_S
    max_input_bytes: int = DEFAULT_MAX_INPUT_MB * BYTES_PER_MB
    approximation: Approximation | None = None

    def __post_init__(self) -> None:
        """Raises ValueError unless one destination is set and limits are valid."""
        if (self.report_upload_url is None) == (self.report_path is None):
            raise ValueError("give exactly one of report_upload_url and report_path")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}")
        if self.http_timeout_s <= 0:
            raise ValueError("http_timeout_s must be positive")
        if self.max_input_bytes <= 0:
            raise ValueError("max_input_bytes must be positive")
