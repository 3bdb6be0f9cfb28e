"""Runs the worker as a Kubernetes Job through the shared Job lifecycle.

See :mod:`moderate.support.k8s_jobs` (why not ``PipesK8sClient`` or
``execute_k8s_job``). RBAC: ``deploy/k8s/run-worker-rbac-jobs.yaml.template``.
"""

import time
from collections.abc import Callable

import kubernetes

from moderate.matrix_profile.k8s_manifest import (
    WorkerJobSpec,
    build_job,
    build_secret,
)
from moderate.matrix_profile.launcher import (
    LogBuffer,
    ShouldStop,
    WorkerCancelledError,
    WorkerRequest,
    WorkerResult,
)
from moderate.support.k8s_jobs import JobCancelledError, KubernetesJobRunner

SUBJECT = "The analysis"


class KubernetesWorkerLauncher:
    """Runs the worker in a Kubernetes Job and always deletes that Job.

    Args:
        api_client: Kubernetes API client (see ``moderate.support.k8s_jobs``).
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
        self._runner = KubernetesJobRunner(
            api_client,
            spec.namespace,
            poll_interval_s,
            unschedulable_grace_s,
            SUBJECT,
            sleeper,
            timer,
        )

    def run(self, request: WorkerRequest, should_stop: ShouldStop) -> WorkerResult:
        """Creates the Secret and the Job, waits, captures the log, deletes both.

        Raises:
            WorkerCancelledError: When ``should_stop`` turned True (the Job is
                deleted first).
        """
        job = build_job(request, self._spec)
        secret = build_secret(request, self._spec.namespace)
        try:
            outcome = self._runner.run(job, should_stop, secret)
        except JobCancelledError as cancelled:
            raise WorkerCancelledError(str(cancelled)) from cancelled
        buffer = LogBuffer()
        buffer.write(outcome.log)
        return WorkerResult(outcome.exit_code, outcome.reason, buffer.text())
