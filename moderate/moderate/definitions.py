"""The code location: every feature's definitions plus the shared resources."""

from dagster import Definitions

from moderate.catalog import catalogued
from moderate.datasets import definitions as datasets
from moderate.doctor import definitions as doctor
from moderate.matrix_profile import definitions as matrix_profile
from moderate.openmetadata import definitions as openmetadata
from moderate.resources import build_resources
from moderate.trust import definitions as trust

defs = catalogued(
    Definitions.merge(
        datasets.defs,
        doctor.defs,
        matrix_profile.defs,
        openmetadata.defs,
        trust.defs,
        Definitions(resources=build_resources()),
    )
)
