"""docker-compose.yml, checked statically (no Docker engine here), and the PostgreSQL
init script, run for real against the local server."""

import json
import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from moderate.resources import PostgresResource
from moderate_tests.deployment.files import DEPLOY_DIR, REPO_ROOT, sample_env
from moderate_tests.support import postgres as local_postgres

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
INIT_DIR = DEPLOY_DIR / "postgres-init"
READY_CONDITIONS = {"service_healthy", "service_completed_successfully"}
EXPECTED_PORTS = {
    "postgres": "5432",
    "keycloak": "8080",
    "rabbitmq": "5672",
    "s3": "8333",
    "elasticsearch": "9200",
    "openmetadata": "8585",
}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def interpolate(value: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        assert match.group(1) in env, f"{match.group(1)} has no default"
        return env[match.group(1)]

    return VARIABLE.sub(substitute, value)


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    env = sample_env()
    for name, service in services.items():
        image = interpolate(service["image"], env)
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag not in {"latest", "main", "stable"}, f"{name}: {image}"
        assert re.search(r"\d", tag), f"{name}: {image} is not a version tag"


def test_open_metadata_image_comes_from_the_version_file(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("openmetadata", "openmetadata-migrate"):
        assert services[name]["image"].endswith(":${OPEN_METADATA_VERSION}")


def test_long_running_services_have_health_checks(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if is_one_shot(service):
            continue
        assert service.get("restart") == "unless-stopped", name
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name
        for key in ("interval", "timeout", "retries"):
            assert key in service["healthcheck"], f"{name} healthcheck lacks {key}"


def test_dependencies_wait_for_readiness_never_for_time(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends_on.items():
            condition = rule["condition"]
            assert condition in READY_CONDITIONS, f"{name} -> {dependency}"
            target = services[dependency]
            if condition == "service_healthy":
                assert "healthcheck" in target, dependency
            else:
                assert is_one_shot(target), dependency
    assert "sleep" not in COMPOSE_FILE.read_text(encoding="utf-8")


def test_data_lives_in_named_volumes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), f"{name}: {source}"
                assert volume.endswith(":ro"), f"{name}: bind mounts are read-only"
            else:
                assert source in declared, f"{name}: {source} is not a named volume"
                used.add(source)
    assert used == declared
    for name in ("postgres", "rabbitmq", "s3", "elasticsearch"):
        assert any(
            not volume.startswith("./") for volume in services[name]["volumes"]
        ), name


def test_published_ports_match_the_conventions(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, port in EXPECTED_PORTS.items():
        assert f"{port}:{port}" in services[name]["ports"], name


def test_init_folder_holds_only_init_scripts(
    services: dict[str, dict[str, Any]],
) -> None:
    assert "./deploy/postgres-init:/docker-entrypoint-initdb.d:ro" in (
        services["postgres"]["volumes"]
    )
    files = sorted(INIT_DIR.iterdir())
    assert files
    for path in files:
        assert path.is_file() and path.suffix in {".sh", ".sql"}, path.name
    environment = services["postgres"]["environment"]
    for path in files:
        for name in re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", path.read_text()):
            assert name in environment, f"{path.name} reads {name}"


def test_realm_file_is_imported_with_its_placeholders(
    services: dict[str, dict[str, Any]],
) -> None:
    keycloak = services["keycloak"]
    assert "--import-realm" in keycloak["command"]
    (mount,) = [v for v in keycloak["volumes"] if "moderate-realm.json" in v]
    source, target, _ = mount.split(":")
    assert target.startswith("/opt/keycloak/data/import/")
    text = (REPO_ROOT / source).read_text(encoding="utf-8")
    realm = json.loads(text)
    assert realm["realm"] == "${MODERATE_REALM}"
    client_ids = {client["clientId"] for client in realm["clients"]}
    assert client_ids == {"apisix", "${OPEN_METADATA_CLIENT_ID}"}
    roles = {role["name"] for role in realm["roles"]["client"]["apisix"]}
    assert roles == {"api_basic_access", "api_admin"}
    for name in set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text)):
        assert name in keycloak["environment"], f"realm placeholder {name}"


def test_open_metadata_runs_without_airflow_after_its_migration(
    services: dict[str, dict[str, Any]],
) -> None:
    server = services["openmetadata"]
    assert server["environment"]["PIPELINE_SERVICE_CLIENT_ENABLED"] == "false"
    assert server["depends_on"]["openmetadata-migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["openmetadata-migrate"]["environment"] == server["environment"]


def test_init_script_creates_the_databases_once(postgres: PostgresResource) -> None:
    (script,) = INIT_DIR.glob("*.sh")
    suffix = uuid.uuid4().hex[:8]
    prefix = local_postgres.TEST_DATABASE_PREFIX
    names = [f"{prefix}kc_{suffix}", f"{prefix}om-{suffix}"]
    env = {
        **os.environ,
        "PGHOST": local_postgres.HOST,
        "PGPORT": local_postgres.PORT,
        "PGPASSWORD": local_postgres.PASSWORD,
        "POSTGRES_USER": local_postgres.USERNAME,
        "POSTGRES_DB": "postgres",
        "KEYCLOAK_POSTGRES_DB": names[0],
        "OPEN_METADATA_POSTGRES_DB": names[1],
    }
    try:
        for _ in range(2):
            result = subprocess.run(
                ["bash", str(script)],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert result.returncode == 0, result.stderr
        assert set(names) <= set(local_postgres.database_names(postgres))
    finally:
        for name in names:
            local_postgres.drop_database(postgres, name)


def test_compose_file_has_no_unresolved_variables() -> None:
    env = sample_env()
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    resolved = interpolate(text, env)
    assert not VARIABLE.search(resolved)
    assert yaml.safe_load(resolved)["name"] == "moderate"


def test_paths_in_compose_exist() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for relative in re.findall(r"\./(deploy/[\w./-]+?)(?=:)", text):
        assert Path(REPO_ROOT, relative).exists(), relative
