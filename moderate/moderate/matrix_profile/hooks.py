"""Failure hook: an op that raised still leaves its job finalised with an error."""

import traceback

from dagster import DagsterExecutionInterruptedError, HookContext, failure_hook

from moderate.matrix_profile.finalise import (
    CANCELLED_STATUSES,
    broken_run_error,
    exception_line,
    finalise_errors,
    finalise_open_job,
    recorded_results,
    valid_job_id,
)
from moderate.matrix_profile.launcher import WorkerCancelledError
from moderate.matrix_profile.results import redact_urls
from moderate.matrix_profile.tags import WORKFLOW_JOB_ID_TAG

DETAIL_CHARS = 300
CANCELLED_EXCEPTIONS = (WorkerCancelledError, DagsterExecutionInterruptedError)


@failure_hook(
    name="finalise_matrix_profile_job_on_failure",
    required_resource_keys={"platform_api", "s3"},
)
def finalise_matrix_profile_job_on_failure(context: HookContext) -> None:
    """PATCHes the run's job when an op failed: its recorded results, else an error.

    Errors are logged, not raised: the run sensors retry jobs still open after
    their run failed or was cancelled.
    """
    workflow_job_id = _workflow_job_id(context)
    if workflow_job_id is None:
        context.log.error("No valid workflow job id on this run: nothing to finalise")
        return
    exception = context.op_exception
    if exception is not None:
        context.log.error(
            f"Step {context.step_key} failed:\n"
            + redact_urls("".join(traceback.format_exception(exception)))
        )
    detail = exception_line(exception)[:DETAIL_CHARS] if exception else None
    error = broken_run_error(_cancelled(context, exception), detail)
    try:
        finalised = finalise_open_job(
            context.resources.platform_api,
            context.resources.s3,
            workflow_job_id,
            context.run_id,
            error,
            f"Step {context.step_key} failed.\n{error}\n",
            results=recorded_results(context.instance, context.run_id),
        )
    except finalise_errors() as failure:
        context.log.error(
            f"Could not finalise job {workflow_job_id} ({type(failure).__name__}); "
            "the matrix-profile run sensors will retry"
        )
        return
    if finalised:
        context.log.info(f"Job {workflow_job_id} finalised after step failure")


def _workflow_job_id(context: HookContext) -> int | None:
    """The op config's job id, else the run tag's."""
    config = context.op_config
    value = valid_job_id(
        config.get("workflow_job_id") if isinstance(config, dict) else None
    )
    if value is None:
        run = context.instance.get_run_by_id(context.run_id)
        value = valid_job_id(run.tags.get(WORKFLOW_JOB_ID_TAG) if run else None)
    return value


def _cancelled(context: HookContext, exception: BaseException | None) -> bool:
    if isinstance(exception, CANCELLED_EXCEPTIONS) or isinstance(
        getattr(exception, "__cause__", None), CANCELLED_EXCEPTIONS
    ):
        return True
    run = context.instance.get_run_by_id(context.run_id)
    return run is not None and run.status in CANCELLED_STATUSES
