import dataclasses
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from dagster_pipes import PIPES_PROTOCOL_VERSION, PIPES_PROTOCOL_VERSION_FIELD

from moderate.openmetadata.config import RunnerConfig
from moderate.openmetadata.runners import SUMMARY_MESSAGE_TYPE, KubernetesWorkflowRunner
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    DatalakeSource,
    ServerSettings,
    WorkflowKind,
    workflow_request,
)
from moderate_tests.matrix_profile.kmock_cluster import (
    JOB_LIFECYCLE_CALLS,
    FakeController,
)
from moderate_tests.openmetadata.test_runner import run_in_op

KUBERNETES_VERSION = "1.33.0"
RUN_ID = "0a1b2c3d-1111-2222-3333-444455556666"
POLL_S = 0.05
ALLOWED_BY_RBAC = JOB_LIFECYCLE_CALLS


@pytest.fixture
def namespace() -> str:
    return f"om-test-{uuid.uuid4().hex[:8]}"


def _runner() -> KubernetesWorkflowRunner:
    runner = RunnerConfig(
        mode="kubernetes",
        image="registry.example.org/moderate-openmetadata-ingestion:2.0.6.0",
        timeout_s=900,
        namespace="dagster",
        service_account="dagster-ingestion",
    ).build()
    assert isinstance(runner, KubernetesWorkflowRunner)
    return runner


def _request():
    source = DatalakeSource(
        bucket="platform-api", prefix="alice-assets/", region="eu", endpoint_url=None
    )
    return workflow_request(
        WorkflowKind.METADATA,
        source,
        "svc",
        ServerSettings(host_port="https://om:8585/api"),
        line_keys("2.0"),
    )


def _job(runner: KubernetesWorkflowRunner) -> dict:
    env = {"DAGSTER_PIPES_CONTEXT": "e30=", "DAGSTER_PIPES_MESSAGES": "e30="}
    return runner.job(_request(), env, "moderate-om-0123abcd", RUN_ID)


def test_job_takes_secrets_by_reference_and_has_a_deadline_and_a_ttl():
    job = _job(_runner())
    assert job["metadata"]["namespace"] == "dagster"
    assert job["spec"]["activeDeadlineSeconds"] == 900
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "dagster-ingestion"
    container = spec["containers"][0]
    assert container["image"].endswith(":2.0.6.0")
    assert container["command"] == [
        "/opt/ingestion/.venv/bin/python",
        "/opt/ingestion/run_workflow.py",
        "run",
        "--status-via-pipes",
    ]
    secret_env = {
        e["name"]: e["valueFrom"] for e in container["env"] if "valueFrom" in e
    }
    assert secret_env == {
        name: {"secretKeyRef": {"name": "dagster-secrets", "key": name}}
        for name in ("OPEN_METADATA_TOKEN", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")
    }
    assert all("value" not in e for e in container["env"] if "valueFrom" in e)
    assert {"DAGSTER_PIPES_CONTEXT", "PYTHONUNBUFFERED"} <= {
        e["name"] for e in container["env"] if "value" in e
    }
    assert _runner().version_line() == "2.0"


def test_the_job_is_a_valid_kubernetes_job(tmp_path: Path):
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(_job(_runner())))
    validator = Path(sys.executable).with_name("kubernetes-validate")
    completed = subprocess.run(
        [
            str(validator),
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _pipes_line(method: str, params: dict | None) -> str:
    return json.dumps(
        {
            PIPES_PROTOCOL_VERSION_FIELD: PIPES_PROTOCOL_VERSION,
            "method": method,
            "params": params,
        }
    )


def _kubeconfig(tmp_path: Path, url: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": url}}],
        "users": [{"name": "kmock", "user": {}}],
        "contexts": [
            {"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}
        ],
        "current-context": "kmock",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _emulated_runner(cluster, namespace, tmp_path) -> KubernetesWorkflowRunner:
    return dataclasses.replace(
        _runner(),
        namespace=namespace,
        kubeconfig_file=_kubeconfig(tmp_path, cluster.url),
        poll_interval_s=POLL_S,
    )


def _ended(controller: FakeController, job: str, pod: str, code: int) -> None:
    state = {"terminated": {"exitCode": code, "reason": "Completed"}}
    controller.create_pod(job, pod, container_state=state, container="ingestion")
    controller.set_job_status(job, {"succeeded": 1})


def test_the_summary_comes_back_through_pipes_from_the_job_log(
    kmock_cluster, namespace, tmp_path
):
    summary = {"type": SUMMARY_MESSAGE_TYPE, "status": "success", "steps": []}
    log = "\n".join(
        [
            _pipes_line("opened", {}),
            "workflow running",
            _pipes_line("report_custom_message", {"payload": summary}),
            _pipes_line("closed", None),
        ]
    )

    def scenario(controller: FakeController, job: str) -> None:
        _ended(controller, job, f"{job}-pod", 0)
        kmock_cluster.serve_log(namespace, f"{job}-pod", log + "\n")

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    runner = _emulated_runner(kmock_cluster, namespace, tmp_path)
    outcome = run_in_op(runner, _request(), {})
    controller.join()

    assert outcome.succeeded, outcome.error_summary()
    assert outcome.summary["status"] == "success"
    (created,) = [
        r for r in kmock_cluster.requests("post") if r.resource.plural == "jobs"
    ]
    assert created.data["metadata"]["name"] == controller.job_seen
    assert kmock_cluster.client_calls() == ALLOWED_BY_RBAC
    deleted = [r.name for r in kmock_cluster.requests("delete")]
    assert deleted == [controller.job_seen], "the Job is deleted, no Secret made"


def test_an_image_that_cannot_be_pulled_fails_fast(kmock_cluster, namespace, tmp_path):
    def scenario(controller: FakeController, job: str) -> None:
        waiting = {"waiting": {"reason": "ErrImagePull", "message": "not found"}}
        controller.create_pod(
            job, f"{job}-pod", container_state=waiting, container="ingestion"
        )

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    runner = _emulated_runner(kmock_cluster, namespace, tmp_path)
    outcome = run_in_op(runner, _request(), {})
    controller.join()

    assert not outcome.succeeded
    assert "ErrImagePull" in outcome.error_summary()
    assert [r.name for r in kmock_cluster.requests("delete")] == [controller.job_seen]


def test_the_deadline_is_a_timeout_and_the_job_is_deleted(
    kmock_cluster, namespace, tmp_path
):
    def scenario(controller: FakeController, job: str) -> None:
        running = {"running": {"startedAt": "2026-11-23T10:00:00Z"}}
        controller.create_pod(
            job, f"{job}-pod", container_state=running, container="ingestion"
        )
        deadline = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
        controller.set_job_status(job, {"failed": 1, "conditions": [deadline]})

    controller = FakeController(kmock_cluster, namespace, scenario).start()
    runner = _emulated_runner(kmock_cluster, namespace, tmp_path)
    outcome = run_in_op(runner, _request(), {})
    controller.join()

    assert outcome.status == "timed_out"
    assert "exceeded its time limit of 900 s" in outcome.error_summary()
    assert [r.name for r in kmock_cluster.requests("delete")] == [controller.job_seen]
