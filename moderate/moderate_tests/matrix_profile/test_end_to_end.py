"""From a queued message to a report in SeaweedFS and a PATCH, with the real worker."""

import re

import pytest
from dagster import DagsterInstance

from moderate.matrix_profile.assets import MATRIX_PROFILE_REPORTS_KEY
from moderate.matrix_profile.jobs import matrix_profile_job
from moderate.matrix_profile.settings import MatrixProfileSettings
from moderate_tests.matrix_profile.jobs_support import api_resource, upload_input
from moderate_tests.matrix_profile.support import (
    message,
    publish,
    run_tags,
    tick,
    wait_for_depth,
)

REPORT_KEY = re.compile(r"^matrixprofile-[0-9a-f]{32}\.html$")
RESULT_KEYS = {
    "workflow_job_id",
    "output_bucket",
    "output_key",
    "error",
    "error_logs_key",
}


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def _resources(s3, platform_api):
    return {
        "s3": s3,
        "platform_api": api_resource(platform_api.url),
        "matrix_profile": MatrixProfileSettings(launcher="subprocess"),
    }


def _queue_and_run(instance, rabbitmq, s3, platform_api, variable):
    key = upload_input(s3)
    job_id = platform_api.add_job(
        "alice", arguments={"uploaded_s3_object_id": 1, "analysis_variable": variable}
    )
    publish(
        rabbitmq,
        [
            message(
                job_id, analysis_variable=variable, bucket=s3.data_lake_bucket, key=key
            )
        ],
    )
    (request,) = tick(instance, rabbitmq)
    assert request.run_key == f"mp-{job_id}"
    result = matrix_profile_job.execute_in_process(
        run_config=request.run_config,
        resources=_resources(s3, platform_api),
        tags=run_tags(request),
        instance=instance,
    )
    assert result.success
    assert tick(instance, rabbitmq) == []
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0
    (patch,) = platform_api.requests_to(f"/job/{job_id}", "PATCH")
    body = patch.json()
    assert set(body) == {"results"}, "finalised_at must be left to the API"
    assert set(body["results"]) == RESULT_KEYS
    assert platform_api.get_job(job_id)["finalised_at"] is not None
    return job_id, body["results"]


def test_message_to_report_and_patch(instance, rabbitmq, s3, platform_api):
    job_id, results = _queue_and_run(instance, rabbitmq, s3, platform_api, "power")

    assert results["workflow_job_id"] == job_id
    assert results["output_bucket"] == s3.job_outputs_bucket
    assert REPORT_KEY.match(results["output_key"])
    assert results["error"] is None
    assert results["error_logs_key"] is None
    head = s3.client().head_object(
        Bucket=s3.job_outputs_bucket, Key=results["output_key"]
    )
    assert head["ContentType"] == "text/html"
    assert head["ContentLength"] > 1000
    listed = s3.client().list_objects_v2(Bucket=s3.job_outputs_bucket)
    assert [item["Key"] for item in listed["Contents"]] == [results["output_key"]]
    event = instance.get_latest_materialization_event(MATRIX_PROFILE_REPORTS_KEY)
    metadata = event.asset_materialization.metadata
    assert metadata["moderate/report_key"].value == results["output_key"]
    assert metadata["moderate/workflow_job_id"].value == job_id
    assert "| Points | 480 |" in metadata["summary"].value
    assert "| Discord at | Distance |" in metadata["summary"].value
    assert metadata["preview"].value.startswith("> ")
    assert "<" not in metadata["preview"].value


def test_missing_column_finalises_with_error_and_log(
    instance, rabbitmq, s3, platform_api
):
    job_id, results = _queue_and_run(instance, rabbitmq, s3, platform_api, "nope")

    assert results["output_key"] is None
    assert results["output_bucket"] == s3.job_outputs_bucket
    assert "'nope'" in results["error"]
    assert len(results["error"]) <= 2000
    log_key = results["error_logs_key"]
    assert re.match(
        rf"^logs/matrix-profile-job-{job_id}-\d{{8}}-\d{{6}}-[0-9a-f]{{8}}\.log$",
        log_key,
    )
    log = s3.client().get_object(Bucket=s3.job_outputs_bucket, Key=log_key)
    text = log["Body"].read().decode()
    assert "moderate-mp-error:" in text
    assert "X-Amz-Signature" not in text
    assert instance.get_latest_materialization_event(MATRIX_PROFILE_REPORTS_KEY) is None
    (observation,) = instance.fetch_observations(MATRIX_PROFILE_REPORTS_KEY, 10).records
    observed = observation.asset_observation.metadata
    assert observed["error_logs_key"].value == log_key
