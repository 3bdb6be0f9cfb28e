"""Default status of sensors and schedules, fixed when the code location loads.

Deployments set ``MODERATE_AUTOMATION_DEFAULT_STATUS=RUNNING`` so a fresh install
works without switching each sensor on; the UI still allows stopping them.
"""

from dagster import DefaultScheduleStatus, DefaultSensorStatus, EnvVar

AUTOMATION_STATUS_VARIABLE = "MODERATE_AUTOMATION_DEFAULT_STATUS"
RUNNING = "RUNNING"
STOPPED = "STOPPED"


def _status() -> str:
    value = EnvVar(AUTOMATION_STATUS_VARIABLE).get_value() or ""
    return RUNNING if value.strip().upper() == RUNNING else STOPPED


def default_sensor_status() -> DefaultSensorStatus:
    """RUNNING when the deployment asks for it, else STOPPED."""
    return DefaultSensorStatus(_status())


def default_schedule_status() -> DefaultScheduleStatus:
    """RUNNING when the deployment asks for it, else STOPPED."""
    return DefaultScheduleStatus(_status())
