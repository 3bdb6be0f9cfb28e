"""Runs one Kubernetes Job to its end on dagster-k8s's client, and always deletes it.

The one Kubernetes lifecycle of the analysis and of the OpenMetadata ingestion:
around the library's create-and-wait, an optional Secret owned by the Job, checks
between its polls (cancellation, unschedulable or misconfigured Pod, failed or
vanished Job), the log read before deletion, and deletion in ``finally``. Why not
``PipesK8sClient`` or ``execute_k8s_job``: docs/matrix-profile.md.
"""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import kubernetes
import urllib3
from dagster_k8s.client import (
    DagsterK8sError,
    DagsterKubernetesClient,
    PatchedApiClient,
    WaitForPodState,
)

RETRIED_BY_THE_LIBRARY = "CreateContainerConfigError"
UNSCHEDULABLE = "Unschedulable"
DEADLINE_EXCEEDED = "DeadlineExceeded"
FOREGROUND = "Foreground"
API_REQUEST_TIMEOUT_S = 30.0
WAIT_GRACE_S = 60.0
LOG_TAIL_LINES = 100_000
NO_LOG_TEXT = "(no Pod log available)"
API_ERRORS = (kubernetes.client.ApiException, urllib3.exceptions.HTTPError)

LOGGER = logging.getLogger(__name__)


class TimeoutApiClient(PatchedApiClient):
    """dagster-k8s's API client with a timeout on every request (it sets none)."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        """Sends one request, bounded by ``API_REQUEST_TIMEOUT_S`` by default."""
        timeout = kwargs.pop("_request_timeout", None) or API_REQUEST_TIMEOUT_S
        return super().request(*args, _request_timeout=timeout, **kwargs)


def api_client(kubeconfig_file: str | None = None) -> TimeoutApiClient:
    """An API client from the in-cluster service account, else the kubeconfig."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(
            config_file=kubeconfig_file, client_configuration=configuration
        )
    return TimeoutApiClient(configuration)


def job_manifest(
    name: str,
    namespace: str,
    labels: Mapping[str, str],
    pod_spec: Mapping[str, Any],
    deadline_s: int,
    ttl_s: int,
) -> dict[str, Any]:
    """A ``batch/v1`` Job running ``pod_spec`` once, with a deadline and a TTL."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": deadline_s,
            "ttlSecondsAfterFinished": ttl_s,
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {**pod_spec, "restartPolicy": "Never"},
            },
        },
    }


class JobCancelledError(RuntimeError):
    """The caller asked to stop while the Job ran; the Job was deleted."""


@dataclass(frozen=True)
class JobOutcome:
    """How the Job ended (``exit_code`` None: the container never exited).

    ``reason`` explains what the exit code does not (start failure, unschedulable,
    deadline, lost Job); ``log`` holds Pod status lines and the log tail.
    """

    exit_code: int | None
    reason: str | None
    log: str
    timed_out: bool = False


class _StopWaitingError(Exception):
    """Ends the library's wait between its polls; without a reason, the status tells."""


class KubernetesJobRunner:
    """Runs a Job (and its optional Secret) once and always deletes both.

    ``subject`` starts every reason (``"The analysis"``); ``unschedulable_grace_s``
    bounds how long a Pod may stay unschedulable.
    """

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        poll_interval_s: float,
        unschedulable_grace_s: float,
        subject: str,
        sleeper: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._namespace = namespace
        self._poll_interval_s = poll_interval_s
        self._unschedulable_grace_s = unschedulable_grace_s
        self._subject = subject
        self._sleeper = sleeper
        self._timer = timer
        self._batch = kubernetes.client.BatchV1Api(api_client)
        self._core = kubernetes.client.CoreV1Api(api_client)

    def run(
        self,
        job: Mapping[str, Any],
        should_stop: Callable[[], bool],
        secret: Mapping[str, Any] | None = None,
    ) -> JobOutcome:
        """Creates the Secret and the Job, waits, captures the log, deletes both.

        ``secret`` is named like the Job, created first and owned by it;
        ``should_stop`` is polled between the library's polls.

        Raises:
            JobCancelledError: When ``should_stop`` turned True (Job deleted first).
        """
        name = job["metadata"]["name"]
        deadline_s = int(job["spec"]["activeDeadlineSeconds"])
        container = job["spec"]["template"]["spec"]["containers"][0]["name"]
        unschedulable_since: list[float] = []

        def check_then_sleep(seconds: float) -> None:
            self._check(name, should_stop, unschedulable_since)
            self._sleeper(seconds)

        k8s = DagsterKubernetesClient(
            self._batch, self._core, LOGGER.info, check_then_sleep, self._timer
        )
        try:
            if secret is not None:
                self._core.create_namespaced_secret(self._namespace, secret)
            try:
                k8s.create_namespaced_job_with_retries(job, self._namespace)
                LOGGER.info("Created Kubernetes Job %s/%s", self._namespace, name)
                if secret is not None:
                    self._adopt_secret(name)
                exit_code, reason = self._wait(k8s, name, deadline_s, container)
            finally:
                log = self._capture_log(k8s, name, container)
        finally:
            self._delete(name, secret is not None)
        return JobOutcome(exit_code, reason, log, reason == self._timeout(deadline_s))

    def _wait(
        self, k8s: DagsterKubernetesClient, name: str, deadline_s: int, container: str
    ) -> tuple[int | None, str | None]:
        start = self._timer()
        timeout = deadline_s + WAIT_GRACE_S
        waits: dict[str, Any] = {
            "wait_timeout": timeout,
            "wait_time_between_attempts": self._poll_interval_s,
            "start_time": start,
        }
        try:
            pod, *_ = k8s.wait_for_job_to_have_pods(name, self._namespace, **waits)
            k8s.wait_for_pod(
                pod.metadata.name,
                self._namespace,
                wait_for_state=WaitForPodState.Terminated,
                pod_launch_timeout=timeout,
                **waits,
            )
            k8s.wait_for_running_job_to_succeed(name, self._namespace, **waits)
        except _StopWaitingError as stop:
            if stop.args:
                return None, str(stop.args[0])
        except (DagsterK8sError, kubernetes.client.ApiException):
            LOGGER.info("Waiting for Kubernetes Job %s failed", name, exc_info=True)
            if self._timer() - start > timeout:  # the library's own timeouts
                return None, self._timeout(deadline_s)
        return self._outcome(name, deadline_s, container)

    def _check(
        self, name: str, should_stop: Callable[[], bool], unschedulable_since: list
    ) -> None:
        """What the library does not watch for, between its polls."""
        if should_stop():
            raise JobCancelledError(
                f"the run was cancelled; Kubernetes Job {name} is being deleted"
            )
        job = self._read_job(name)
        if job is None or _condition(job, "Failed", "True") is not None:
            raise _StopWaitingError()
        for pod in self._pods(name):
            if RETRIED_BY_THE_LIBRARY in _waiting_reasons(pod):
                raise _StopWaitingError(self._start_failure(RETRIED_BY_THE_LIBRARY))
            condition = _condition(pod, "PodScheduled", "False", UNSCHEDULABLE)
            if condition is None:
                unschedulable_since.clear()
                continue
            unschedulable_since[:] = unschedulable_since or [self._timer()]
            if self._timer() - unschedulable_since[0] >= self._unschedulable_grace_s:
                raise _StopWaitingError(
                    f"{self._subject} could not be scheduled in the cluster "
                    f"({condition.message or UNSCHEDULABLE})"
                )

    def _outcome(
        self, name: str, deadline_s: int, container: str
    ) -> tuple[int | None, str | None]:
        """Exit code and reason from the Job and Pod status after the wait."""
        job = self._read_job(name)
        if job is None:
            return None, f"{self._subject} Job disappeared"
        if any(condition.reason == DEADLINE_EXCEEDED for condition in _conditions(job)):
            return None, self._timeout(deadline_s)
        for pod in self._pods(name):
            for status in _container_statuses(pod):
                state = status.state
                if status.name == container and state and state.terminated:
                    return int(state.terminated.exit_code), None
                if state and state.waiting and state.waiting.reason:
                    return None, self._start_failure(state.waiting.reason)
        failed = getattr(_condition(job, "Failed"), "reason", None)
        return None, f"{self._subject} Job failed ({failed or 'unknown reason'})"

    def _timeout(self, deadline_s: int) -> str:
        return f"{self._subject} exceeded its time limit of {deadline_s} s"

    def _start_failure(self, reason: str) -> str:
        return f"{self._subject} container could not start ({reason})"

    def _read_job(self, name: str) -> Any:
        try:
            return self._batch.read_namespaced_job(name, self._namespace)
        except kubernetes.client.ApiException as error:
            if error.status == HTTPStatus.NOT_FOUND:
                return None
            raise

    def _pods(self, name: str) -> list[Any]:
        return self._core.list_namespaced_pod(
            self._namespace, label_selector=f"job-name={name}"
        ).items

    def _adopt_secret(self, name: str) -> None:
        """Makes the Job own its Secret, so the cluster deletes both together."""
        uid = self._batch.read_namespaced_job(name, self._namespace).metadata.uid
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}
        self._core.patch_namespaced_secret(
            name, self._namespace, {"metadata": {"ownerReferences": [owner]}}
        )

    def _capture_log(
        self, k8s: DagsterKubernetesClient, name: str, container: str
    ) -> str:
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
                    self._namespace,
                    container_name=container,
                    tail_lines=LOG_TAIL_LINES,
                )
            except API_ERRORS as error:
                LOGGER.warning("No log for Pod %s: %s", pod.metadata.name, error)
                text = NO_LOG_TEXT
            parts.append(_describe_pod(pod) + text.rstrip("\n") + "\n")
        return "\n".join(parts)

    def _delete(self, name: str, with_secret: bool) -> None:
        """Deletes Job (Pods first) and Secret; errors but 404 are only logged."""
        # Not raised, so they never mask the outcome: TTL, deadline and owner bound.
        deletions = [("Job", self._batch.delete_namespaced_job)]
        if with_secret:
            deletions.append(("Secret", self._core.delete_namespaced_secret))
        for kind, delete in deletions:
            try:
                delete(name, self._namespace, body={"propagationPolicy": FOREGROUND})
            except API_ERRORS as error:
                if getattr(error, "status", None) != HTTPStatus.NOT_FOUND:
                    LOGGER.error("Could not delete %s %s (%s)", kind, name, error)
            else:
                LOGGER.info("Deleted Kubernetes %s %s/%s", kind, self._namespace, name)


def _conditions(item: Any) -> list[Any]:
    return (item.status.conditions if item.status else None) or []


def _condition(item: Any, *wanted: str) -> Any:
    """The first condition whose (type, status, reason) starts with ``wanted``."""
    for c in _conditions(item):
        if (c.type, c.status, c.reason)[: len(wanted)] == wanted:
            return c
    return None


def _waiting_reasons(pod: Any) -> set[str]:
    statuses = _container_statuses(pod)
    return {s.state.waiting.reason for s in statuses if s.state and s.state.waiting}


def _container_statuses(pod: Any) -> list[Any]:
    status = pod.status
    if status is None:
        return []
    return [*(status.init_container_statuses or []), *(status.container_statuses or [])]


def _describe_pod(pod: Any) -> str:
    """One line for the Pod, its unmet conditions and its containers' states."""
    phase = (pod.status.phase if pod.status else None) or "unknown"
    lines = [f"Pod {pod.metadata.name}: phase {phase}"]
    lines += [
        f"  condition {c.type}={c.status} reason={c.reason} message={c.message}"
        for c in _conditions(pod)
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
