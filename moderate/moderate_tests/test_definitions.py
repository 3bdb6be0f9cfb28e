import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from moderate.definitions import defs
from moderate.doctor.definitions import doctor_job
from moderate.resources import PostgresResource, RabbitMQResource
from moderate_tests.support.postgres import HOST, PASSWORD, PORT, USERNAME
from moderate_tests.support.rabbitmq import RABBIT_URL

PROJECT_DIR = Path(__file__).resolve().parents[1]
IMPLICIT_ASSET_JOB_PREFIX = "__ASSET_JOB"


def test_every_job_resolves():
    repository = defs.get_repository_def()
    jobs = repository.get_all_jobs()
    assert "doctor_job" in {job.name for job in jobs}
    for job in jobs:
        assert job.graph.node_defs, job.name
        if job.name.startswith(IMPLICIT_ASSET_JOB_PREFIX):
            continue
        assert job.description, f"{job.name} has no description"


FULL_ENVIRONMENT = {
    "KEYCLOAK_SERVER_URL": "http://127.0.0.1:8080",
    "KEYCLOAK_ADMIN_USERNAME": "admin",
    "KEYCLOAK_ADMIN_PASSWORD": "admin",
    "KEYCLOAK_MAIN_REALM_NAME": "moderate",
    "POSTGRES_HOST": HOST,
    "POSTGRES_PORT": PORT,
    "POSTGRES_USERNAME": USERNAME,
    "POSTGRES_PASSWORD": PASSWORD,
    "OPEN_METADATA_HOST": "localhost",
    "OPEN_METADATA_PORT": "8585",
    "OPEN_METADATA_TOKEN": "token",
    "S3_ACCESS_KEY_ID": "key",
    "S3_SECRET_ACCESS_KEY": "secret",
    "S3_REGION": "us-east-1",
    "S3_BUCKET_NAME": "platform-api",
    "S3_ENDPOINT_URL": "http://127.0.0.1:8333",
    "S3_JOB_OUTPUTS_BUCKET_NAME": "platform-api",
    "API_BASE_URL": "http://127.0.0.1:9080",
    "API_USERNAME": "workflows",
    "API_PASSWORD": "workflows",
    "RABBIT_URL": RABBIT_URL,
    "MATRIX_PROFILE_QUEUE": "matrix_profile",
    "MODERATE_AUTOMATION_DEFAULT_STATUS": "RUNNING",
}


@pytest.mark.parametrize(
    ("configured", "target"),
    [(False, []), (True, []), (False, ["-m", "moderate.definitions"])],
    ids=["no-env", "full-env", "module-name"],
)
def test_code_location_validates(tmp_path, configured, target):
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if configured:
        environment.update(FULL_ENVIRONMENT)
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            *target,
        ],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "All code locations passed validation" in completed.stdout


def test_doctor_reports_missing_variables_without_failing():
    result = doctor_job.execute_in_process(
        resources=dict(defs.resources), instance=DagsterInstance.ephemeral()
    )
    assert result.success
    reports = {
        item["service"]: item for item in result.output_for_node("check_services")
    }
    assert reports["RabbitMQ"]["missing_variables"] == ("RABBIT_URL",)
    assert reports["Platform API"]["missing_variables"] == (
        "API_BASE_URL",
        "API_USERNAME",
        "API_PASSWORD",
    )
    assert not any(item["reachable"] for item in reports.values())


def test_doctor_sees_configured_services(monkeypatch):
    monkeypatch.setenv("POSTGRES_HOST", HOST)
    monkeypatch.setenv("POSTGRES_PORT", PORT)
    monkeypatch.setenv("POSTGRES_USERNAME", USERNAME)
    monkeypatch.setenv("POSTGRES_PASSWORD", PASSWORD)
    monkeypatch.setenv("RABBIT_URL", RABBIT_URL)
    assert PostgresResource().health_check().healthy
    assert RabbitMQResource().health_check().healthy
