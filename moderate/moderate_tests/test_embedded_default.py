"""With no environment, every sensor skips with a reason instead of failing."""

import pytest
from dagster import (
    DagsterInstance,
    RunStatusSensorDefinition,
    build_sensor_context,
)

from moderate.definitions import defs

REPOSITORY = defs.get_repository_def()
POLLING_SENSORS = [
    sensor
    for sensor in REPOSITORY.sensor_defs
    if not isinstance(sensor, RunStatusSensorDefinition)
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
