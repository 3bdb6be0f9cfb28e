"""Definitions of the trust feature: DIDs for users, proofs for uploaded objects."""

from dagster import Definitions

from moderate.trust.assets import keycloak_users_count
from moderate.trust.jobs import (
    create_asset_object_proof_job,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.sensors import (
    keycloak_user_sensor,
    platform_api_asset_object_sensor,
)

defs = Definitions(
    assets=[keycloak_users_count],
    jobs=[propagate_new_user_to_trust_services_job, create_asset_object_proof_job],
    sensors=[keycloak_user_sensor, platform_api_asset_object_sensor],
)
