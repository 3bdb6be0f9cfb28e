import subprocess
import sys
from pathlib import Path

import kubernetes
import yaml
from dagster_k8s.pipes import build_pod_body

from moderate.openmetadata.config import RunnerConfig
from moderate.openmetadata.k8s import KubernetesWorkflowRunner
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    DatalakeSource,
    ServerSettings,
    WorkflowKind,
    workflow_request,
)

KUBERNETES_VERSION = "1.33.0"


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


def test_pod_spec_takes_secrets_by_reference_and_has_a_deadline():
    runner = _runner()
    spec = runner.pod_spec(_request())
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 900
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
    assert runner.version_line() == "2.0"


def test_pipes_pod_built_from_the_spec_is_a_valid_kubernetes_pod(tmp_path: Path):
    runner = _runner()
    pod = build_pod_body(
        pod_name="dagster-run-ingestion-0123456789",
        image=None,
        command=None,
        env_vars={"DAGSTER_PIPES_CONTEXT": "e30=", "DAGSTER_PIPES_MESSAGES": "e30="},
        base_pod_meta={"labels": {"app.kubernetes.io/component": "ingestion"}},
        base_pod_spec=runner.pod_spec(_request()),
    )
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(pod)
    manifest = {"apiVersion": "v1", "kind": "Pod", **manifest}
    env = {e["name"] for e in manifest["spec"]["containers"][0]["env"]}
    assert {"DAGSTER_PIPES_CONTEXT", "OPEN_METADATA_TOKEN"} <= env
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(manifest))
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
