"""matrix_profile_job with the Kubernetes launcher against the kmock emulator.

The scripted controller stands in for the cluster: it reads the presigned PUT
URL from the Secret the Job's container refers to (exactly what the Pod would
get), uploads a report with it, and moves the Pod and the Job through their
states.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from dagster import DagsterRunStatus, instance_for_test
from kubernetes import client

from moderate.matrix_profile.finalise import CANCELLED_ERROR
from moderate.matrix_profile.jobs import matrix_profile_job
from moderate.matrix_profile.launcher import REPORT_UPLOAD_URL_VARIABLE
from moderate.matrix_profile.ops import DEFAULT_RUN_TIMEOUT_S
from moderate_tests.matrix_profile.jobs_support import (
    KmockSettings,
    analysis_run_config,
    api_resource,
    upload_input,
)
from moderate_tests.matrix_profile.kmock_cluster import FakeController

IMAGE = "localhost:5000/moderate-matrix-profile-workflow"
RUNNING = {"running": {"startedAt": "2026-11-23T10:00:00Z"}}


@pytest.fixture
def instance():
    with instance_for_test() as dagster_instance:
        yield dagster_instance


def _settings(cluster, namespace):
    return KmockSettings(
        launcher="kubernetes",
        image=IMAGE,
        tag="v1.2.3",
        namespace=namespace,
        api_url=cluster.url,
        poll_interval_s=0.05,
    )


def _execute(instance, s3, platform_api, cluster, namespace, job_id):
    key = upload_input(s3)
    return matrix_profile_job.execute_in_process(
        run_config=analysis_run_config(job_id, s3.data_lake_bucket, key, "power"),
        resources={
            "s3": s3,
            "platform_api": api_resource(platform_api.url),
            "matrix_profile": _settings(cluster, namespace),
        },
        tags={"moderate/workflow-job-id": str(job_id)},
        instance=instance,
        raise_on_error=False,
    )


def _container(controller, job):
    created = controller.batch.read_namespaced_job(job, controller.namespace)
    return created.spec.template.spec.containers[0]


def _upload_url(controller, container) -> str:
    (variable,) = [
        item for item in container.env if item.name == REPORT_UPLOAD_URL_VARIABLE
    ]
    reference = variable.value_from.secret_key_ref
    secret = controller.core.read_namespaced_secret(
        reference.name, controller.namespace
    )
    return secret.to_dict()["string_data"][reference.key]


def _job_gone(cluster, namespace, job):
    with pytest.raises(client.ApiException) as missing:
        client.BatchV1Api(cluster.api_client()).read_namespaced_job(job, namespace)
    return missing.value.status == 404


def test_job_on_kubernetes_reports_success(
    instance, s3, platform_api, kmock_cluster, namespace
):
    job_id = platform_api.add_job("alice")
    seen = {}

    def scenario(controller: FakeController, job: str) -> None:
        container = _container(controller, job)
        seen["image"] = container.image
        upload_url = _upload_url(controller, container)
        seen["expires"] = parse_qs(urlsplit(upload_url).query)["X-Amz-Expires"]
        seen["env"] = [item.name for item in container.env]
        response = requests.put(
            upload_url,
            data=b"<html>report</html>",
            headers={"Content-Type": "text/html"},
            timeout=30,
        )
        response.raise_for_status()
        controller.create_pod(
            job,
            f"{job}-pod",
            container_state={"terminated": {"exitCode": 0, "reason": "Completed"}},
        )
        kmock_cluster.serve_log(namespace, f"{job}-pod", '{"status": "ok"}\n')
        controller.set_job_status(job, {"succeeded": 1})

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = _execute(instance, s3, platform_api, kmock_cluster, namespace, job_id)
    controller.join()

    assert result.success
    assert seen["image"] == f"{IMAGE}:v1.2.3"
    assert seen["expires"] == [str(DEFAULT_RUN_TIMEOUT_S)], "URL outlives the Job"
    assert not any(name.startswith(("S3_", "API_")) for name in seen["env"])
    results = platform_api.get_job(job_id)["results"]
    assert results["error"] is None
    assert s3.object_exists(s3.job_outputs_bucket, results["output_key"])
    assert _job_gone(kmock_cluster, namespace, controller.job_seen)


def test_image_pull_failure_is_reported_quickly(
    instance, s3, platform_api, kmock_cluster, namespace
):
    job_id = platform_api.add_job("alice")

    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(
            job,
            f"{job}-pod",
            container_state={
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{IMAGE}:v1.2.3"',
                }
            },
        )

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = _execute(instance, s3, platform_api, kmock_cluster, namespace, job_id)
    controller.join()

    assert result.success
    results = platform_api.get_job(job_id)["results"]
    assert results["error"].startswith(
        "The analysis container could not start (ImagePullBackOff)"
    )
    log = (
        s3.client()
        .get_object(Bucket=s3.job_outputs_bucket, Key=results["error_logs_key"])["Body"]
        .read()
    )
    assert b"Back-off pulling image" in log
    assert _job_gone(kmock_cluster, namespace, controller.job_seen)


def test_run_cancellation_deletes_the_job_and_finalises(
    instance, s3, platform_api, kmock_cluster, namespace
):
    job_id = platform_api.add_job("alice")

    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=RUNNING)
        (run,) = instance.get_runs()
        instance.report_run_canceling(run)

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = _execute(instance, s3, platform_api, kmock_cluster, namespace, job_id)
    controller.join()

    assert not result.success
    assert _job_gone(kmock_cluster, namespace, controller.job_seen)
    results = platform_api.get_job(job_id)["results"]
    assert results["error"].startswith(CANCELLED_ERROR)
    assert results["output_key"] is None
    (run,) = instance.get_runs()
    assert run.status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
