"""platform_api_asset_object_sensor and create_asset_object_proof_job on the doubles."""

import threading
import time
from datetime import timedelta

from moderate.state import ItemStatus, StateStore, utc_now
from moderate.trust.ops import (
    ItemState,
    ObjectItem,
    ObjectProofBatchConfig,
    ensure_own_did,
)
from moderate.trust.sensors import NO_HASH_ERROR
from moderate.trust.settings import OBJECT_PROOF_NAMESPACE, USER_DID_NAMESPACE
from moderate.trust.tasks import (
    DID_PATH,
    DID_ROUTE,
    PROOF_PATH,
    PROOF_ROUTE,
    Outcome,
    PollPolicy,
    request_trust,
)
from moderate_tests.doubles import TrustOutcome
from moderate_tests.trust.harness import TrustHarness

BLOCKED_TEXT = "does not have a DID and thus cannot be a proof owner"


def batch_objects(request) -> list[int]:
    items = request.run_config["ops"]["create_object_proofs"]["config"]["items"]
    return [int(item["key"]) for item in items]


def requested_objects(requests) -> set[int]:
    return {object_id for request in requests for object_id in batch_objects(request)}


def drain(harness: TrustHarness, max_ticks: int = 30) -> int:
    """Ticks and invokes every requested proof op until a tick requests nothing."""
    ticks = 0
    while ticks < max_ticks:
        ticks += 1
        outcome = harness.tick(harness.object_sensor())
        if not outcome.run_requests:
            return ticks
        for request in outcome.run_requests:
            harness.invoke_proof_op(request)
    raise AssertionError(f"still requesting runs after {max_ticks} ticks")


def test_objects_that_can_never_be_proven_do_not_starve_the_others(
    harness: TrustHarness, store: StateStore
) -> None:
    api = harness.api_double
    api.task_delay_s = 0.0
    api.set_did("alice")
    carol_asset = api.add_asset("carol's", username="carol")
    alice_asset = api.add_asset("alice's", username="alice")
    ownerless = api.add_asset("datasets", access_level="public")
    hashless = api.add_objects(alice_asset, 25, with_hash=False)
    blocked = api.add_objects(carol_asset, 25)
    good = api.add_objects(alice_asset, 225) + api.add_objects(ownerless, 225)
    assert len(hashless + blocked + good) == 500
    assert max(hashless + blocked) < min(good), "the hopeless ones come first"

    harness.settings = harness.settings.model_copy(update={"batch_size": 25})
    first = harness.tick(harness.object_sensor())
    requested = requested_objects(first.run_requests)
    assert len(first.run_requests) == harness.settings.max_runs_per_tick
    assert (
        len(requested)
        == harness.settings.max_runs_per_tick * harness.settings.batch_size
    )
    assert requested & set(good), "good objects are requested in the first tick"
    assert not requested & set(hashless), "no run for an object without hash"
    for request in first.run_requests:
        harness.invoke_proof_op(request)

    drain(harness)

    proven = {obj["id"] for obj in api.objects() if obj["proof_id"]}
    assert proven == set(good)
    records = store.get_many(OBJECT_PROOF_NAMESPACE, map(str, hashless + blocked))
    assert {record.status for record in records.values()} == {ItemStatus.FAILED}
    for object_id in hashless:
        record = records[str(object_id)]
        assert record.last_error == NO_HASH_ERROR
        assert record.next_attempt_at is None, "permanent"
    for object_id in blocked:
        record = records[str(object_id)]
        assert BLOCKED_TEXT in record.last_error
        assert record.value["blocked_owner"] == "carol"
        assert record.next_attempt_at > utc_now() + timedelta(minutes=50)
    counts = store.counts(OBJECT_PROOF_NAMESPACE)
    assert counts == {
        ItemStatus.DONE: 450,
        ItemStatus.FAILED: 50,
        ItemStatus.PENDING: 0,
    }
    proof_posts = api.requests_to(PROOF_PATH, method="POST")
    assert len(proof_posts) == 475, "one request per provable or blocked object"
    assert api.dids()["workflows"], "the pipelines' own DID came first"

    api.set_did("carol")  # carol's objects are unblocked once her DID is known
    store.upsert_many(USER_DID_NAMESPACE, {"carol": None}, status=ItemStatus.DONE)
    unblocked = harness.tick(harness.object_sensor())
    assert requested_objects(unblocked.run_requests) == set(blocked)
    fences = {
        item["fence"]
        for request in unblocked.run_requests
        for item in request.run_config["ops"]["create_object_proofs"]["config"]["items"]
    }
    assert fences == {2}, "the second claim of each blocked object"


def test_proof_job_runs_in_process_and_records_done(
    harness: TrustHarness, store: StateStore
) -> None:
    api = harness.api_double
    asset = api.add_asset("datasets", access_level="public")
    (object_id,) = api.add_objects(asset, 1)
    (request,) = harness.tick(harness.object_sensor()).run_requests
    assert request.run_key.startswith("proof-batch-")
    assert request.tags["moderate/feature"] == "trust"
    result = harness.execute_proof(request)
    assert result.success
    output = result.output_for_node("create_object_proofs")
    assert output["done"] == [str(object_id)]
    record = store.get(OBJECT_PROOF_NAMESPACE, str(object_id))
    assert record.status is ItemStatus.DONE
    assert record.value["proof_id"] == api.get_object(object_id)["proof_id"]
    (materialization,) = [
        event
        for event in result.all_node_events
        if event.event_type_value == "STEP_OUTPUT"
    ]
    metadata = materialization.step_output_data.metadata
    assert metadata["done_items"].value == 1
    assert harness.tick(harness.object_sensor()).run_requests == []


def test_task_polling_gives_up_with_a_clear_error_after_its_bound(
    harness: TrustHarness, store: StateStore
) -> None:
    api = harness.api_double
    harness.settings = harness.settings.model_copy(update={"poll_timeout_s": 0.3})
    api.set_did("alice")
    asset = api.add_asset("alice's", username="alice")
    (object_id,) = api.add_objects(asset, 1)
    api.set_proof_outcome(object_id, TrustOutcome.NEVER_FINISHES)
    (request,) = harness.tick(harness.object_sensor()).run_requests
    started = time.monotonic()
    result = harness.execute_proof(request)
    assert time.monotonic() - started < 10
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.user_failure_data.description
    assert "did not finish within 0.3 s" in message and "\n" not in message
    record = store.get(OBJECT_PROOF_NAMESPACE, str(object_id))
    assert record.status is ItemStatus.FAILED
    assert "did not finish within 0.3 s" in record.last_error
    assert record.next_attempt_at is not None, "retryable"


def test_lost_did_task_after_api_restart_is_a_retryable_failure(
    harness: TrustHarness,
) -> None:
    api = harness.api_double
    api.task_delay_s = 5.0
    policy = PollPolicy(0.02, 0.05, 0.3)
    client = harness.platform_api.client()
    thread_result = {}

    def ask() -> None:
        thread_result["result"] = request_trust(client, DID_ROUTE, "alice", policy)

    worker = threading.Thread(target=ask)
    worker.start()
    _wait_for(lambda: api.tasks())
    api.simulate_restart()
    worker.join()
    result = thread_result["result"]
    assert result.outcome is Outcome.TRANSIENT
    assert "/user/did/task/" in result.detail


def test_transient_trust_error_backs_off_then_succeeds(
    harness: TrustHarness, store: StateStore
) -> None:
    api = harness.api_double
    api.set_did("alice")
    asset = api.add_asset("alice's", username="alice")
    (object_id,) = api.add_objects(asset, 1)
    api.set_proof_outcome(object_id, TrustOutcome.CONNECT_ERROR, times=1)
    (request,) = harness.tick(harness.object_sensor()).run_requests
    assert not harness.execute_proof(request).success
    record = store.get(OBJECT_PROOF_NAMESPACE, str(object_id))
    assert "ConnectError" in record.last_error
    assert harness.tick(harness.object_sensor()).run_requests == [], "backing off"
    store.upsert_many(  # time passes: the backoff is over
        OBJECT_PROOF_NAMESPACE,
        {str(object_id): None},
        status=ItemStatus.FAILED,
        last_error=record.last_error,
        next_attempt_at=utc_now() - timedelta(seconds=1),
    )
    (retry,) = harness.tick(harness.object_sensor()).run_requests
    assert batch_objects(retry) == [object_id]
    assert retry.run_key != request.run_key
    assert harness.execute_proof(retry).success


def test_proof_created_in_the_meantime_counts_as_success_after_reread(
    harness: TrustHarness,
) -> None:
    api = harness.api_double
    api.task_delay_s = 0.3
    api.set_did("alice")
    asset = api.add_asset("alice's", username="alice")
    (object_id,) = api.add_objects(asset, 1)
    client = harness.platform_api.client()
    outcome = {}

    def ask() -> None:
        outcome["result"] = request_trust(
            client, PROOF_ROUTE, str(object_id), PollPolicy(0.02, 0.05, 5)
        )

    worker = threading.Thread(target=ask)
    worker.start()
    _wait_for(lambda: api.tasks())
    proof_id = api.set_proof(object_id)
    worker.join()
    result = outcome["result"]
    assert result.outcome is Outcome.DONE
    assert result.already_existed
    assert result.value["proof_id"] == proof_id
    assert "created in the meantime" in result.detail


def test_object_sensor_skips_without_platform_api_settings(
    harness: TrustHarness,
) -> None:
    from moderate.resources.platform_api import PlatformApiResource

    harness.platform_api = PlatformApiResource()
    outcome = harness.tick(harness.object_sensor())
    assert "API_BASE_URL" in outcome.skip_reason


def _wait_for(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def own_config() -> ObjectProofBatchConfig:
    return ObjectProofBatchConfig(
        items=[ObjectItem(key="1")],
        poll_initial_interval_s=0.02,
        poll_max_interval_s=0.05,
        poll_timeout_s=5,
    )


def test_concurrent_proof_runs_request_the_own_did_once(
    harness: TrustHarness, store: StateStore
) -> None:
    api = harness.api_double
    api.task_delay_s = 0.3
    runs = 4
    barrier = threading.Barrier(runs)
    results: list[ItemState] = []

    def ensure() -> None:
        client = harness.platform_api.client()
        barrier.wait()
        results.append(ensure_own_did(client, store, own_config()).state)

    workers = [threading.Thread(target=ensure) for _ in range(runs)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    own = harness.platform_api.client().username
    did_posts = [
        request
        for request in api.requests_to(DID_PATH, method="POST")
        if request.json() == {"username": own}
    ]
    assert len(did_posts) == 1, "one DID request for the pipelines' own account"
    assert results.count(ItemState.DONE) == 1
    assert store.get(USER_DID_NAMESPACE, own).status is ItemStatus.DONE
    assert api.dids()[own]


def test_own_did_backs_off_in_the_store_while_trust_is_down(
    harness: TrustHarness, store: StateStore
) -> None:
    api = harness.api_double
    api.trust_configured = False
    client = harness.platform_api.client()
    outcomes = [ensure_own_did(client, store, own_config()) for _ in range(3)]
    own_posts = [
        request
        for request in api.requests_to(DID_PATH, method="POST")
        if request.json() == {"username": client.username}
    ]
    assert len(own_posts) == harness.platform_api.max_attempts, "one call, retried"
    assert [o.state for o in outcomes] == [ItemState.FAILED] + [ItemState.WAITING] * 2
    assert outcomes[0].detail.startswith("transient: ")
    assert outcomes[0].http_status == 503
    assert outcomes[1].detail.startswith("backing off until ")
    record = store.get(USER_DID_NAMESPACE, client.username)
    assert record.status is ItemStatus.FAILED
    assert record.next_attempt_at > utc_now() + timedelta(minutes=4)
