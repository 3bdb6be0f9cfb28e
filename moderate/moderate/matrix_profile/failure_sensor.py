"""The backstop of the terminal PATCH: Dagster run-status sensors.

A failed, crashed or cancelled run may not have finalised its job (no hook runs
when the run worker dies). Each such run is seen once; a finalisation the API
cannot take now becomes a retried ``matrix_profile_finalise_job`` run.
"""

from dagster import (
    DagsterRunStatus,
    RunRequest,
    RunStatusSensorContext,
    SkipReason,
    run_failure_sensor,
    run_status_sensor,
)

from moderate.automation import default_sensor_status
from moderate.matrix_profile.finalise import (
    finalise_broken_run,
    finalise_errors,
    retry_later,
    valid_job_id,
)
from moderate.matrix_profile.jobs import (
    matrix_profile_finalise_job,
    matrix_profile_job,
    matrix_profile_rejection_job,
)
from moderate.matrix_profile.tags import (
    BROKEN_RUN_ID_TAG,
    FEATURE_TAGS,
    WORKFLOW_JOB_ID_TAG,
)
from moderate.resources.platform_api import PlatformApiResource
from moderate.resources.s3 import S3Resource

FAILURE_SENSOR_NAME = "matrix_profile_failure_sensor"
CANCEL_SENSOR_NAME = "matrix_profile_cancel_sensor"
RUN_SENSOR_INTERVAL_S = 60
SENSOR_READ_TIMEOUT_S = 10.0
SENSOR_MAX_ATTEMPTS = 3
FINALISE_OP = "finalise_broken_matrix_profile_run"
FINALISE_RUN_KEY_PREFIX = "mp-finalise-"
SENSOR_OPTIONS: dict = {
    "monitored_jobs": [
        matrix_profile_job,
        matrix_profile_rejection_job,
        matrix_profile_finalise_job,
    ],
    "request_job": matrix_profile_finalise_job,
    "minimum_interval_seconds": RUN_SENSOR_INTERVAL_S,
    "default_status": default_sensor_status(),
    "tags": FEATURE_TAGS,
}


def finalise_after_broken_run(
    context: RunStatusSensorContext, platform_api: PlatformApiResource, s3: S3Resource
) -> RunRequest | SkipReason | None:
    """PATCHes the job of one broken run now, or requests a retried finalise run.

    Returns:
        None when the run is handled, a ``RunRequest`` when the API must be
        tried again later, a ``SkipReason`` when a service is not configured.
    """
    run = context.dagster_run
    workflow_job_id = valid_job_id(run.tags.get(WORKFLOW_JOB_ID_TAG))
    if workflow_job_id is None:
        context.log.info(f"Run {run.run_id} has no workflow job id: skipped")
        return None
    for resource in (platform_api, s3):
        if not resource.is_configured():
            return SkipReason(resource.not_configured_reason())
    broken_run_id = run.tags.get(BROKEN_RUN_ID_TAG, run.run_id)
    api = _tick_client(platform_api)
    try:
        finalised = finalise_broken_run(
            context.instance, api, s3, workflow_job_id, broken_run_id
        )
    except finalise_errors() as error:
        if not retry_later(error):
            context.log.error(f"Run {run.run_id}: job not finalised ({error})")
            return None
        context.log.warning(
            f"Run {run.run_id}: job {workflow_job_id} not finalised "
            f"({type(error).__name__}); requesting a retried finalise run"
        )
        config = {"workflow_job_id": workflow_job_id, "broken_run_id": broken_run_id}
        return RunRequest(
            run_key=f"{FINALISE_RUN_KEY_PREFIX}{run.run_id}",
            run_config={"ops": {FINALISE_OP: {"config": config}}},
            tags={
                WORKFLOW_JOB_ID_TAG: str(workflow_job_id),
                BROKEN_RUN_ID_TAG: broken_run_id,
            },
        )
    finally:
        api.teardown_after_execution(context)
    if finalised:
        context.log.info(f"Job {workflow_job_id} finalised after run {run.run_id}")
    return None


matrix_profile_failure_sensor = run_failure_sensor(
    name=FAILURE_SENSOR_NAME,
    description="Finalises with an error every platform job whose matrix-profile "
    "run failed or crashed without reporting.",
    **SENSOR_OPTIONS,
)(finalise_after_broken_run)
matrix_profile_cancel_sensor = run_status_sensor(
    run_status=DagsterRunStatus.CANCELED,
    name=CANCEL_SENSOR_NAME,
    description="Finalises with an error every platform job whose matrix-profile "
    "run was cancelled without reporting.",
    **SENSOR_OPTIONS,
)(finalise_after_broken_run)


def _tick_client(platform_api: PlatformApiResource) -> PlatformApiResource:
    """The same account with short timeouts, so a tick stays short."""
    return type(platform_api)(
        base_url=platform_api.base_url,
        username=platform_api.username,
        connect_timeout_s=platform_api.connect_timeout_s,
        read_timeout_s=min(platform_api.read_timeout_s, SENSOR_READ_TIMEOUT_S),
        max_attempts=min(platform_api.max_attempts, SENSOR_MAX_ATTEMPTS),
        retry_base_delay_s=platform_api.retry_base_delay_s,
    )
