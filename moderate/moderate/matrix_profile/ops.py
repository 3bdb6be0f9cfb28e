"""Ops of the matrix-profile jobs: run the worker, report the result."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from dagster import (
    Backoff,
    Config,
    Failure,
    Jitter,
    MetadataValue,
    OpExecutionContext,
    Out,
    RetryPolicy,
    op,
)
from pydantic import Field

from moderate.matrix_profile.assets import (
    report_event,
    report_preview,
    summary_markdown,
)
from moderate.matrix_profile.finalise import (
    CANCELLED_STATUSES,
    RESULTS_METADATA_KEY,
    JobState,
    exception_line,
    finalise_broken_run,
    finalise_errors,
    finalise_job,
    finalise_open_job,
    read_job_state,
    retry_later,
    transient_api_error,
    upload_failure_log,
)
from moderate.matrix_profile.launcher import WorkerRequest
from moderate.matrix_profile.messages import (
    MAX_ANALYSIS_VARIABLE_CHARS,
    MAX_OBJECT_KEY_BYTES,
    MAX_REASON_CHARS,
    MAX_WORKFLOW_JOB_ID,
    S3_BUCKET_PATTERN,
)
from moderate.matrix_profile.results import (
    error_summary,
    failure_results,
    new_report_key,
    redact_urls,
    success_results,
    traceback_exception_line,
)
from moderate.matrix_profile.settings import MatrixProfileSettings
from moderate.matrix_profile.tags import FEATURE_TAGS
from moderate.matrix_profile.worker.options import REPORT_CONTENT_TYPE
from moderate.resources.platform_api import PlatformApiError, PlatformApiResource
from moderate.resources.s3 import S3Resource

DEFAULT_RUN_TIMEOUT_S = 3600
MIN_RUN_TIMEOUT_S = 60
MAX_RUN_TIMEOUT_S = 6 * 3600
CANCEL_CHECK_INTERVAL_S = 2.0
ANALYSIS_RETRIES = 3
ANALYSIS_RETRY_DELAY_S = 2.0
REPORT_RETRIES = 2
REPORT_RETRY_DELAY_S = 3.0
FINALISE_RETRIES = 5
RUN_LOG_TAIL_CHARS = 20_000
FINALISE_RETRY_DELAY_S = 30.0
MISSING_REPORT_ERROR = (
    "The analysis finished but its report was not found in storage. Please run the "
    "analysis again."
)
INPUT_BUCKET_ERROR = "The input file is not stored in the platform's bucket."
REJECTED_PREFIX = "The analysis request was rejected"
SKIP_EXPLANATIONS = {
    JobState.MISSING: "does not exist (or is not visible to the pipelines)",
    JobState.FINALISED: "is already finalised",
    JobState.OTHER_TYPE: "is not a matrix_profile job",
}


def _retry_policy(max_retries: int, delay_s: float) -> RetryPolicy:
    return RetryPolicy(
        max_retries=max_retries,
        delay=delay_s,
        backoff=Backoff.EXPONENTIAL,
        jitter=Jitter.PLUS_MINUS,
    )


REPORT_RETRY_POLICY = _retry_policy(REPORT_RETRIES, REPORT_RETRY_DELAY_S)
FINALISE_RETRY_POLICY = _retry_policy(FINALISE_RETRIES, FINALISE_RETRY_DELAY_S)


class _JobConfig(Config):
    """Names the platform job an op finalises."""

    workflow_job_id: int = Field(
        gt=0, le=MAX_WORKFLOW_JOB_ID, description="Platform job to finalise."
    )


class MatrixProfileAnalysisConfig(_JobConfig):
    """One analysis request (filled in by the sensor from a valid message)."""

    analysis_variable: str = Field(
        min_length=1,
        max_length=MAX_ANALYSIS_VARIABLE_CHARS,
        description="Column to analyse.",
    )
    bucket: str = Field(
        pattern=S3_BUCKET_PATTERN, description="Bucket of the input object."
    )
    key: str = Field(
        min_length=1,
        max_length=MAX_OBJECT_KEY_BYTES,
        description="Key of the input object.",
    )
    launcher: Literal["default", "subprocess", "kubernetes"] = Field(
        default="default",
        description="Where the worker runs; 'default' follows MATRIX_PROFILE_LAUNCHER.",
    )
    timeout_s: int = Field(
        default=DEFAULT_RUN_TIMEOUT_S,
        ge=MIN_RUN_TIMEOUT_S,
        le=MAX_RUN_TIMEOUT_S,
        description="Run limit of the worker, image pull included.",
    )
    window: str | None = Field(default=None, description="Worker window option.")
    top_k: int | None = Field(default=None, gt=0, description="Anomalies to report.")


class MatrixProfileRejectionConfig(_JobConfig):
    """A request whose message was invalid but named its job."""

    reason: str = Field(max_length=MAX_REASON_CHARS, description="Why it was invalid.")


@dataclass(frozen=True)
class AnalysisOutcome:
    """What the analysis op hands to the reporting op (no ``results``: skip it)."""

    workflow_job_id: int
    results: dict[str, Any] | None = None
    skip_reason: str | None = None
    description: str | None = None
    preview: str | None = None


@op(
    description="Runs the matrix-profile worker for one job (subprocess or "
    "Kubernetes Job) and checks its report. Retried with backoff when the "
    "Platform API fails transiently before the worker starts.",
    out=Out(AnalysisOutcome),
    retry_policy=_retry_policy(ANALYSIS_RETRIES, ANALYSIS_RETRY_DELAY_S),
    tags=FEATURE_TAGS,
)
def run_matrix_profile_analysis(
    context: OpExecutionContext,
    config: MatrixProfileAnalysisConfig,
    s3: S3Resource,
    platform_api: PlatformApiResource,
    matrix_profile: MatrixProfileSettings,
) -> AnalysisOutcome:
    """Presigns the URLs, runs the worker and turns its end into ``results``.

    Only a transient failure of the first GET is retried; once the worker may
    have started, failures are final and the failure hook finalises the job.
    """
    job_id = config.workflow_job_id
    skip = _first_check(context, platform_api, job_id)
    if skip is not None:
        context.log.warning(skip)
        return AnalysisOutcome(job_id, skip_reason=skip)
    try:
        outcome = _analyse(context, config, s3, matrix_profile)
    except Failure:
        raise
    except Exception as error:  # the worker may have started: no op retry
        raise Failure(
            description=exception_line(error),
            metadata={"workflow_job_id": job_id, "exception": type(error).__name__},
            allow_retries=False,
        ) from error
    if outcome.results is not None:
        context.add_output_metadata(
            {RESULTS_METADATA_KEY: MetadataValue.json(outcome.results)}
        )
    return outcome


def _first_check(
    context: OpExecutionContext, platform_api: PlatformApiResource, job_id: int
) -> str | None:
    """Why the job must not run, or None; a failing GET is retried, then ignored."""
    import requests

    try:
        state = read_job_state(platform_api.client(), job_id)
    except (PlatformApiError, requests.RequestException) as error:
        if not transient_api_error(error):
            raise _api_failure(
                job_id, error, f"GET /job/{job_id} refused", False
            ) from error
        if context.retry_number < ANALYSIS_RETRIES:
            raise _api_failure(
                job_id, error, f"GET /job/{job_id} failed, retrying"
            ) from error
        context.log.warning(
            f"Job {job_id}: GET /job/{job_id} still failing "
            f"({_api_error_text(error)}); running the analysis anyway"
        )
        return None
    if state is JobState.OPEN:
        return None
    return f"Job {job_id} {SKIP_EXPLANATIONS[state]}: skipping it"


def _analyse(
    context: OpExecutionContext,
    config: MatrixProfileAnalysisConfig,
    s3: S3Resource,
    matrix_profile: MatrixProfileSettings,
) -> AnalysisOutcome:
    job_id = config.workflow_job_id
    outputs_bucket = s3.job_outputs_bucket
    if config.bucket != s3.data_lake_bucket:
        context.log.error(f"Job {job_id}: input bucket {config.bucket!r} refused")
        return AnalysisOutcome(
            job_id, failure_results(job_id, outputs_bucket, INPUT_BUCKET_ERROR, None)
        )
    kind = matrix_profile.launcher_kind(
        None if config.launcher == "default" else config.launcher
    )
    launcher = matrix_profile.worker_launcher(kind, config.timeout_s)
    report_key = new_report_key()
    expires_in_s = config.timeout_s  # the URLs expire with the Job's deadline
    request = WorkerRequest(
        workflow_job_id=job_id,
        run_id=context.run_id,
        analysis_variable=config.analysis_variable,
        input_url=s3.presigned_get_url(config.bucket, config.key, expires_in_s),
        report_upload_url=s3.presigned_put_url(
            outputs_bucket, report_key, expires_in_s, REPORT_CONTENT_TYPE
        ),
        timeout_s=config.timeout_s,
        window=config.window,
        top_k=config.top_k,
    )
    context.log.info(
        f"Job {job_id}: running the worker ({kind.value}), report key {report_key}"
    )
    result = launcher.run(context, request, should_stop=_CancellationProbe(context))
    context.log.info(
        f"Job {job_id}: worker ended with exit code {result.exit_code}"
        + (f" ({result.reason})" if result.reason else "")
    )
    if result.succeeded and s3.object_exists(outputs_bucket, report_key):
        summary = dict(result.summary or {})
        context.add_output_metadata(
            {
                "report": MetadataValue.text(f"{outputs_bucket}/{report_key}"),
                "worker_summary": MetadataValue.json(summary),
            }
        )
        return AnalysisOutcome(
            job_id,
            success_results(job_id, outputs_bucket, report_key),
            description=summary_markdown(job_id, summary),
            preview=report_preview(s3, outputs_bucket, report_key),
        )
    error = (
        MISSING_REPORT_ERROR
        if result.succeeded
        else error_summary(result.log, result.reason)
    )
    if traceback_exception_line(result.log) is not None:
        tail = redact_urls(result.log[-RUN_LOG_TAIL_CHARS:])
        context.log.error(f"Job {job_id}: end of the worker log:\n{tail}")
    launcher_line = f"Launcher: {result.reason}\n" if result.reason else ""
    log_text = f"Worker exit code: {result.exit_code}\n{launcher_line}\n{result.log}"
    log_key = upload_failure_log(s3, context.run_id, job_id, log_text)
    context.log.warning(f"Job {job_id} failed: {error} (log: {log_key})")
    return AnalysisOutcome(
        job_id, failure_results(job_id, outputs_bucket, error, log_key)
    )


@op(
    description="Finalises the platform job with PATCH /job/{id} (success or "
    "error results); retried on transient API errors.",
    retry_policy=REPORT_RETRY_POLICY,
    tags=FEATURE_TAGS,
)
def report_matrix_profile_result(
    context: OpExecutionContext,
    outcome: AnalysisOutcome,
    platform_api: PlatformApiResource,
) -> None:
    """PATCHes the job; raises ``Failure`` when the result cannot be delivered."""
    job_id, results = outcome.workflow_job_id, outcome.results
    if results is None:
        context.log.info(f"Job {job_id}: nothing to report ({outcome.skip_reason})")
        return
    with _patch_errors(job_id):
        finalise_job(platform_api.client(), job_id, results)
    context.log_event(
        report_event(job_id, results, outcome.description, outcome.preview)
    )
    failed = results.get("error") is not None
    context.log.info(f"Job {job_id} finalised as {'failed' if failed else 'succeeded'}")


@op(
    description="Finalises a job whose request message was invalid, with an error.",
    retry_policy=REPORT_RETRY_POLICY,
    tags=FEATURE_TAGS,
)
def reject_matrix_profile_request(
    context: OpExecutionContext,
    config: MatrixProfileRejectionConfig,
    s3: S3Resource,
    platform_api: PlatformApiResource,
) -> None:
    """PATCHes an open job with the reason its message was dead-lettered."""
    job_id = config.workflow_job_id
    error = f"{REJECTED_PREFIX}: {config.reason}"
    with _patch_errors(job_id):
        finalised = finalise_open_job(
            platform_api, s3, job_id, context.run_id, error, f"{error}\n"
        )
    if finalised:
        context.log.info(f"Job {job_id} finalised as failed: {error}")
    else:
        context.log.warning(f"Job {job_id} is not open: skipping it")


@contextmanager
def _patch_errors(job_id: int) -> Iterator[None]:
    """An API error of the terminal PATCH becomes a one-line ``Failure``."""
    import requests

    try:
        yield
    except (PlatformApiError, requests.RequestException) as error:
        raise _api_failure(job_id, error, f"PATCH /job/{job_id} failed") from error


def _api_error_text(error: Exception) -> str:
    if isinstance(error, PlatformApiError):
        return f"HTTP {error.status}"
    return type(error).__name__


def _api_failure(
    job_id: int, error: Exception, what: str, allow_retries: bool = True
) -> Failure:
    """``Job <id>: <what> (<HTTP status or error class>)``, with both as metadata."""
    status = error.status if isinstance(error, PlatformApiError) else None
    return Failure(
        description=f"Job {job_id}: {what} ({_api_error_text(error)})",
        metadata={"workflow_job_id": job_id, "http_status": status},
        allow_retries=allow_retries,
    )


class _CancellationProbe:
    """Whether the run is being cancelled (asked of the instance every 2 s)."""

    def __init__(self, context: OpExecutionContext) -> None:
        self._context = context
        self._checked_at = float("-inf")
        self._cancelling = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._cancelling and now - self._checked_at >= CANCEL_CHECK_INTERVAL_S:
            self._checked_at = now
            run = self._context.instance.get_run_by_id(self._context.run_id)
            self._cancelling = run is not None and run.status in CANCELLED_STATUSES
        return self._cancelling


class MatrixProfileFinaliseConfig(_JobConfig):
    """A broken run whose job the run sensors could not finalise at once."""

    broken_run_id: str = Field(
        min_length=1, max_length=64, description="The run that failed."
    )


@op(
    description="PATCHes the job of a failed or cancelled run; retried with "
    "backoff (the job's retry policy) while the API is throttled or down.",
    tags=FEATURE_TAGS,
)
def finalise_broken_matrix_profile_run(
    context: OpExecutionContext,
    config: MatrixProfileFinaliseConfig,
    s3: S3Resource,
    platform_api: PlatformApiResource,
) -> None:
    """Finalises the job; a refusal that says nothing about the job is retried."""
    job_id = config.workflow_job_id
    try:
        finalised = finalise_broken_run(
            context.instance, platform_api, s3, job_id, config.broken_run_id
        )
    except finalise_errors() as error:
        if retry_later(error):
            raise _api_failure(job_id, error, "not finalised yet") from error
        context.log.error(f"Job {job_id}: not finalised ({_api_error_text(error)})")
        return
    context.log.info(
        f"Job {job_id}: {'finalised' if finalised else 'needed nothing'} after run "
        f"{config.broken_run_id}"
    )
