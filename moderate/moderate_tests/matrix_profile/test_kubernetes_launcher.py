"""KubernetesWorkerLauncher lifecycle against the kmock API emulator.

A scripted controller thread plays the Job controller and kubelet: it creates
the Pod, moves it through states and writes the Job status, while the launcher
creates, watches, reads logs and deletes like it would in a real cluster.
"""

import json
import socket
import time

import kubernetes_validate
import pytest
import urllib3
from dagster_k8s.client import DagsterK8sUnrecoverableAPIError, DagsterKubernetesClient
from dagster_pipes import (
    PIPES_PROTOCOL_VERSION,
    PIPES_PROTOCOL_VERSION_FIELD,
    decode_param,
)
from kubernetes import client

from moderate.matrix_profile.kubernetes_launcher import (
    KubernetesWorkerLauncher,
    WorkerJobSpec,
)
from moderate.matrix_profile.launcher import WorkerCancelledError, WorkerRequest
from moderate.matrix_profile.results import error_summary
from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE
from moderate.support import k8s_jobs
from moderate.support.k8s_jobs import TimeoutApiClient
from moderate_tests.matrix_profile.kmock_cluster import (
    JOB_LIFECYCLE_CALLS,
    FakeController,
)
from moderate_tests.matrix_profile.support import run_in_op

POLL_S = 0.05
RUN_ID = "0a1b2c3d-1111-2222-3333-444455556666"
SUMMARY = {"type": SUMMARY_MESSAGE_TYPE, "rows": 96, "report_bytes": 1234}
RUNNING = {"running": {"startedAt": "2026-11-23T10:00:00Z"}}
INPUT_URL = "http://s3.local/lake/a.csv?X-Amz-Signature=secret1"
UPLOAD_URL = "http://s3.local/out/r.html?X-Amz-Signature=secret2"
ALLOWED_BY_RBAC = JOB_LIFECYCLE_CALLS | {
    ("POST", "secrets", None),
    ("PATCH", "secrets", None),
    ("DELETE", "secrets", None),
}


def _terminated(code: int) -> dict:
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
        }
    }


def _request(timeout_s: int = 600) -> WorkerRequest:
    return WorkerRequest(
        workflow_job_id=7,
        run_id=RUN_ID,
        analysis_variable="power",
        input_url=INPUT_URL,
        report_upload_url=UPLOAD_URL,
        timeout_s=timeout_s,
    )


def _launcher(cluster, namespace, *, deadline_s=600, grace_s=30.0, **kwargs):
    spec = WorkerJobSpec(
        image="localhost:5000/mp:main",
        namespace=namespace,
        active_deadline_s=deadline_s,
        ttl_seconds_after_finished=600,
        cpu_request="100m",
        cpu_limit="1",
        memory_request="128Mi",
        memory_limit="1Gi",
        scratch_size_limit="1Gi",
        run_as_user=10001,
    )
    return KubernetesWorkerLauncher(
        api_client=cluster.api_client(),
        spec=spec,
        poll_interval_s=POLL_S,
        unschedulable_grace_s=grace_s,
        **kwargs,
    )


def _never() -> bool:
    return False


def _pipes_line(method: str, params: dict | None) -> str:
    return json.dumps(
        {
            PIPES_PROTOCOL_VERSION_FIELD: PIPES_PROTOCOL_VERSION,
            "method": method,
            "params": params,
        }
    )


def _assert_cleaned_up(cluster, namespace, job):
    api = cluster.api_client()
    with pytest.raises(client.ApiException) as missing:
        client.BatchV1Api(api).read_namespaced_job(job, namespace)
    assert missing.value.status == 404
    deletes = [
        request
        for request in cluster.requests("delete")
        if request.resource.plural == "jobs" and request.name == job
    ]
    assert deletes, "the Job was never deleted"
    assert deletes[0].data == {"propagationPolicy": "Foreground"}
    pod_deletes = [r for r in cluster.requests("delete") if r.resource.plural == "pods"]
    assert pod_deletes == [], "Pods go with the Job (RBAC has no pod deletion)"
    with pytest.raises(client.ApiException) as secret_missing:
        client.CoreV1Api(api).read_namespaced_secret(job, namespace)
    assert secret_missing.value.status == 404, "the URL Secret outlived the Job"


def test_successful_job_lifecycle(kmock_cluster, namespace):
    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(
            job, f"{job}-pod", container_state=RUNNING, phase="Running"
        )
        log = [
            _pipes_line("opened", {}),
            "analysing",
            _pipes_line("report_custom_message", {"payload": SUMMARY}),
            _pipes_line("closed", {}),
        ]
        kmock_cluster.serve_log(namespace, f"{job}-pod", "\n".join(log) + "\n")
        time.sleep(3 * POLL_S)
        controller.patch_pod_status(
            f"{job}-pod",
            {"phase": "Succeeded", "containerStatuses": [_status(_terminated(0))]},
        )
        controller.set_job_status(job, {"succeeded": 1})

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = run_in_op(_launcher(kmock_cluster, namespace), _request(), _never)
    controller.join()

    assert result.succeeded
    assert result.summary == SUMMARY
    assert "analysing" in result.log
    assert PIPES_PROTOCOL_VERSION_FIELD not in result.log, "messages leave the log"
    assert kmock_cluster.client_calls() == ALLOWED_BY_RBAC
    order = [
        (request.method.value, request.resource.plural, request.subresource)
        for request in kmock_cluster.emulator
        if request.resource is not None
    ]
    job_name = controller.job_seen
    log_read = order.index(("GET", "pods", "log"))
    job_deleted = order.index(("DELETE", "jobs", None))
    assert log_read < job_deleted, "the log must be read before the Job is deleted"
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)
    created = [r for r in kmock_cluster.requests("post") if r.resource.plural == "jobs"]
    assert len(created) == 1
    assert kubernetes_validate.validate(created[0].data, "1.33.0", strict=True)
    (secret,) = [
        r for r in kmock_cluster.requests("post") if r.resource.plural == "secrets"
    ]
    assert kubernetes_validate.validate(secret.data, "1.33.0", strict=True)
    assert order.index(("POST", "secrets", None)) < order.index(("POST", "jobs", None))
    (adoption,) = [
        r for r in kmock_cluster.requests("patch") if r.resource.plural == "secrets"
    ]
    assert adoption.data["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert adoption.data["metadata"]["ownerReferences"][0]["name"] == job_name


def test_presigned_urls_never_appear_outside_their_secret(kmock_cluster, namespace):
    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=_terminated(0))
        controller.set_job_status(job, {"succeeded": 1})

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = run_in_op(_launcher(kmock_cluster, namespace), _request(), _never)
    controller.join()

    assert result.exit_code == 0
    sent_elsewhere = [
        json.dumps(request.data)
        for request in kmock_cluster.emulator
        if request.resource is not None and request.resource.plural != "secrets"
    ]
    assert sent_elsewhere, "the emulator saw no request"
    (job,) = [
        r.data for r in kmock_cluster.requests("post") if r.resource.plural == "jobs"
    ]
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    (context,) = [e["value"] for e in env if e["name"] == "DAGSTER_PIPES_CONTEXT"]
    sent_elsewhere.append(json.dumps(decode_param(context)))
    for url in (INPUT_URL, UPLOAD_URL):
        assert all(url not in text for text in sent_elsewhere)
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


def _status(state: dict) -> dict:
    return {
        "name": "worker",
        "ready": False,
        "restartCount": 0,
        "image": "img",
        "imageID": "",
        "state": state,
    }


def test_worker_input_error_keeps_exit_code_and_log(kmock_cluster, namespace):
    log = "loading\nmoderate-mp-error: column 'power' not found in the CSV\n"

    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=_terminated(2))
        kmock_cluster.serve_log(namespace, f"{job}-pod", log)
        controller.set_job_status(
            job,
            {
                "failed": 1,
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                    }
                ],
            },
        )

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = run_in_op(_launcher(kmock_cluster, namespace), _request(), _never)
    controller.join()

    assert (result.exit_code, result.reason) == (2, None)
    assert error_summary(result.log, result.reason) == (
        "column 'power' not found in the CSV"
    )
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


@pytest.mark.parametrize(
    "reason",
    [
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
    ],
)
def test_container_start_failures_fail_fast(kmock_cluster, namespace, reason):
    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(
            job,
            f"{job}-pod",
            container_state={"waiting": {"reason": reason, "message": "details"}},
        )

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    started = time.monotonic()
    launcher = _launcher(kmock_cluster, namespace, deadline_s=3600)
    result = run_in_op(launcher, _request(3600), _never)
    controller.join()

    assert time.monotonic() - started < 15
    assert result.exit_code is None
    assert reason in result.reason
    assert f"waiting: {reason} details" in result.log
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


def test_unschedulable_pod_fails_after_its_grace(kmock_cluster, namespace):
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory.",
    }

    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", conditions=[condition])

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    started = time.monotonic()
    launcher = _launcher(kmock_cluster, namespace, grace_s=0.3)
    result = run_in_op(launcher, _request(), _never)
    controller.join()

    assert 0.3 <= time.monotonic() - started < 15
    assert "could not be scheduled" in result.reason
    assert "Insufficient memory" in result.reason
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


def test_deadline_exceeded_is_a_timeout(kmock_cluster, namespace):
    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=RUNNING)
        controller.set_job_status(
            job,
            {
                "failed": 1,
                "conditions": [
                    {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
                ],
            },
        )

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    launcher = _launcher(kmock_cluster, namespace, deadline_s=120)
    result = run_in_op(launcher, _request(120), _never)
    controller.join()

    assert result.exit_code is None
    assert result.reason == "The analysis exceeded its time limit of 120 s"
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


class _FastClock:
    """A monotonic clock that jumps a minute on every sleep."""

    def __init__(self) -> None:
        self.now = 0.0

    def timer(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 60.0
        time.sleep(min(seconds, POLL_S))


def test_launcher_gives_up_at_its_own_deadline(kmock_cluster, namespace):
    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=RUNNING)

    clock = _FastClock()
    controller = FakeController(kmock_cluster, namespace, scenario).start()
    launcher = _launcher(
        kmock_cluster, namespace, deadline_s=600, sleeper=clock.sleep, timer=clock.timer
    )
    result = run_in_op(launcher, _request(600), _never)
    controller.join()

    assert result.reason == "The analysis exceeded its time limit of 600 s"
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


def test_cancellation_deletes_the_job(kmock_cluster, namespace):
    seen = {}

    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=RUNNING)
        kmock_cluster.serve_log(namespace, f"{job}-pod", "half-way through\n")
        seen["pod"] = True

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    launcher = _launcher(kmock_cluster, namespace)
    with pytest.raises(WorkerCancelledError):
        run_in_op(launcher, _request(), lambda: "pod" in seen)
    controller.join()
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


def test_interrupted_wait_still_deletes_the_job(kmock_cluster, namespace):
    polls = []

    def interrupting_sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 3:
            raise KeyboardInterrupt
        time.sleep(seconds)

    def scenario(controller: FakeController, job: str) -> None:
        controller.create_pod(job, f"{job}-pod", container_state=RUNNING)

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    launcher = _launcher(kmock_cluster, namespace, sleeper=interrupting_sleep)
    with pytest.raises(KeyboardInterrupt):
        run_in_op(launcher, _request(), _never)
    controller.join()
    _assert_cleaned_up(kmock_cluster, namespace, controller.job_seen)


def test_job_deleted_by_someone_else_ends_the_wait(kmock_cluster, namespace):
    def scenario(controller: FakeController, job: str) -> None:
        controller.batch.delete_namespaced_job(job, namespace)

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    result = run_in_op(_launcher(kmock_cluster, namespace), _request(), _never)
    controller.join()
    assert result.reason == "The analysis Job disappeared"
    assert "has no Pod" in result.log


def test_failed_creation_still_deletes_whatever_was_created(kmock_cluster, namespace):
    kmock_cluster.forbid_creating("jobs")
    launcher = _launcher(kmock_cluster, namespace)
    with pytest.raises(DagsterK8sUnrecoverableAPIError):
        run_in_op(launcher, _request(), _never)
    (created,) = [
        r for r in kmock_cluster.requests("post") if r.resource.plural == "jobs"
    ]
    _assert_cleaned_up(kmock_cluster, namespace, created.data["metadata"]["name"])


class _SilentApiServer:
    """A loopback socket that accepts connections and never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def api_client(self) -> client.ApiClient:
        configuration = client.Configuration()
        configuration.host = self.url
        return TimeoutApiClient(configuration)

    def close(self) -> None:
        self._socket.close()


@pytest.mark.timeout(30)
def test_a_silent_api_server_never_hangs_the_launcher(monkeypatch, namespace):
    monkeypatch.setattr(k8s_jobs, "API_REQUEST_TIMEOUT_S", 0.3)
    server = _SilentApiServer()
    try:
        with pytest.raises(urllib3.exceptions.HTTPError):
            run_in_op(_launcher(server, namespace), _request(), _never)
        library = DagsterKubernetesClient(
            client.BatchV1Api(server.api_client()),
            client.CoreV1Api(server.api_client()),
            print,
            time.sleep,
            time.monotonic,
        )
        with pytest.raises(urllib3.exceptions.HTTPError):
            library.get_job_status("moderate-mp-7-x", namespace)
    finally:
        server.close()
