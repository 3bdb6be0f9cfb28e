"""Helpers shared by the matrix_profile tests."""

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    OpExecutionContext,
    Out,
    RunRequest,
    SensorResult,
    build_sensor_context,
    job,
    op,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster._core.test_utils import create_run_for_test

from moderate.matrix_profile.launcher import (
    ShouldStop,
    WorkerLauncher,
    WorkerRequest,
    WorkerResult,
)
from moderate.matrix_profile.sensors import (
    MESSAGES_SENSOR_NAME,
    matrix_profile_messages_sensor,
)
from moderate.resources import RabbitMQResource

COUNT_SETTLE_TIMEOUT_S = 5.0
T = TypeVar("T")


def in_op(body: Callable[[OpExecutionContext], T]) -> T:
    """``body(context)`` run inside a real Dagster op (a Pipes session needs one)."""

    @op(out=Out(Any))  # Dagster cannot type an output by a TypeVar
    def probe_op(context: OpExecutionContext):
        return body(context)

    @job
    def probe() -> None:
        probe_op()

    return probe.execute_in_process().output_for_node("probe_op")


def run_in_op(
    launcher: WorkerLauncher, request: WorkerRequest, should_stop: ShouldStop
) -> WorkerResult:
    """Runs the launcher inside a real Dagster op."""
    return in_op(lambda context: launcher.run(context, request, should_stop))


def publish(rabbitmq: RabbitMQResource, bodies: list[bytes]) -> None:
    """Publishes like the API: default exchange, transient, no properties."""
    with rabbitmq.channel() as channel:
        RabbitMQResource.declare_durable_queue(channel, rabbitmq.queue)
        for body in bodies:
            channel.basic_publish(exchange="", routing_key=rabbitmq.queue, body=body)


def message(job_id: int, **extra: object) -> bytes:
    payload = {
        "workflow_job_id": job_id,
        "analysis_variable": "power",
        "bucket": "platform-api",
        "key": f"alice-assets/load-{job_id}.csv",
        **extra,
    }
    return json.dumps(payload).encode("utf-8")


def queue_depth(rabbitmq: RabbitMQResource, queue: str) -> int:
    with rabbitmq.channel() as channel:
        return channel.queue_declare(queue=queue, passive=True).method.message_count


def wait_for_depth(rabbitmq: RabbitMQResource, queue: str, expected: int) -> int:
    deadline = time.monotonic() + COUNT_SETTLE_TIMEOUT_S
    depth = queue_depth(rabbitmq, queue)
    while depth != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        depth = queue_depth(rabbitmq, queue)
    return depth


def drain(rabbitmq: RabbitMQResource, queue: str) -> list[tuple[bytes, dict]]:
    """Takes (and acks) every message of ``queue``: (body, headers)."""
    taken = []
    with rabbitmq.channel() as channel:
        while True:
            method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((body, dict(properties.headers or {})))


def tick(instance: DagsterInstance, rabbitmq: RabbitMQResource) -> list[RunRequest]:
    context = build_sensor_context(
        instance=instance,
        resources={"rabbitmq": rabbitmq},
        sensor_name=MESSAGES_SENSOR_NAME,
    )
    result = matrix_profile_messages_sensor(context)
    return list(result.run_requests or []) if isinstance(result, SensorResult) else []


def record_runs(
    instance: DagsterInstance,
    requests: list[RunRequest],
    status: DagsterRunStatus = DagsterRunStatus.STARTED,
) -> None:
    """What the sensor daemon does after a tick: one submitted run per request."""
    for request in requests:
        create_run_for_test(
            instance,
            job_name=request.job_name,
            run_config=request.run_config,
            tags=run_tags(request),
            status=status,
        )


def run_tags(request: RunRequest) -> dict[str, str]:
    """The tags the sensor daemon puts on the run of ``request``."""
    return {
        **request.tags,
        RUN_KEY_TAG: request.run_key,
        SENSOR_NAME_TAG: MESSAGES_SENSOR_NAME,
    }
