"""The ingestion image runs a real metadata workflow (local PostgreSQL, OM double).

The code location's own runner starts the workflow through Dagster Pipes; its
interpreter is a small script that runs the ingestion image instead, with the
Pipes files' folder mounted at the same path and only the runner's variables
passed (by name, so no value is on a command line).
"""

import stat
import tempfile

import pytest
import sqlalchemy as sa

from moderate.openmetadata.runners import SubprocessWorkflowRunner
from moderate.openmetadata.versions import line_keys
from moderate.openmetadata.workflows import (
    PostgresSource,
    ServerSettings,
    WorkflowKind,
    workflow_request,
)
from moderate_tests.images.docker import DOCKER_CLI, docker_env
from moderate_tests.openmetadata.conftest import om_server  # noqa: F401 - fixture
from moderate_tests.openmetadata.test_runner import run_in_op
from moderate_tests.support.postgres import (
    HOST,
    PASSWORD,
    PORT,
    USERNAME,
    postgres_resource,
)

SERVICE = "platform-postgres-image-test"
TIMEOUT_S = 900
PASSED_VARIABLES = (
    "HOME",
    "TMPDIR",
    "LANG",
    "PYTHONUNBUFFERED",
    "DAGSTER_PIPES_CONTEXT",
    "DAGSTER_PIPES_MESSAGES",
)


@pytest.fixture
def pipes_folder(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _image_interpreter(folder, image, secret_names):
    # The Pipes files are made by this (root) process in 0700 folders: the
    # container runs as root to write its messages there.
    passed = " ".join(f"--env={name}" for name in (*PASSED_VARIABLES, *secret_names))
    script = folder.parent / "ingestion-in-image"
    script.write_text(
        "#!/usr/bin/env bash\n"
        "set -euo pipefail\n"
        f"export DOCKER_HOST={docker_env()['DOCKER_HOST']}\n"
        f"exec {DOCKER_CLI} run --rm --network=host --user=0:0 --read-only "
        f'--tmpfs=/tmp --volume={folder}:{folder} {passed} {image} "${{@:2}}"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_metadata_workflow_runs_in_the_ingestion_image(
    images, om_server, postgres_database, pipes_folder  # noqa: F811 - fixture
):
    postgres = postgres_resource()
    with postgres.engine(postgres_database).begin() as connection:
        connection.execute(sa.text("CREATE TABLE meters (id int PRIMARY KEY)"))
    postgres.dispose()
    source = PostgresSource(
        host=HOST, port=int(PORT), username=USERNAME, database=postgres_database
    )
    request = workflow_request(
        WorkflowKind.METADATA,
        source,
        SERVICE,
        ServerSettings(host_port=om_server.host_port),
        line_keys("2.0"),
    )
    secrets = {
        "OPEN_METADATA_TOKEN": om_server.double.token,
        "POSTGRES_PASSWORD": PASSWORD,
    }
    interpreter = _image_interpreter(
        pipes_folder, images["ingestion"].tag, request.secret_variables
    )
    runner = SubprocessWorkflowRunner(
        python=interpreter, script=interpreter, timeout_s=TIMEOUT_S
    )

    outcome = run_in_op(runner, request, secrets)

    assert outcome.succeeded, outcome.error_summary()
    assert f"{SERVICE}.{postgres_database}.public.meters" in om_server.double.names(
        "tables"
    )
