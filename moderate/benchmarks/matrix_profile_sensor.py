"""Throughput of ``matrix_profile_messages_sensor`` as a user sees it.

Run from ``moderate/``: ``python -m benchmarks.matrix_profile_sensor``.

Each repetition runs in a fresh process: it publishes N requests (10 %
duplicates, 5 % malformed) to a fresh queue of the local RabbitMQ, then ticks
the sensor with its default limits, recording the requested runs in an
ephemeral Dagster instance between ticks as the sensor daemon would, until the
queue is empty. No tracer runs while ticks are timed.

The figure a user sees is messages per minute of wall time including the
sensor's 30 s interval: the daemon starts a tick at most every 30 s, so draining
with k ticks takes the sum of ``max(30 s, tick)`` over the first k - 1 ticks
plus the last tick. Tick wall and CPU seconds are printed beside it. Sizes
alternate between repetitions; min and median over the repetitions are shown.
The queues are deleted afterwards.
"""

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from moderate.resources import RabbitMQResource

DEFAULT_MESSAGES = (1_000,)
DEFAULT_REPETITIONS = 3
MAX_TICKS = 1_000
SECONDS_PER_MINUTE = 60
DUPLICATE_SHARE = 0.10
MALFORMED_SHARE = 0.05


def _bodies(count: int, rng: random.Random) -> list[bytes]:
    distinct = int(count * (1 - DUPLICATE_SHARE - MALFORMED_SHARE))
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
    bodies += [rng.choice(bodies) for _ in range(int(count * DUPLICATE_SHARE))]
    bodies += [b"not json"] * (count - len(bodies))
    rng.shuffle(bodies)
    return bodies


def measure(count: int) -> dict[str, float]:
    """One repetition in this process: drains ``count`` messages."""
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
        MESSAGES_SENSOR_INTERVAL_S,
        MESSAGES_SENSOR_NAME,
        matrix_profile_messages_sensor,
    )
    from moderate.resources import RabbitMQResource
    from moderate_tests.support.rabbitmq import RABBIT_URL, unique_queue_name
    from moderate_tests.support.secrets import resource_with_secrets

    rabbitmq = resource_with_secrets(
        RabbitMQResource,
        {"url": RABBIT_URL},
        matrix_profile_queue=unique_queue_name("mp_bench"),
    )
    with rabbitmq.channel() as channel:
        RabbitMQResource.declare_durable_queue(channel, rabbitmq.queue)
        for body in _bodies(count, random.Random(count)):
            channel.basic_publish(exchange="", routing_key=rabbitmq.queue, body=body)
    walls: list[float] = []
    cpus: list[float] = []
    requested = 0
    try:
        with DagsterInstance.ephemeral() as instance:
            for _ in range(MAX_TICKS):
                context = build_sensor_context(
                    instance=instance,
                    resources={"rabbitmq": rabbitmq},
                    sensor_name=MESSAGES_SENSOR_NAME,
                )
                wall_start, cpu_start = time.perf_counter(), time.process_time()
                result = matrix_profile_messages_sensor(context)
                walls.append(time.perf_counter() - wall_start)
                cpus.append(time.process_time() - cpu_start)
                requests = list(
                    result.run_requests or []
                    if isinstance(result, SensorResult)
                    else []
                )
                requested += len(requests)
                for request in requests:
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
                if not requests and _queue_empty(rabbitmq):
                    break
    finally:
        connection = pika.BlockingConnection(pika.URLParameters(RABBIT_URL))
        try:
            channel = connection.channel()
            channel.queue_delete(queue=rabbitmq.queue)
            channel.queue_delete(queue=rabbitmq.dead_letter_queue)
        finally:
            connection.close()
    user_wall_s = sum(max(MESSAGES_SENSOR_INTERVAL_S, w) for w in walls[:-1])
    user_wall_s += walls[-1]
    return {
        "messages": count,
        "runs": requested,
        "ticks": len(walls),
        "tick_median_s": statistics.median(walls),
        "tick_max_s": max(walls),
        "tick_cpu_s": sum(cpus),
        "user_wall_s": user_wall_s,
        "messages_per_minute": count / user_wall_s * SECONDS_PER_MINUTE,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _queue_empty(rabbitmq: "RabbitMQResource") -> bool:
    with rabbitmq.channel() as channel:
        declared = channel.queue_declare(queue=rabbitmq.queue, passive=True)
        return declared.method.message_count == 0


def _fresh_process(count: int) -> dict[str, float]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.matrix_profile_sensor",
            "--child",
            str(count),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _load() -> str:
    one, five, fifteen = (f"{value:.2f}" for value in os.getloadavg())
    return f"load average {one} / {five} / {fifteen}"


def main() -> None:
    """Runs the repetitions (alternating sizes) and prints min and median."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="*", default=DEFAULT_MESSAGES)
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child is not None:
        print(json.dumps(measure(arguments.child)))
        return
    print(f"before: {_load()}")
    rows: dict[int, list[dict[str, float]]] = {n: [] for n in arguments.messages}
    for _ in range(arguments.repetitions):
        for count in arguments.messages:
            rows[count].append(_fresh_process(count))
    print(f"after: {_load()}")
    print(
        f"{'messages':>8} {'runs':>5} {'ticks':>5} {'msg/min (user) min/med':>23} "
        f"{'drain s med':>11} {'tick s med/max':>15} {'tick CPU s med':>14} "
        f"{'RSS MiB':>7}"
    )
    for count, reps in rows.items():

        def median(name: str, reps: list[dict[str, float]] = reps) -> float:
            return statistics.median(rep[name] for rep in reps)

        rate = [rep["messages_per_minute"] for rep in reps]
        longest = max(rep["tick_max_s"] for rep in reps)
        print(
            f"{count:>8} {int(median('runs')):>5} {int(median('ticks')):>5} "
            f"{min(rate):>11.0f} / {statistics.median(rate):<9.0f} "
            f"{median('user_wall_s'):>11.0f} "
            f"{median('tick_median_s'):>7.3f} / {longest:<5.3f} "
            f"{median('tick_cpu_s'):>14.2f} {median('peak_rss_mib'):>7.0f}"
        )


if __name__ == "__main__":
    main()
