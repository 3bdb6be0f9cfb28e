"""Definitions of the trust feature: DIDs for users, proofs for uploaded objects."""

from dagster import AssetExecutionContext, Definitions, MaterializeResult, asset

from moderate.resources.keycloak import KeycloakResource
from moderate.state import StateStoreResource
from moderate.trust.ops import (
    create_asset_object_proof_job,
    open_store,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.sensors import (
    USERS_COUNT_ASSET,
    did_progress_metadata,
    keycloak_user_sensor,
    platform_api_asset_object_sensor,
)
from moderate.trust.settings import FEATURE_TAGS


@asset(
    key=USERS_COUNT_ASSET,
    group_name="trust",
    description="Number of users of the main Keycloak realm, with how many of them "
    "have a DID (done), are being given one (pending) or failed. The "
    "keycloak_user_sensor also records these counts as observations every tick.",
    kinds={"keycloak"},
    tags=FEATURE_TAGS,
)
def keycloak_users_count(
    context: AssetExecutionContext,
    keycloak: KeycloakResource,
    state_store: StateStoreResource,
) -> MaterializeResult:
    """Counts the realm's users and the DID states."""
    store = open_store([keycloak], state_store, context.log)
    users = keycloak.count_users()
    metadata = did_progress_metadata(keycloak.realm, users, store)
    context.log.info("Realm %s: %s", keycloak.realm, metadata)
    return MaterializeResult(metadata=metadata)


defs = Definitions(
    assets=[keycloak_users_count],
    jobs=[propagate_new_user_to_trust_services_job, create_asset_object_proof_job],
    sensors=[keycloak_user_sensor, platform_api_asset_object_sensor],
)
