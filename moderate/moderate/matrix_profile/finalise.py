"""The job on the Platform API: its state, failure log and terminal PATCH."""

import logging
from enum import StrEnum
from http import HTTPStatus
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, Failure

from moderate.matrix_profile.messages import MAX_WORKFLOW_JOB_ID
from moderate.matrix_profile.results import (
    LOG_CONTENT_TYPE,
    clip,
    failure_results,
    new_log_key,
    redact_urls,
    strip_tracebacks,
    truncate_log,
)
from moderate.resources.platform_api import (
    PlatformApiClient,
    PlatformApiError,
    PlatformApiResource,
)
from moderate.resources.s3 import S3Resource

MATRIX_PROFILE_JOB_TYPE = "matrix_profile"
HTTP_SERVER_ERROR = 500
TRANSIENT_STATUSES = frozenset({408, 429})
ACCOUNT_STATUSES = frozenset({401, 403})
JOB_PATH = "/job/{}"
RESULTS_METADATA_KEY = "moderate/results"
ANALYSIS_STEP = "run_matrix_profile_analysis"
CANCELLED_ERROR = "The analysis was cancelled before it finished. Please run it again."
INTERRUPTED_ERROR = (
    "The analysis could not be completed because of an internal error. "
    "Please run it again; if it keeps failing, contact the platform operators."
)
CANCELLED_STATUSES = frozenset({DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED})
FAILURE_EVENT_TYPES = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
MAX_EVENT_TEXT_CHARS = 20_000
MAX_ID_DIGITS = len(str(MAX_WORKFLOW_JOB_ID))

LOGGER = logging.getLogger(__name__)


class JobState(StrEnum):
    """What ``GET /job/{id}`` says about a job."""

    OPEN = "open"
    FINALISED = "finalised"
    MISSING = "missing"
    OTHER_TYPE = "other-type"


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
        if error.status == HTTPStatus.NOT_FOUND:
            return JobState.MISSING
        raise
    if job.get("job_type") != MATRIX_PROFILE_JOB_TYPE:
        return JobState.OTHER_TYPE
    if job.get("finalised_at") is not None:
        return JobState.FINALISED
    return JobState.OPEN


def finalise_job(
    client: PlatformApiClient, workflow_job_id: int, results: dict[str, Any]
) -> None:
    """PATCHes the job's ``results`` (idempotent; the API stamps ``finalised_at``).

    Raises:
        PlatformApiError: When the API refuses the PATCH or keeps failing.
    """
    client.patch_json(JOB_PATH.format(workflow_job_id), {"results": results})


def upload_failure_log(
    s3: S3Resource, run_id: str, workflow_job_id: int, text: str
) -> str | None:
    """Stores ``text`` behind a run and job header under ``logs/`` (outputs bucket).

    URLs are redacted, tracebacks cut to their exception line (users download
    it) and the log truncated per CONTRACT §5.

    Returns:
        The log's key, or None when the upload failed (logged, not raised).
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


def finalise_errors() -> tuple[type[Exception], ...]:
    """Exceptions a finalisation attempt may end with (API, network, storage)."""
    import requests
    from botocore.exceptions import BotoCoreError, ClientError

    from moderate.resources.settings import ServiceNotConfiguredError

    return (
        PlatformApiError,
        requests.RequestException,
        ServiceNotConfiguredError,
        BotoCoreError,
        ClientError,
    )


def valid_job_id(raw: object) -> int | None:
    """A workflow job id from op config (int) or a run tag (digits), else None."""
    if isinstance(raw, str) and raw.isdigit() and len(raw) <= MAX_ID_DIGITS:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None
    return raw if 0 < raw <= MAX_WORKFLOW_JOB_ID else None


def retry_later(error: Exception) -> bool:
    """Whether a failed finalisation must be tried again later.

    Only refusals about the job (e.g. 404, 422) are final; throttling, 5xx,
    network, storage, settings and the account's 401/403 are not.
    """
    if isinstance(error, PlatformApiError):
        return transient_api_error(error) or error.status in ACCOUNT_STATUSES
    return True


def broken_run_error(cancelled: bool, detail: str | None) -> str:
    """User-facing error of a run that ended without reporting, with ``detail``."""
    base = CANCELLED_ERROR if cancelled else INTERRUPTED_ERROR
    if detail:
        return clip(f"{base} ({redact_urls(detail)})")
    return base


def exception_line(error: BaseException) -> str:
    """A ``Failure``'s first description line, else ``Type: <first message line>``."""
    description = error.description if isinstance(error, Failure) else None
    first = ((description or str(error)).strip().splitlines() or [""])[0]
    if isinstance(error, Failure):
        return first
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def recorded_results(instance: DagsterInstance, run_id: str) -> dict[str, Any] | None:
    """The ``results`` a run's analysis step recorded (kept if the PATCH failed)."""
    records = instance.all_logs(run_id, of_type=DagsterEventType.STEP_OUTPUT)
    for entry in reversed(records):
        event = entry.dagster_event
        if event is None or event.step_key != ANALYSIS_STEP:
            continue
        value = event.step_output_data.metadata.get(RESULTS_METADATA_KEY)
        data = getattr(value, "data", None)  # a JsonMetadataValue's dict
        if isinstance(data, dict):
            return data
    return None


def finalise_open_job(
    platform_api: PlatformApiResource,
    s3: S3Resource,
    workflow_job_id: int,
    run_id: str,
    error: str,
    log_text: str,
    results: dict[str, Any] | None = None,
) -> bool:
    """PATCHes a job's ``results``, else ``error`` and a log, unless it is closed.

    A failing GET is not fatal (the API's GET answers 500 when its own S3 is
    down, while its PATCH still works).

    Returns:
        True when this call finalised the job, False when it needed nothing.

    Raises:
        PlatformApiError: When the API refuses the PATCH or keeps failing.
    """
    import requests

    client = platform_api.client()
    try:
        state = read_job_state(client, workflow_job_id)
    except (PlatformApiError, requests.RequestException) as get_error:
        LOGGER.warning(
            "Job %s: GET failed (%s); finalising without it", workflow_job_id, get_error
        )
    else:
        if state is not JobState.OPEN:
            LOGGER.info("Job %s is %s: leaving it", workflow_job_id, state.value)
            return False
    if results is None:
        log_key = upload_failure_log(s3, run_id, workflow_job_id, log_text)
        results = failure_results(
            workflow_job_id, s3.job_outputs_bucket, error, log_key
        )
    finalise_job(client, workflow_job_id, results)
    return True


def finalise_broken_run(
    instance: DagsterInstance,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    workflow_job_id: int,
    broken_run_id: str,
) -> bool:
    """Finalises the job of a run that failed or was cancelled without reporting.

    The run's recorded results win; else the cancelled or interrupted error and
    the failure events' messages as the log (tracebacks stay in the run log).

    Returns:
        True when this call finalised the job.
    """
    run = instance.get_run_by_id(broken_run_id)
    cancelled = run is not None and run.status == DagsterRunStatus.CANCELED
    job_name = run.job_name if run is not None else "unknown job"
    status = run.status.value if run is not None else "unknown"
    log_text = (
        f"The run of {job_name} ended as {status}.\n\n"
        f"{_failure_events(instance, broken_run_id)}"
    )
    return finalise_open_job(
        platform_api,
        s3,
        workflow_job_id,
        broken_run_id,
        broken_run_error(cancelled, None),
        log_text,
        results=recorded_results(instance, broken_run_id),
    )


def _failure_events(instance: DagsterInstance, run_id: str) -> str:
    texts: list[str] = []
    for entry in instance.all_logs(run_id, of_type=FAILURE_EVENT_TYPES):
        event = entry.dagster_event
        texts.append(event.message if event and event.message else entry.user_message)
        error = (
            event.step_failure_data.error
            if event is not None and event.is_step_failure
            else None
        )
        while error is not None:
            texts.append(error.message.strip())
            error = error.cause
    joined = "\n".join(texts) or "No failure event was recorded.\n"
    return joined[-MAX_EVENT_TEXT_CHARS:]
