"""Finalising a job whose run broke: shared by the failure hook and the sensor."""

import logging

import requests
from botocore.exceptions import BotoCoreError, ClientError

from moderate.matrix_profile.platform import (
    JobState,
    finalise_job,
    read_job_state,
    upload_failure_log,
)
from moderate.matrix_profile.results import clip, failure_results, redact_urls
from moderate.resources.platform_api import PlatformApiError, PlatformApiResource
from moderate.resources.s3 import S3Resource
from moderate.resources.settings import ServiceNotConfiguredError

WORKFLOW_JOB_ID_TAG = "moderate/workflow-job-id"
CANCELLED_ERROR = "The analysis was cancelled before it finished. Please run it again."
INTERRUPTED_ERROR = (
    "The analysis could not be completed because of an internal error. "
    "Please run it again; if it keeps failing, contact the platform operators."
)
FINALISE_ERRORS = (
    PlatformApiError,
    requests.RequestException,
    ServiceNotConfiguredError,
    BotoCoreError,
    ClientError,
)

LOGGER = logging.getLogger(__name__)


def broken_run_error(cancelled: bool, detail: str | None) -> str:
    """User-facing error text of a run that ended without reporting.

    Args:
        cancelled: Whether the run was cancelled.
        detail: Short technical detail (exception class and message), if any.
    """
    base = CANCELLED_ERROR if cancelled else INTERRUPTED_ERROR
    if detail:
        return clip(f"{base} ({redact_urls(detail)})")
    return base


def finalise_open_job(
    platform_api: PlatformApiResource,
    s3: S3Resource,
    workflow_job_id: int,
    error: str,
    log_text: str,
) -> bool:
    """PATCHes a job with an error, unless it is already finalised or missing.

    Args:
        platform_api: The Platform API.
        s3: Storage of the failure log.
        workflow_job_id: The job.
        error: Text of ``results.error``.
        log_text: Log uploaded under ``logs/``.

    Returns:
        True when this call finalised the job, False when it needed nothing.

    Raises:
        PlatformApiError: When the API refuses or keeps failing (after retries).
    """
    client = platform_api.client()
    state = read_job_state(client, workflow_job_id)
    if state is not JobState.OPEN:
        LOGGER.info("Job %s is %s: leaving it as it is", workflow_job_id, state.value)
        return False
    outputs_bucket = s3.job_outputs_bucket
    log_key = upload_failure_log(s3, outputs_bucket, workflow_job_id, log_text)
    finalise_job(
        client,
        workflow_job_id,
        failure_results(workflow_job_id, outputs_bucket, error, log_key),
    )
    return True
