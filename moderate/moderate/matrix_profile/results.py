"""Object keys, captured logs and the ``results`` of a finalised job (CONTRACT §5).

``results`` follow CONTRACT §1.7, without ``finalised_at`` (the API stamps it).
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from moderate.matrix_profile.worker.errors import ERROR_PREFIX, GENERIC_FAILURE

REPORT_KEY_PREFIX = "matrixprofile-"
REPORT_KEY_SUFFIX = ".html"
LOG_KEY_PREFIX = "logs/matrix-profile-job-"
LOG_KEY_SUFFIX = ".log"
LOG_TIMESTAMP_FORMAT = "%Y%m%d-%H%M%S"
LOG_KEY_RANDOM_HEX_CHARS = 8
LOG_CONTENT_TYPE = "text/plain; charset=utf-8"
LOG_TRUNCATE_ABOVE_BYTES = 5 * 1024 * 1024
LOG_KEEP_LAST_CHARS = 2_500_000
TRUNCATION_MARKER = (
    f"[log truncated: it exceeded {LOG_TRUNCATE_ABOVE_BYTES} bytes; "
    f"the last {LOG_KEEP_LAST_CHARS} characters follow]\n"
)
MAX_ERROR_CHARS = 2000
TRACEBACK_HEADER = "Traceback (most recent call last):"
TRACEBACK_OMITTED = "[internal traceback omitted]"
_URL_QUERY = re.compile(r"(https?://[^\s?\"'<>]+)\?[^\s\"'<>]*")
REDACTED_QUERY = "?<redacted>"


def new_report_key() -> str:
    """A fresh report key at the outputs-bucket root."""
    return f"{REPORT_KEY_PREFIX}{uuid.uuid4().hex}{REPORT_KEY_SUFFIX}"


def new_log_key(workflow_job_id: int, now: datetime | None = None) -> str:
    """A fresh failure-log key under ``logs/``, stamped ``now`` (UTC) by default."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    random_hex = uuid.uuid4().hex[:LOG_KEY_RANDOM_HEX_CHARS]
    return (
        f"{LOG_KEY_PREFIX}{workflow_job_id}-{moment.strftime(LOG_TIMESTAMP_FORMAT)}"
        f"-{random_hex}{LOG_KEY_SUFFIX}"
    )


def redact_urls(text: str) -> str:
    """Removes the query strings (presigned signatures) of every URL in ``text``."""
    return _URL_QUERY.sub(lambda match: match.group(1) + REDACTED_QUERY, text)


def truncate_log(text: str) -> str:
    """Cuts a log over 5 MiB to its last 2.5 M characters behind a marker."""
    if len(text.encode("utf-8")) <= LOG_TRUNCATE_ABOVE_BYTES:
        return text
    return TRUNCATION_MARKER + text[-LOG_KEEP_LAST_CHARS:]


def worker_error_message(log: str) -> str | None:
    """The message of the last ``moderate-mp-error:`` line of a log, if any."""
    for line in reversed(log.splitlines()):
        stripped = line.strip()
        if stripped.startswith(ERROR_PREFIX):
            message = stripped[len(ERROR_PREFIX) :].strip()
            if message:
                return message
    return None


def traceback_exception_line(log: str) -> str | None:
    """The exception line (``Type: message``) of the last Python traceback in a log."""
    position = log.rfind(TRACEBACK_HEADER)
    if position < 0:
        return None
    for line in log[position:].splitlines()[1:]:
        if line.strip() and not line[0].isspace():
            return line.strip()
    return None


def strip_tracebacks(log: str) -> str:
    """``log`` with each traceback cut to its exception line (users download it)."""
    kept: list[str] = []
    in_traceback = False
    for line in log.splitlines(keepends=True):
        if line.strip() == TRACEBACK_HEADER:
            in_traceback = True
            continue
        if in_traceback and (not line.strip() or line[0].isspace()):
            continue
        if in_traceback:
            in_traceback = False
            kept.append(f"{TRACEBACK_OMITTED} {line}")
            continue
        kept.append(line)
    return "".join(kept)


def error_summary(log: str, reason: str | None = None) -> str:
    """A user-facing error of at most 2000 characters, after ``reason`` if given.

    The worker's error line, else the last traceback's line, else a generic text.
    """
    detail = worker_error_message(log) or traceback_exception_line(log)
    if reason and detail:
        text = f"{reason}: {detail}"
    elif reason:
        text = f"{reason}. {GENERIC_FAILURE}"
    else:
        text = detail or GENERIC_FAILURE
    return clip(redact_urls(text))


def clip(text: str) -> str:
    """``text`` cut to 2000 characters (an ellipsis marks the cut)."""
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"


def success_results(
    workflow_job_id: int, output_bucket: str, output_key: str
) -> dict[str, Any]:
    """``results`` of a job whose report exists."""
    return {
        "workflow_job_id": workflow_job_id,
        "output_bucket": output_bucket,
        "output_key": output_key,
        "error": None,
        "error_logs_key": None,
    }


def failure_results(
    workflow_job_id: int, output_bucket: str, error: str, error_logs_key: str | None
) -> dict[str, Any]:
    """``results`` of a failed job (``error`` is clipped to 2000 characters)."""
    return {
        "workflow_job_id": workflow_job_id,
        "output_bucket": output_bucket,
        "output_key": None,
        "error": clip(error) or GENERIC_FAILURE,
        "error_logs_key": error_logs_key,
    }
