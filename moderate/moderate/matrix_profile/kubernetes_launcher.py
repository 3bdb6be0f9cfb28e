"""Runs the worker as a Kubernetes Job through dagster-k8s' client.

Lifecycle: create the Job → poll the Job and its Pod (fail fast on image pull,
container config and scheduling problems) → read the Pod log → delete the Job
with foreground propagation. Reading the log and deleting happen in ``finally``
blocks, so a cancelled or interrupted run leaves no Job behind.

API calls stay within the RBAC of CONTRACT §8.3: create/get/list/delete
``jobs``, get/list ``pods`` and get ``pods/log``.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3
from dagster_k8s.client import (
    DagsterK8sAPIRetryLimitExceeded,
    DagsterK8sUnrecoverableAPIError,
    DagsterKubernetesClient,
    k8s_api_retry,
)

from moderate.matrix_profile.k8s_manifest import (
    CONTAINER_NAME,
    JOB_NAME_LABEL,
    WorkerJobSpec,
    build_job,
    job_name,
)
from moderate.matrix_profile.launcher import (
    LogBuffer,
    ShouldStop,
    WorkerCancelledError,
    WorkerRequest,
    WorkerResult,
)

FAIL_FAST_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
UNSCHEDULABLE_REASON = "Unschedulable"
POD_SCHEDULED = "PodScheduled"
JOB_FAILED_CONDITION = "Failed"
DEADLINE_EXCEEDED = "DeadlineExceeded"
CONDITION_TRUE = "True"
CONDITION_FALSE = "False"
FOREGROUND = "Foreground"
HTTP_NOT_FOUND = 404
API_RETRIES = 3
API_RETRY_WAIT_S = 1.0
API_REQUEST_TIMEOUT_S = 30.0
WAIT_GRACE_S = 60.0
LOG_TAIL_LINES = 100_000
NO_LOG_TEXT = "(no Pod log available)"

API_ERRORS = (
    kubernetes.client.ApiException,
    urllib3.exceptions.HTTPError,
    DagsterK8sAPIRetryLimitExceeded,
    DagsterK8sUnrecoverableAPIError,
)

LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Observation:
    exit_code: int | None
    reason: str | None


class KubernetesWorkerLauncher:
    """Runs the worker in a Kubernetes Job and always deletes that Job.

    Args:
        api_client: Kubernetes API client (in-cluster or kubeconfig).
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
        self._timer = timer
        self._k8s = DagsterKubernetesClient(
            batch_api=kubernetes.client.BatchV1Api(api_client),
            core_api=kubernetes.client.CoreV1Api(api_client),
            logger=LOGGER.info,
            sleeper=sleeper,
            timer=timer,
        )

    def run(self, request: WorkerRequest, should_stop: ShouldStop) -> WorkerResult:
        """Creates the Job, waits for it, captures its log and deletes it.

        Raises:
            WorkerCancelledError: When ``should_stop`` turned True (the Job is
                deleted first).
        """
        name = job_name(request.workflow_job_id, request.run_id)
        namespace = self._spec.namespace
        buffer = LogBuffer()
        try:
            try:
                self._k8s.create_namespaced_job_with_retries(
                    build_job(request, self._spec), namespace
                )
                LOGGER.info("Created Kubernetes Job %s/%s", namespace, name)
                observation = self._wait(name, should_stop)
            finally:
                buffer.write(self._capture_log(name))
        finally:
            self._delete(name)
        return WorkerResult(
            exit_code=observation.exit_code,
            reason=observation.reason,
            log=buffer.text(),
        )

    # waiting ------------------------------------------------------------------

    def _wait(self, name: str, should_stop: ShouldStop) -> _Observation:
        deadline = self._timer() + self._spec.active_deadline_s + WAIT_GRACE_S
        unschedulable_since: float | None = None
        while True:
            if should_stop():
                raise WorkerCancelledError(
                    f"the run was cancelled; Kubernetes Job {name} is being deleted"
                )
            job = self._read_job(name)
            if job is None:
                return _Observation(None, "The analysis Job disappeared")
            pods = self._pods(name)
            observation = _job_outcome(job, pods, self._spec.active_deadline_s)
            if observation is not None:
                return observation
            problem = _fail_fast_reason(pods)
            if problem is not None:
                return _Observation(None, problem)
            if _unschedulable(pods):
                unschedulable_since = unschedulable_since or self._timer()
                if self._timer() - unschedulable_since >= self._unschedulable_grace_s:
                    return _Observation(
                        None,
                        "The analysis could not be scheduled in the cluster "
                        f"({_unschedulable_message(pods)})",
                    )
            else:
                unschedulable_since = None
            if self._timer() >= deadline:
                return _Observation(
                    None,
                    "The analysis exceeded its time limit of "
                    f"{self._spec.active_deadline_s} s",
                )
            self._k8s.sleeper(self._poll_interval_s)

    def _read_job(self, name: str) -> kubernetes.client.V1Job | None:
        def read() -> kubernetes.client.V1Job | None:
            try:
                return self._k8s.batch_api.read_namespaced_job(
                    name, self._spec.namespace, _request_timeout=API_REQUEST_TIMEOUT_S
                )
            except kubernetes.client.ApiException as error:
                if error.status == HTTP_NOT_FOUND:
                    return None
                raise

        return k8s_api_retry(read, max_retries=API_RETRIES, timeout=API_RETRY_WAIT_S)

    def _pods(self, name: str) -> list[kubernetes.client.V1Pod]:
        pods = k8s_api_retry(
            lambda: self._k8s.core_api.list_namespaced_pod(
                self._spec.namespace,
                label_selector=f"{JOB_NAME_LABEL}={name}",
                _request_timeout=API_REQUEST_TIMEOUT_S,
            ),
            max_retries=API_RETRIES,
            timeout=API_RETRY_WAIT_S,
        )
        return [
            pod
            for pod in pods.items
            if (pod.metadata.labels or {}).get(JOB_NAME_LABEL) == name
        ]

    # log and clean-up ------------------------------------------------------------

    def _capture_log(self, name: str) -> str:
        """Pod status and log tail; never raises for API trouble."""
        try:
            pods = self._pods(name)
        except API_ERRORS as error:
            return f"Could not list the Pods of Job {name}: {type(error).__name__}\n"
        if not pods:
            return f"Job {name} has no Pod.\n{NO_LOG_TEXT}\n"
        parts: list[str] = []
        for pod in pods:
            parts.append(_describe_pod(pod))
            parts.append(self._pod_log(pod.metadata.name))
        return "\n".join(parts)

    def _pod_log(self, pod_name: str) -> str:
        try:
            text = self._k8s.retrieve_pod_logs(
                pod_name,
                self._spec.namespace,
                container_name=CONTAINER_NAME,
                tail_lines=LOG_TAIL_LINES,
                _request_timeout=API_REQUEST_TIMEOUT_S,
            )
        except API_ERRORS as error:
            LOGGER.warning("No log for Pod %s: %s", pod_name, type(error).__name__)
            return NO_LOG_TEXT + "\n"
        return text if text.endswith("\n") or not text else text + "\n"

    def _delete(self, name: str) -> None:
        """Deletes the Job; foreground propagation removes its Pod first.

        A Job already gone (404) counts as deleted. Other failures are logged,
        not raised, so they never mask the outcome: the Job's TTL and deadline
        still bound its life.
        """
        namespace = self._spec.namespace
        try:
            k8s_api_retry(
                lambda: self._delete_job(name),
                max_retries=API_RETRIES,
                timeout=API_RETRY_WAIT_S,
            )
        except API_ERRORS as error:
            LOGGER.error(
                "Could not delete Kubernetes Job %s/%s (%s); its TTL and deadline "
                "will remove it",
                namespace,
                name,
                type(error).__name__,
            )
            return
        LOGGER.info("Deleted Kubernetes Job %s/%s", namespace, name)

    def _delete_job(self, name: str) -> None:
        try:
            self._k8s.batch_api.delete_namespaced_job(
                name,
                self._spec.namespace,
                body=kubernetes.client.V1DeleteOptions(propagation_policy=FOREGROUND),
                _request_timeout=API_REQUEST_TIMEOUT_S,
            )
        except kubernetes.client.ApiException as error:
            if error.status != HTTP_NOT_FOUND:
                raise


def _job_outcome(
    job: kubernetes.client.V1Job,
    pods: list[kubernetes.client.V1Pod],
    active_deadline_s: int,
) -> _Observation | None:
    status = job.status or kubernetes.client.V1JobStatus()
    if status.succeeded:
        return _Observation(0, None)
    failed_condition = next(
        (
            condition
            for condition in status.conditions or []
            if condition.type == JOB_FAILED_CONDITION
            and condition.status == CONDITION_TRUE
        ),
        None,
    )
    if not status.failed and failed_condition is None:
        return None
    if failed_condition is not None and failed_condition.reason == DEADLINE_EXCEEDED:
        return _Observation(
            None,
            f"The analysis exceeded its time limit of {active_deadline_s} s",
        )
    exit_code = _terminated_exit_code(pods)
    if exit_code is None:
        reason = failed_condition.reason if failed_condition else "unknown reason"
        return _Observation(None, f"The analysis Job failed ({reason})")
    return _Observation(exit_code, None)


def _container_statuses(
    pod: kubernetes.client.V1Pod,
) -> list[kubernetes.client.V1ContainerStatus]:
    status = pod.status
    if status is None:
        return []
    return [*(status.init_container_statuses or []), *(status.container_statuses or [])]


def _terminated_exit_code(pods: list[kubernetes.client.V1Pod]) -> int | None:
    for pod in pods:
        for container in _container_statuses(pod):
            if container.name != CONTAINER_NAME:
                continue
            terminated = container.state.terminated if container.state else None
            if terminated is not None:
                return int(terminated.exit_code)
    return None


def _fail_fast_reason(pods: list[kubernetes.client.V1Pod]) -> str | None:
    for pod in pods:
        for container in _container_statuses(pod):
            waiting = container.state.waiting if container.state else None
            if waiting is not None and waiting.reason in FAIL_FAST_WAITING_REASONS:
                return f"The analysis container could not start ({waiting.reason})"
    return None


def _unschedulable(pods: list[kubernetes.client.V1Pod]) -> bool:
    return any(_unschedulable_condition(pod) is not None for pod in pods)


def _unschedulable_condition(pod: kubernetes.client.V1Pod) -> Any:
    for condition in (pod.status.conditions if pod.status else None) or []:
        if (
            condition.type == POD_SCHEDULED
            and condition.status == CONDITION_FALSE
            and condition.reason == UNSCHEDULABLE_REASON
        ):
            return condition
    return None


def _unschedulable_message(pods: list[kubernetes.client.V1Pod]) -> str:
    for pod in pods:
        condition = _unschedulable_condition(pod)
        if condition is not None:
            return condition.message or UNSCHEDULABLE_REASON
    return UNSCHEDULABLE_REASON


def _describe_pod(pod: kubernetes.client.V1Pod) -> str:
    status = pod.status or kubernetes.client.V1PodStatus()
    lines = [f"Pod {pod.metadata.name}: phase {status.phase or 'unknown'}"]
    for condition in status.conditions or []:
        if condition.status != CONDITION_TRUE:
            lines.append(
                f"  condition {condition.type}={condition.status}"
                f" reason={condition.reason} message={condition.message}"
            )
    for container in _container_statuses(pod):
        state = container.state
        if state is None:
            continue
        if state.waiting is not None:
            lines.append(
                f"  container {container.name} waiting: {state.waiting.reason}"
                f" {state.waiting.message or ''}".rstrip()
            )
        if state.terminated is not None:
            lines.append(
                f"  container {container.name} terminated: exit code "
                f"{state.terminated.exit_code} ({state.terminated.reason})"
            )
    return "\n".join(lines) + "\n"
