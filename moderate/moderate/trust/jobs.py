"""The two trust jobs: one run per batch of users or of objects."""

from dagster import job

from moderate.trust.ops import create_object_proofs, create_user_dids
from moderate.trust.settings import (
    DEFAULT_BATCH_SIZE,
    FEATURE_TAGS,
    OBJECT_PROOF_NAMESPACE,
    USER_DID_NAMESPACE,
)


@job(
    description="Gives a batch of Keycloak users (up to "
    f"{DEFAULT_BATCH_SIZE}) a DID through the Platform API's Trust service and "
    "records each outcome in the state store. Requested by keycloak_user_sensor, "
    "one run per batch; the step's output metadata lists every user with its "
    "outcome (done, failed with reason, waiting).",
    tags=FEATURE_TAGS,
    metadata={"state_namespace": USER_DID_NAMESPACE},
)
def propagate_new_user_to_trust_services_job() -> None:
    """Requests the DIDs of a batch of users."""
    create_user_dids()


@job(
    description="Gives a batch of uploaded objects (up to "
    f"{DEFAULT_BATCH_SIZE}) an integrity proof through the Platform API's Trust "
    "service and records each outcome in the state store. Requested by "
    "platform_api_asset_object_sensor, one run per batch; the step's output "
    "metadata lists every object with its outcome.",
    tags=FEATURE_TAGS,
    metadata={"state_namespace": OBJECT_PROOF_NAMESPACE},
)
def create_asset_object_proof_job() -> None:
    """Requests the proofs of a batch of objects."""
    create_object_proofs()
