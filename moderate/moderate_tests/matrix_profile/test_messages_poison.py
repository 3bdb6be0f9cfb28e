"""Hostile messages against the real broker: poison, connection drops, copies."""

import json
from urllib.parse import urlsplit

import pika
import pytest
from dagster import DagsterInstance
from pika.adapters.blocking_connection import BlockingChannel

from moderate.matrix_profile.jobs import (
    matrix_profile_job,
    matrix_profile_rejection_job,
)
from moderate.matrix_profile.messages import analysis_run_key
from moderate.matrix_profile.sensors import HEADER_DEAD_LETTER_ID, HEADER_REASON
from moderate.resources import RabbitMQResource
from moderate_tests.matrix_profile.jobs_support import FakeWorkerSettings, api_resource
from moderate_tests.matrix_profile.support import (
    drain,
    message,
    publish,
    queue_depth,
    record_runs,
    run_tags,
    tick,
    wait_for_depth,
)
from moderate_tests.matrix_profile.tcp_cut import CuttableRelay
from moderate_tests.support.rabbitmq import RABBIT_URL
from moderate_tests.support.secrets import resource_with_secrets

POISON = [
    b"[" * 200_000,
    b'{"workflow_job_id": ' + b"7" * 5000 + b"}",
    json.dumps(
        {
            "workflow_job_id": 2**63,
            "analysis_variable": "x",
            "bucket": "abc",
            "key": "k",
        }
    ).encode(),
    b'{"workflow_job_id": 3, "analysis_variable": "\\ud800", "bucket": "abc"}',
    b'{"a": ' * 5000 + b"1" + b"}" * 5000,
]
DROPS = 9
AMQP_PORT = 5672
MAX_TICKS = 80


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as dagster_instance:
        yield dagster_instance


def test_poison_is_dead_lettered_while_the_queue_drains(instance, rabbitmq):
    valid_ids = list(range(1, 1001 - len(POISON)))
    bodies = [message(job_id) for job_id in valid_ids]
    for position, poison in enumerate(POISON):
        bodies.insert(position * 150 + 3, poison)
    assert len(bodies) == 1000
    publish(rabbitmq, bodies)

    keys = []
    for _ in range(MAX_TICKS):
        requests = tick(instance, rabbitmq)
        keys += [request.run_key for request in requests]
        record_runs(instance, requests)
        if not requests and wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0:
            break
    assert sorted(keys) == sorted(analysis_run_key(job_id) for job_id in valid_ids)
    assert queue_depth(rabbitmq, rabbitmq.queue) == 0
    dead = drain(rabbitmq, rabbitmq.dead_letter_queue)
    assert sorted(body for body, _ in dead) == sorted(POISON)
    assert all(headers[HEADER_REASON] for _, headers in dead)
    (huge_id,) = [headers for body, headers in dead if body == POISON[2]]
    assert "x-moderate-workflow-job-id" not in huge_id


@pytest.fixture
def relayed_rabbitmq(rabbitmq):
    broker = urlsplit(RABBIT_URL)
    relay = CuttableRelay(broker.hostname, broker.port or AMQP_PORT)
    yield relay, resource_with_secrets(
        RabbitMQResource,
        {"url": relay.relayed_url(RABBIT_URL)},
        matrix_profile_queue=rabbitmq.matrix_profile_queue,
    )
    relay.close()


def test_connection_lost_before_the_ack_leaves_one_dead_letter(
    instance, rabbitmq, relayed_rabbitmq, monkeypatch
):
    relay, relayed = relayed_rabbitmq
    publish(rabbitmq, [b"poison: not json"])
    original_ack = BlockingChannel.basic_ack

    def ack_after_a_drop(channel, *args, **kwargs):
        relay.cut()
        return original_ack(channel, *args, **kwargs)

    monkeypatch.setattr(BlockingChannel, "basic_ack", ack_after_a_drop)
    for _ in range(DROPS):
        with pytest.raises(pika.exceptions.AMQPError):
            tick(instance, relayed)
        assert wait_for_depth(rabbitmq, rabbitmq.queue, 1) == 1
    assert relay.cuts == DROPS
    assert queue_depth(rabbitmq, rabbitmq.dead_letter_queue) == 0

    monkeypatch.undo()
    assert tick(instance, relayed) == []
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0
    (dead,) = drain(rabbitmq, rabbitmq.dead_letter_queue)
    assert dead[0] == b"poison: not json"
    assert dead[1][HEADER_DEAD_LETTER_ID].startswith("mp-dead-letter-")


def _execute(instance, s3, platform_api, request):
    job = {
        matrix_profile_job.name: matrix_profile_job,
        matrix_profile_rejection_job.name: matrix_profile_rejection_job,
    }[request.job_name]
    resources = {"s3": s3, "platform_api": api_resource(platform_api.url)}
    if job is matrix_profile_job:
        resources["matrix_profile"] = FakeWorkerSettings(launcher="subprocess")
    result = job.execute_in_process(
        run_config=request.run_config,
        tags=run_tags(request),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert result.success


def _valid(s3, job_id):
    key = f"alice-assets/load-{job_id}.csv"
    s3.client().put_object(Bucket=s3.data_lake_bucket, Key=key, Body=b"t,ok\n")
    return json.dumps(
        {
            "workflow_job_id": job_id,
            "analysis_variable": "ok",
            "bucket": s3.data_lake_bucket,
            "key": key,
        }
    ).encode()


def _malformed(job_id):
    return json.dumps({"workflow_job_id": job_id, "bucket": "x"}).encode()


def test_one_terminal_patch_per_job(instance, rabbitmq, s3, platform_api):
    same_batch = platform_api.add_job("alice")
    malformed_first = platform_api.add_job("alice")
    publish(rabbitmq, [_malformed(same_batch), _valid(s3, same_batch)])
    publish(rabbitmq, [_malformed(malformed_first)])

    for _ in range(3):
        for request in tick(instance, rabbitmq):
            _execute(instance, s3, platform_api, request)
        publish(rabbitmq, [_valid(s3, malformed_first)])
    assert tick(instance, rabbitmq) == []
    assert wait_for_depth(rabbitmq, rabbitmq.queue, 0) == 0

    for job_id in (same_batch, malformed_first):
        patches = platform_api.requests_to(f"/job/{job_id}", "PATCH")
        assert len(patches) == 1, f"job {job_id} got {len(patches)} terminal PATCHes"
    assert platform_api.get_job(same_batch)["results"]["error"] is None
    rejected = platform_api.get_job(malformed_first)["results"]["error"]
    assert rejected.startswith("The analysis request was rejected")
    dead = drain(rabbitmq, rabbitmq.dead_letter_queue)
    assert sorted(body for body, _ in dead) == sorted(
        [_malformed(same_batch), _malformed(malformed_first)]
    )
