"""The two trust jobs: one run per user or per object."""

from dagster import job

from moderate.trust.ops import create_object_proof, create_user_did

JOB_TAGS = {"feature": "trust"}


@job(
    description="Gives one Keycloak user a DID through the Platform API's Trust "
    "service and records the outcome in the state store. Requested by "
    "keycloak_user_sensor, one run per user and attempt.",
    tags=JOB_TAGS,
    metadata={"state_namespace": "trust.user_did"},
)
def propagate_new_user_to_trust_services_job() -> None:
    """Requests the DID of one user."""
    create_user_did()


@job(
    description="Gives one uploaded object an integrity proof through the Platform "
    "API's Trust service and records the outcome in the state store. Requested by "
    "platform_api_asset_object_sensor, one run per object and attempt.",
    tags=JOB_TAGS,
    metadata={"state_namespace": "trust.object_proof"},
)
def create_asset_object_proof_job() -> None:
    """Requests the proof of one object."""
    create_object_proof()
