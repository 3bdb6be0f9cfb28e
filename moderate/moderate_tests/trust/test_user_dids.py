"""keycloak_user_sensor and propagate_new_user_to_trust_services_job on the doubles."""

from dataclasses import replace
from datetime import timedelta

from dagster import AssetKey, SensorResult

from moderate.resources.keycloak import KeycloakResource
from moderate.state import ItemStatus, StateStore, utc_now
from moderate.trust.settings import USER_DID_NAMESPACE
from moderate.trust.tasks import DID_PATH
from moderate_tests.doubles import TrustOutcome
from moderate_tests.trust.harness import TrustHarness


def did_requests_for(harness: TrustHarness, username: str) -> int:
    return sum(
        1
        for request in harness.api_double.requests_to(DID_PATH, method="POST")
        if request.json() == {"username": username}
    )


def run_all(harness: TrustHarness, ticks: int) -> list[str]:
    """Ticks and executes every requested run; returns the requested run keys."""
    keys: list[str] = []
    for _ in range(ticks):
        outcome = harness.tick(harness.user_sensor())
        for request in outcome.run_requests:
            keys.append(request.run_key)
            harness.execute_did(request)
    return keys


def test_new_user_gets_exactly_one_did_request_across_ticks_and_a_restart(
    harness: TrustHarness, store: StateStore
) -> None:
    first = harness.tick(harness.user_sensor())
    assert sorted(r.run_key for r in first.run_requests) == [
        "did-alice-1",
        "did-workflows-1",
    ]
    request = next(r for r in first.run_requests if r.tags["trust/username"] == "alice")
    assert request.tags["feature"] == "trust"
    result = harness.execute_did(request)
    assert result.success
    assert result.output_for_node("create_user_did")["trust_did"].startswith("did:")

    again = harness.tick(harness.user_sensor())
    assert again.run_requests == [], "requested users are pending, not asked twice"
    harness.restart()
    after_restart = harness.tick(harness.user_sensor())
    assert after_restart.run_requests == []
    assert [r.run_key for r in after_restart.duplicates] == []

    harness.keycloak_double.add_user("bob")
    later = run_all(harness, ticks=3)
    assert later == ["did-bob-1"]
    harness.restart()
    assert run_all(harness, ticks=2) == []

    for username in ("alice", "bob"):
        assert did_requests_for(harness, username) == 1
        record = store.get(USER_DID_NAMESPACE, username)
        assert record is not None and record.status is ItemStatus.DONE
        assert record.value["trust_did"] == harness.api_double.dids()[username]
    assert did_requests_for(harness, "workflows") == 0, "its run was never executed"


def test_existing_did_is_recorded_without_a_task_and_never_requested_again(
    harness: TrustHarness, store: StateStore
) -> None:
    did = harness.api_double.set_did("alice")
    run_all(harness, ticks=1)
    record = store.get(USER_DID_NAMESPACE, "alice")
    assert record is not None
    assert (record.status, record.value) == (ItemStatus.DONE, {"trust_did": did})
    did_tasks = [t for t in harness.api_double.tasks() if t["kind"] == "did"]
    assert [t["result"]["username"] for t in did_tasks] == ["workflows"]
    assert run_all(harness, ticks=3) == []
    assert did_requests_for(harness, "alice") == 1


def test_failing_user_backs_off_while_others_proceed(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.keycloak_double.add_users(5, prefix="member")
    harness.api_double.set_did_outcome("alice", TrustOutcome.HTTP_STATUS_ERROR)
    keys = run_all(harness, ticks=1)
    assert len(keys) == 7
    alice = store.get(USER_DID_NAMESPACE, "alice")
    assert alice is not None and alice.status is ItemStatus.FAILED
    assert "HTTPStatusError" in alice.last_error
    assert alice.next_attempt_at > utc_now() + timedelta(minutes=4)
    counts = store.counts(USER_DID_NAMESPACE)
    assert (counts[ItemStatus.DONE], counts[ItemStatus.FAILED]) == (6, 1)

    assert run_all(harness, ticks=3) == [], "alice waits out her backoff"

    store.upsert(  # time passes: the backoff is over
        USER_DID_NAMESPACE,
        "alice",
        status=ItemStatus.FAILED,
        last_error=alice.last_error,
        next_attempt_at=utc_now() - timedelta(seconds=1),
    )
    harness.keycloak_double.add_user("zed")
    assert sorted(run_all(harness, ticks=1)) == ["did-alice-2", "did-zed-1"]
    alice = store.get(USER_DID_NAMESPACE, "alice")
    assert alice.status is ItemStatus.FAILED and alice.attempts == 2
    assert alice.next_attempt_at > utc_now() + timedelta(minutes=9), "doubled"
    assert store.get(USER_DID_NAMESPACE, "zed").status is ItemStatus.DONE


def test_a_run_that_never_ran_is_requested_again_with_a_new_key(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.settings = replace(harness.settings, pending_timeout=timedelta(0))
    first = harness.tick(harness.user_sensor())
    assert {r.run_key for r in first.run_requests} == {
        "did-alice-1",
        "did-workflows-1",
    }
    second = harness.tick(harness.user_sensor())  # the runs never launched
    assert {r.run_key for r in second.run_requests} == {
        "did-alice-2",
        "did-workflows-2",
    }
    stale = next(r for r in first.run_requests if r.run_key == "did-alice-1")
    skipped = harness.execute_did(stale)
    assert skipped.success
    assert skipped.output_for_node("create_user_did")["outcome"] == "skipped"
    assert did_requests_for(harness, "alice") == 0
    current = next(r for r in second.run_requests if r.run_key == "did-alice-2")
    assert harness.execute_did(current).success
    assert store.get(USER_DID_NAMESPACE, "alice").status is ItemStatus.DONE


def test_runs_per_tick_are_capped_and_the_scan_resumes_from_the_cursor(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.settings = replace(
        harness.settings, max_did_runs_per_tick=7, user_page_size=5
    )
    harness.keycloak_double.add_users(18, prefix="u")
    requested: list[str] = []
    for _ in range(4):
        outcome = harness.tick(harness.user_sensor())
        assert len(outcome.run_requests) <= 7
        requested += [r.tags["trust/username"] for r in outcome.run_requests]
    assert sorted(requested) == sorted(
        u["username"] for u in harness.keycloak_double.users()
    )
    assert len(requested) == 20
    assert store.counts(USER_DID_NAMESPACE)[ItemStatus.PENDING] == 20


def test_new_user_between_read_pages_is_found_by_reconciliation(
    harness: TrustHarness,
) -> None:
    harness.settings = replace(harness.settings, user_page_size=2)
    harness.keycloak_double.add_users(6, prefix="m")
    run_all(harness, ticks=1)
    harness.keycloak_double.add_user("aaron")  # sorts before every page read
    assert run_all(harness, ticks=1) == ["did-aaron-1"]


def test_tick_reports_counts_as_observation_and_skip_message(
    harness: TrustHarness,
) -> None:
    run_all(harness, ticks=1)
    outcome = harness.tick(harness.user_sensor())
    assert isinstance(outcome.result, SensorResult)
    (observation,) = outcome.result.asset_events
    assert observation.asset_key == AssetKey("keycloak_users_count")
    metadata = {key: value.value for key, value in observation.metadata.items()}
    assert metadata["users"] == 2
    assert metadata["did_done"] == 2
    assert metadata["did_failed"] == 0
    assert "did_done=2" in outcome.skip_reason


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
    harness.settings = replace(
        harness.settings, full_reconciliation_interval=timedelta(0)
    )
    assert run_all(harness, ticks=1) == ["did-carol-1"]


def test_outstanding_runs_are_bounded_so_a_slow_queue_is_not_flooded(
    harness: TrustHarness, store: StateStore
) -> None:
    harness.settings = replace(
        harness.settings, max_did_runs_per_tick=10, max_outstanding_runs=3
    )
    harness.keycloak_double.add_users(3, prefix="q")
    first = harness.tick(harness.user_sensor())
    assert len(first.run_requests) == 3
    assert harness.tick(harness.user_sensor()).run_requests == [], "queue is full"
    for request in first.run_requests:
        assert harness.execute_did(request).success
    second = harness.tick(harness.user_sensor())
    assert len(second.run_requests) == 2
    assert store.counts(USER_DID_NAMESPACE)[ItemStatus.DONE] == 3


def test_tick_budget_ends_the_scan_and_the_next_tick_resumes(
    harness: TrustHarness,
) -> None:
    harness.settings = replace(harness.settings, tick_budget_s=0.0, user_page_size=2)
    harness.keycloak_double.add_users(4, prefix="b")
    seen: list[list[str]] = []
    for _ in range(4):
        outcome = harness.tick(harness.user_sensor())
        seen.append(sorted(r.tags["trust/username"] for r in outcome.run_requests))
    assert seen == [["alice", "b0"], ["b1", "b2"], ["b3", "workflows"], []]
