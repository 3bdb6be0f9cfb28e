"""Definitions of the matrix_profile feature and its own settings resource."""

from dagster import Definitions

from moderate.matrix_profile.assets import matrix_profile_reports
from moderate.matrix_profile.failure_sensor import (
    matrix_profile_cancel_sensor,
    matrix_profile_failure_sensor,
)
from moderate.matrix_profile.jobs import (
    matrix_profile_finalise_job,
    matrix_profile_job,
    matrix_profile_rejection_job,
)
from moderate.matrix_profile.sensors import matrix_profile_messages_sensor
from moderate.matrix_profile.settings import MatrixProfileSettings

defs = Definitions(
    assets=[matrix_profile_reports],
    jobs=[
        matrix_profile_job,
        matrix_profile_rejection_job,
        matrix_profile_finalise_job,
    ],
    sensors=[
        matrix_profile_messages_sensor,
        matrix_profile_failure_sensor,
        matrix_profile_cancel_sensor,
    ],
    resources={"matrix_profile": MatrixProfileSettings()},
)
