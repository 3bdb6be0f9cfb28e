"""``keycloak_users_count``: size of the realm and how far DIDs have got."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from moderate.resources.keycloak import KeycloakResource
from moderate.state import StateStoreResource
from moderate.trust.progress import did_progress_metadata
from moderate.trust.settings import FEATURE_TAGS

GROUP_NAME = "trust"


@asset(
    name="keycloak_users_count",
    group_name=GROUP_NAME,
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
    users = keycloak.count_users()
    metadata = did_progress_metadata(
        keycloak.realm, users, state_store.store(context.log)
    )
    context.log.info("Realm %s: %s", keycloak.realm, metadata)
    return MaterializeResult(metadata=metadata)
