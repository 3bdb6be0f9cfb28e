"""``keycloak_user_sensor`` and ``platform_api_asset_object_sensor``.

Each tick is bounded (pages, runs, wall time), keeps its position in the sensor
cursor and its per-item progress in the state store, and reports the counts of
done, pending and failed items: the user sensor as observations of the
``keycloak_users_count`` asset, both in the tick log and in the skip message.
"""

from dagster import (
    AssetKey,
    AssetObservation,
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from moderate.automation import default_sensor_status
from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.state import StateStoreResource, utc_now
from moderate.trust.jobs import (
    create_asset_object_proof_job,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.progress import summary
from moderate.trust.scans import TickPlan, plan_object_tick, plan_user_tick
from moderate.trust.settings import (
    DEFAULT_TRUST_SETTINGS,
    SENSOR_INTERVAL_S,
    TrustSettings,
)

USER_SENSOR_NAME = "keycloak_user_sensor"
OBJECT_SENSOR_NAME = "platform_api_asset_object_sensor"
USERS_COUNT_ASSET = AssetKey("keycloak_users_count")
SENSOR_TAGS = {"feature": "trust"}


def build_keycloak_user_sensor(
    settings: TrustSettings = DEFAULT_TRUST_SETTINGS,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """The sensor that requests DIDs for Keycloak users that have none.

    Args:
        settings: Page sizes, caps and timings.
        default_status: Status on a fresh deployment; by default from
            ``MODERATE_AUTOMATION_DEFAULT_STATUS``.

    Returns:
        The sensor definition.
    """

    @sensor(
        name=USER_SENSOR_NAME,
        job=propagate_new_user_to_trust_services_job,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=default_status or default_sensor_status(),
        description="Pages through the main realm's Keycloak users and requests a "
        "DID run for each user without one (at most "
        f"{settings.max_did_runs_per_tick} per tick); retries failures with "
        "exponential backoff. Records DID counts as observations of "
        "keycloak_users_count.",
        tags=SENSOR_TAGS,
        metadata={"max_runs_per_tick": settings.max_did_runs_per_tick},
    )
    def keycloak_user_sensor(
        context: SensorEvaluationContext,
        keycloak: KeycloakResource,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        for resource in (keycloak, platform_api):
            if not resource.is_configured():
                return SkipReason(resource.not_configured_reason())
        plan = plan_user_tick(
            keycloak, state_store.store(), context.cursor, settings, utc_now()
        )
        observation = AssetObservation(
            asset_key=USERS_COUNT_ASSET, metadata=plan.metadata
        )
        return _result(context, plan, [observation])

    return keycloak_user_sensor


def build_platform_api_asset_object_sensor(
    settings: TrustSettings = DEFAULT_TRUST_SETTINGS,
    default_status: DefaultSensorStatus | None = None,
) -> SensorDefinition:
    """The sensor that requests integrity proofs for uploaded objects.

    Args:
        settings: Page sizes, caps and timings.
        default_status: Status on a fresh deployment; by default from
            ``MODERATE_AUTOMATION_DEFAULT_STATUS``.

    Returns:
        The sensor definition.
    """

    @sensor(
        name=OBJECT_SENSOR_NAME,
        job=create_asset_object_proof_job,
        minimum_interval_seconds=SENSOR_INTERVAL_S,
        default_status=default_status or default_sensor_status(),
        description="Pages through the Platform API's uploaded objects without "
        "proof (sorted by id) and requests a proof run for each one that is due "
        f"(at most {settings.max_proof_runs_per_tick} per tick). Objects that can "
        "never get a proof are recorded as failed with the reason; failures back "
        "off without blocking the others.",
        tags=SENSOR_TAGS,
        metadata={"max_runs_per_tick": settings.max_proof_runs_per_tick},
    )
    def platform_api_asset_object_sensor(
        context: SensorEvaluationContext,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        if not platform_api.is_configured():
            return SkipReason(platform_api.not_configured_reason())
        plan = plan_object_tick(
            platform_api.client(),
            state_store.store(),
            context.cursor,
            settings,
            utc_now(),
        )
        return _result(context, plan, [])

    return platform_api_asset_object_sensor


def _result(
    context: SensorEvaluationContext,
    plan: TickPlan,
    observations: list[AssetObservation],
) -> SensorResult:
    message = summary(plan.metadata)
    context.log.info("%d run(s) requested; %s", len(plan.run_requests), message)
    return SensorResult(
        run_requests=plan.run_requests,
        cursor=plan.cursor,
        asset_events=observations,
        skip_reason=None if plan.run_requests else f"Nothing due; {message}",
    )


keycloak_user_sensor = build_keycloak_user_sensor()
platform_api_asset_object_sensor = build_platform_api_asset_object_sensor()
