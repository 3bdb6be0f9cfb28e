"""Ops of the matrix-profile jobs: run the worker, report the result."""

import time
from dataclasses import dataclass
from typing import Any, Literal

from dagster import (
    Backoff,
    Config,
    DagsterRunStatus,
    MetadataValue,
    OpExecutionContext,
    Out,
    RetryPolicy,
    op,
)
from pydantic import Field

from moderate.matrix_profile.assets import report_event
from moderate.matrix_profile.launcher import WorkerRequest, WorkerResult
from moderate.matrix_profile.messages import MAX_REASON_CHARS
from moderate.matrix_profile.platform import (
    JobState,
    finalise_job,
    read_job_state,
    upload_failure_log,
)
from moderate.matrix_profile.results import (
    REPORT_CONTENT_TYPE,
    error_summary,
    failure_results,
    new_report_key,
    success_results,
)
from moderate.matrix_profile.settings import MatrixProfileSettings
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.s3 import S3Resource

DEFAULT_RUN_TIMEOUT_S = 3600
MIN_RUN_TIMEOUT_S = 60
MAX_RUN_TIMEOUT_S = 6 * 3600
CANCEL_CHECK_INTERVAL_S = 2.0
CANCELLING_STATUSES = frozenset({DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED})
REPORT_RETRIES = 2
REPORT_RETRY_DELAY_S = 3.0
MISSING_REPORT_ERROR = (
    "The analysis finished but its report was not found in storage. Please run the "
    "analysis again."
)
INPUT_BUCKET_ERROR = "The input file is not stored in the platform's bucket."
REJECTED_PREFIX = "The analysis request was rejected"


class MatrixProfileAnalysisConfig(Config):
    """One analysis request (filled in by the sensor from a valid message)."""

    workflow_job_id: int = Field(gt=0, description="Platform job to finalise.")
    analysis_variable: str = Field(min_length=1, description="Column to analyse.")
    bucket: str = Field(description="Bucket of the input object.")
    key: str = Field(min_length=1, description="Key of the input object.")
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


class MatrixProfileRejectionConfig(Config):
    """A request whose message was invalid but named its job."""

    workflow_job_id: int = Field(gt=0, description="Platform job to finalise.")
    reason: str = Field(max_length=MAX_REASON_CHARS, description="Why it was invalid.")


@dataclass(frozen=True)
class AnalysisOutcome:
    """What the analysis op hands to the reporting op.

    Attributes:
        workflow_job_id: The job.
        results: ``results`` to PATCH; None when the job must not be touched.
        skip_reason: Why nothing is reported (job missing or already final).
    """

    workflow_job_id: int
    results: dict[str, Any] | None = None
    skip_reason: str | None = None


@op(
    description="Runs the matrix-profile worker for one job (subprocess or "
    "Kubernetes Job) and checks its report.",
    out=Out(AnalysisOutcome),
    tags={"feature": "matrix_profile"},
)
def run_matrix_profile_analysis(
    context: OpExecutionContext,
    config: MatrixProfileAnalysisConfig,
    s3: S3Resource,
    platform_api: PlatformApiResource,
    matrix_profile: MatrixProfileSettings,
) -> AnalysisOutcome:
    """Presigns the URLs, runs the worker and turns its end into ``results``."""
    job_id = config.workflow_job_id
    skip = _skip_reason(platform_api, job_id)
    if skip is not None:
        context.log.warning(skip)
        return AnalysisOutcome(job_id, skip_reason=skip)
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
    expires_in_s = config.timeout_s  # no longer than the Job's deadline
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
    result = launcher.run(request, should_stop=_CancellationProbe(context))
    context.log.info(
        f"Job {job_id}: worker ended with exit code {result.exit_code}"
        + (f" ({result.reason})" if result.reason else "")
    )
    if result.succeeded and s3.object_exists(outputs_bucket, report_key):
        context.add_output_metadata(
            {
                "report": MetadataValue.text(f"{outputs_bucket}/{report_key}"),
                "worker_summary": MetadataValue.json(result.summary() or {}),
            }
        )
        return AnalysisOutcome(
            job_id, success_results(job_id, outputs_bucket, report_key)
        )
    error = (
        MISSING_REPORT_ERROR
        if result.succeeded
        else error_summary(result.log, result.reason)
    )
    log_key = upload_failure_log(
        s3, outputs_bucket, job_id, _log_document(context.run_id, job_id, result)
    )
    context.log.warning(f"Job {job_id} failed: {error} (log: {log_key})")
    return AnalysisOutcome(
        job_id, failure_results(job_id, outputs_bucket, error, log_key)
    )


@op(
    description="Finalises the platform job with PATCH /job/{id} (success or "
    "error results); retried on transient API errors.",
    retry_policy=RetryPolicy(
        max_retries=REPORT_RETRIES,
        delay=REPORT_RETRY_DELAY_S,
        backoff=Backoff.EXPONENTIAL,
    ),
    tags={"feature": "matrix_profile"},
)
def report_matrix_profile_result(
    context: OpExecutionContext,
    outcome: AnalysisOutcome,
    platform_api: PlatformApiResource,
) -> None:
    """PATCHes the job; raises when the report cannot be delivered."""
    if outcome.results is None:
        context.log.info(
            f"Job {outcome.workflow_job_id}: nothing to report ({outcome.skip_reason})"
        )
        return
    finalise_job(platform_api.client(), outcome.workflow_job_id, outcome.results)
    context.log_event(report_event(outcome.workflow_job_id, outcome.results))
    failed = outcome.results.get("error") is not None
    context.log.info(
        f"Job {outcome.workflow_job_id} finalised as "
        f"{'failed' if failed else 'succeeded'}"
    )


@op(
    description="Finalises a job whose request message was invalid, with an error.",
    tags={"feature": "matrix_profile"},
)
def reject_matrix_profile_request(
    context: OpExecutionContext,
    config: MatrixProfileRejectionConfig,
    s3: S3Resource,
    platform_api: PlatformApiResource,
) -> None:
    """PATCHes an open job with the reason its message was dead-lettered."""
    job_id = config.workflow_job_id
    skip = _skip_reason(platform_api, job_id)
    if skip is not None:
        context.log.warning(skip)
        return
    outputs_bucket = s3.job_outputs_bucket
    error = f"{REJECTED_PREFIX}: {config.reason}"
    log_key = upload_failure_log(
        s3,
        outputs_bucket,
        job_id,
        f"Dagster run {context.run_id}\nWorkflow job {job_id}\n{error}\n",
    )
    finalise_job(
        platform_api.client(),
        job_id,
        failure_results(job_id, outputs_bucket, error, log_key),
    )
    context.log.info(f"Job {job_id} finalised as failed: {error}")


def _skip_reason(platform_api: PlatformApiResource, workflow_job_id: int) -> str | None:
    state = read_job_state(platform_api.client(), workflow_job_id)
    if state is JobState.OPEN:
        return None
    explanation = {
        JobState.MISSING: "does not exist (or is not visible to the pipelines)",
        JobState.FINALISED: "is already finalised",
        JobState.OTHER_TYPE: "is not a matrix_profile job",
    }[state]
    return f"Job {workflow_job_id} {explanation}: skipping it"


class _CancellationProbe:
    """Whether the run is being cancelled.

    Launchers poll often, so the instance is asked at most every few seconds.
    """

    def __init__(self, context: OpExecutionContext) -> None:
        self._context = context
        self._checked_at = float("-inf")
        self._cancelling = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self._cancelling and now - self._checked_at >= CANCEL_CHECK_INTERVAL_S:
            self._checked_at = now
            run = self._context.instance.get_run_by_id(self._context.run_id)
            self._cancelling = run is not None and run.status in CANCELLING_STATUSES
        return self._cancelling


def _log_document(run_id: str, workflow_job_id: int, result: WorkerResult) -> str:
    header = [
        f"Dagster run {run_id}",
        f"Workflow job {workflow_job_id}",
        f"Worker exit code: {result.exit_code}",
    ]
    if result.reason:
        header.append(f"Launcher: {result.reason}")
    return "\n".join(header) + "\n\n" + result.log
