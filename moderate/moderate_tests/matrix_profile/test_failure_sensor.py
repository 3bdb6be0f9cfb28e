"""The run-status sensors that finalise the jobs of failed or cancelled runs."""

import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    build_sensor_context,
)
from dagster._core.test_utils import create_run_for_test

from moderate.matrix_profile.failure_sensor import (
    CANCEL_SENSOR_NAME,
    FAILURE_SENSOR_NAME,
    matrix_profile_cancel_sensor,
    matrix_profile_failure_sensor,
)
from moderate.matrix_profile.finalise import CANCELLED_ERROR, INTERRUPTED_ERROR
from moderate.matrix_profile.jobs import matrix_profile_finalise_job, matrix_profile_job
from moderate.matrix_profile.settings import MatrixProfileSettings
from moderate.resources import PlatformApiResource
from moderate_tests.matrix_profile.jobs_support import (
    FakeWorkerSettings,
    analysis_run_config,
    api_resource,
    upload_input,
)

SENSORS = {
    FAILURE_SENSOR_NAME: matrix_profile_failure_sensor,
    CANCEL_SENSOR_NAME: matrix_profile_cancel_sensor,
}
# The same job without its retry delays (30 s and more), as one attempt.
FINALISE_ONCE = matrix_profile_finalise_job.graph.to_job(
    name=matrix_profile_finalise_job.name, tags=matrix_profile_finalise_job.tags
)


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


class Sensor:
    """One of the run sensors, ticked like the daemon does (cursor kept)."""

    def __init__(self, name, instance, s3, platform_api):
        self.name = name
        self.instance = instance
        self.resources = {"s3": s3, "platform_api": platform_api}
        self.cursor = None
        self.tick()

    def tick(self):
        with build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            sensor_name=self.name,
            resources=self.resources,
        ) as context:
            data = SENSORS[self.name].evaluate_tick(context)
        self.cursor = data.cursor
        return data


@pytest.fixture
def sensors(instance, s3, platform_api):
    api = api_resource(platform_api.url)
    return {name: Sensor(name, instance, s3, api) for name in SENSORS}


def _broken_run(instance, job_id, status, job_name="matrix_profile_job"):
    tags = {} if job_id is None else {"moderate/workflow-job-id": str(job_id)}
    run = create_run_for_test(
        instance, job_name=job_name, status=DagsterRunStatus.STARTED, tags=tags
    )
    if status == DagsterRunStatus.CANCELED:
        instance.report_run_canceled(run)
    else:
        instance.report_run_failed(run)
    return run


def _patches(platform_api):
    return platform_api.requests_to("/job/", "PATCH")


def _log(s3, key):
    return s3.client().get_object(Bucket=s3.job_outputs_bucket, Key=key)["Body"].read()


def _execute_finalise(instance, s3, platform_api, request):
    return FINALISE_ONCE.execute_in_process(
        run_config=request.run_config,
        tags={**request.tags},
        resources={"s3": s3, "platform_api": api_resource(platform_api.url)},
        instance=instance,
        raise_on_error=False,
    )


def test_cancelled_run_finalises_its_job_once(instance, s3, platform_api, sensors):
    job_id = platform_api.add_job("alice")
    run = _broken_run(instance, job_id, DagsterRunStatus.CANCELED)

    assert sensors[FAILURE_SENSOR_NAME].tick().run_requests == []
    assert _patches(platform_api) == []
    sensors[CANCEL_SENSOR_NAME].tick()
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] == CANCELLED_ERROR
    assert results["output_key"] is None
    assert run.run_id.encode() in _log(s3, results["error_logs_key"])

    platform_api.clear_requests()
    sensors[CANCEL_SENSOR_NAME].tick()
    assert platform_api.requests_to("/job/") == []


def test_failed_runs_of_both_jobs_are_handled(instance, s3, platform_api, sensors):
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
    _broken_run(instance, 999, DagsterRunStatus.FAILURE, job_name="some_other_job")
    sensors[FAILURE_SENSOR_NAME].tick()
    for job_id in (analysis, rejected):
        assert platform_api.get_job(job_id)["results"]["error"] == INTERRUPTED_ERROR
    assert {request.path for request in _patches(platform_api)} == {
        f"/job/{analysis}",
        f"/job/{rejected}",
    }


def test_finalised_jobs_are_left_alone(instance, s3, platform_api, sensors):
    job_id = platform_api.add_job(
        "alice",
        results={"error": None, "output_key": "matrixprofile-x.html"},
        finalised_at=platform_api.utcnow(),
    )
    _broken_run(instance, job_id, DagsterRunStatus.FAILURE)
    sensors[FAILURE_SENSOR_NAME].tick()
    assert _patches(platform_api) == []
    assert platform_api.get_job(job_id)["results"]["error"] is None


def test_failing_get_does_not_stop_the_patch(instance, s3, platform_api, sensors):
    job_id = platform_api.add_job("alice")
    _broken_run(instance, job_id, DagsterRunStatus.FAILURE)
    platform_api.fail_next(f"/job/{job_id}", 500, times=50, method="GET")
    assert sensors[FAILURE_SENSOR_NAME].tick().run_requests == []
    assert platform_api.get_job(job_id)["results"]["error"] == INTERRUPTED_ERROR


@pytest.mark.parametrize("status", [503, 429, 403])
def test_refused_finalisation_is_retried_until_it_succeeds(
    instance, s3, platform_api, sensors, status
):
    job_id = platform_api.add_job("alice")
    broken = _broken_run(instance, job_id, DagsterRunStatus.FAILURE)
    platform_api.fail_next("/job/", status, times=1000)
    (request,) = sensors[FAILURE_SENSOR_NAME].tick().run_requests
    assert platform_api.get_job(job_id)["finalised_at"] is None
    assert request.tags["moderate/broken-run-id"] == broken.run_id

    failed = _execute_finalise(instance, s3, platform_api, request)
    assert not failed.success
    (again,) = sensors[FAILURE_SENSOR_NAME].tick().run_requests
    assert again.run_key != request.run_key
    assert again.tags["moderate/broken-run-id"] == broken.run_id

    platform_api.clear_faults()
    assert _execute_finalise(instance, s3, platform_api, again).success
    assert platform_api.get_job(job_id)["results"]["error"] == INTERRUPTED_ERROR
    assert sensors[FAILURE_SENSOR_NAME].tick().run_requests == []


def test_backstop_after_a_run_that_could_not_report(
    instance, s3, platform_api, sensors
):
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
    sensors[FAILURE_SENSOR_NAME].tick()
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] == INTERRUPTED_ERROR
    log = _log(s3, results["error_logs_key"])
    assert b"run_matrix_profile_analysis" in log
    assert b"MATRIX_PROFILE_JOB_IMAGE" in log
    assert b"Traceback" not in log
    assert b'File "' not in log


def test_worker_error_survives_a_failing_final_patch(
    instance, s3, platform_api, sensors
):
    job_id = platform_api.add_job("alice")
    platform_api.fail_next(f"/job/{job_id}", 503, times=1000, method="PATCH")
    result = matrix_profile_job.execute_in_process(
        run_config=analysis_run_config(
            job_id, s3.data_lake_bucket, upload_input(s3, b"x"), "input-error"
        ),
        resources={
            "s3": s3,
            "platform_api": api_resource(platform_api.url),
            "matrix_profile": FakeWorkerSettings(launcher="subprocess"),
        },
        tags={"moderate/workflow-job-id": str(job_id)},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    worker_error = _patches(platform_api)[0].json()["results"]["error"]
    assert worker_error != INTERRUPTED_ERROR
    assert {r.json()["results"]["error"] for r in _patches(platform_api)} == {
        worker_error
    }, "the hook must retry with the worker's own error"

    platform_api.clear_faults()
    sensors[FAILURE_SENSOR_NAME].tick()
    assert platform_api.get_job(job_id)["results"]["error"] == worker_error


def test_sensor_skips_without_settings(instance, s3):
    sensor = Sensor(FAILURE_SENSOR_NAME, instance, s3, PlatformApiResource())
    _broken_run(instance, 5, DagsterRunStatus.FAILURE)
    data = sensor.tick()
    assert "API_BASE_URL" in data.skip_message
