"""Failure hook: an op that raised still leaves its job finalised with an error."""

import traceback

from dagster import (
    DagsterExecutionInterruptedError,
    DagsterRunStatus,
    HookContext,
    failure_hook,
)

from moderate.matrix_profile.finalise import (
    FINALISE_ERRORS,
    WORKFLOW_JOB_ID_TAG,
    broken_run_error,
    finalise_open_job,
)
from moderate.matrix_profile.launcher import WorkerCancelledError

DETAIL_CHARS = 300
CANCELLED_EXCEPTIONS = (WorkerCancelledError, DagsterExecutionInterruptedError)
CANCELLED_STATUSES = frozenset({DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED})


@failure_hook(
    name="finalise_matrix_profile_job_on_failure",
    required_resource_keys={"platform_api", "s3"},
)
def finalise_matrix_profile_job_on_failure(context: HookContext) -> None:
    """PATCHes the run's job with an error when an op failed.

    Errors are logged, not raised: ``matrix_profile_failure_sensor`` retries
    jobs that are still open after their run failed or was cancelled.
    """
    workflow_job_id = _workflow_job_id(context)
    if workflow_job_id is None:
        context.log.error("No workflow job id on this run: nothing to finalise")
        return
    exception = context.op_exception
    error = broken_run_error(_cancelled(context, exception), _detail(exception))
    log_text = (
        f"Dagster run {context.run_id}\nWorkflow job {workflow_job_id}\n"
        f"Step {context.step_key} failed.\n\n{_traceback(exception)}"
    )
    try:
        finalised = finalise_open_job(
            context.resources.platform_api,
            context.resources.s3,
            workflow_job_id,
            error,
            log_text,
        )
    except FINALISE_ERRORS as failure:
        context.log.error(
            f"Could not finalise job {workflow_job_id} ({type(failure).__name__}); "
            "matrix_profile_failure_sensor will retry"
        )
        return
    if finalised:
        context.log.info(f"Job {workflow_job_id} finalised with error: {error}")


def _workflow_job_id(context: HookContext) -> int | None:
    config = context.op_config
    if isinstance(config, dict) and isinstance(config.get("workflow_job_id"), int):
        return int(config["workflow_job_id"])
    run = context.instance.get_run_by_id(context.run_id)
    raw = run.tags.get(WORKFLOW_JOB_ID_TAG) if run is not None else None
    return int(raw) if raw is not None and raw.isdigit() else None


def _cancelled(context: HookContext, exception: BaseException | None) -> bool:
    if isinstance(exception, CANCELLED_EXCEPTIONS):
        return True
    run = context.instance.get_run_by_id(context.run_id)
    return run is not None and run.status in CANCELLED_STATUSES


def _detail(exception: BaseException | None) -> str | None:
    if exception is None:
        return None
    lines = str(exception).strip().splitlines()
    first = lines[0][:DETAIL_CHARS] if lines else ""
    return f"{type(exception).__name__}: {first}" if first else type(exception).__name__


def _traceback(exception: BaseException | None) -> str:
    if exception is None:
        return "No exception was recorded.\n"
    return "".join(traceback.format_exception(exception))
