"""The code-server image: it serves, passes its health check, loads every definition."""

import time
import uuid

import pytest
from dagster import DagsterInstance
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

from moderate.definitions import defs
from moderate_tests.images.docker import (
    CONTAINER_TIMEOUT_S,
    RUN_USER,
    docker,
    paths_in_container,
)
from moderate_tests.support.ports import LOOPBACK, free_port

START_TIMEOUT_S = 180
LOCATION = "k8s-code-location-moderate"


@pytest.fixture
def code_server(images):
    port = free_port()
    name = f"moderate-code-server-{uuid.uuid4().hex[:8]}"
    try:
        docker(
            "run",
            "--detach",
            f"--name={name}",
            "--network=host",
            f"--user={RUN_USER}",
            f"--env=DAGSTER_GRPC_HOST={LOOPBACK}",
            f"--env=DAGSTER_GRPC_PORT={port}",
            images["code-server"].tag,
            timeout_s=CONTAINER_TIMEOUT_S,
        )
        yield name, port
    finally:
        logs = docker("logs", name, check=False)
        print(logs.stdout[-2000:], logs.stderr[-2000:])
        docker("rm", "--force", name, check=False, timeout_s=CONTAINER_TIMEOUT_S)


def test_health_check_passes_and_every_definition_loads(code_server, tmp_path):
    name, port = code_server
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        check = docker(
            "exec",
            name,
            "dagster",
            "api",
            "grpc-health-check",
            f"--host={LOOPBACK}",
            f"--port={port}",
            check=False,
        )
        if check.returncode == 0:
            break
        running = docker("inspect", "--format", "{{.State.Running}}", name).stdout
        assert running.strip() == "true", "the code server exited"
        assert time.monotonic() < deadline, check.stdout + check.stderr
        time.sleep(2)

    expected = defs.get_repository_def()
    origin = GrpcServerCodeLocationOrigin(
        host=LOOPBACK, port=port, location_name=LOCATION
    )
    with (
        DagsterInstance.ephemeral(tempdir=str(tmp_path)) as instance,
        origin.create_location(instance) as location,
    ):
        (repository,) = location.get_repositories().values()
        assert {job.name for job in repository.get_all_jobs()} == {
            job.name for job in expected.get_all_jobs()
        }
        assert {s.name for s in repository.get_schedules()} == {
            s.name for s in expected.schedule_defs
        }
        assert {s.name for s in repository.get_sensors()} == {
            s.name for s in expected.sensor_defs
        }
        served = {node.asset_key for node in repository.get_asset_node_snaps()}
        assert served == set(expected.asset_graph.get_all_asset_keys())

    # What only the worker needs stays out; what runs of this image need is in.
    present = paths_in_container(
        name, ["/opt/numba-cache", "/opt/ingestion/.venv/bin/python", "/usr/bin/git"]
    )
    assert present == {
        "/opt/numba-cache": False,
        "/opt/ingestion/.venv/bin/python": True,
        "/usr/bin/git": True,
    }
