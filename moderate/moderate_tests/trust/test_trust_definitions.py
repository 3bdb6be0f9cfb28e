"""The trust definitions: names, intervals, default status and the asset."""

from pathlib import Path

import pytest
import yaml
from dagster import DefaultSensorStatus, materialize

from moderate.definitions import defs
from moderate.state import ItemStatus
from moderate.trust.definitions import keycloak_users_count
from moderate.trust.sensors import (
    build_keycloak_user_sensor,
    build_platform_api_asset_object_sensor,
)
from moderate.trust.settings import DEFAULT_TRUST_SETTINGS, USER_DID_NAMESPACE
from moderate_tests.trust.harness import TrustHarness

VALUES_TEMPLATE = Path(__file__).parents[3] / "values-dagster.yaml.template"


def test_names_and_intervals_match_the_contract() -> None:
    repository = defs.get_repository_def()
    for name in ("keycloak_user_sensor", "platform_api_asset_object_sensor"):
        sensor = repository.get_sensor_def(name)
        assert sensor.minimum_interval_seconds == 300
        assert sensor.description and sensor.tags["moderate/feature"] == "trust"
    user_sensor = repository.get_sensor_def("keycloak_user_sensor")
    assert user_sensor.job_name == "propagate_new_user_to_trust_services_job"
    object_sensor = repository.get_sensor_def("platform_api_asset_object_sensor")
    assert object_sensor.job_name == "create_asset_object_proof_job"
    for name in (
        "propagate_new_user_to_trust_services_job",
        "create_asset_object_proof_job",
    ):
        job = repository.get_job(name)
        assert job.description and job.tags["moderate/feature"] == "trust"
    asset = repository.asset_graph.get(keycloak_users_count.key)
    assert asset.group_name == "trust"
    assert asset.tags["moderate/feature"] == "trust"


def test_trust_runs_fit_the_deployments_run_concurrency() -> None:
    values = yaml.safe_load(VALUES_TEMPLATE.read_text())
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]
    limit = coordinator["queuedRunCoordinator"]["maxConcurrentRuns"]
    flows = 2  # DIDs and proofs
    assert flows * DEFAULT_TRUST_SETTINGS.max_runs_in_flight <= limit
    assert DEFAULT_TRUST_SETTINGS.max_runs_per_tick <= limit


@pytest.mark.parametrize(
    ("value", "status"),
    [("RUNNING", DefaultSensorStatus.RUNNING), (None, DefaultSensorStatus.STOPPED)],
)
def test_sensors_start_running_by_default_when_configured(
    monkeypatch: pytest.MonkeyPatch, value: str | None, status: DefaultSensorStatus
) -> None:
    if value is None:
        monkeypatch.delenv("MODERATE_AUTOMATION_DEFAULT_STATUS", raising=False)
    else:
        monkeypatch.setenv("MODERATE_AUTOMATION_DEFAULT_STATUS", value)
    assert build_keycloak_user_sensor().default_status is status
    assert build_platform_api_asset_object_sensor().default_status is status


def test_keycloak_users_count_records_users_and_did_states(
    harness: TrustHarness,
) -> None:
    harness.keycloak_double.add_users(3, prefix="x")
    harness.store.mark_done(USER_DID_NAMESPACE, "alice")
    harness.store.mark_failed(USER_DID_NAMESPACE, "x0", "boom", None)
    result = materialize(
        [keycloak_users_count],
        resources={"keycloak": harness.keycloak, "state_store": harness.state_store},
        instance=harness.instance,
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    metadata = {
        key: value.value for key, value in event.materialization.metadata.items()
    }
    assert metadata["users"] == 5
    assert metadata[f"did_{ItemStatus.DONE.value}"] == 1
    assert metadata[f"did_{ItemStatus.FAILED.value}"] == 1
    assert metadata["did_pending"] == 0
    assert metadata["users_not_yet_seen"] == 3
