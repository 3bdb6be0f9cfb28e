"""The Platform API and storage side of a job: its state, its log, its PATCH."""

import logging
from enum import StrEnum
from typing import Any

from moderate.matrix_profile.results import (
    LOG_CONTENT_TYPE,
    new_log_key,
    redact_urls,
    strip_tracebacks,
    truncate_log,
)
from moderate.resources.platform_api import PlatformApiClient, PlatformApiError
from moderate.resources.s3 import S3Resource

MATRIX_PROFILE_JOB_TYPE = "matrix_profile"
HTTP_NOT_FOUND = 404
HTTP_SERVER_ERROR = 500
TRANSIENT_STATUSES = frozenset({408, 429})
JOB_PATH = "/job/{}"

LOGGER = logging.getLogger(__name__)


class JobState(StrEnum):
    """What ``GET /job/{id}`` says about a job."""

    OPEN = "open"
    FINALISED = "finalised"
    MISSING = "missing"
    OTHER_TYPE = "other-type"
    UNKNOWN = "unknown"


def transient_api_error(error: Exception) -> bool:
    """Whether an API error (or a ``requests`` one) says nothing about the job."""
    if isinstance(error, PlatformApiError):
        return error.status >= HTTP_SERVER_ERROR or error.status in TRANSIENT_STATUSES
    return True


def read_job_state(client: PlatformApiClient, workflow_job_id: int) -> JobState:
    """Reads a job and classifies it.

    Raises:
        PlatformApiError: On any error status but 404 (after retries).
    """
    try:
        job = client.get_json(JOB_PATH.format(workflow_job_id))
    except PlatformApiError as error:
        if error.status == HTTP_NOT_FOUND:
            return JobState.MISSING
        raise
    if job.get("job_type") != MATRIX_PROFILE_JOB_TYPE:
        return JobState.OTHER_TYPE
    if job.get("finalised_at") is not None:
        return JobState.FINALISED
    return JobState.OPEN


def finalise_job(
    client: PlatformApiClient, workflow_job_id: int, results: dict[str, Any]
) -> dict[str, Any]:
    """PATCHes the job's ``results`` (idempotent; the API stamps ``finalised_at``).

    Raises:
        PlatformApiError: When the API refuses the PATCH or keeps failing.
    """
    return client.patch_json(JOB_PATH.format(workflow_job_id), {"results": results})


def upload_failure_log(
    s3: S3Resource, run_id: str, workflow_job_id: int, text: str
) -> str | None:
    """Stores a run's failure log under ``logs/`` in the outputs bucket.

    ``text`` follows a header naming the run and the job; the log is truncated
    per CONTRACT §5, with presigned URLs redacted and tracebacks cut to their
    exception line (users can download it).

    Returns:
        The key of the stored log, or None when the upload failed (logged: it
        must not prevent the job from being finalised).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    key = new_log_key(workflow_job_id)
    text = f"Dagster run {run_id}\nWorkflow job {workflow_job_id}\n{text}"
    body = truncate_log(strip_tracebacks(redact_urls(text))).encode("utf-8")
    try:
        s3.client().put_object(
            Bucket=s3.job_outputs_bucket,
            Key=key,
            Body=body,
            ContentType=LOG_CONTENT_TYPE,
        )
    except (BotoCoreError, ClientError) as error:
        LOGGER.warning(
            "Could not upload the failure log of job %s: %s",
            workflow_job_id,
            type(error).__name__,
        )
        return None
    return key
