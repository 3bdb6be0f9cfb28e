"""The Kubernetes Job that runs one analysis.

The Job carries no secret: its only inputs are two presigned URLs (one GET of
the input, one PUT of exactly one report key) and the analysis options. It runs
as a non-root user on a read-only root filesystem with every capability
dropped, a writable ``/tmp`` scratch volume, resource requests and limits, a
deadline and a TTL so the cluster cleans up even if the code location dies.
"""

import re
from dataclasses import dataclass

from kubernetes import client

from moderate.matrix_profile.launcher import WORKER_MODULE, WorkerRequest

APP_LABEL = "app.kubernetes.io/name"
APP_NAME = "moderate-matrix-profile"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "dagster"
WORKFLOW_JOB_ID_LABEL = "moderate/workflow-job-id"
RUN_ID_LABEL = "dagster/run-id"
JOB_NAME_LABEL = "job-name"
CONTAINER_NAME = "worker"
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"
JOB_NAME_PREFIX = "moderate-mp-"
RUN_ID_CHARS_IN_NAME = 8
MAX_NAME_CHARS = 63
DIGEST_SEPARATOR = "@"
PULL_ALWAYS = "Always"
PULL_IF_NOT_PRESENT = "IfNotPresent"
SECCOMP_RUNTIME_DEFAULT = "RuntimeDefault"
PYTHON_EXECUTABLE = "python"
_INVALID_NAME_CHARS = re.compile(r"[^a-z0-9-]")


@dataclass(frozen=True)
class WorkerJobSpec:
    """Cluster-side settings of the analysis Job.

    Attributes:
        image: Full image reference (already checked against the allow-list).
        namespace: Namespace of the Job.
        active_deadline_s: ``activeDeadlineSeconds`` (pull and run included).
        ttl_seconds_after_finished: ``ttlSecondsAfterFinished``.
        cpu_request: CPU request.
        cpu_limit: CPU limit.
        memory_request: Memory request.
        memory_limit: Memory limit.
        scratch_size_limit: Size limit of the ``/tmp`` emptyDir.
        run_as_user: Non-root UID (and GID).
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
    """A DNS-1123 Job name unique per job and run."""
    run_part = _INVALID_NAME_CHARS.sub("", run_id.lower())[:RUN_ID_CHARS_IN_NAME]
    return f"{JOB_NAME_PREFIX}{workflow_job_id}-{run_part}"[:MAX_NAME_CHARS].rstrip("-")


def job_labels(request: WorkerRequest) -> dict[str, str]:
    """Labels of the Job and its Pod, for sweepers and selectors."""
    return {
        APP_LABEL: APP_NAME,
        MANAGED_BY_LABEL: MANAGED_BY,
        WORKFLOW_JOB_ID_LABEL: str(request.workflow_job_id),
        RUN_ID_LABEL: request.run_id,
    }


def build_job(request: WorkerRequest, spec: WorkerJobSpec) -> client.V1Job:
    """The ``batch/v1`` Job of one analysis."""
    name = job_name(request.workflow_job_id, request.run_id)
    labels = job_labels(request)
    container = client.V1Container(
        name=CONTAINER_NAME,
        image=spec.image,
        image_pull_policy=(
            PULL_IF_NOT_PRESENT if DIGEST_SEPARATOR in spec.image else PULL_ALWAYS
        ),
        command=[PYTHON_EXECUTABLE, "-m", WORKER_MODULE],
        args=request.worker_arguments(),
        env=[
            client.V1EnvVar(name="HOME", value=SCRATCH_PATH),
            client.V1EnvVar(name="TMPDIR", value=SCRATCH_PATH),
            client.V1EnvVar(name="MPLCONFIGDIR", value=f"{SCRATCH_PATH}/matplotlib"),
            client.V1EnvVar(name="NUMBA_CACHE_DIR", value=f"{SCRATCH_PATH}/numba"),
            client.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
        ],
        resources=client.V1ResourceRequirements(
            requests={"cpu": spec.cpu_request, "memory": spec.memory_request},
            limits={"cpu": spec.cpu_limit, "memory": spec.memory_limit},
        ),
        security_context=client.V1SecurityContext(
            run_as_non_root=True,
            run_as_user=spec.run_as_user,
            run_as_group=spec.run_as_user,
            read_only_root_filesystem=True,
            allow_privilege_escalation=False,
            privileged=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            seccomp_profile=client.V1SeccompProfile(type=SECCOMP_RUNTIME_DEFAULT),
        ),
        volume_mounts=[
            client.V1VolumeMount(name=SCRATCH_VOLUME, mount_path=SCRATCH_PATH)
        ],
        termination_message_policy="FallbackToLogsOnError",
    )
    pod_spec = client.V1PodSpec(
        containers=[container],
        restart_policy="Never",
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=client.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=spec.run_as_user,
            run_as_group=spec.run_as_user,
            fs_group=spec.run_as_user,
            seccomp_profile=client.V1SeccompProfile(type=SECCOMP_RUNTIME_DEFAULT),
        ),
        volumes=[
            client.V1Volume(
                name=SCRATCH_VOLUME,
                empty_dir=client.V1EmptyDirVolumeSource(
                    size_limit=spec.scratch_size_limit
                ),
            )
        ],
    )
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=name, namespace=spec.namespace, labels=labels
        ),
        spec=client.V1JobSpec(
            backoff_limit=0,
            active_deadline_seconds=spec.active_deadline_s,
            ttl_seconds_after_finished=spec.ttl_seconds_after_finished,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=pod_spec,
            ),
        ),
    )
