"""``keycloak_user_sensor`` and ``platform_api_asset_object_sensor``.

Each tick plans its runs with :mod:`moderate.trust.scans`, as far as the flow's
runs still queued or running leave room, and reports the counts of done, pending
and failed items in the tick log and the skip message; the user sensor also
records them as observations of the ``keycloak_users_count`` asset.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetKey,
    AssetObservation,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    JobDefinition,
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
from moderate.resources.settings import EnvBackedResource
from moderate.state import StateStoreResource, utc_now
from moderate.state.resource import StateStoreUnavailableError
from moderate.trust.ops import (
    create_asset_object_proof_job,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.scans import InFlight, TickPlan, plan_object_tick, plan_user_tick
from moderate.trust.settings import (
    DEFAULT_TRUST_SETTINGS,
    FEATURE_TAGS,
    OBJECT_PROOFS,
    SENSOR_INTERVAL_S,
    USER_DIDS,
    Flow,
    TrustSettings,
)

if TYPE_CHECKING:
    from moderate.state.store import StateStore

USERS_COUNT_ASSET = AssetKey("keycloak_users_count")
IN_FLIGHT_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
IN_FLIGHT_RUNS_LIMIT = 1000
Planner = Callable[["StateStore", str | None, InFlight], TickPlan]


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
        name="keycloak_user_sensor",
        job=propagate_new_user_to_trust_services_job,
        description="Pages through the main realm's Keycloak users and requests "
        f"DID runs of up to {settings.batch_size} users without one (at most "
        f"{settings.max_runs_per_tick} per tick and {settings.max_runs_in_flight} "
        "queued or running); retries failures with exponential backoff. Records "
        "DID counts as observations of keycloak_users_count.",
        **_sensor_options(settings, default_status),
    )
    def keycloak_user_sensor(
        context: SensorEvaluationContext,
        keycloak: KeycloakResource,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        def plan(store: "StateStore", cursor: str | None, runs: InFlight) -> TickPlan:
            return plan_user_tick(keycloak, store, cursor, settings, utc_now(), runs)

        services: list[EnvBackedResource] = [keycloak, platform_api]
        return _tick(
            context,
            propagate_new_user_to_trust_services_job,
            USER_DIDS,
            services,
            state_store,
            plan,
            USERS_COUNT_ASSET,
        )

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
        name="platform_api_asset_object_sensor",
        job=create_asset_object_proof_job,
        description="Pages through the Platform API's uploaded objects without "
        f"proof (sorted by id) and requests proof runs of up to {settings.batch_size} "
        f"due objects (at most {settings.max_runs_per_tick} per tick and "
        f"{settings.max_runs_in_flight} queued or running). Objects that can never "
        "get a proof are recorded as failed with the reason; failures back off "
        "without blocking the others.",
        **_sensor_options(settings, default_status),
    )
    def platform_api_asset_object_sensor(
        context: SensorEvaluationContext,
        platform_api: PlatformApiResource,
        state_store: StateStoreResource,
    ) -> SensorResult | SkipReason:
        def plan(store: "StateStore", cursor: str | None, runs: InFlight) -> TickPlan:
            client = platform_api.client()
            return plan_object_tick(client, store, cursor, settings, utc_now(), runs)

        return _tick(
            context,
            create_asset_object_proof_job,
            OBJECT_PROOFS,
            [platform_api],
            state_store,
            plan,
        )

    return platform_api_asset_object_sensor


def runs_in_flight(
    instance: DagsterInstance, job: JobDefinition, flow: Flow
) -> InFlight:
    """The job's runs that are queued or running, and the items they hold.

    Args:
        instance: The Dagster instance.
        job: Trust job.
        flow: Its flow, whose op's run config lists the batch's items.

    Returns:
        How many runs, and the keys of their items.
    """
    runs = instance.get_runs(
        filters=RunsFilter(job_name=job.name, statuses=IN_FLIGHT_STATUSES),
        limit=IN_FLIGHT_RUNS_LIMIT,
    )
    held: set[str] = set()
    for run in runs:
        config: Any = run.run_config
        try:
            items = config["ops"][flow.op_name]["config"]["items"]
            held.update(str(item["key"]) for item in items)
        except (KeyError, TypeError):
            continue
    return InFlight(len(runs), frozenset(held))


def _sensor_options(
    settings: TrustSettings, default_status: DefaultSensorStatus | None
) -> dict[str, Any]:
    """The ``@sensor`` arguments both trust sensors share."""
    return {
        "minimum_interval_seconds": SENSOR_INTERVAL_S,
        "default_status": default_status or default_sensor_status(),
        "tags": FEATURE_TAGS,
        "metadata": {
            "batch_size": settings.batch_size,
            "max_runs_per_tick": settings.max_runs_per_tick,
            "max_runs_in_flight": settings.max_runs_in_flight,
        },
    }


def _tick(
    context: SensorEvaluationContext,
    job: JobDefinition,
    flow: Flow,
    services: list[EnvBackedResource],
    state_store: StateStoreResource,
    plan: Planner,
    observed: AssetKey | None = None,
) -> SensorResult | SkipReason:
    """One tick: skips while a service is not configured, else plans and reports."""
    for service in services:
        if not service.is_configured():
            return SkipReason(service.not_configured_reason())
    try:
        store = state_store.store(context.log)
    except StateStoreUnavailableError as error:
        return SkipReason(str(error))
    result = plan(store, context.cursor, runs_in_flight(context.instance, job, flow))
    if result.cursor_reset:
        context.log.warning("Cursor reset: %s", result.cursor_reset)
    summary = ", ".join(f"{key}={value}" for key, value in result.metadata.items())
    context.log.info("%d run(s) requested; %s", len(result.run_requests), summary)
    return SensorResult(
        run_requests=result.run_requests,
        cursor=result.cursor,
        asset_events=(
            [AssetObservation(asset_key=observed, metadata=result.metadata)]
            if observed
            else []
        ),
        skip_reason=None if result.run_requests else f"Nothing due; {summary}",
    )


keycloak_user_sensor = build_keycloak_user_sensor()
platform_api_asset_object_sensor = build_platform_api_asset_object_sensor()
