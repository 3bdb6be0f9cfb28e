"""With no environment, every sensor skips with a reason instead of failing."""

import os
import socket
import subprocess

import pytest
from dagster import (
    AutomationConditionSensorDefinition,
    DagsterInstance,
    RunStatusSensorDefinition,
    build_sensor_context,
)

from moderate.definitions import defs
from moderate_tests.deployment.files import DEPLOY_DIR

REPOSITORY = defs.get_repository_def()
# Run-status sensors react to runs and automation-condition sensors are evaluated
# by the daemon from the asset graph: neither polls a service.
POLLING_SENSORS = [
    sensor
    for sensor in REPOSITORY.sensor_defs
    if not isinstance(
        sensor, (RunStatusSensorDefinition, AutomationConditionSensorDefinition)
    )
]


def test_there_are_polling_sensors_to_check():
    assert POLLING_SENSORS


@pytest.mark.parametrize("sensor", POLLING_SENSORS, ids=lambda sensor: sensor.name)
def test_sensor_skips_naming_missing_variables(sensor):
    with (
        DagsterInstance.ephemeral() as instance,
        build_sensor_context(
            instance=instance,
            resources=dict(defs.resources),
            repository_def=REPOSITORY,
        ) as context,
    ):
        result = sensor.evaluate_tick(context)
    assert not result.run_requests
    assert result.skip_message, f"{sensor.name} gave no reason"
    assert "is not configured: set " in result.skip_message


# ------------------------------------------------ the `dagster dev` start script

DEV_SCRIPT = DEPLOY_DIR / "dagster-dev.sh"
LIB_SCRIPT = DEPLOY_DIR / "lib.sh"
SCRIPT_TIMEOUT_S = 60


def _clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any code-location variable."""
    names = set(_code_location_variables())
    return {
        **{key: value for key, value in os.environ.items() if key not in names},
        **settings,
    }


def _code_location_variables() -> list[str]:
    listing = subprocess.run(
        [
            "bash",
            "-c",
            f'source "{LIB_SCRIPT}"; printf "%s\\n" "${{code_location_variables[@]}}"',
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    return listing.stdout.split()


def test_embedded_default_exports_only_what_the_user_set() -> None:
    script = (
        f'source "{DEV_SCRIPT}"; remember_user_settings; load_env_files; '
        "drop_settings_for_missing_stack; env"
    )
    result = subprocess.run(
        ["bash", "-c", script],
        env=_clean_env(API_USERNAME="someone"),
        capture_output=True,
        text=True,
        check=True,
        timeout=SCRIPT_TIMEOUT_S,
        cwd=DEPLOY_DIR.parent,
    )
    exported = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if "=" in line
    )
    set_variables = {name for name in _code_location_variables() if name in exported}
    assert set_variables == {"API_USERNAME"}
    assert exported["API_USERNAME"] == "someone"


def test_dev_script_refuses_a_taken_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = subprocess.run(
            ["bash", str(DEV_SCRIPT)],
            env=_clean_env(DAGSTER_DEV_PORT=str(port)),
            capture_output=True,
            text=True,
            check=False,
            timeout=SCRIPT_TIMEOUT_S,
        )
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "DAGSTER_DEV_PORT" in result.stderr
