"""One worker run: fetch, validate, analyse, report, deliver."""

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from moderate.matrix_profile.worker.analysis import Analysis, analyse
from moderate.matrix_profile.worker.errors import InputError
from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE, WorkerOptions
from moderate.matrix_profile.worker.report import render_report
from moderate.matrix_profile.worker.series import (
    FilledSeries,
    choose_window,
    fill_short_gaps,
    regularise,
)
from moderate.matrix_profile.worker.table import read_table
from moderate.matrix_profile.worker.transfer import (
    fetch_input,
    upload_report,
    write_report,
)

logger = logging.getLogger(__name__)

REPORT_ENCODING = "utf-8"
WORK_DIR_PREFIX = "moderate-mp-"


@dataclass(frozen=True)
class WorkerResult:
    """Outcome of a successful run: the series, its analysis, the report's size."""

    filled: FilledSeries
    analysis: Analysis
    report_bytes: int

    def summary(self) -> dict[str, Any]:
        """The JSON-ready summary, reported as a Dagster Pipes custom message."""
        series = self.filled.series
        index = series.index
        return {
            "type": SUMMARY_MESSAGE_TYPE,
            "points": series.points,
            "window": self.analysis.window,
            "exact": self.analysis.exact,
            "sampling_period_s": series.period.total_seconds(),
            "missing_share": round(series.missing_share, 6),
            "discords": [
                {"timestamp": index[d.index].isoformat(), "distance": d.distance}
                for d in self.analysis.discords
            ],
            "motifs": [
                {
                    "timestamp": index[m.index].isoformat(),
                    "neighbor_timestamp": index[m.neighbour].isoformat(),
                    "distance": m.distance,
                }
                for m in self.analysis.motifs
            ],
            "report_bytes": self.report_bytes,
        }


def run(options: WorkerOptions) -> WorkerResult:
    """Runs the whole analysis for ``options`` and delivers the report.

    Raises:
        InputError: The input cannot be analysed.
        DownloadError: The input could not be fetched.
        UploadError: The report could not be delivered.
    """
    started = time.perf_counter()
    variable = options.analysis_variable
    with tempfile.TemporaryDirectory(prefix=WORK_DIR_PREFIX) as work_dir:
        path, input_name = fetch_input(
            options.input_url,
            Path(work_dir),
            options.http_timeout_s,
            options.max_input_bytes,
        )
        series = regularise(read_table(path, variable))
    window = choose_window(options.window, series.period, series.points)
    filled = fill_short_gaps(series, window)
    finite = filled.series.values[np.isfinite(filled.series.values)]
    if finite.min() == finite.max():
        raise InputError(
            f"'{variable}' has the same value ({finite[0]:g}) everywhere; a constant "
            "series has no anomalies or patterns to find."
        )
    _log_stage("input prepared", started)
    analysis = analyse(
        filled.series.values, window, options.top_k, options.approximation
    )
    if not analysis.discords:
        raise InputError(
            "Every window overlaps a gap too long to interpolate; there is nothing "
            "to compare. Fill the gaps or choose a shorter window."
        )
    _log_stage("matrix profile computed", started)
    report = render_report(
        input_name, variable, filled, analysis, generated_at=datetime.now(UTC)
    )
    body = report.encode(REPORT_ENCODING)
    _log_stage("report rendered", started)
    if options.report_upload_url is not None:
        upload_report(options.report_upload_url, body, options.http_timeout_s)
    elif options.report_path is not None:
        write_report(options.report_path, body)
    _log_stage("done", started)
    return WorkerResult(filled=filled, analysis=analysis, report_bytes=len(body))


def _log_stage(stage: str, started: float) -> None:
    logger.info("%s after %.1f s", stage, time.perf_counter() - started)
