"""Secrets never reach what users can read: event log, run record, captured logs.

Jobs run with every secret variable set to a unique value, once with values the
services refuse (the error paths) and once with values the doubles accept; the
values must appear nowhere Dagster stores or prints.
"""

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dagster import DagsterInstance, ExecuteInProcessResult
from dagster._serdes import serialize_value

from moderate.definitions import defs
from moderate_tests.doubles import API_ADMIN_USERNAME, KEYCLOAK_ADMIN_USERNAME
from moderate_tests.doubles.keycloak import KeycloakDouble
from moderate_tests.doubles.platform_api import PlatformApiDouble
from moderate_tests.support.ports import free_port
from moderate_tests.support.postgres import HOST as POSTGRES_HOST
from moderate_tests.support.postgres import PORT as POSTGRES_PORT
from moderate_tests.support.postgres import USERNAME as POSTGRES_USERNAME
from moderate_tests.support.rabbitmq import RABBIT_URL
from moderate_tests.support.seaweedfs import S3Endpoint

REJECTED_JOB_ID = 41
SECRET_VARIABLES = (
    "KEYCLOAK_ADMIN_PASSWORD",
    "API_PASSWORD",
    "POSTGRES_PASSWORD",
    "OPEN_METADATA_TOKEN",
    "S3_SECRET_ACCESS_KEY",
)


@dataclass(frozen=True)
class Secrets:
    """The unique secret values of one scenario, by variable.

    Attributes:
        values: Secret variable to value.
        rabbit_password: The password inside ``RABBIT_URL``.
        accepted: Whether the Keycloak and Platform API doubles accept them.
    """

    values: dict[str, str]
    rabbit_password: str
    accepted: bool

    def found_in(self, text: str) -> list[str]:
        """The names of the secrets that occur in ``text``."""
        found = [name for name, value in self.values.items() if value in text]
        if self.rabbit_password in text:
            found.append("RABBIT_URL password")
        return found


def _unique(label: str) -> str:
    return f"{label}{uuid.uuid4().hex}"


def _rabbit_url_with(password: str) -> str:
    scheme, rest = RABBIT_URL.split("://", 1)
    user = rest.split(":", 1)[0]
    host = rest.split("@", 1)[1]
    return f"{scheme}://{user}:{password}@{host}"


@pytest.fixture(params=["refused", "accepted"])
def secrets(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    keycloak: KeycloakDouble,
    platform_api: PlatformApiDouble,
    s3_endpoint: S3Endpoint,
) -> Iterator[Secrets]:
    """Every secret variable set to a unique value; the doubles accept them or not."""
    values = {name: _unique(name.lower().replace("_", "")) for name in SECRET_VARIABLES}
    rabbit_password = _unique("rabbit")
    keycloak_user, api_user = KEYCLOAK_ADMIN_USERNAME, API_ADMIN_USERNAME
    if request.param == "accepted":
        keycloak_user, api_user = _unique("kcadmin"), _unique("apiadmin")
        keycloak.add_master_user(keycloak_user, values["KEYCLOAK_ADMIN_PASSWORD"])
        platform_api.add_user(api_user, values["API_PASSWORD"], admin=True)
    settings = {
        **values,
        "KEYCLOAK_SERVER_URL": keycloak.url,
        "KEYCLOAK_ADMIN_USERNAME": keycloak_user,
        "API_BASE_URL": platform_api.url,
        "API_USERNAME": api_user,
        "POSTGRES_HOST": POSTGRES_HOST,
        "POSTGRES_PORT": str(POSTGRES_PORT),
        "POSTGRES_USERNAME": POSTGRES_USERNAME,
        "OPEN_METADATA_HOST": "127.0.0.1",
        "OPEN_METADATA_PORT": str(free_port()),
        "S3_ACCESS_KEY_ID": s3_endpoint.access_key_id,
        "S3_ENDPOINT_URL": s3_endpoint.url,
        "S3_REGION": s3_endpoint.region,
        "S3_BUCKET_NAME": _unique("lake-")[:40],
        "S3_JOB_OUTPUTS_BUCKET_NAME": _unique("outputs-")[:40],
        "RABBIT_URL": _rabbit_url_with(rabbit_password),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    yield Secrets(values, rabbit_password, request.param == "accepted")


def _stored_text(instance: DagsterInstance, run_id: str) -> str:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    entries = instance.all_logs(run_id)
    assert entries, "the run stored no events"
    return "\n".join([serialize_value(run), *(serialize_value(e) for e in entries)])


def _run(
    job_name: str, run_config: dict[str, object]
) -> tuple[str, ExecuteInProcessResult]:
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(job_name).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False
        )
        return _stored_text(instance, result.run_id), result


def test_doctor_job_stores_and_prints_no_secret(
    secrets: Secrets,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    stored, result = _run("doctor_job", {})
    captured = capfd.readouterr()
    assert result.success
    usable = {
        report["service"]: bool(report["usable"])
        for report in result.output_for_node("check_services")
    }
    assert usable["Keycloak"] is usable["Platform API"] is secrets.accepted
    for where, text in {
        "event log": stored,
        "logging": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
    }.items():
        assert secrets.found_in(text) == [], where


def test_failing_platform_job_stores_and_prints_no_secret(
    secrets: Secrets,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    config = {
        "ops": {
            "reject_matrix_profile_request": {
                "config": {"workflow_job_id": REJECTED_JOB_ID, "reason": "bad"}
            }
        }
    }
    stored, _result = _run("matrix_profile_rejection_job", config)
    captured = capfd.readouterr()
    for where, text in {
        "event log": stored,
        "logging": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
    }.items():
        assert secrets.found_in(text) == [], where
