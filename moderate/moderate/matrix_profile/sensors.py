"""``matrix_profile_messages_sensor``: analysis requests from RabbitMQ to runs.

A message whose run exists is acked (valid) or dead-lettered (invalid); one
without becomes a run request and stays unacked for the next tick. The full
protocol: docs/matrix-profile.md, "Queue consumption".
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG

from moderate.automation import default_sensor_status
from moderate.matrix_profile.jobs import (
    matrix_profile_job,
    matrix_profile_rejection_job,
)
from moderate.matrix_profile.messages import (
    IGNORED_IMAGE_FIELDS,
    ParsedMessage,
    analysis_run_key,
    dead_letter_id,
    parse_message,
)
from moderate.matrix_profile.tags import FEATURE_TAGS, WORKFLOW_JOB_ID_TAG
from moderate.resources.rabbitmq import RabbitMQResource

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

MESSAGES_SENSOR_NAME = "matrix_profile_messages_sensor"
MESSAGES_SENSOR_INTERVAL_S = 30
MAX_MESSAGES_PER_TICK = 500
MAX_NEW_RUNS_PER_TICK = 50
TICK_DEADLINE_S = 5.0
GET_CHUNK_SIZE = 50
PERSISTENT_DELIVERY_MODE = 2
ANALYSIS_OP = "run_matrix_profile_analysis"
REJECTION_OP = "reject_matrix_profile_request"
HEADER_REASON = "x-moderate-reason"
HEADER_SOURCE_QUEUE = "x-moderate-source-queue"
HEADER_REJECTED_AT = "x-moderate-rejected-at"
HEADER_WORKFLOW_JOB_ID = "x-moderate-workflow-job-id"
HEADER_DEAD_LETTER_ID = "x-moderate-dead-letter-id"
HEADER_ORIGINAL_MESSAGE_ID = "x-moderate-original-message-id"


@dataclass(frozen=True)
class TickLimits:
    """Bounds of one tick: messages taken, run requests made, seconds spent."""

    max_messages: int = MAX_MESSAGES_PER_TICK
    max_new_runs: int = MAX_NEW_RUNS_PER_TICK
    deadline_s: float = TICK_DEADLINE_S


@dataclass(frozen=True)
class _Delivery:
    delivery_tag: int
    body: bytes
    message_id: str | None
    parsed: ParsedMessage

    @property
    def run_key(self) -> str | None:
        job_id = self.parsed.workflow_job_id
        return None if job_id is None else analysis_run_key(job_id)


@dataclass
class TickReport:
    """What one tick did."""

    run_requests: list[RunRequest] = field(default_factory=list)
    taken: int = 0
    acknowledged: int = 0
    dead_lettered: int = 0
    held: int = 0

    def summary(self) -> str:
        """One line for the tick log."""
        return (
            f"took {self.taken} messages: {len(self.run_requests)} new run requests, "
            f"{self.acknowledged} acknowledged (runs exist), "
            f"{self.dead_lettered} dead-lettered, {self.held} left for a later tick"
        )


@sensor(
    name=MESSAGES_SENSOR_NAME,
    jobs=[matrix_profile_job, matrix_profile_rejection_job],
    minimum_interval_seconds=MESSAGES_SENSOR_INTERVAL_S,
    default_status=default_sensor_status(),
    description="Turns analysis requests from the RabbitMQ 'matrix_profile' queue "
    "into matrix_profile_job runs (one per workflow_job_id); invalid messages go "
    "to the dead-letter queue.",
    tags=FEATURE_TAGS,
)
def matrix_profile_messages_sensor(
    context: SensorEvaluationContext, rabbitmq: RabbitMQResource
) -> SensorResult | SkipReason:
    """Consumes one bounded batch of requests."""
    if not rabbitmq.is_configured():
        return SkipReason(rabbitmq.not_configured_reason())
    report = consume_requests(context, rabbitmq, TickLimits())
    context.log.info(report.summary())
    if not report.run_requests:
        return SkipReason(report.summary())
    return SensorResult(run_requests=report.run_requests)


def consume_requests(
    context: SensorEvaluationContext, rabbitmq: RabbitMQResource, limits: TickLimits
) -> TickReport:
    """Takes a bounded batch of messages and applies the ack protocol."""
    report = TickReport()
    requested: set[str] = set()
    deadline = time.monotonic() + limits.deadline_s
    with rabbitmq.channel() as channel:
        RabbitMQResource.declare_durable_queue(channel, rabbitmq.queue)
        RabbitMQResource.declare_durable_queue(channel, rabbitmq.dead_letter_queue)
        channel.tx_select()
        while (
            report.taken < limits.max_messages
            and len(report.run_requests) < limits.max_new_runs
            and time.monotonic() < deadline
        ):
            chunk, drained = _take_chunk(channel, rabbitmq.queue, limits, report)
            keys = [delivery.run_key for delivery in chunk if delivery.run_key]
            existing = existing_run_keys(context.instance, keys)
            for position, delivery in enumerate(chunk):
                key, parsed = delivery.run_key, delivery.parsed
                if key is None or (key in existing and parsed.message is None):
                    _dead_letter(channel, rabbitmq, delivery)
                    report.dead_lettered += 1
                    context.log.warning(f"Dead-lettered a message: {parsed.reason}")
                elif key in existing:
                    channel.basic_ack(delivery_tag=delivery.delivery_tag)
                    report.acknowledged += 1
                else:
                    report.held += 1
                    if key not in requested:
                        requested.add(key)
                        report.run_requests.append(_run_request(context, key, parsed))
                if len(report.run_requests) >= limits.max_new_runs:
                    report.held += len(chunk) - position - 1
                    break
            channel.tx_commit()
            if drained:
                break
    return report


def existing_run_keys(instance: DagsterInstance, run_keys: Iterable[str]) -> set[str]:
    """Run keys among ``run_keys`` whose run this sensor already submitted.

    A ``NOT_STARTED`` run does not count: requested again, Dagster launches it.
    """
    keys = sorted(set(run_keys))
    if not keys:
        return set()
    runs = instance.get_runs(
        filters=RunsFilter(
            tags={RUN_KEY_TAG: keys, SENSOR_NAME_TAG: MESSAGES_SENSOR_NAME}
        )
    )
    return {
        run.tags[RUN_KEY_TAG]
        for run in runs
        if RUN_KEY_TAG in run.tags and run.status != DagsterRunStatus.NOT_STARTED
    }


def _take_chunk(
    channel: "BlockingChannel", queue: str, limits: TickLimits, report: TickReport
) -> tuple[list[_Delivery], bool]:
    """Up to one chunk of deliveries, valid requests first; whether drained."""
    chunk: list[_Delivery] = []
    drained = False
    while len(chunk) < GET_CHUNK_SIZE and report.taken < limits.max_messages:
        method, properties, body = channel.basic_get(queue=queue, auto_ack=False)
        if method is None:
            drained = True
            break
        report.taken += 1
        message_id = properties.message_id if properties is not None else None
        chunk.append(
            _Delivery(method.delivery_tag, body, message_id, parse_message(body))
        )
    chunk.sort(key=lambda delivery: delivery.parsed.message is None)
    return chunk, drained


def _run_request(
    context: SensorEvaluationContext, key: str, parsed: ParsedMessage
) -> RunRequest:
    job_id = parsed.workflow_job_id
    if parsed.message is None:
        context.log.warning(f"Job {job_id}: invalid request ({parsed.reason})")
        job, op = matrix_profile_rejection_job, REJECTION_OP
        config: dict[str, object] = {"workflow_job_id": job_id, "reason": parsed.reason}
    else:
        ignored = sorted(set(parsed.ignored_fields) & set(IGNORED_IMAGE_FIELDS))
        if ignored:
            context.log.warning(
                f"Job {job_id}: ignoring message fields {ignored}; the image "
                "comes from configuration only"
            )
        job, op, config = matrix_profile_job, ANALYSIS_OP, parsed.message.model_dump()
    return RunRequest(
        run_key=key,
        job_name=job.name,
        run_config={"ops": {op: {"config": config}}},
        tags={WORKFLOW_JOB_ID_TAG: str(job_id)},
    )


def _dead_letter(
    channel: "BlockingChannel", rabbitmq: RabbitMQResource, delivery: _Delivery
) -> None:
    """Publishes the body to the dead-letter queue and acks it, in one transaction."""
    import pika

    letter_id = dead_letter_id(delivery.body, delivery.message_id)
    headers: dict[str, object] = {
        HEADER_REASON: delivery.parsed.reason or "invalid message",
        HEADER_SOURCE_QUEUE: rabbitmq.queue,
        HEADER_REJECTED_AT: datetime.now(UTC).isoformat(),
        HEADER_DEAD_LETTER_ID: letter_id,
    }
    if delivery.message_id is not None:
        headers[HEADER_ORIGINAL_MESSAGE_ID] = delivery.message_id
    if delivery.parsed.workflow_job_id is not None:
        headers[HEADER_WORKFLOW_JOB_ID] = delivery.parsed.workflow_job_id
    channel.basic_publish(
        exchange="",
        routing_key=rabbitmq.dead_letter_queue,
        body=delivery.body,
        properties=pika.BasicProperties(
            delivery_mode=PERSISTENT_DELIVERY_MODE,
            message_id=letter_id,
            headers=headers,
        ),
    )
    channel.basic_ack(delivery_tag=delivery.delivery_tag)
