"""matrix_profile_job and matrix_profile_rejection_job on every reporting path.

The scripted stand-in worker keeps these fast; the real worker runs in
test_end_to_end.py.
"""

import re

import pytest
from dagster import DagsterInstance

from moderate.matrix_profile.finalise import CANCELLED_ERROR, INTERRUPTED_ERROR
from moderate.matrix_profile.jobs import (
    matrix_profile_job,
    matrix_profile_rejection_job,
)
from moderate.matrix_profile.ops import INPUT_BUCKET_ERROR, MISSING_REPORT_ERROR
from moderate.matrix_profile.settings import MatrixProfileSettings
from moderate_tests.matrix_profile.jobs_support import (
    FakeWorkerSettings,
    analysis_run_config,
    api_resource,
    upload_input,
)

LOG_KEY = r"^logs/matrix-profile-job-{job_id}-\d{{8}}-\d{{6}}-[0-9a-f]{{8}}\.log$"


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def _run(instance, s3, platform_api, job_id, variable, *, bucket=None, settings=None):
    key = upload_input(s3, b"timestamp,ok\n")
    return matrix_profile_job.execute_in_process(
        run_config=analysis_run_config(
            job_id, bucket or s3.data_lake_bucket, key, variable
        ),
        resources={
            "s3": s3,
            "platform_api": api_resource(platform_api.url),
            "matrix_profile": settings or FakeWorkerSettings(launcher="subprocess"),
        },
        tags={"moderate/workflow-job-id": str(job_id)},
        instance=instance,
        raise_on_error=False,
    )


def _patches(platform_api, job_id):
    return [
        request.json()
        for request in platform_api.requests_to(f"/job/{job_id}", "PATCH")
    ]


def _log_text(s3, key):
    body = s3.client().get_object(Bucket=s3.job_outputs_bucket, Key=key)["Body"]
    return body.read().decode()


def _outputs(s3):
    listed = s3.client().list_objects_v2(Bucket=s3.job_outputs_bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_patch_retried_after_two_503s(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    platform_api.fail_next(f"/job/{job_id}", 503, times=2, method="PATCH")
    result = _run(instance, s3, platform_api, job_id, "ok")
    assert result.success
    patches = _patches(platform_api, job_id)
    assert len(patches) == 3
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] is None
    assert results["output_key"] in _outputs(s3)


def test_exit_zero_without_report_is_an_error(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    result = _run(instance, s3, platform_api, job_id, "no-upload")
    assert result.success
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] == MISSING_REPORT_ERROR
    assert results["output_key"] is None
    assert re.match(LOG_KEY.format(job_id=job_id), results["error_logs_key"])


def test_killed_worker_is_reported_with_its_log(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    result = _run(instance, s3, platform_api, job_id, "sigkill")
    assert result.success
    results = platform_api.get_job(job_id)["results"]
    assert results["error"].startswith("The analysis process was killed by SIGKILL")
    log = _log_text(s3, results["error_logs_key"])
    assert "fake worker starting in mode sigkill" in log
    assert "Worker exit code: -9" in log


def test_crash_summary_comes_from_the_traceback(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    result = _run(instance, s3, platform_api, job_id, "crash")
    results = platform_api.get_job(job_id)["results"]
    error = results["error"]
    assert "RuntimeError: boom while reading" in error
    assert "X-Amz-Signature" not in error
    log = _log_text(s3, results["error_logs_key"])
    assert "RuntimeError: boom while reading" in log
    assert "Traceback" not in log, "users download this log"
    assert 'File "' not in log
    assert any(
        "Traceback" in entry.user_message for entry in instance.all_logs(result.run_id)
    )


@pytest.mark.parametrize("state", ["finalised", "missing", "other-type"])
def test_jobs_that_must_not_run_are_skipped(instance, s3, platform_api, state):
    if state == "missing":
        job_id = 987_654
    elif state == "finalised":
        job_id = platform_api.add_job(
            "alice",
            results={"error": None, "output_key": "x"},
            finalised_at=platform_api.utcnow(),
        )
    else:
        job_id = platform_api.add_job("alice", job_type="other")
    result = _run(instance, s3, platform_api, job_id, "ok")
    assert result.success
    assert _patches(platform_api, job_id) == []
    assert _outputs(s3) == [], "the worker must not have run"


def test_input_outside_the_platform_bucket_is_refused(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    result = _run(
        instance, s3, platform_api, job_id, "ok", bucket=s3.job_outputs_bucket
    )
    assert result.success
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] == INPUT_BUCKET_ERROR
    assert _outputs(s3) == []


def test_op_failure_is_finalised_by_the_hook(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    result = _run(
        instance,
        s3,
        platform_api,
        job_id,
        "ok",
        settings=MatrixProfileSettings(launcher="kubernetes"),
    )
    assert not result.success
    results = platform_api.get_job(job_id)["results"]
    assert results["error"].startswith(INTERRUPTED_ERROR)
    assert "MATRIX_PROFILE_JOB_IMAGE" in results["error"]
    assert results["output_key"] is None
    log = _log_text(s3, results["error_logs_key"])
    assert "ImageNotAllowedError" in log
    assert "Traceback" not in log, "tracebacks stay in the Dagster run log"
    assert any(
        "Traceback" in entry.user_message for entry in instance.all_logs(result.run_id)
    )


def test_unreachable_api_fails_the_run(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    platform_api.fail_next(f"/job/{job_id}", 503, times=100, method="PATCH")
    result = _run(instance, s3, platform_api, job_id, "ok")
    assert not result.success, "a missing report must not look like a success"
    assert platform_api.get_job(job_id)["finalised_at"] is None
    assert len(_patches(platform_api, job_id)) >= 3


def test_rejection_job_finalises_with_the_reason(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    result = matrix_profile_rejection_job.execute_in_process(
        run_config={
            "ops": {
                "reject_matrix_profile_request": {
                    "config": {
                        "workflow_job_id": job_id,
                        "reason": "invalid fields: analysis_variable: Field required",
                    }
                }
            }
        },
        resources={"s3": s3, "platform_api": api_resource(platform_api.url)},
        instance=instance,
    )
    assert result.success
    (patch,) = _patches(platform_api, job_id)
    results = patch["results"]
    assert results["error"] == (
        "The analysis request was rejected: invalid fields: analysis_variable: "
        "Field required"
    )
    assert results["output_key"] is None
    assert results["output_bucket"] == s3.job_outputs_bucket
    assert "Field required" in _log_text(s3, results["error_logs_key"])
    assert CANCELLED_ERROR not in results["error"]


def test_transient_errors_of_the_first_check_are_retried(instance, s3, platform_api):
    job_id = platform_api.add_job("alice")
    platform_api.fail_next(f"/job/{job_id}", 500, times=6, method="GET")
    result = _run(instance, s3, platform_api, job_id, "ok")
    assert result.success
    retried = [
        event
        for event in result.all_events
        if event.event_type_value == "STEP_UP_FOR_RETRY"
        and event.step_key == "run_matrix_profile_analysis"
    ]
    assert retried, "the op's retry policy absorbed the 500s"
    (patch,) = _patches(platform_api, job_id)
    assert patch["results"]["error"] is None
    assert len(_outputs(s3)) == 1, "the worker ran once"


def test_report_materialisation_carries_summary_preview_and_keys(
    instance, s3, platform_api
):
    job_id = platform_api.add_job("alice")
    result = _run(instance, s3, platform_api, job_id, "ok")
    assert result.success
    (materialization,) = result.asset_materializations_for_node(
        "report_matrix_profile_result"
    )
    metadata = materialization.metadata
    (report_key,) = _outputs(s3)
    assert metadata["moderate/report_key"].value == report_key
    assert metadata["moderate/workflow_job_id"].value == job_id
    assert f"job {job_id}" in metadata["summary"].value
    assert metadata["preview"].value == "> fake report"
    assert materialization.description == metadata["summary"].value


def test_scaffolded_config_touches_no_job(instance, s3, platform_api):
    result = matrix_profile_job.execute_in_process(
        run_config={
            "ops": {
                "run_matrix_profile_analysis": {
                    "config": {
                        "workflow_job_id": 0,
                        "analysis_variable": "",
                        "bucket": "",
                        "key": "",
                    }
                }
            }
        },
        resources={
            "s3": s3,
            "platform_api": api_resource(platform_api.url),
            "matrix_profile": FakeWorkerSettings(launcher="subprocess"),
        },
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    assert platform_api.requests_to("/job/") == []
