"""matrix_profile_messages_sensor against the real local RabbitMQ broker."""

import json
import random

import pika
import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    SkipReason,
    build_sensor_context,
)

from moderate.matrix_profile import sensors
from moderate.matrix_profile.messages import analysis_run_key, dead_letter_id
from moderate.matrix_profile.sensors import (
    HEADER_DEAD_LETTER_ID,
    HEADER_REASON,
    HEADER_SOURCE_QUEUE,
    HEADER_WORKFLOW_JOB_ID,
    MAX_NEW_RUNS_PER_TICK,
    MESSAGES_SENSOR_NAME,
    matrix_profile_messages_sensor,
)
from moderate.resources import RabbitMQResource
from moderate_tests.matrix_profile.support import (
    drain,
    message,
    publish,
    queue_depth,
    record_runs,
    tick,
    wait_for_depth,
)

MALFORMED_WITHOUT_ID = [
    b"not json at all",
    b"\xff\xfe binary",
    b"[1, 2, 3]",
    b'"a string"',
    b"{}",
    b'{"workflow_job_id": "12", "analysis_variable": "x", "bucket": "abc", "key": "k"}',
    b'{"workflow_job_id": true, "analysis_variable": "x", "bucket": "abc", "key": "k"}',
    b'{"workflow_job_id": -4, "analysis_variable": "x", "bucket": "abc", "key": "k"}',
    b'{"analysis_variable": "power", "bucket": "platform-api", "key": "a.csv"}',
    b'{"workflow_job_id": 1.5, "analysis_variable": "x", "bucket": "abc", "key": "k"}',
]


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def _malformed_with_id(job_id: int) -> bytes:
    variants = [
        {"workflow_job_id": job_id, "bucket": "platform-api", "key": "a.csv"},
        {"workflow_job_id": job_id, "analysis_variable": "", "bucket": "b", "key": "k"},
        {"workflow_job_id": job_id, "analysis_variable": 7, "bucket": "abc", "key": 3},
    ]
    return json.dumps(variants[job_id % len(variants)]).encode()


def test_thousand_messages_give_one_run_per_job(instance, rabbitmq):
    rng = random.Random(20261123)
    valid_ids = list(range(1, 601))
    rejected_ids = list(range(10_001, 10_051))
    bodies = [message(job_id) for job_id in valid_ids]
    bodies += [message(rng.choice(valid_ids)) for _ in range(230)]
    bodies += [message(rng.choice(valid_ids), image="evil/miner", tag="x")] * 20
    bodies += [_malformed_with_id(job_id) for job_id in rejected_ids]
    bodies += [MALFORMED_WITHOUT_ID[i % len(MALFORMED_WITHOUT_ID)] for i in range(100)]
    rng.shuffle(bodies)
    assert len(bodies) == 1000
    publish(rabbitmq, bodies)

    requested = []
    for _ in range(60):
        requests = tick(instance, rabbitmq)
        assert len(requests) <= MAX_NEW_RUNS_PER_TICK
        requested.extend(requests)
        record_runs(instance, requests)
        if not requests and wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0:
            break

    keys = [request.run_key for request in requested]
    assert len(keys) == len(set(keys)), "a job got two run requests"
    expected = {analysis_run_key(job_id) for job_id in valid_ids}
    expected |= {analysis_run_key(job_id) for job_id in rejected_ids}
    assert set(keys) == expected
    assert queue_depth(rabbitmq, rabbitmq.queue) == 0

    for request in requested:
        assert "image" not in json.dumps(request.run_config)
        job_id = int(request.tags["moderate/workflow-job-id"])
        if request.job_name == "matrix_profile_job":
            config = request.run_config["ops"]["run_matrix_profile_analysis"]["config"]
            assert config == {
                "workflow_job_id": job_id,
                "analysis_variable": "power",
                "bucket": "platform-api",
                "key": f"alice-assets/load-{job_id}.csv",
            }
        else:
            assert request.job_name == "matrix_profile_rejection_job"
            config = request.run_config["ops"]["reject_matrix_profile_request"]
            assert config["config"]["workflow_job_id"] == job_id
            assert config["config"]["reason"].startswith("invalid fields")

    dead = drain(rabbitmq, rabbitmq.dead_letter_queue)
    assert len(dead) == 150
    dead_bodies = sorted(body for body, _ in dead)
    malformed = [
        MALFORMED_WITHOUT_ID[i % len(MALFORMED_WITHOUT_ID)] for i in range(100)
    ]
    malformed += [_malformed_with_id(job_id) for job_id in rejected_ids]
    assert dead_bodies == sorted(malformed)
    for body, headers in dead:
        assert headers[HEADER_REASON]
        assert headers[HEADER_SOURCE_QUEUE] == rabbitmq.queue
        assert headers[HEADER_DEAD_LETTER_ID] == dead_letter_id(body, None)
        if body in {_malformed_with_id(job_id) for job_id in rejected_ids}:
            assert headers[HEADER_WORKFLOW_JOB_ID] in rejected_ids


def test_tick_that_raises_after_consuming_loses_nothing(
    instance, rabbitmq, monkeypatch
):
    bodies = [message(job_id) for job_id in range(1, 21)] + [b"garbage"] * 3
    publish(rabbitmq, bodies)

    def explode(*_args, **_kwargs):
        raise RuntimeError("instance storage unavailable")

    monkeypatch.setattr(sensors, "existing_run_keys", explode)
    with pytest.raises(RuntimeError, match="instance storage unavailable"):
        tick(instance, rabbitmq)
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 23) == 23
    assert queue_depth(rabbitmq, rabbitmq.dead_letter_queue) == 0

    monkeypatch.undo()
    requests = tick(instance, rabbitmq)
    assert sorted(r.run_key for r in requests) == sorted(
        analysis_run_key(job_id) for job_id in range(1, 21)
    )
    assert wait_for_depth(rabbitmq, rabbitmq.dead_letter_queue, 3) == 3
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 20) == 20


def test_tick_that_raises_midway_keeps_unsafe_messages(instance, rabbitmq, monkeypatch):
    publish(rabbitmq, [b"garbage-1", message(1), message(2), b"garbage-2", message(3)])
    original = sensors._run_request
    calls = []

    def fail_on_second(context, key, parsed):
        calls.append(key)
        if len(calls) == 2:
            raise RuntimeError("crash while building run requests")
        return original(context, key, parsed)

    monkeypatch.setattr(sensors, "_run_request", fail_on_second)
    with pytest.raises(RuntimeError, match="crash while building"):
        tick(instance, rabbitmq)
    queued = wait_for_depth(rabbitmq, rabbitmq.queue, 5)
    dead = queue_depth(rabbitmq, rabbitmq.dead_letter_queue)
    assert (queued, dead) == (5, 0), "the unfinished batch is rolled back whole"

    monkeypatch.undo()
    requests = tick(instance, rabbitmq)
    assert sorted(r.run_key for r in requests) == ["mp-1", "mp-2", "mp-3"]
    record_runs(instance, requests)
    assert tick(instance, rabbitmq) == []
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0
    assert sorted(body for body, _ in drain(rabbitmq, rabbitmq.dead_letter_queue)) == [
        b"garbage-1",
        b"garbage-2",
    ]


def test_redelivery_after_the_run_exists_is_acknowledged(instance, rabbitmq):
    publish(rabbitmq, [message(7)])
    first = tick(instance, rabbitmq)
    assert [r.run_key for r in first] == ["mp-7"]
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 1) == 1

    again = tick(instance, rabbitmq)
    assert [r.run_key for r in again] == ["mp-7"], "held until the run exists"
    record_runs(instance, first)
    assert tick(instance, rabbitmq) == []
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0

    publish(rabbitmq, [message(7)])
    assert tick(instance, rabbitmq) == []
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0


def test_run_created_but_never_submitted_is_requested_again(instance, rabbitmq):
    publish(rabbitmq, [message(8)])
    first = tick(instance, rabbitmq)
    record_runs(instance, first, status=DagsterRunStatus.NOT_STARTED)
    assert [r.run_key for r in tick(instance, rabbitmq)] == ["mp-8"]
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 1) == 1


def test_sensor_declares_the_queue_like_the_api(instance, rabbitmq):
    assert tick(instance, rabbitmq) == []
    with rabbitmq.channel() as channel:
        for queue in (rabbitmq.queue, rabbitmq.dead_letter_queue):
            RabbitMQResource.declare_durable_queue(channel, queue)
    with (
        rabbitmq.channel() as channel,
        pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused,
    ):
        channel.queue_declare(
            queue=rabbitmq.queue,
            durable=True,
            arguments={"x-dead-letter-exchange": "dlx"},
        )
    assert refused.value.reply_code == 406


def test_queue_declared_by_the_api_first_is_accepted(instance, rabbitmq):
    publish(rabbitmq, [message(3)])
    assert [r.run_key for r in tick(instance, rabbitmq)] == ["mp-3"]


def test_message_image_fields_are_never_used(instance, rabbitmq):
    publish(rabbitmq, [message(5, image="attacker/image", tag="latest")])
    (request,) = tick(instance, rabbitmq)
    assert "attacker" not in json.dumps(request.run_config)
    assert "attacker" not in json.dumps(dict(request.tags))


def test_sensor_skips_without_broker_settings(instance):
    context = build_sensor_context(
        instance=instance,
        resources={"rabbitmq": RabbitMQResource()},
        sensor_name=MESSAGES_SENSOR_NAME,
    )
    result = matrix_profile_messages_sensor(context)
    assert isinstance(result, SkipReason)
    assert "RABBIT_URL" in result.skip_message


def _consume(instance, rabbitmq, limits):
    context = build_sensor_context(
        instance=instance,
        resources={"rabbitmq": rabbitmq},
        sensor_name=MESSAGES_SENSOR_NAME,
    )
    return sensors.consume_requests(context, rabbitmq, limits)


def test_tick_respects_its_limits(instance, rabbitmq):
    publish(rabbitmq, [message(job_id) for job_id in range(1, 31)])
    report = _consume(
        instance, rabbitmq, sensors.TickLimits(max_messages=10, max_new_runs=5)
    )
    assert len(report.run_requests) == 5
    assert report.taken <= 10
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 30) == 30

    report = _consume(instance, rabbitmq, sensors.TickLimits(max_messages=7))
    assert (report.taken, len(report.run_requests)) == (7, 7)

    report = _consume(instance, rabbitmq, sensors.TickLimits(deadline_s=0.0))
    assert (report.taken, report.run_requests) == (0, [])
