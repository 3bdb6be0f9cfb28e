"""The feature's definitions as the code location exposes them."""

import subprocess
import sys

from dagster import RunStatusSensorDefinition

from moderate.definitions import defs
from moderate.matrix_profile.definitions import defs as feature_defs


def test_jobs_and_sensors_are_registered():
    repository = defs.get_repository_def()
    jobs = {job.name: job for job in repository.get_all_jobs()}
    for name in (
        "matrix_profile_job",
        "matrix_profile_rejection_job",
        "matrix_profile_finalise_job",
    ):
        assert jobs[name].description
        assert jobs[name].tags.get("moderate/feature") == "matrix_profile"
    sensors = {sensor.name: sensor for sensor in repository.sensor_defs}
    messages = sensors["matrix_profile_messages_sensor"]
    assert messages.minimum_interval_seconds == 30
    assert {target.job_name for target in messages.targets} == {
        "matrix_profile_job",
        "matrix_profile_rejection_job",
    }
    for name in ("matrix_profile_failure_sensor", "matrix_profile_cancel_sensor"):
        assert sensors[name].description
        assert isinstance(sensors[name], RunStatusSensorDefinition)
        assert {target.job_name for target in sensors[name].targets} == {
            "matrix_profile_finalise_job"
        }
    assert {sensor.name for sensor in feature_defs.sensors} == {
        "matrix_profile_messages_sensor",
        "matrix_profile_failure_sensor",
        "matrix_profile_cancel_sensor",
    }


def test_settings_resource_is_shared():
    resources = defs.get_repository_def().get_top_level_resources()
    assert "matrix_profile" in resources


def test_sensors_follow_the_automation_default_status(tmp_path):
    script = (
        "from moderate.matrix_profile.definitions import defs\n"
        "print(sorted(s.default_status.value for s in defs.sensors))\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MODERATE_AUTOMATION_DEFAULT_STATUS": "RUNNING",
    }
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    assert (
        completed.stdout.strip().splitlines()[-1] == "['RUNNING', 'RUNNING', 'RUNNING']"
    )
