"""Command line of the worker; the job container's entry point.

Contract: exit 0 after reporting the summary as a Dagster Pipes custom message;
exit 2 for an input problem and 1 for anything else, the last stderr line then
being ``moderate-mp-error: <message>``. Logs go to stderr. The approximate mode
comes from the container's environment, never from the analysis request.
"""

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from dagster_pipes import PipesContext, open_dagster_pipes

from moderate.matrix_profile.worker.errors import (
    ERROR_PREFIX,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_UNEXPECTED,
    GENERIC_FAILURE,
    WorkerError,
    clip_message,
)
from moderate.matrix_profile.worker.options import (
    BYTES_PER_MB,
    DEFAULT_HTTP_TIMEOUT_S,
    DEFAULT_MAX_INPUT_MB,
    DEFAULT_TOP_K,
    INPUT_URL_VARIABLE,
    REPORT_UPLOAD_URL_VARIABLE,
    Approximation,
    WorkerOptions,
)
from moderate.matrix_profile.worker.pipeline import run

logger = logging.getLogger("moderate.matrix_profile.worker")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PROGRAM = "python -m moderate.matrix_profile.worker"
APPROXIMATE_ABOVE_VARIABLE = "MODERATE_MP_APPROXIMATE_ABOVE_POINTS"
APPROXIMATE_SHARE_VARIABLE = "MODERATE_MP_APPROXIMATE_SHARE"
DEFAULT_APPROXIMATE_SHARE = 0.1


class UsageError(Exception):
    """The command line is invalid."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the worker."""
    parser = _Parser(
        prog=PROGRAM,
        description="Matrix-profile analysis of one CSV column into an HTML report.",
    )
    parser.add_argument(
        "--input-url",
        help="http(s) GET URL, file:// URL or local path of the CSV (default: "
        f"${INPUT_URL_VARIABLE}: presigned URLs go there, out of the process list)",
    )
    parser.add_argument(
        "--analysis-variable", required=True, help="column to analyse (case-sensitive)"
    )
    destination = parser.add_mutually_exclusive_group()
    destination.add_argument(
        "--report-upload-url",
        help=f"PUT URL signed for text/html (default: ${REPORT_UPLOAD_URL_VARIABLE})",
    )
    destination.add_argument(
        "--report-path", type=Path, help="write the report to this file instead"
    )
    parser.add_argument(
        "--window",
        help="offset alias such as 1D or 6h, or a number of points "
        "(default: one day of the sampling period, bounded by the series length)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        default=DEFAULT_TOP_K,
        help=f"discords and motifs to report (default {DEFAULT_TOP_K})",
    )
    parser.add_argument(
        "--http-timeout-s",
        type=float,
        default=DEFAULT_HTTP_TIMEOUT_S,
        help=f"read timeout of each HTTP request (default {DEFAULT_HTTP_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-input-mb",
        type=int,
        default=DEFAULT_MAX_INPUT_MB,
        help=f"largest input accepted (default {DEFAULT_MAX_INPUT_MB} MB)",
    )
    parser.add_argument(
        "--approximate-above-points",
        type=int,
        default=os.environ.get(APPROXIMATE_ABOVE_VARIABLE) or None,
        help="approximate profile (stumpy.scrump) for series longer than this "
        f"(default ${APPROXIMATE_ABOVE_VARIABLE}; unset: always exact)",
    )
    parser.add_argument(
        "--approximate-share",
        type=float,
        default=os.environ.get(APPROXIMATE_SHARE_VARIABLE) or DEFAULT_APPROXIMATE_SHARE,
        help="share of the distance matrix computed in the approximate mode "
        f"(default ${APPROXIMATE_SHARE_VARIABLE} or {DEFAULT_APPROXIMATE_SHARE:g})",
    )
    return parser


def parse_options(argv: Sequence[str] | None) -> WorkerOptions:
    """Builds the run options from the command line and the URL variables.

    Raises:
        UsageError: Missing or invalid arguments.
    """
    arguments = build_parser().parse_args(argv)
    input_url = arguments.input_url or os.environ.get(INPUT_URL_VARIABLE)
    upload_url = arguments.report_upload_url or (
        None if arguments.report_path else os.environ.get(REPORT_UPLOAD_URL_VARIABLE)
    )
    if not input_url or not (upload_url or arguments.report_path):
        raise UsageError(
            "--input-url and one of the arguments --report-upload-url --report-path "
            f"(or ${INPUT_URL_VARIABLE}, ${REPORT_UPLOAD_URL_VARIABLE}) are required"
        )
    try:
        approximation = None
        if arguments.approximate_above_points is not None:
            approximation = Approximation(  # argparse typed the string defaults
                arguments.approximate_above_points, arguments.approximate_share
            )
        return WorkerOptions(
            input_url=input_url,
            analysis_variable=arguments.analysis_variable,
            report_upload_url=upload_url,
            report_path=arguments.report_path,
            window=arguments.window,
            top_k=arguments.top_k,
            http_timeout_s=arguments.http_timeout_s,
            max_input_bytes=arguments.max_input_mb * BYTES_PER_MB,
            approximation=approximation,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the worker and returns the process exit status."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format=LOG_FORMAT)
    logger.setLevel(logging.INFO)
    with open_dagster_pipes() as pipes:
        failure = _run(argv, pipes)
    if failure is None:
        return EXIT_OK
    message, code = failure  # after Pipes closed: the error line stays the last
    sys.stderr.flush()
    print(ERROR_PREFIX + clip_message(message), file=sys.stderr, flush=True)
    return code


def _run(argv: Sequence[str] | None, pipes: PipesContext) -> tuple[str, int] | None:
    try:
        options = parse_options(argv)
    except UsageError as error:
        return f"Invalid arguments: {error}", EXIT_INPUT
    try:
        result = run(options)
    except WorkerError as error:
        logger.error("analysis failed: %s", error)
        return str(error), error.exit_code
    except Exception:  # noqa: BLE001 - the contract turns any crash into exit 1
        traceback.print_exc(file=sys.stderr)
        return GENERIC_FAILURE, EXIT_UNEXPECTED
    pipes.report_custom_message(result.summary())
    return None
