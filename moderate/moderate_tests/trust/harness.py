"""Drives trust sensors tick by tick and runs what they request, in process.

It stands in for the daemon: it keeps each sensor's cursor between ticks and,
like Dagster, drops a run request whose run key that sensor already used.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    Config,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    ExecuteInProcessResult,
    Failure,
    JobDefinition,
    OpDefinition,
    RunRequest,
    SensorDefinition,
    SensorResult,
    SkipReason,
    build_op_context,
    build_sensor_context,
)

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.state import StateStore, StateStoreResource
from moderate.trust.ops import (
    ObjectProofBatchConfig,
    UserDidBatchConfig,
    create_asset_object_proof_job,
    create_object_proofs,
    create_user_dids,
    propagate_new_user_to_trust_services_job,
)
from moderate.trust.sensors import (
    build_keycloak_user_sensor,
    build_platform_api_asset_object_sensor,
)
from moderate.trust.settings import TrustSettings
from moderate_tests.doubles import KeycloakDouble, PlatformApiDouble

QUICK_POLLS = {
    "poll_initial_interval_s": 0.02,
    "poll_max_interval_s": 0.1,
    "poll_timeout_s": 5.0,
}


@dataclass
class TickOutcome:
    """What one tick yielded, after the run-key de-duplication."""

    run_requests: list[RunRequest]
    duplicates: list[RunRequest]
    skip_reason: str | None
    result: SensorResult | SkipReason


@dataclass
class TrustHarness:
    """Sensors, jobs and resources on the doubles."""

    keycloak_double: KeycloakDouble
    api_double: PlatformApiDouble
    keycloak: KeycloakResource
    platform_api: PlatformApiResource
    state_store: StateStoreResource
    instance: DagsterInstance
    rebuild: Callable[
        [], tuple[KeycloakResource, PlatformApiResource, StateStoreResource]
    ]
    settings: TrustSettings = field(
        default_factory=lambda: TrustSettings(
            poll_initial_interval_s=QUICK_POLLS["poll_initial_interval_s"],
            poll_max_interval_s=QUICK_POLLS["poll_max_interval_s"],
            poll_timeout_s=QUICK_POLLS["poll_timeout_s"],
        )
    )
    cursors: dict[str, str | None] = field(default_factory=dict)
    used_run_keys: dict[str, set[str]] = field(default_factory=dict)
    _op_context: Any = None

    @property
    def store(self) -> StateStore:
        return self.state_store.store()

    def resources(self) -> dict[str, Any]:
        return {
            "keycloak": self.keycloak,
            "platform_api": self.platform_api,
            "state_store": self.state_store,
        }

    def user_sensor(self) -> SensorDefinition:
        return build_keycloak_user_sensor(self.settings)

    def object_sensor(self) -> SensorDefinition:
        return build_platform_api_asset_object_sensor(self.settings)

    def tick(self, sensor: SensorDefinition) -> TickOutcome:
        """Evaluates one tick with the stored cursor and records the new one."""
        with build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor.name),
            resources=self.resources(),
            sensor_name=sensor.name,
        ) as context:
            result = sensor(context)
            if isinstance(result, SensorResult) and result.cursor is not None:
                self.cursors[sensor.name] = result.cursor
        if isinstance(result, SkipReason):
            return TickOutcome([], [], result.skip_message, result)
        used = self.used_run_keys.setdefault(sensor.name, set())
        fresh, duplicates = [], []
        for request in result.run_requests or []:
            (duplicates if request.run_key in used else fresh).append(request)
            used.add(request.run_key)
        skip = result.skip_reason.skip_message if result.skip_reason else None
        return TickOutcome(fresh, duplicates, skip, result)

    def execute(
        self, job: JobDefinition, request: RunRequest
    ) -> ExecuteInProcessResult:
        """Executes the real job in process with the request's config and tags."""
        return job.execute_in_process(
            run_config=request.run_config,
            resources={
                "platform_api": self.platform_api,
                "state_store": self.state_store,
            },
            instance=self.instance,
            tags=request.tags,
            raise_on_error=False,
        )

    def submit(self, job: JobDefinition, request: RunRequest) -> DagsterRun:
        """Creates the requested run, not yet launched, as the daemon does.

        The run stays ``NOT_STARTED`` (a run waiting for the run coordinator);
        :meth:`start` moves it to ``STARTED``.
        """
        return self.instance.create_run_for_job(
            job,
            run_config=request.run_config,
            tags={**request.tags, "dagster/run_key": request.run_key or ""},
        )

    def start(self, run: DagsterRun) -> None:
        """Marks a submitted run as started (its worker runs, slowly)."""
        started = DagsterEvent(
            event_type_value=DagsterEventType.RUN_START.value, job_name=run.job_name
        )
        self.instance.report_dagster_event(started, run_id=run.run_id)
        current = self.instance.get_run_by_id(run.run_id)
        assert current is not None and current.status is DagsterRunStatus.STARTED

    def cancel(self, run: DagsterRun) -> None:
        """Cancels a submitted run in the queue, before it ever started."""
        self.instance.report_run_canceled(run)

    def execute_did(self, request: RunRequest) -> ExecuteInProcessResult:
        return self.execute(propagate_new_user_to_trust_services_job, request)

    def execute_proof(self, request: RunRequest) -> ExecuteInProcessResult:
        return self.execute(create_asset_object_proof_job, request)

    def invoke_proof_op(self, request: RunRequest) -> bool:
        """Invokes the proof op directly (fast path for large scans); success?"""
        config = request.run_config["ops"]["create_object_proofs"]["config"]
        return self._invoke(create_object_proofs, ObjectProofBatchConfig(**config))

    def invoke_did_op(self, request: RunRequest) -> bool:
        """Invokes the DID op directly; success?"""
        config = request.run_config["ops"]["create_user_dids"]["config"]
        return self._invoke(create_user_dids, UserDidBatchConfig(**config))

    def _invoke(self, op: OpDefinition, config: Config) -> bool:
        if self._op_context is None:
            self._op_context = build_op_context(
                instance=self.instance,
                resources={
                    "platform_api": self.platform_api,
                    "state_store": self.state_store,
                },
            ).__enter__()
        try:
            op(self._op_context, config)
        except Failure:
            return False
        return True

    def restart(self) -> None:
        """A daemon restart: fresh resource instances, cursors kept."""
        self.close()
        self.keycloak, self.platform_api, self.state_store = self.rebuild()

    def close(self) -> None:
        if self._op_context is not None:
            self._op_context.__exit__(None, None, None)
            self._op_context = None
        self.platform_api.teardown_after_execution(None)
        self.keycloak.teardown_after_execution(None)
        self.state_store.teardown_after_execution(None)
        self.state_store.postgres.dispose()
