"""``matrix_profile_messages_sensor``: analysis requests from RabbitMQ to runs.

Acknowledgement protocol (no message is ever lost, none is dead-lettered twice):

1. Each tick declares the request queue exactly as the API does (durable, no
   arguments) and the dead-letter queue, puts its channel in AMQP transaction
   mode, then takes a bounded batch with ``basic_get`` and manual acks, within a
   deadline of a few seconds.
2. Every job has one run key, ``mp-<workflow_job_id>``, shared by its analysis
   run and the rejection run of a malformed copy naming it: Dagster starts at
   most one of them, so one job gets exactly one terminal result. Within a
   batch, valid copies are handled before malformed ones.
3. A message whose run already exists in the Dagster instance is acknowledged
   when valid (its request is safely recorded) and dead-lettered when invalid.
4. A message without such a run becomes a run request and stays
   unacknowledged. It returns to the queue when the channel closes at the end
   of the tick, and the next tick finds the run and acknowledges it. Dagster
   skips a run request whose key already has a run, so redeliveries never start
   a second run.
5. An invalid message that names no job is dead-lettered at once: the raw body
   is published to ``<queue>.dead-letter`` with the reason and a stable
   dead-letter id (``message_id`` and a header; a hash of the original message
   id and the body) so a replay can de-duplicate.
6. The publishes and acks of a batch are committed together (``tx.commit``). A
   connection lost before the commit rolls both back: the message returns to
   the queue and no dead-letter copy exists; after the commit both happened.

A tick that fails halfway committed only earlier, complete batches; everything
else returns to the queue. The cursor is not used.
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
    MatrixProfileMessage,
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
    """Bounds of one tick.

    Attributes:
        max_messages: Messages taken from the queue at most.
        max_new_runs: Run requests emitted at most.
        deadline_s: Seconds after which no further message is taken.
    """

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
    """Takes a bounded batch of messages and applies the ack protocol.

    Args:
        context: The tick's context (instance and logger).
        rabbitmq: The broker.
        limits: Bounds of this tick.

    Returns:
        The run requests to emit and counts for the tick log.
    """
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
            existing = existing_run_keys(
                context.instance,
                [key for key in (delivery.run_key for delivery in chunk) if key],
            )
            for position, delivery in enumerate(chunk):
                _handle(
                    context, channel, rabbitmq, delivery, existing, requested, report
                )
                if len(report.run_requests) >= limits.max_new_runs:
                    report.held += len(chunk) - position - 1
                    break
            channel.tx_commit()
            if drained:
                break
    return report


def existing_run_keys(instance: DagsterInstance, run_keys: Iterable[str]) -> set[str]:
    """Run keys among ``run_keys`` whose run this sensor already submitted.

    A run still ``NOT_STARTED`` (created but never submitted, e.g. the daemon
    died in between) does not count: its message is requested again, and
    Dagster then launches that run instead of creating another one.
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


def _handle(
    context: SensorEvaluationContext,
    channel: "BlockingChannel",
    rabbitmq: RabbitMQResource,
    delivery: _Delivery,
    existing: set[str],
    requested: set[str],
    report: TickReport,
) -> None:
    parsed = delivery.parsed
    key = delivery.run_key
    if key is None or (key in existing and parsed.message is None):
        _dead_letter(channel, rabbitmq, delivery)
        report.dead_lettered += 1
        context.log.warning(f"Dead-lettered a message: {parsed.reason}")
        return
    if key in existing:
        channel.basic_ack(delivery_tag=delivery.delivery_tag)
        report.acknowledged += 1
        return
    report.held += 1
    if key in requested:
        return
    requested.add(key)
    report.run_requests.append(_run_request(context, key, parsed))


def _run_request(
    context: SensorEvaluationContext, key: str, parsed: ParsedMessage
) -> RunRequest:
    job_id = parsed.workflow_job_id
    tags = {WORKFLOW_JOB_ID_TAG: str(job_id)}
    message = parsed.message
    if message is None:
        context.log.warning(f"Job {job_id}: invalid request ({parsed.reason})")
        return RunRequest(
            run_key=key,
            job_name=matrix_profile_rejection_job.name,
            run_config={
                "ops": {
                    REJECTION_OP: {
                        "config": {"workflow_job_id": job_id, "reason": parsed.reason}
                    }
                }
            },
            tags=tags,
        )
    ignored_image = [
        name for name in parsed.ignored_fields if name in IGNORED_IMAGE_FIELDS
    ]
    if ignored_image:
        context.log.warning(
            f"Job {job_id}: ignoring message fields {ignored_image}; the image "
            "comes from configuration only"
        )
    return RunRequest(
        run_key=key,
        job_name=matrix_profile_job.name,
        run_config={"ops": {ANALYSIS_OP: {"config": _analysis_config(message)}}},
        tags=tags,
    )


def _analysis_config(message: MatrixProfileMessage) -> dict[str, object]:
    return {
        "workflow_job_id": message.workflow_job_id,
        "analysis_variable": message.analysis_variable,
        "bucket": message.bucket,
        "key": message.key,
    }


def _dead_letter(
    channel: "BlockingChannel", rabbitmq: RabbitMQResource, delivery: _Delivery
) -> None:
    """Publishes the raw body to the dead-letter queue and acks the original.

    Both are part of the batch's transaction: they happen together or not at
    all.
    """
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
