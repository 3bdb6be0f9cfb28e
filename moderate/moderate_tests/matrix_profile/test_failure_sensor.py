"""matrix_profile_failure_sensor: the backstop that finalises broken runs' jobs."""

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    SkipReason,
    build_sensor_context,
)
from dagster._core.test_utils import create_run_for_test

from moderate.matrix_profile.failure_sensor import (
    FAILURE_SENSOR_NAME,
    matrix_profile_failure_sensor,
)
from moderate.matrix_profile.finalise import CANCELLED_ERROR, INTERRUPTED_ERROR
from moderate.matrix_profile.jobs import matrix_profile_job
from moderate.matrix_profile.settings import MatrixProfileSettings
from moderate.resources import PlatformApiResource
from moderate_tests.matrix_profile.jobs_support import (
    analysis_run_config,
    api_resource,
    upload_input,
)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def _tick(instance, s3, platform_api, cursor=None):
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        sensor_name=FAILURE_SENSOR_NAME,
        resources={"s3": s3, "platform_api": api_resource(platform_api.url)},
    ) as context:
        result = matrix_profile_failure_sensor(context)
        assert isinstance(result, SkipReason)
        return context.cursor


def _broken_run(instance, job_id, status, job_name="matrix_profile_job"):
    tags = {} if job_id is None else {"moderate/workflow-job-id": str(job_id)}
    return create_run_for_test(instance, job_name=job_name, status=status, tags=tags)


def _patches(platform_api):
    return platform_api.requests_to("/job/", "PATCH")


def test_cancelled_run_finalises_its_job_once(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    run = _broken_run(instance, job_id, DagsterRunStatus.CANCELED)

    cursor = _tick(instance, s3, platform_api)
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] == CANCELLED_ERROR
    assert results["output_key"] is None
    log = (
        s3.client()
        .get_object(Bucket=s3.job_outputs_bucket, Key=results["error_logs_key"])["Body"]
        .read()
    )
    assert run.run_id.encode() in log

    platform_api.clear_requests()
    assert _tick(instance, s3, platform_api, cursor) == cursor
    assert platform_api.requests_to("/job/") == []


def test_failed_runs_of_both_jobs_are_handled(instance, s3, platform_api):
    analysis = platform_api.add_job("alice")
    rejected = platform_api.add_job("alice")
    _broken_run(instance, analysis, DagsterRunStatus.FAILURE)
    _broken_run(
        instance,
        rejected,
        DagsterRunStatus.FAILURE,
        job_name="matrix_profile_rejection_job",
    )
    _broken_run(instance, None, DagsterRunStatus.FAILURE)
    create_run_for_test(
        instance,
        job_name="matrix_profile_job",
        status=DagsterRunStatus.SUCCESS,
        tags={"moderate/workflow-job-id": "999"},
    )
    _tick(instance, s3, platform_api)
    for job_id in (analysis, rejected):
        assert platform_api.get_job(job_id)["results"]["error"] == INTERRUPTED_ERROR
    assert {request.path for request in _patches(platform_api)} == {
        f"/job/{analysis}",
        f"/job/{rejected}",
    }


def test_finalised_jobs_are_left_alone(instance, s3, platform_api):
    job_id = platform_api.add_job(
        "alice",
        results={"error": None, "output_key": "matrixprofile-x.html"},
        finalised_at=platform_api.utcnow(),
    )
    _broken_run(instance, job_id, DagsterRunStatus.FAILURE)
    _tick(instance, s3, platform_api)
    assert _patches(platform_api) == []
    assert platform_api.get_job(job_id)["results"]["error"] is None


@pytest.mark.parametrize("status", [503, 429, 403])
def test_api_outage_is_retried_next_tick(instance, s3, platform_api, status):
    job_id = platform_api.add_job("alice")
    _broken_run(instance, job_id, DagsterRunStatus.FAILURE)
    platform_api.fail_next("/job/", status, times=50)
    cursor = _tick(instance, s3, platform_api)
    assert platform_api.get_job(job_id)["finalised_at"] is None

    platform_api.clear_faults()
    _tick(instance, s3, platform_api, cursor)
    assert platform_api.get_job(job_id)["results"]["error"] == INTERRUPTED_ERROR


def test_backstop_after_a_run_that_could_not_report(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    platform_api.fail_next(f"/job/{job_id}", 503, times=1000, method="PATCH")
    result = matrix_profile_job.execute_in_process(
        run_config=analysis_run_config(
            job_id, s3.data_lake_bucket, upload_input(s3, b"x"), "power"
        ),
        resources={
            "s3": s3,
            "platform_api": api_resource(platform_api.url),
            "matrix_profile": MatrixProfileSettings(launcher="kubernetes"),
        },
        tags={"moderate/workflow-job-id": str(job_id)},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    assert platform_api.get_job(job_id)["finalised_at"] is None

    platform_api.clear_faults()
    _tick(instance, s3, platform_api)
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] == INTERRUPTED_ERROR
    log = (
        s3.client()
        .get_object(Bucket=s3.job_outputs_bucket, Key=results["error_logs_key"])["Body"]
        .read()
    )
    assert b"run_matrix_profile_analysis" in log
    assert b"MATRIX_PROFILE_JOB_IMAGE" in log


def test_sensor_skips_without_settings(instance, s3):
    with build_sensor_context(
        instance=instance,
        sensor_name=FAILURE_SENSOR_NAME,
        resources={"s3": s3, "platform_api": PlatformApiResource()},
    ) as context:
        result = matrix_profile_failure_sensor(context)
    assert isinstance(result, SkipReason)
    assert "API_BASE_URL" in result.skip_message
