"""``keycloak_user_sensor`` and ``platform_api_asset_object_sensor``.

Each tick is bounded (pages, runs, wall time), keeps its position in the sensor
cursor and its per-item progress in the state store, requests batch runs only as
far as the flow's runs still queued or running leave room, and reports the counts
of done, pending and failed items: the user sensor as observations of the
``keycloak_users_count`` asset, both in the tick log and in the skip message.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetObservation,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
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
from moderate.state.resource import StateStoreUnavailableError
from moderate.trust.jobs import (
    create_asset_object_proof_job,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.progress import summary
from moderate.trust.scans import (
    PROOF_OP,
    USER_OP,
    InFlight,
    TickPlan,
    plan_object_tick,
    plan_user_tick,
)
from moderate.trust.settings import (
    DEFAULT_TRUST_SETTINGS,
    FEATURE_TAGS,
    SENSOR_INTERVAL_S,
    TrustSettings,
)

USER_SENSOR_NAME = "keycloak_user_sensor"
OBJECT_SENSOR_NAME = "platform_api_asset_object_sensor"
USERS_COUNT_ASSET = AssetKey("keycloak_users_count")
if TYPE_CHECKING:
    from moderate.state.store import StateStore

IN_FLIGHT_STATUSES = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)
IN_FLIGHT_RUNS_LIMIT = 1000


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
        description="Pages through the main realm's Keycloak users and requests "
        f"DID runs of up to {settings.batch_size} users without one (at most "
        f"{settings.max_runs_per_tick} per tick and {settings.max_runs_in_flight} "
        "queued or running); retries failures with exponential backoff. Records "
        "DID counts as observations of keycloak_users_count.",
        tags=FEATURE_TAGS,
        metadata=_sensor_metadata(settings),
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
        store = _open(state_store, context)
        if isinstance(store, SkipReason):
            return store
        plan = plan_user_tick(
            keycloak,
            store,
            context.cursor,
            settings,
            utc_now(),
            runs_in_flight(context.instance, JOB_OF_USERS, USER_OP),
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
        f"proof (sorted by id) and requests proof runs of up to {settings.batch_size} "
        f"due objects (at most {settings.max_runs_per_tick} per tick and "
        f"{settings.max_runs_in_flight} queued or running). Objects that can never "
        "get a proof are recorded as failed with the reason; failures back off "
        "without blocking the others.",
        tags=FEATURE_TAGS,
        metadata=_sensor_metadata(settings),
    )
    def platform_api_asset_object_sensor(
        context: SensorEvaluationContext,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        if not platform_api.is_configured():
            return SkipReason(platform_api.not_configured_reason())
        store = _open(state_store, context)
        if isinstance(store, SkipReason):
            return store
        plan = plan_object_tick(
            platform_api.client(),
            store,
            context.cursor,
            settings,
            utc_now(),
            runs_in_flight(context.instance, JOB_OF_OBJECTS, PROOF_OP),
        )
        return _result(context, plan, [])

    return platform_api_asset_object_sensor


JOB_OF_USERS = propagate_new_user_to_trust_services_job.name
JOB_OF_OBJECTS = create_asset_object_proof_job.name


def runs_in_flight(instance: DagsterInstance, job_name: str, op_name: str) -> InFlight:
    """The job's runs that are queued or running, and the items they hold.

    Args:
        instance: The Dagster instance.
        job_name: Trust job.
        op_name: Its op, whose run config lists the batch's items.

    Returns:
        How many runs, and the keys of their items.
    """
    runs = instance.get_runs(
        filters=RunsFilter(job_name=job_name, statuses=list(IN_FLIGHT_STATUSES)),
        limit=IN_FLIGHT_RUNS_LIMIT,
    )
    held: set[str] = set()
    for run in runs:
        held.update(_batch_keys(run.run_config, op_name))
    return InFlight(len(runs), frozenset(held))


def _batch_keys(run_config: object, op_name: str) -> Sequence[str]:
    ops = run_config.get("ops") if isinstance(run_config, dict) else None
    node = ops.get(op_name) if isinstance(ops, dict) else None
    config = node.get("config") if isinstance(node, dict) else None
    items = config.get("items") if isinstance(config, dict) else None
    if not isinstance(items, list):
        return []
    return [
        str(item["key"]) for item in items if isinstance(item, dict) and "key" in item
    ]


def _sensor_metadata(settings: TrustSettings) -> dict[str, int]:
    return {
        "batch_size": settings.batch_size,
        "max_runs_per_tick": settings.max_runs_per_tick,
        "max_runs_in_flight": settings.max_runs_in_flight,
    }


def _open(
    state_store: StateStoreResource, context: SensorEvaluationContext
) -> "StateStore | SkipReason":
    try:
        return state_store.store(context.log)
    except StateStoreUnavailableError as error:
        return SkipReason(str(error))


def _result(
    context: SensorEvaluationContext,
    plan: TickPlan,
    observations: list[AssetObservation],
) -> SensorResult:
    if plan.cursor_reset:
        context.log.warning("Cursor reset: %s", plan.cursor_reset)
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
