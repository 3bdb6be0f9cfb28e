"""Throughput of ``matrix_profile_messages_sensor`` against the local RabbitMQ.

Run from ``moderate/``: ``python -m benchmarks.matrix_profile_sensor``.
Publishes N requests (10 % duplicates, 5 % malformed) to a fresh queue, then
ticks the sensor with the default limits, recording the requested runs in an
ephemeral Dagster instance between ticks as the sensor daemon would, until the
queue is empty. Prints ticks, tick durations and messages handled per second
of tick time. The queue and its dead-letter queue are deleted afterwards.
"""

import argparse
import json
import random
import statistics
import time

import pika
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    SensorResult,
    build_sensor_context,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.test_utils import create_run_for_test

from moderate.matrix_profile.sensors import (
    MESSAGES_SENSOR_NAME,
    matrix_profile_messages_sensor,
)
from moderate.resources import RabbitMQResource
from moderate_tests.support.rabbitmq import RABBIT_URL, unique_queue_name
from moderate_tests.support.secrets import resource_with_secrets

DEFAULT_MESSAGES = (1_000, 5_000)
MAX_TICKS = 1_000


def _bodies(count: int, rng: random.Random) -> list[bytes]:
    distinct = int(count * 0.85)
    bodies = [
        json.dumps(
            {
                "workflow_job_id": job_id,
                "analysis_variable": "power",
                "bucket": "platform-api",
                "key": f"alice-assets/load-{job_id}.csv",
            }
        ).encode()
        for job_id in range(1, distinct + 1)
    ]
    bodies += [rng.choice(bodies) for _ in range(int(count * 0.10))]
    bodies += [b"not json"] * (count - len(bodies))
    rng.shuffle(bodies)
    return bodies


def _queue_depth(rabbitmq: RabbitMQResource) -> int:
    with rabbitmq.channel() as channel:
        declared = channel.queue_declare(queue=rabbitmq.queue, passive=True)
        return declared.method.message_count


def measure(count: int) -> dict[str, float]:
    rabbitmq = resource_with_secrets(
        RabbitMQResource, {"url": RABBIT_URL}, matrix_profile_queue=unique_queue_name()
    )
    with rabbitmq.channel() as channel:
        RabbitMQResource.declare_durable_queue(channel, rabbitmq.queue)
        for body in _bodies(count, random.Random(count)):
            channel.basic_publish(exchange="", routing_key=rabbitmq.queue, body=body)
    durations: list[float] = []
    requested = 0
    try:
        with DagsterInstance.ephemeral() as instance:
            for _ in range(MAX_TICKS):
                context = build_sensor_context(
                    instance=instance,
                    resources={"rabbitmq": rabbitmq},
                    sensor_name=MESSAGES_SENSOR_NAME,
                )
                started = time.perf_counter()
                result = matrix_profile_messages_sensor(context)
                durations.append(time.perf_counter() - started)
                requests = (
                    result.run_requests if isinstance(result, SensorResult) else []
                )
                requested += len(requests or [])
                for request in requests or []:
                    create_run_for_test(
                        instance,
                        job_name=request.job_name,
                        status=DagsterRunStatus.STARTED,
                        tags={
                            **request.tags,
                            RUN_KEY_TAG: request.run_key,
                            SENSOR_NAME_TAG: MESSAGES_SENSOR_NAME,
                        },
                    )
                if not requests and _queue_depth(rabbitmq) == 0:
                    break
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(RABBIT_URL))
        try:
            channel = connection.channel()
            channel.queue_delete(queue=rabbitmq.queue)
            channel.queue_delete(queue=rabbitmq.dead_letter_queue)
        finally:
            connection.close()
    return {
        "messages": count,
        "runs": requested,
        "ticks": len(durations),
        "tick_median_s": statistics.median(durations),
        "tick_max_s": max(durations),
        "messages_per_tick_second": count / sum(durations),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="*", default=DEFAULT_MESSAGES)
    arguments = parser.parse_args()
    print(
        f"{'messages':>8} {'runs':>6} {'ticks':>6} {'median tick s':>14} "
        f"{'max tick s':>11} {'msg/s of tick':>14}"
    )
    for count in arguments.messages:
        row = measure(count)
        print(
            f"{row['messages']:>8} {row['runs']:>6} {row['ticks']:>6} "
            f"{row['tick_median_s']:>14.3f} {row['tick_max_s']:>11.3f} "
            f"{row['messages_per_tick_second']:>14.0f}"
        )


if __name__ == "__main__":
    main()
