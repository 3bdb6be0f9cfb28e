"""The code location: every feature's definitions plus the shared resources."""

from dagster import Definitions

from moderate.datasets.definitions import defs as datasets_defs
from moderate.doctor.definitions import defs as doctor_defs
from moderate.matrix_profile.definitions import defs as matrix_profile_defs
from moderate.openmetadata.definitions import defs as openmetadata_defs
from moderate.resources.definitions import build_resources
from moderate.trust.definitions import defs as trust_defs

defs = Definitions.merge(
    datasets_defs,
    doctor_defs,
    matrix_profile_defs,
    openmetadata_defs,
    trust_defs,
    Definitions(resources=build_resources()),
)
