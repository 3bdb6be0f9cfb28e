import copy
import dataclasses
import tempfile
import time

import pytest
from dagster import job, op

from moderate.openmetadata.runners import SubprocessWorkflowRunner
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    PostgresSource,
    ServerSettings,
    WorkflowKind,
    workflow_request,
)
from moderate_tests.support.ports import free_port
from moderate_tests.support.postgres import HOST, PASSWORD, PORT, USERNAME

SERVICE = "platform-postgres-runner-test"
HANG_TIMEOUT_S = 25


def run_in_op(runner, request, secrets):
    """Runs the runner inside a real Dagster op (a Pipes session needs one)."""

    @op
    def run_workflow(context):
        return runner.run(context, request, secrets)

    @job
    def probe():
        run_workflow()

    result = probe.execute_in_process()
    return result.output_for_node("run_workflow")


@pytest.fixture
def isolated_tmp(tmp_path, monkeypatch):
    """Temporary files of the runner and Pipes go here, to check they are removed."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _runner(ingestion_python, runner_script, timeout_s=240.0):
    return SubprocessWorkflowRunner(
        python=ingestion_python,
        script=runner_script,
        timeout_s=timeout_s,
        kill_grace_s=2,
    )


def _request(om_server, database, port=PORT):
    source = PostgresSource(
        host=HOST, port=int(port), username=USERNAME, database=database
    )
    return workflow_request(
        WorkflowKind.METADATA,
        source,
        SERVICE,
        ServerSettings(host_port=om_server.host_port),
        line_keys("2.0"),
    )


def _secrets(om_server):
    return {
        "OPEN_METADATA_TOKEN": om_server.double.token,
        "POSTGRES_PASSWORD": PASSWORD,
    }


def test_version_line_comes_from_the_installed_package(ingestion_python, runner_script):
    runner = _runner(ingestion_python, runner_script)
    assert runner.package_version() == "2.0.6.0"
    assert runner.version_line() == "2.0"


def test_secrets_travel_as_placeholders_only(om_server, postgres_database):
    extras = _request(om_server, postgres_database).as_extras()
    config = extras["config"]
    connection = config["source"]["serviceConnection"]["config"]
    assert connection["authType"] == {"password": "${POSTGRES_PASSWORD}"}
    server = config["workflowConfig"]["openMetadataServerConfig"]
    assert server["securityConfig"] == {"jwtToken": "${OPEN_METADATA_TOKEN}"}
    assert om_server.double.token not in str(extras)


def test_unreachable_source_fails_with_the_workflow_error(
    ingestion_python, runner_script, om_server, postgres_database, isolated_tmp
):
    request = _request(om_server, postgres_database, port=free_port())

    outcome = run_in_op(
        _runner(ingestion_python, runner_script), request, _secrets(om_server)
    )

    assert not outcome.succeeded
    assert outcome.status == "failed"
    assert outcome.exit_code == 1
    summary = outcome.error_summary()
    assert "connection" in summary.lower()
    assert om_server.double.names("tables") == []
    assert list(isolated_tmp.iterdir()) == []


def test_server_on_another_line_is_refused_naming_both_versions(
    ingestion_python, runner_script, om_server, postgres_database
):
    om_server.double.version = "1.5.15"

    outcome = run_in_op(
        _runner(ingestion_python, runner_script),
        _request(om_server, postgres_database),
        _secrets(om_server),
    )

    assert outcome.status == "not_run"
    assert outcome.exit_code == 2
    assert "1.5.15" in outcome.error_summary()
    assert "2.0.6.0" in outcome.error_summary()
    assert om_server.double.names("services/databaseServices") == []


def test_missing_secret_is_named(
    ingestion_python, runner_script, om_server, postgres_database
):
    request = _request(om_server, postgres_database)
    secrets = {**_secrets(om_server), "POSTGRES_PASSWORD": ""}

    outcome = run_in_op(_runner(ingestion_python, runner_script), request, secrets)

    assert outcome.status == "not_run"
    assert "POSTGRES_PASSWORD" in outcome.error_summary()


def test_invalid_config_error_never_quotes_a_secret(
    ingestion_python, runner_script, om_server, postgres_database
):
    request = _request(om_server, postgres_database)
    config = copy.deepcopy(dict(request.config))
    config["source"]["serviceConnection"]["config"]["ingestAllDatabases"] = "maybe"
    # Never used: the request is refused before any connection.
    secrets = {**_secrets(om_server), "POSTGRES_PASSWORD": "pw-1f0c-never-quoted"}

    outcome = run_in_op(
        _runner(ingestion_python, runner_script),
        dataclasses.replace(request, config=config),
        secrets,
    )

    assert outcome.status == "not_run"
    assert "invalid workflow configuration" in outcome.error_summary()
    assert secrets["POSTGRES_PASSWORD"] not in outcome.error_summary()
    assert secrets["OPEN_METADATA_TOKEN"] not in outcome.error_summary()


def test_hanging_workflow_is_killed_at_the_time_limit(
    ingestion_python, runner_script, om_server, postgres_database, isolated_tmp
):
    # The server answers the version check only after the time limit: the
    # runner (past its imports and validation by then) hangs in that call.
    om_server.double.version_delay_s = 120
    runner = _runner(ingestion_python, runner_script, timeout_s=HANG_TIMEOUT_S)

    started = time.monotonic()
    outcome = run_in_op(
        runner, _request(om_server, postgres_database), _secrets(om_server)
    )
    elapsed = time.monotonic() - started

    assert any(r.path.endswith("/system/version") for r in om_server.double.requests)
    assert outcome.timed_out
    assert outcome.status == "timed_out"
    assert outcome.exit_code is None
    assert f"time limit of {HANG_TIMEOUT_S} s" in outcome.error_summary()
    assert elapsed < HANG_TIMEOUT_S + 30
    assert list(isolated_tmp.iterdir()) == []
