"""Runs the worker as a Kubernetes Job through dagster-k8s's Job lifecycle.

The library's client creates the Job and waits (its fail-fast on image pulls and
crash loops, its timeouts and retries). Around it: the per-Job Secret with the
presigned URLs, a check between its polls (cancellation, unschedulable or
misconfigured Pod, failed or vanished Job), the log read before deletion, and
deletion of Job and Secret in ``finally``. ``execute_k8s_job`` is not used: it
merges the run's container context (the Helm K8sRunLauncher's ``envSecrets:
dagster-secrets``) into the Job and offers no hook between its 10 s polls.
RBAC: ``deploy/k8s/run-worker-rbac.yaml.template``.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

import kubernetes
import urllib3
from dagster_k8s.client import (
    DagsterK8sError,
    DagsterKubernetesClient,
    PatchedApiClient,
    WaitForPodState,
)

from moderate.matrix_profile.k8s_manifest import (
    CONTAINER_NAME,
    WorkerJobSpec,
    build_job,
    build_secret,
    job_name,
    owner_reference,
)
from moderate.matrix_profile.launcher import (
    LogBuffer,
    ShouldStop,
    WorkerCancelledError,
    WorkerRequest,
    WorkerResult,
)

RETRIED_BY_THE_LIBRARY = "CreateContainerConfigError"
UNSCHEDULABLE = "Unschedulable"
DEADLINE_EXCEEDED = "DeadlineExceeded"
FOREGROUND = "Foreground"
HTTP_NOT_FOUND = 404
API_REQUEST_TIMEOUT_S = 30.0
WAIT_GRACE_S = 60.0
LOG_TAIL_LINES = 100_000
NO_LOG_TEXT = "(no Pod log available)"
JOB_GONE = "The analysis Job disappeared"

API_ERRORS = (kubernetes.client.ApiException, urllib3.exceptions.HTTPError)

LOGGER = logging.getLogger(__name__)


class TimeoutApiClient(PatchedApiClient):
    """dagster-k8s's API client with a request timeout on every call.

    The library's wait loops pass none, so a silent API server would hang them.
    """

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Sends one request, bounded by ``API_REQUEST_TIMEOUT_S`` by default."""
        timeout = kwargs.pop("_request_timeout", None) or API_REQUEST_TIMEOUT_S
        return super().request(*args, _request_timeout=timeout, **kwargs)


class _StopWaitingError(Exception):
    """Raised between the library's polls to end its wait (with a reason)."""


class KubernetesWorkerLauncher:
    """Runs the worker in a Kubernetes Job and always deletes that Job.

    Args:
        api_client: Kubernetes API client (see :class:`TimeoutApiClient`).
        spec: Image, namespace, limits and deadlines of the Job.
        poll_interval_s: Seconds between status polls.
        unschedulable_grace_s: How long a Pod may stay unschedulable.
        sleeper: Sleep function (injectable for tests).
        timer: Monotonic clock (injectable for tests).
    """

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        spec: WorkerJobSpec,
        poll_interval_s: float,
        unschedulable_grace_s: float,
        sleeper: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spec = spec
        self._poll_interval_s = poll_interval_s
        self._unschedulable_grace_s = unschedulable_grace_s
        self._sleeper = sleeper
        self._timer = timer
        self._batch = kubernetes.client.BatchV1Api(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)

    def run(self, request: WorkerRequest, should_stop: ShouldStop) -> WorkerResult:
        """Creates the Secret and the Job, waits, captures the log, deletes both.

        Raises:
            WorkerCancelledError: When ``should_stop`` turned True (the Job is
                deleted first).
        """
        name = job_name(request.workflow_job_id, request.run_id)
        namespace = self._spec.namespace
        buffer = LogBuffer()
        unschedulable_since: list[float] = []

        def check_then_sleep(seconds: float) -> None:
            self._check(name, should_stop, unschedulable_since)
            self._sleeper(seconds)

        k8s = DagsterKubernetesClient(
            self._batch, self._core, LOGGER.info, check_then_sleep, self._timer
        )
        try:
            self._core.create_namespaced_secret(
                namespace, build_secret(request, namespace)
            )
            try:
                k8s.create_namespaced_job_with_retries(
                    build_job(request, self._spec), namespace
                )
                LOGGER.info("Created Kubernetes Job %s/%s", namespace, name)
                self._adopt_secret(name)
                exit_code, reason = self._wait(k8s, name)
            finally:
                buffer.write(self._capture_log(k8s, name))
        finally:
            self._delete(name)
        return WorkerResult(exit_code=exit_code, reason=reason, log=buffer.text())

    def _wait(
        self, k8s: DagsterKubernetesClient, name: str
    ) -> tuple[int | None, str | None]:
        namespace = self._spec.namespace
        start = self._timer()
        timeout = self._spec.active_deadline_s + WAIT_GRACE_S
        waits: dict[str, Any] = {
            "wait_timeout": timeout,
            "wait_time_between_attempts": self._poll_interval_s,
            "start_time": start,
        }
        try:
            pod, *_ = k8s.wait_for_job_to_have_pods(name, namespace, **waits)
            k8s.wait_for_pod(
                pod.metadata.name,
                namespace,
                wait_for_state=WaitForPodState.Terminated,
                pod_launch_timeout=timeout,
                **waits,
            )
            k8s.wait_for_running_job_to_succeed(name, namespace, **waits)
        except _StopWaitingError as stop:
            if stop.args:
                return None, str(stop.args[0])
        except (DagsterK8sError, kubernetes.client.ApiException):
            LOGGER.info("Waiting for Kubernetes Job %s failed", name, exc_info=True)
            if self._timer() - start > timeout:  # the library's own timeouts
                return None, _timeout(self._spec.active_deadline_s)
        return self._outcome(name)

    def _check(
        self, name: str, should_stop: ShouldStop, unschedulable_since: list[float]
    ) -> None:
        """What the library does not watch for, between its polls."""
        if should_stop():
            raise WorkerCancelledError(
                f"the run was cancelled; Kubernetes Job {name} is being deleted"
            )
        job = self._read_job(name)
        if job is None:
            raise _StopWaitingError(JOB_GONE)
        if any(
            condition.type == "Failed" and condition.status == "True"
            for condition in (job.status.conditions if job.status else None) or []
        ):
            raise _StopWaitingError()
        for pod in self._pods(name):
            for container in _container_statuses(pod):
                waiting = container.state.waiting if container.state else None
                if waiting is not None and waiting.reason == RETRIED_BY_THE_LIBRARY:
                    raise _StopWaitingError(_start_failure(waiting.reason))
            condition = _unschedulable_condition(pod)
            if condition is None:
                unschedulable_since.clear()
                continue
            unschedulable_since[:] = unschedulable_since or [self._timer()]
            if self._timer() - unschedulable_since[0] >= self._unschedulable_grace_s:
                raise _StopWaitingError(
                    "The analysis could not be scheduled in the cluster "
                    f"({condition.message or UNSCHEDULABLE})"
                )

    def _outcome(self, name: str) -> tuple[int | None, str | None]:
        """Exit code and reason from the Job and Pod status after the wait."""
        job = self._read_job(name)
        if job is None:
            return None, JOB_GONE
        conditions = (job.status.conditions if job.status else None) or []
        if any(condition.reason == DEADLINE_EXCEEDED for condition in conditions):
            return None, _timeout(self._spec.active_deadline_s)
        for pod in self._pods(name):
            for container in _container_statuses(pod):
                state = container.state
                if container.name == CONTAINER_NAME and state and state.terminated:
                    return int(state.terminated.exit_code), None
                if state and state.waiting and state.waiting.reason:
                    return None, _start_failure(state.waiting.reason)
        failed = next((c.reason for c in conditions if c.type == "Failed"), None)
        return None, f"The analysis Job failed ({failed or 'unknown reason'})"

    def _read_job(self, name: str) -> Any:
        try:
            return self._batch.read_namespaced_job(name, self._spec.namespace)
        except kubernetes.client.ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                return None
            raise

    def _pods(self, name: str) -> list[Any]:
        return self._core.list_namespaced_pod(
            self._spec.namespace, label_selector=f"job-name={name}"
        ).items

    def _adopt_secret(self, name: str) -> None:
        """Makes the Job own its Secret, so the cluster deletes both together."""
        job = self._batch.read_namespaced_job(name, self._spec.namespace)
        reference = owner_reference(name, job.metadata.uid)
        self._core.patch_namespaced_secret(
            name, self._spec.namespace, {"metadata": {"ownerReferences": [reference]}}
        )

    def _capture_log(self, k8s: DagsterKubernetesClient, name: str) -> str:
        """Pod status and log tail; never raises for API trouble."""
        try:
            pods = self._pods(name)
        except API_ERRORS as error:
            return f"Could not list the Pods of Job {name}: {type(error).__name__}\n"
        parts = [] if pods else [f"Job {name} has no Pod.\n{NO_LOG_TEXT}\n"]
        for pod in pods:
            try:
                text = k8s.retrieve_pod_logs(
                    pod.metadata.name,
                    self._spec.namespace,
                    container_name=CONTAINER_NAME,
                    tail_lines=LOG_TAIL_LINES,
                )
            except API_ERRORS as error:
                LOGGER.warning("No log for Pod %s: %s", pod.metadata.name, error)
                text = NO_LOG_TEXT
            parts.append(_describe_pod(pod) + text.rstrip("\n") + "\n")
        return "\n".join(parts)

    def _delete(self, name: str) -> None:
        """Deletes the Job (its Pod first) and the Secret; 404 counts as deleted.

        Failures are logged, not raised, so they never mask the outcome: the
        Job's TTL and deadline still bound its life, and the Secret is owned by
        the Job.
        """
        namespace = self._spec.namespace
        for kind, delete in (
            ("Job", self._batch.delete_namespaced_job),
            ("Secret", self._core.delete_namespaced_secret),
        ):
            try:
                delete(name, namespace, body={"propagationPolicy": FOREGROUND})
            except (
                kubernetes.client.ApiException,
                urllib3.exceptions.HTTPError,
            ) as error:
                if getattr(error, "status", None) != HTTP_NOT_FOUND:
                    LOGGER.error(
                        "Could not delete %s %s/%s (%s)", kind, namespace, name, error
                    )
            else:
                LOGGER.info("Deleted Kubernetes %s %s/%s", kind, namespace, name)


def _timeout(deadline_s: int) -> str:
    return f"The analysis exceeded its time limit of {deadline_s} s"


def _start_failure(reason: str) -> str:
    return f"The analysis container could not start ({reason})"


def _container_statuses(pod: Any) -> list[Any]:
    status = pod.status
    if status is None:
        return []
    return [*(status.init_container_statuses or []), *(status.container_statuses or [])]


def _unschedulable_condition(pod: Any) -> Any:
    for condition in (pod.status.conditions if pod.status else None) or []:
        if (
            condition.type == "PodScheduled"
            and condition.status == "False"
            and condition.reason == UNSCHEDULABLE
        ):
            return condition
    return None


def _describe_pod(pod: Any) -> str:
    status = pod.status or kubernetes.client.V1PodStatus()
    lines = [f"Pod {pod.metadata.name}: phase {status.phase or 'unknown'}"]
    lines += [
        f"  condition {c.type}={c.status} reason={c.reason} message={c.message}"
        for c in status.conditions or []
        if c.status != "True"
    ]
    for container in _container_statuses(pod):
        waiting = container.state.waiting if container.state else None
        ended = container.state.terminated if container.state else None
        prefix = f"  container {container.name}"
        if waiting is not None:
            lines.append(f"{prefix} waiting: {waiting.reason} {waiting.message or ''}")
        if ended is not None:
            lines.append(
                f"{prefix} terminated: exit code {ended.exit_code} ({ended.reason})"
            )
    return "\n".join(line.rstrip() for line in lines) + "\n"
