"""``matrix_profile_failure_sensor``: the backstop of the terminal PATCH.

A run that failed, crashed or was cancelled may not have finalised its job (the
failure hook does not run when the run worker dies, and a cancellation can
interrupt anything). This sensor looks at runs of the matrix-profile jobs that
ended in FAILURE or CANCELED since its cursor and PATCHes every job that is
still open with an error. ``GET /job/{id}`` first: finalised jobs are left alone.
"""

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunRecord,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from moderate.automation import default_sensor_status
from moderate.matrix_profile.finalise import (
    WORKFLOW_JOB_ID_TAG,
    broken_run_error,
    finalise_open_job,
)
from moderate.matrix_profile.jobs import (
    matrix_profile_job,
    matrix_profile_rejection_job,
)
from moderate.resources.platform_api import PlatformApiError, PlatformApiResource
from moderate.resources.s3 import S3Resource

FAILURE_SENSOR_NAME = "matrix_profile_failure_sensor"
FAILURE_SENSOR_INTERVAL_S = 60
RUNS_PER_TICK = 20
TICK_BUDGET_S = 20.0
SENSOR_READ_TIMEOUT_S = 10.0
SENSOR_MAX_ATTEMPTS = 3
CURSOR_OVERLAP = timedelta(milliseconds=1)
HTTP_SERVER_ERROR = 500
RETRY_NEXT_TICK_STATUSES = frozenset({401, 403, 408, 429})
BROKEN_STATUSES = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
MONITORED_JOBS = (matrix_profile_job.name, matrix_profile_rejection_job.name)
FAILURE_EVENT_TYPES = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
MAX_EVENT_TEXT_CHARS = 20_000


@dataclass(frozen=True)
class FailureCursor:
    """Where the previous tick stopped.

    Attributes:
        updated_at: ``update_timestamp`` (UTC) of the last handled run.
        run_ids: Runs handled with exactly that timestamp.
    """

    updated_at: datetime | None = None
    run_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> "FailureCursor":
        """Reads a serialised cursor (None or empty = from the beginning)."""
        if not raw:
            return cls()
        payload = json.loads(raw)
        stamp = payload.get("updated_at")
        return cls(
            datetime.fromisoformat(stamp) if stamp else None,
            tuple(payload.get("run_ids", ())),
        )

    def serialise(self) -> str:
        """The JSON form stored by Dagster."""
        return json.dumps(
            {
                "updated_at": self.updated_at.isoformat() if self.updated_at else None,
                "run_ids": list(self.run_ids),
            }
        )

    def after(self, record: RunRecord) -> "FailureCursor":
        """The cursor once ``record`` is handled."""
        stamp = record.update_timestamp.astimezone(UTC)
        if self.updated_at is not None and stamp == self.updated_at:
            return FailureCursor(stamp, (*self.run_ids, record.dagster_run.run_id))
        return FailureCursor(stamp, (record.dagster_run.run_id,))

    def handled(self, record: RunRecord) -> bool:
        """Whether ``record`` was handled by an earlier tick."""
        if self.updated_at is None:
            return False
        stamp = record.update_timestamp.astimezone(UTC)
        return stamp < self.updated_at or (
            stamp == self.updated_at and record.dagster_run.run_id in self.run_ids
        )


@sensor(
    name=FAILURE_SENSOR_NAME,
    minimum_interval_seconds=FAILURE_SENSOR_INTERVAL_S,
    default_status=default_sensor_status(),
    description="Finalises with an error every platform job whose matrix-profile "
    "run failed, crashed or was cancelled without reporting.",
    tags={"feature": "matrix_profile"},
)
def matrix_profile_failure_sensor(
    context: SensorEvaluationContext,
    platform_api: PlatformApiResource,
    s3: S3Resource,
) -> SkipReason:
    """Finalises the jobs of broken runs, oldest first."""
    for resource in (platform_api, s3):
        if not resource.is_configured():
            return SkipReason(resource.not_configured_reason())
    cursor = FailureCursor.parse(context.cursor)
    api = _tick_client(platform_api)
    try:
        cursor, finalised = _finalise_broken_runs(context, api, s3, cursor)
    finally:
        api.teardown_after_execution(context)
    context.update_cursor(cursor.serialise())
    return SkipReason(f"finalised {finalised} job(s) of broken runs")


def _finalise_broken_runs(
    context: SensorEvaluationContext,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    cursor: FailureCursor,
) -> tuple[FailureCursor, int]:
    finalised = 0
    started = time.monotonic()
    for record in broken_runs(context.instance, cursor):
        if time.monotonic() - started > TICK_BUDGET_S:
            break
        try:
            finalised += _finalise_run(context, platform_api, s3, record)
        except (PlatformApiError, requests.RequestException) as error:
            if _transient(error):
                context.log.warning(
                    f"Run {record.dagster_run.run_id}: API unavailable "
                    f"({type(error).__name__}); retrying next tick"
                )
                break
            context.log.error(
                f"Run {record.dagster_run.run_id}: job not finalised ({error})"
            )
        cursor = cursor.after(record)
    return cursor, finalised


def broken_runs(instance: DagsterInstance, cursor: FailureCursor) -> list[RunRecord]:
    """Failed or cancelled runs of the monitored jobs after ``cursor``, oldest first."""
    since = cursor.updated_at - CURSOR_OVERLAP if cursor.updated_at else None
    records: list[RunRecord] = []
    for job_name in MONITORED_JOBS:
        records.extend(
            instance.get_run_records(
                filters=RunsFilter(
                    job_name=job_name,
                    statuses=list(BROKEN_STATUSES),
                    updated_after=since,
                ),
                limit=RUNS_PER_TICK,
                order_by="update_timestamp",
                ascending=True,
            )
        )
    pending = [record for record in records if not cursor.handled(record)]
    pending.sort(
        key=lambda record: (record.update_timestamp, record.dagster_run.run_id)
    )
    return pending[:RUNS_PER_TICK]


def _finalise_run(
    context: SensorEvaluationContext,
    platform_api: PlatformApiResource,
    s3: S3Resource,
    record: RunRecord,
) -> int:
    run = record.dagster_run
    raw_id = run.tags.get(WORKFLOW_JOB_ID_TAG, "")
    if not raw_id.isdigit():
        context.log.info(f"Run {run.run_id} has no workflow job id: skipped")
        return 0
    workflow_job_id = int(raw_id)
    cancelled = run.status == DagsterRunStatus.CANCELED
    events = _failure_events(context.instance, run.run_id)
    log_text = (
        f"Dagster run {run.run_id} ({run.job_name}) ended as {run.status.value}.\n"
        f"Workflow job {workflow_job_id}\n\n{events}"
    )
    if finalise_open_job(
        platform_api, s3, workflow_job_id, broken_run_error(cancelled, None), log_text
    ):
        context.log.info(f"Job {workflow_job_id} finalised after run {run.run_id}")
        return 1
    return 0


def _failure_events(instance: DagsterInstance, run_id: str) -> str:
    texts: list[str] = []
    for entry in instance.all_logs(run_id, of_type=FAILURE_EVENT_TYPES):
        event = entry.dagster_event
        texts.append(event.message if event and event.message else entry.user_message)
        error = (
            event.step_failure_data.error
            if event is not None and event.is_step_failure
            else None
        )
        if error is not None:
            texts.append(error.to_string())
    joined = "\n".join(texts) or "No failure event was recorded.\n"
    return joined[-MAX_EVENT_TEXT_CHARS:]


def _tick_client(platform_api: PlatformApiResource) -> PlatformApiResource:
    """The same account with short timeouts, so a tick stays short."""
    return type(platform_api)(
        base_url=platform_api.base_url,
        username=platform_api.username,
        connect_timeout_s=platform_api.connect_timeout_s,
        read_timeout_s=min(platform_api.read_timeout_s, SENSOR_READ_TIMEOUT_S),
        max_attempts=min(platform_api.max_attempts, SENSOR_MAX_ATTEMPTS),
        retry_base_delay_s=platform_api.retry_base_delay_s,
    )


def _transient(error: Exception) -> bool:
    """Whether the error says nothing about the job: keep it for the next tick.

    Throttling, timeouts and credential or permission problems of the
    pipelines' account are retried like 5xx; only other refusals skip the run.
    """
    if isinstance(error, PlatformApiError):
        return (
            error.status >= HTTP_SERVER_ERROR
            or error.status in RETRY_NEXT_TICK_STATUSES
        )
    return True
