"""Run pods as the Dagster chart and dagster-k8s build them from the rendered values.

What the chart does (templates of dagster/dagster at DAGSTER_CHART_VERSION):
with ``includeConfigInLaunchedRuns`` the user deployment's helper template
puts a container context on the code server (``DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT``)
holding the deployment's ``imagePullPolicy``, its ``-user-env`` ConfigMap and
``envSecrets``, its ``resources``, the release namespace, the user-deployments
service account (``global.serviceAccountName``, else
``dagster-user-deployments.serviceAccount.name``, else a generated name) and its
``env`` list. ``_container_context`` below writes exactly that; the merge with
the run launcher's settings is dagster-k8s's own code.
"""

from pathlib import Path
from typing import Any

import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.storage.dagster_run import DagsterRun
from dagster_k8s import K8sRunLauncher
from dagster_k8s.job import construct_dagster_k8s_job

from moderate_tests.deployment.files import REPO_ROOT, render_yaml_documents, sample_env

RELEASE = "dagster"
NAMESPACE = "moderate"
RUN_SERVICE_ACCOUNT = "moderate-run-worker"
DAGSTER_HOME = "/opt/dagster/dagster_home"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def _values() -> dict[str, Any]:
    (values,) = render_yaml_documents(
        REPO_ROOT / "values-dagster.yaml.template", sample_env()
    )
    return values


def _service_account(values: dict[str, Any]) -> str:
    user = values["dagster-user-deployments"]
    return (
        values.get("global", {}).get("serviceAccountName")
        or user.get("serviceAccount", {}).get("name")
        or f"{RELEASE}-dagster-user-deployments-user-deployments"
    )


def _container_context(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    context: dict[str, Any] = {
        "image_pull_policy": deployment["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{deployment['name']}-user-env"],
        "namespace": NAMESPACE,
        "service_account_name": _service_account(values),
    }
    if deployment.get("envSecrets"):
        context["env_secrets"] = [secret["name"] for secret in deployment["envSecrets"]]
    if deployment.get("resources"):
        context["resources"] = deployment["resources"]
    if isinstance(deployment.get("env"), list):
        context["env"] = deployment["env"]
    return {"k8s": context}


def _run_launcher(values: dict[str, Any], tmp_path: Path) -> K8sRunLauncher:
    config = values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = config.get("runK8sConfig", {})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
    return K8sRunLauncher(
        service_account_name=f"{RELEASE}",
        instance_config_map=f"{RELEASE}-instance",
        postgres_password_secret=values["global"]["postgresqlSecretName"],
        dagster_home=DAGSTER_HOME,
        job_namespace=NAMESPACE,
        image_pull_policy=config["imagePullPolicy"],
        env_secrets=[secret["name"] for secret in config["envSecrets"]],
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        run_k8s_config={
            "container_config": run_k8s.get("containerConfig", {}),
            "pod_spec_config": run_k8s.get("podSpecConfig", {}),
            "job_spec_config": run_k8s.get("jobSpecConfig", {}),
        },
    )


@pytest.fixture
def run_pod(tmp_path):
    values = _values()
    launcher = _run_launcher(values, tmp_path)
    origin = JobPythonOrigin(
        job_name="matrix_profile_job",
        repository_origin=RepositoryPythonOrigin(
            executable_path="/opt/venv/bin/python",
            code_pointer=ModuleCodePointer("moderate.definitions", "defs", None),
            container_image="registry.example/moderate-dagster:1",
            container_context=_container_context(values),
        ),
    )
    run = DagsterRun(
        job_name="matrix_profile_job", run_id="abc", job_code_origin=origin
    )
    context = launcher.get_container_context_for_run(run)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(
            job_image=origin.repository_origin.container_image, run_launcher=launcher
        ),
        args=["dagster", "api", "execute_run"],
        job_name="dagster-run-abc",
        user_defined_k8s_config=context.run_k8s_config,
        component="run_worker",
    )
    return job.spec.template.spec


def test_run_pods_get_the_run_worker_service_account(run_pod):
    assert run_pod.service_account_name == RUN_SERVICE_ACCOUNT


def test_run_pods_get_the_run_size(run_pod):
    (container,) = run_pod.containers
    assert container.resources.limits == {"cpu": "2", "memory": "4Gi"}
    assert container.resources.requests == {"cpu": "250m", "memory": "512Mi"}


def test_run_pods_keep_the_hardening_and_the_code_location_env(run_pod):
    (container,) = run_pod.containers
    assert container.security_context.run_as_user == 10001
    assert container.security_context.capabilities.drop == ["ALL"]
    assert run_pod.security_context.run_as_non_root is True
    names = {variable.name for variable in container.env}
    assert {"DAGSTER_HOME", "MATRIX_PROFILE_LAUNCHER"} <= names
    sources = {
        source.secret_ref.name for source in container.env_from if source.secret_ref
    }
    assert "dagster-secrets" in sources


def test_run_launcher_values_hold_no_setting_the_code_location_overrides():
    launcher = _values()["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = launcher["runK8sConfig"]
    assert "resources" not in run_k8s["containerConfig"]
    assert "serviceAccountName" not in run_k8s["podSpecConfig"]
