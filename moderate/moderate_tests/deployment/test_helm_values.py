"""The Helm values templates and Kubernetes manifests, rendered with a sample env.

The charts themselves cannot be fetched here, so the rendered values are checked
key by key against the chart structure (CONTRACT §8.3/8.4), the Kubernetes objects
inside them are validated against the official schemas by wrapping them in
manifests, and the project's own manifests are validated as they are.
"""

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from moderate_tests.deployment.files import (
    MANIFEST_TEMPLATES,
    PROJECT_DIR,
    REPO_ROOT,
    VALUES_TEMPLATES,
    dotenv_values,
    kubernetes_validate,
    render,
    render_yaml_documents,
    sample_env,
)

DAGSTER_TEMPLATE, OPEN_METADATA_TEMPLATE = VALUES_TEMPLATES
RUN_SERVICE_ACCOUNT = "moderate-run-worker"
JWT_KEYS_DIR = "/etc/openmetadata/jwtkeys"


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return sample_env()


@pytest.fixture(scope="module")
def dagster_values(env: dict[str, str]) -> dict[str, Any]:
    (values,) = render_yaml_documents(DAGSTER_TEMPLATE, env)
    return values


@pytest.fixture(scope="module")
def open_metadata_values(env: dict[str, str]) -> dict[str, Any]:
    (values,) = render_yaml_documents(OPEN_METADATA_TEMPLATE, env)
    return values


def user_deployment(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def locked_version(lock_file: Path, package: str) -> str:
    lock = tomllib.loads(lock_file.read_text(encoding="utf-8"))
    (entry,) = [item for item in lock["package"] if item["name"] == package]
    return entry["version"]


def major_minor(version: str) -> tuple[str, str]:
    major, minor, *_ = version.split(".")
    return major, minor


@pytest.mark.parametrize("template", VALUES_TEMPLATES, ids=lambda path: path.name)
def test_rendering_fails_naming_every_missing_variable(template: Path) -> None:
    result = render(template, {})
    assert result.returncode == 1
    assert "unset variables" in result.stderr
    for name in ("MODERATE_REALM", "KEYCLOAK_URL", "CODE_IMAGE_TAG"):
        if f"${{{name}}}" in template.read_text(encoding="utf-8"):
            assert name in result.stderr


def test_dagster_user_deployment(
    dagster_values: dict[str, Any], env: dict[str, str]
) -> None:
    assert dagster_values["dagster-user-deployments"]["enabled"] is True
    deployment = user_deployment(dagster_values)
    assert deployment["name"] == "k8s-code-location-moderate"
    assert deployment["image"] == {
        "repository": env["CODE_IMAGE_REPOSITORY"],
        "tag": env["CODE_IMAGE_TAG"],
        "pullPolicy": "Always",
    }
    assert deployment["dagsterApiGrpcArgs"] == [
        "--module-name",
        "moderate.definitions",
    ]
    assert deployment["port"] == 3030
    assert deployment["envSecrets"] == [{"name": "dagster-secrets"}]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    # Also the size of run pods (includeConfigInLaunchedRuns): see
    # moderate_tests/images/test_run_pod_config.py.
    assert deployment["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert deployment["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert dagster_values["dagster-user-deployments"]["serviceAccount"] == {
        "create": False,
        "name": RUN_SERVICE_ACCOUNT,
    }
    environment = {item["name"]: item["value"] for item in deployment["env"]}
    assert environment["MODERATE_AUTOMATION_DEFAULT_STATUS"] == "RUNNING"
    assert environment["MATRIX_PROFILE_LAUNCHER"] == "kubernetes"
    assert deployment["readinessProbe"]["enabled"] is True
    assert deployment["startupProbe"]["enabled"] is True


def test_dagster_pods_run_as_non_root(dagster_values: dict[str, Any]) -> None:
    deployment = user_deployment(dagster_values)
    launcher = dagster_values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = launcher["runK8sConfig"]
    for context in (
        deployment["podSecurityContext"],
        deployment["securityContext"],
        run_k8s["containerConfig"]["securityContext"],
        run_k8s["podSpecConfig"]["securityContext"],
    ):
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] != 0
    assert deployment["securityContext"]["allowPrivilegeEscalation"] is False


def test_dagster_run_launcher_and_monitoring(dagster_values: dict[str, Any]) -> None:
    run_launcher = dagster_values["runLauncher"]
    assert run_launcher["type"] == "K8sRunLauncher"
    launcher = run_launcher["config"]["k8sRunLauncher"]
    assert launcher["envSecrets"] == [{"name": "dagster-secrets"}]
    daemon = dagster_values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runMonitoring"]["enabled"] is True
    assert daemon["runMonitoring"]["startTimeoutSeconds"] > 0


def test_dagster_external_postgres_without_inline_password(
    dagster_values: dict[str, Any], env: dict[str, str]
) -> None:
    postgresql = dagster_values["postgresql"]
    assert postgresql["enabled"] is False
    assert postgresql["postgresqlHost"] == env["DAGSTER_POSTGRES_HOST"]
    # The sample user has a quote and a backslash: rendering keeps it exact.
    assert postgresql["postgresqlUsername"] == env["DAGSTER_POSTGRES_USER"]
    assert postgresql["postgresqlDatabase"] == env["DAGSTER_POSTGRES_DB"]
    assert postgresql["service"]["port"] == 5432
    assert "postgresqlPassword" not in postgresql
    assert dagster_values["generatePostgresqlPasswordSecret"] is False
    assert dagster_values["global"]["postgresqlSecretName"]


def test_open_metadata_custom_oidc_against_keycloak(
    open_metadata_values: dict[str, Any], env: dict[str, str]
) -> None:
    config = open_metadata_values["openmetadata"]["config"]
    realm_url = f"{env['KEYCLOAK_URL']}/realms/{env['MODERATE_REALM']}"
    authentication = config["authentication"]
    assert authentication["provider"] == "custom-oidc"
    assert authentication["publicKeys"] == [
        f"{env['OPEN_METADATA_ROOT_URL']}/api/v1/system/config/jwks",
        f"{realm_url}/protocol/openid-connect/certs",
    ]
    assert authentication["authority"] == realm_url
    assert authentication["clientId"] == env["OPEN_METADATA_CLIENT_ID"]
    assert authentication["callbackUrl"] == f"{env['OPEN_METADATA_ROOT_URL']}/callback"
    assert authentication["enableSelfSignup"] is False
    authorizer = config["authorizer"]
    assert authorizer["initialAdmins"] == [env["OPEN_METADATA_INITIAL_ADMIN"]]
    assert authorizer["principalDomain"] == env["OPEN_METADATA_PRINCIPAL_DOMAIN"]
    jwt = config["jwtTokenConfiguration"]
    assert jwt["enabled"] is True
    assert jwt["jwtissuer"] == realm_url
    assert jwt["keyId"] == env["OPEN_METADATA_JWT_KEY_ID"]
    assert jwt["rsapublicKeyFilePath"] == f"{JWT_KEYS_DIR}/om_pubkey.der"
    assert jwt["rsaprivateKeyFilePath"] == f"{JWT_KEYS_DIR}/om_privkey.der"


def test_open_metadata_has_no_hard_coded_domain_or_key_id(env: dict[str, str]) -> None:
    other = {
        **env,
        "OPEN_METADATA_PRINCIPAL_DOMAIN": "example.org",
        "OPEN_METADATA_JWT_KEY_ID": "0123456789abcdef0123456789abcdef",
    }
    (values,) = render_yaml_documents(OPEN_METADATA_TEMPLATE, other)
    config = values["openmetadata"]["config"]
    assert config["authorizer"]["principalDomain"] == "example.org"
    assert config["jwtTokenConfiguration"]["keyId"] == other["OPEN_METADATA_JWT_KEY_ID"]
    assert "fundacionctic" not in OPEN_METADATA_TEMPLATE.read_text(encoding="utf-8")


def test_open_metadata_keys_database_search_and_pipelines(
    open_metadata_values: dict[str, Any], env: dict[str, str]
) -> None:
    assert open_metadata_values["image"]["tag"] == env["OPEN_METADATA_VERSION"]
    (volume,) = open_metadata_values["extraVolumes"]
    assert volume["secret"] == {"secretName": "openmetadata-jwt-keys"}
    (mount,) = open_metadata_values["extraVolumeMounts"]
    assert mount == {
        "name": volume["name"],
        "mountPath": JWT_KEYS_DIR,
        "readOnly": True,
    }
    config = open_metadata_values["openmetadata"]["config"]
    assert config["pipelineServiceClientConfig"] == {"enabled": False}
    assert config["logLevel"] == env["OPEN_METADATA_LOG_LEVEL"]
    search = config["elasticsearch"]
    assert search["host"] == env["ELASTIC_HOST"]
    assert search["port"] == int(env["ELASTIC_PORT"])
    assert search["searchType"] == "elasticsearch"
    assert search["scheme"] == "http"
    assert search["trustStore"]["enabled"] is False
    assert search["auth"]["enabled"] is False
    database = config["database"]
    assert database["driverClass"] == "org.postgresql.Driver"
    assert database["dbScheme"] == "postgresql"
    assert database["dbParams"] == "sslmode=disable"
    assert database["databaseName"] == env["OPEN_METADATA_POSTGRES_DB"]
    assert database["port"] == int(env["OPEN_METADATA_POSTGRES_PORT"])
    assert database["auth"]["password"] == {
        "secretRef": "openmetadata-postgres-secrets",
        "secretKey": "openmetadata-postgres-password",
    }


def _wrap_values_in_manifests(
    dagster_values: dict[str, Any], open_metadata_values: dict[str, Any]
) -> list[dict[str, Any]]:
    deployment = user_deployment(dagster_values)
    run_k8s = dagster_values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]
    metadata = {"name": "values-check", "labels": {"app": "values-check"}}
    code_server = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": metadata["labels"]},
            "template": {
                "metadata": {"labels": metadata["labels"]},
                "spec": {
                    "securityContext": deployment["podSecurityContext"],
                    "containers": [
                        {
                            "name": "code-server",
                            "image": "code:check",
                            "resources": deployment["resources"],
                            "securityContext": deployment["securityContext"],
                            "env": deployment["env"],
                        }
                    ],
                },
            },
        },
    }
    run_job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            **run_k8s["jobSpecConfig"],
            "template": {
                "spec": {
                    **run_k8s["podSpecConfig"],
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "run", "image": "code:check"}
                        | run_k8s["containerConfig"]
                    ],
                }
            },
        },
    }
    open_metadata_pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "volumes": open_metadata_values["extraVolumes"],
            "containers": [
                {
                    "name": "openmetadata",
                    "image": "server:check",
                    "volumeMounts": open_metadata_values["extraVolumeMounts"],
                }
            ],
        },
    }
    return [code_server, run_job, open_metadata_pod]


def test_kubernetes_objects_inside_the_values_are_valid(
    dagster_values: dict[str, Any],
    open_metadata_values: dict[str, Any],
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "values-objects.yaml"
    manifest.write_text(
        yaml.safe_dump_all(
            _wrap_values_in_manifests(dagster_values, open_metadata_values)
        ),
        encoding="utf-8",
    )
    result = kubernetes_validate(manifest)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validation_rejects_a_broken_object(
    dagster_values: dict[str, Any],
    open_metadata_values: dict[str, Any],
    tmp_path: Path,
) -> None:
    objects = _wrap_values_in_manifests(dagster_values, open_metadata_values)
    objects[1]["spec"]["backoffLimit"] = "zero"
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(yaml.safe_dump_all(objects), encoding="utf-8")
    assert kubernetes_validate(manifest).returncode != 0


def test_project_manifests_render_and_validate(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert MANIFEST_TEMPLATES, "no manifest templates in deploy/k8s"
    rendered = []
    for template in MANIFEST_TEMPLATES:
        result = render(template, env)
        assert result.returncode == 0, result.stderr
        target = tmp_path / template.name.removesuffix(".template")
        target.write_text(result.stdout, encoding="utf-8")
        rendered.append(target)
    result = kubernetes_validate(*rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def _rules(role: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }


def _rbac_documents(env: dict[str, str]) -> list[dict[str, Any]]:
    documents = []
    for template in MANIFEST_TEMPLATES:
        if "rbac" in template.name:
            documents += render_yaml_documents(template, env)
    return documents


def test_run_pods_may_manage_matrix_profile_and_ingestion_jobs(
    env: dict[str, str],
) -> None:
    documents = _rbac_documents(env)
    (account,) = [doc for doc in documents if doc["kind"] == "ServiceAccount"]
    assert account["metadata"]["name"] == RUN_SERVICE_ACCOUNT
    assert account["metadata"]["namespace"] == env["DAGSTER_K8S_NAMESPACE"]
    roles = {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == "Role"}
    bindings = [doc for doc in documents if doc["kind"] == "RoleBinding"]
    jobs = _rules(roles["moderate-matrix-profile-jobs"])
    assert jobs[("batch", "jobs")] >= {"create", "get", "list", "watch", "delete"}
    assert jobs[("", "pods")] >= {"get", "list"}
    assert "create" not in jobs[("", "pods")]
    assert jobs[("", "pods/log")] >= {"get"}
    assert jobs[("batch", "jobs/status")] >= {"get"}
    assert jobs[("", "secrets")] == {"create", "patch", "delete"}, "never read"
    assert roles["moderate-matrix-profile-jobs"]["metadata"]["namespace"] == (
        env["MATRIX_PROFILE_K8S_NAMESPACE"]
    )
    ingestion = _rules(roles["moderate-ingestion-jobs"])
    assert ingestion[("batch", "jobs")] >= {"create", "get", "list", "delete"}
    assert ingestion[("batch", "jobs/status")] >= {"get"}
    assert ingestion[("", "pods")] >= {"get", "list"}
    assert ingestion[("", "pods/log")] >= {"get"}
    assert ("", "secrets") not in ingestion, "the Job takes dagster-secrets by name"
    assert {binding["roleRef"]["name"] for binding in bindings} == set(roles)
    for binding in bindings:
        role = roles[binding["roleRef"]["name"]]
        assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": RUN_SERVICE_ACCOUNT,
                "namespace": env["DAGSTER_K8S_NAMESPACE"],
            }
        ]


def test_no_template_grants_pod_creation(
    env: dict[str, str],
) -> None:
    for template in MANIFEST_TEMPLATES:
        grants = [
            (group, resource)
            for document in render_yaml_documents(template, env)
            if document["kind"] == "Role"
            for (group, resource), verbs in _rules(document).items()
            if resource == "pods" and "create" in verbs
        ]
        assert not grants, template.name


def test_dagster_chart_version_is_the_locked_dagster_version() -> None:
    versions = dotenv_values(REPO_ROOT / "deploy" / "versions.env")
    assert versions["DAGSTER_CHART_VERSION"] == locked_version(
        PROJECT_DIR / "uv.lock", "dagster"
    )


def test_open_metadata_server_chart_and_ingestion_share_a_release_line() -> None:
    versions = dotenv_values(REPO_ROOT / "deploy" / "versions.env")
    server = major_minor(versions["OPEN_METADATA_VERSION"])
    assert major_minor(versions["OPEN_METADATA_CHART_VERSION"]) == server
    ingestion_lock = REPO_ROOT / "openmetadata-ingestion" / "uv.lock"
    assert ingestion_lock.is_file(), f"{ingestion_lock} is missing"
    package = locked_version(ingestion_lock, "openmetadata-ingestion")
    assert major_minor(package) == server, (package, server)
