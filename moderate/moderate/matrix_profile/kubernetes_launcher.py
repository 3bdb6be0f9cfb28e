"""The analysis as a Kubernetes Job, run through :mod:`moderate.support.k8s_jobs`.

The presigned URLs sit in a per-Job Secret (``secretKeyRef``), never in the
spec, which carries the Dagster Pipes bootstrap (the worker's messages come back
in its log). The worker runs non-root on a read-only root filesystem, all
capabilities dropped, with a ``/tmp`` scratch volume, limits, a deadline and a
TTL. RBAC: ``deploy/k8s/run-worker-rbac-jobs.yaml.template``.
"""

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kubernetes
from dagster import OpExecutionContext, PipesEnvContextInjector, open_pipes_session

from moderate.matrix_profile.launcher import (
    WORKER_MODULE,
    ShouldStop,
    WorkerCancelledError,
    WorkerRequest,
    WorkerResult,
)
from moderate.matrix_profile.results import truncate_log
from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE
from moderate.support.k8s_jobs import (
    JobCancelledError,
    KubernetesJobRunner,
    job_manifest,
)
from moderate.support.pipes import JobLogMessageReader, custom_message

APP_LABEL = "app.kubernetes.io/name"
APP_NAME = "moderate-matrix-profile"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "dagster"
WORKFLOW_JOB_ID_LABEL = "moderate/workflow-job-id"
RUN_ID_LABEL = "dagster/run-id"
CONTAINER_NAME = "worker"
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"
JOB_NAME_PREFIX = "moderate-mp-"
RUN_ID_CHARS_IN_NAME = 8
MAX_NAME_CHARS = 63
SUBJECT = "The analysis"
_INVALID_NAME_CHARS = re.compile(r"[^a-z0-9-]")


@dataclass(frozen=True)
class WorkerJobSpec:
    """Cluster-side settings of the analysis Job (``image`` already allowed).

    ``active_deadline_s`` covers pull and run; ``run_as_user`` is also the GID.
    """

    image: str
    namespace: str
    active_deadline_s: int
    ttl_seconds_after_finished: int
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str
    scratch_size_limit: str
    run_as_user: int


def job_name(workflow_job_id: int, run_id: str) -> str:
    """A DNS-1123 name unique per job and run (the Job's and its Secret's)."""
    run_part = _INVALID_NAME_CHARS.sub("", run_id.lower())[:RUN_ID_CHARS_IN_NAME]
    return f"{JOB_NAME_PREFIX}{workflow_job_id}-{run_part}"[:MAX_NAME_CHARS].rstrip("-")


def job_labels(request: WorkerRequest) -> dict[str, str]:
    """Labels of the Job, its Pod and its Secret, for sweepers and selectors."""
    return {
        APP_LABEL: APP_NAME,
        MANAGED_BY_LABEL: MANAGED_BY,
        WORKFLOW_JOB_ID_LABEL: str(request.workflow_job_id),
        RUN_ID_LABEL: request.run_id,
    }


def build_secret(request: WorkerRequest, namespace: str) -> dict[str, Any]:
    """The ``v1`` Secret holding the presigned URLs of one analysis."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": job_name(request.workflow_job_id, request.run_id),
            "namespace": namespace,
            "labels": job_labels(request),
        },
        "type": "Opaque",
        "immutable": True,
        "stringData": request.url_environment(),
    }


def build_job(
    request: WorkerRequest, spec: WorkerJobSpec, pipes_env: Mapping[str, str]
) -> dict[str, Any]:
    """The ``batch/v1`` Job of one analysis (``pipes_env``: the Pipes bootstrap)."""
    name = job_name(request.workflow_job_id, request.run_id)
    security = {
        "runAsNonRoot": True,
        "runAsUser": spec.run_as_user,
        "runAsGroup": spec.run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    plain_env = {
        "HOME": SCRATCH_PATH,
        "TMPDIR": SCRATCH_PATH,
        "NUMBA_CACHE_DIR": f"{SCRATCH_PATH}/numba",
        "PYTHONUNBUFFERED": "1",
        **pipes_env,
    }
    env = [{"name": key, "value": value} for key, value in plain_env.items()] + [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": name, "key": key}}}
        for key in request.url_environment()
    ]
    container = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent" if "@" in spec.image else "Always",
        "command": ["python", "-m", WORKER_MODULE],
        "args": request.worker_arguments(),
        "env": env,
        "resources": {
            "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request},
            "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit},
        },
        "securityContext": {
            **security,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": SCRATCH_VOLUME, "mountPath": SCRATCH_PATH}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    scratch = {
        "name": SCRATCH_VOLUME,
        "emptyDir": {"sizeLimit": spec.scratch_size_limit},
    }
    pod_spec = {
        "containers": [container],
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {**security, "fsGroup": spec.run_as_user},
        "volumes": [scratch],
    }
    return job_manifest(
        name,
        spec.namespace,
        job_labels(request),
        pod_spec,
        spec.active_deadline_s,
        spec.ttl_seconds_after_finished,
    )


class KubernetesWorkerLauncher:
    """Runs the worker in a Kubernetes Job and always deletes that Job."""

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

    def run(
        self,
        context: OpExecutionContext,
        request: WorkerRequest,
        should_stop: ShouldStop,
    ) -> WorkerResult:
        """Runs the Secret and the Job, captures the log, deletes both (any end)."""
        reader = JobLogMessageReader()
        secret = build_secret(request, self._spec.namespace)
        with open_pipes_session(
            context=context,
            context_injector=PipesEnvContextInjector(),
            message_reader=reader,
        ) as session:
            job = build_job(request, self._spec, session.get_bootstrap_env_vars())
            try:
                outcome = self._runner.run(job, should_stop, secret)
            except JobCancelledError as cancelled:
                raise WorkerCancelledError(str(cancelled)) from cancelled
            log = reader.read_log(outcome.log)
        summary = custom_message(session.get_custom_messages(), SUMMARY_MESSAGE_TYPE)
        return WorkerResult(
            outcome.exit_code, outcome.reason, truncate_log(log), summary
        )
