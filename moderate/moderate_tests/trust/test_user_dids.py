"""keycloak_user_sensor and propagate_new_user_to_trust_services_job on the doubles."""

from collections import Counter
from datetime import timedelta

import pytest
from dagster import AssetKey, DagsterEventType, SensorResult

from moderate.resources.keycloak import KeycloakResource
from moderate.resources.platform_api import PlatformApiResource
from moderate.state import ItemStatus, StateStore, utc_now
from moderate.trust.ops import propagate_new_user_to_trust_services_job
from moderate.trust.settings import BATCH_TAG, USER_DID_NAMESPACE
from moderate.trust.tasks import DID_PATH
from moderate_tests.doubles import TrustOutcome
from moderate_tests.trust.harness import TrustHarness

FEATURE = "moderate/feature"


def did_requests_for(harness: TrustHarness, username: str) -> int:
    return sum(
        1
        for request in harness.api_double.requests_to(DID_PATH, method="POST")
        if request.json() == {"username": username}
    )


def batch_users(request) -> list[str]:
    return [
        item["key"]
        for item in request.run_config["ops"]["create_user_dids"]["config"]["items"]
    ]


def run_all(harness: TrustHarness, ticks: int) -> list[str]:
    """Ticks and executes every requested run; returns the requested usernames."""
    users: list[str] = []
    for _ in range(ticks):
        outcome = harness.tick(harness.user_sensor())
        for request in outcome.run_requests:
            users += batch_users(request)
            harness.execute_did(request)
    return users


def step_failure_message(result) -> str:
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data.description


def test_new_users_get_one_batch_and_exactly_one_did_request_across_a_restart(
    harness: TrustHarness, store: StateStore
) -> None:
    (request,) = harness.tick(harness.user_sensor()).run_requests
    assert sorted(batch_users(request)) == ["alice", "workflows"]
    assert request.tags[FEATURE] == "trust"
    assert request.tags[BATCH_TAG] in request.run_key
    result = harness.execute_did(request)
    assert result.success
    output = result.output_for_node("create_user_dids")
    assert sorted(output["done"]) == ["alice", "workflows"]

    assert harness.tick(harness.user_sensor()).run_requests == []
    harness.restart()
    after_restart = harness.tick(harness.user_sensor())
    assert after_restart.run_requests == [] and after_restart.duplicates == []

    harness.keycloak_double.add_user("bob")
    assert run_all(harness, ticks=3) == ["bob"]
    harness.restart()
    assert run_all(harness, ticks=2) == []
    for username in ("alice", "bob", "workflows"):
        assert did_requests_for(harness, username) == 1
        record = store.get(USER_DID_NAMESPACE, username)
        assert record is not None and record.status is ItemStatus.DONE
        assert record.value["trust_did"] == harness.api_double.dids()[username]


def test_ten_thousand_new_users_need_at_most_a_hundred_runs(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.keycloak_double.add_users(9_998, prefix="user")  # + alice, workflows
    harness.settings = harness.settings.model_copy(
        update={"max_runs_per_tick": 20, "max_runs_in_flight": 20}
    )  # a deployment with room for 20 runs at once
    requests = []
    for _ in range(200):
        outcome = harness.tick(harness.user_sensor())
        if not outcome.run_requests:
            break
        assert len(outcome.run_requests) <= harness.settings.max_runs_per_tick
        requests += outcome.run_requests
    assert len(requests) <= 100
    covered = Counter(user for request in requests for user in batch_users(request))
    everyone = {user["username"] for user in harness.keycloak_double.users()}
    assert set(covered) == everyone and len(everyone) == 10_000
    assert set(covered.values()) == {1}, "every user exactly once"
    assert store.counts(USER_DID_NAMESPACE)[ItemStatus.PENDING] == 10_000


def test_a_batch_still_queued_is_not_requested_again_past_its_deadline(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.settings = harness.settings.model_copy(update={"pending_timeout_s": 0.0})
    (first,) = harness.tick(harness.user_sensor()).run_requests
    queued = harness.submit(propagate_new_user_to_trust_services_job, first)
    again = harness.tick(harness.user_sensor())
    assert again.run_requests == [], "the queued run still holds its users"
    assert again.result.skip_reason is not None
    harness.start(queued)
    assert harness.tick(harness.user_sensor()).run_requests == [], "nor when started"

    harness.cancel(queued)  # it never started: its users are due again
    (second,) = harness.tick(harness.user_sensor()).run_requests
    assert sorted(batch_users(second)) == sorted(batch_users(first))
    assert second.run_key != first.run_key, "new claims, new fencing tokens"

    stale = harness.execute_did(first)
    assert stale.success
    assert sorted(stale.output_for_node("create_user_dids")["skipped"]) == [
        "alice",
        "workflows",
    ]
    assert did_requests_for(harness, "alice") == 0, "the voided run did nothing"
    assert harness.execute_did(second).success
    assert store.get(USER_DID_NAMESPACE, "alice").status is ItemStatus.DONE


def test_requests_per_tick_respect_the_runs_queued_or_running(
    harness: TrustHarness,
) -> None:
    harness.settings = harness.settings.model_copy(
        update={"batch_size": 3, "max_runs_per_tick": 5, "max_runs_in_flight": 2}
    )
    harness.keycloak_double.add_users(10, prefix="q")
    first = harness.tick(harness.user_sensor()).run_requests
    assert len(first) == 2
    runs = [harness.submit(propagate_new_user_to_trust_services_job, r) for r in first]
    assert harness.tick(harness.user_sensor()).run_requests == [], "queue is full"
    harness.cancel(runs[0])
    assert len(harness.tick(harness.user_sensor()).run_requests) == 1


def test_failing_user_backs_off_and_the_batch_fails_with_one_line(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.keycloak_double.add_users(5, prefix="member")
    harness.api_double.set_did_outcome("alice", TrustOutcome.HTTP_STATUS_ERROR)
    (request,) = harness.tick(harness.user_sensor()).run_requests
    result = harness.execute_did(request)
    assert not result.success
    message = step_failure_message(result)
    assert "\n" not in message
    assert message.startswith("trust.user_did: 1 of 7 items failed; first alice:")
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["item"].value == "alice"
    assert metadata["done_items"].value == 6
    assert "| alice | failed |" in metadata["item_outcomes"].value
    alice = store.get(USER_DID_NAMESPACE, "alice")
    assert alice.status is ItemStatus.FAILED and "HTTPStatusError" in alice.last_error
    assert alice.next_attempt_at > utc_now() + timedelta(minutes=4)

    assert run_all(harness, ticks=2) == [], "alice waits out her backoff"
    store.upsert_many(  # time passes: the backoff is over
        USER_DID_NAMESPACE,
        {"alice": None},
        status=ItemStatus.FAILED,
        last_error=alice.last_error,
        next_attempt_at=utc_now() - timedelta(seconds=1),
    )
    harness.keycloak_double.add_user("zed")
    assert sorted(run_all(harness, ticks=1)) == ["alice", "zed"]
    alice = store.get(USER_DID_NAMESPACE, "alice")
    assert alice.attempts == 2
    assert alice.next_attempt_at > utc_now() + timedelta(minutes=9), "doubled"


def test_an_http_status_reaches_the_failure_metadata(harness: TrustHarness) -> None:
    (request,) = harness.tick(harness.user_sensor()).run_requests
    harness.api_double.trust_configured = False  # Trust routes answer 503
    result = harness.execute_did(request)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert metadata["http_status"].value == 503
    assert "HTTP 503" in step_failure_message(result)


def test_missing_variables_fail_the_run_with_one_line(harness: TrustHarness) -> None:
    (request,) = harness.tick(harness.user_sensor()).run_requests
    harness.platform_api = PlatformApiResource()
    result = harness.execute_did(request)
    assert not result.success
    message = step_failure_message(result)
    assert message.startswith("Platform API is not configured: set API_BASE_URL")
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    metadata = failure.step_failure_data.user_failure_data.metadata
    assert "API_PASSWORD" in metadata["missing_variables"].value


def test_a_run_launched_by_hand_claims_its_users_and_waits_on_backoffs(
    harness: TrustHarness, store: StateStore
) -> None:
    store.mark_failed(
        USER_DID_NAMESPACE, "bob", "transient: x", utc_now() + timedelta(hours=1)
    )
    result = propagate_new_user_to_trust_services_job.execute_in_process(
        run_config={
            "ops": {
                "create_user_dids": {
                    "config": {"items": [{"key": "alice"}, {"key": "bob"}]}
                }
            }
        },
        resources={
            "platform_api": harness.platform_api,
            "state_store": harness.state_store,
        },
        instance=harness.instance,
    )
    assert result.success
    output = result.output_for_node("create_user_dids")
    assert (output["done"], output["waiting"]) == (["alice"], ["bob"])
    assert did_requests_for(harness, "bob") == 0
    logs = [
        e.message
        for e in harness.instance.all_logs(result.run_id)
        if e.dagster_event is None
        or e.dagster_event.event_type is not DagsterEventType.LOGS_CAPTURED
    ]
    assert any("State store: postgresql at " in line for line in logs)


def test_runs_per_tick_are_capped_and_the_scan_resumes_from_the_cursor(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.settings = harness.settings.model_copy(
        update={"batch_size": 7, "max_runs_per_tick": 1, "user_page_size": 5}
    )
    harness.keycloak_double.add_users(18, prefix="u")
    requested: list[str] = []
    for _ in range(4):
        outcome = harness.tick(harness.user_sensor())
        assert len(outcome.run_requests) <= 1
        requested += [u for r in outcome.run_requests for u in batch_users(r)]
    assert sorted(requested) == sorted(
        u["username"] for u in harness.keycloak_double.users()
    )
    assert store.counts(USER_DID_NAMESPACE)[ItemStatus.PENDING] == 20


def test_new_user_between_read_pages_is_found_by_reconciliation(
    harness: TrustHarness,
) -> None:
    harness.settings = harness.settings.model_copy(update={"user_page_size": 2})
    harness.keycloak_double.add_users(6, prefix="m")
    run_all(harness, ticks=1)
    harness.keycloak_double.add_user("aaron")  # sorts before every page read
    assert run_all(harness, ticks=1) == ["aaron"]


def test_tick_reports_counts_as_observation_and_skip_message(
    harness: TrustHarness,
) -> None:
    run_all(harness, ticks=1)
    outcome = harness.tick(harness.user_sensor())
    assert isinstance(outcome.result, SensorResult)
    (observation,) = outcome.result.asset_events
    assert observation.asset_key == AssetKey("keycloak_users_count")
    metadata = {key: value.value for key, value in observation.metadata.items()}
    assert (metadata["users"], metadata["did_done"], metadata["did_failed"]) == (
        2,
        2,
        0,
    )
    assert "did_done=2" in outcome.skip_reason


def test_an_unreadable_cursor_is_reset_with_a_logged_reason(
    harness: TrustHarness, capfd: pytest.CaptureFixture[str]
) -> None:
    sensor = harness.user_sensor()
    harness.cursors[sensor.name] = '{"offset": "not a number"}'
    outcome = harness.tick(sensor)
    assert sorted(u for r in outcome.run_requests for u in batch_users(r)) == [
        "alice",
        "workflows",
    ]
    logged = capfd.readouterr().err
    assert "WARNING - Cursor reset: unreadable UserScanCursor reset" in logged


def test_sensor_skips_with_the_missing_variables_when_unconfigured(
    harness: TrustHarness,
) -> None:
    harness.keycloak = KeycloakResource()
    outcome = harness.tick(harness.user_sensor())
    assert "KEYCLOAK_SERVER_URL" in outcome.skip_reason
    assert outcome.run_requests == []


def test_swapped_user_with_unchanged_count_waits_for_periodic_reconciliation(
    harness: TrustHarness,
) -> None:
    run_all(harness, ticks=1)
    harness.keycloak_double.remove_user("alice")
    harness.keycloak_double.add_user("carol")
    assert run_all(harness, ticks=1) == [], "same count, last pass is recent"
    harness.settings = harness.settings.model_copy(
        update={"full_reconciliation_interval": timedelta(0)}
    )
    assert run_all(harness, ticks=1) == ["carol"]


def test_tick_budget_ends_the_scan_and_the_next_tick_resumes(
    harness: TrustHarness,
) -> None:
    harness.settings = harness.settings.model_copy(
        update={"tick_budget_s": 0.0, "user_page_size": 2}
    )
    harness.keycloak_double.add_users(4, prefix="b")
    seen = [
        sorted(
            u
            for r in harness.tick(harness.user_sensor()).run_requests
            for u in batch_users(r)
        )
        for _ in range(4)
    ]
    assert seen == [["alice", "b0"], ["b1", "b2"], ["b3", "workflows"], []]
