"""Settings of the matrix-profile analysis: image, launcher and Kubernetes limits.

The image comes from configuration only (never from a message) and must belong
to an allow-listed repository.
"""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from moderate.matrix_profile.launcher import WorkerLauncher
from moderate.matrix_profile.subprocess_launcher import SubprocessWorkerLauncher
from moderate.resources.settings import EnvBackedResource
from moderate.support.images import ImageNotAllowedError, checked_image

if TYPE_CHECKING:
    import kubernetes

DEFAULT_IMAGE_TAG = "main"
DIGEST_PREFIX = "sha256:"
DEFAULT_NAMESPACE = "default"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_TOKEN_FILE = SERVICE_ACCOUNT_DIR / "token"
IN_CLUSTER_NAMESPACE_FILE = SERVICE_ACCOUNT_DIR / "namespace"
HEALTH_LIST_LIMIT = 1


class LauncherKind(StrEnum):
    """Where the worker runs."""

    AUTO = "auto"
    SUBPROCESS = "subprocess"
    KUBERNETES = "kubernetes"


class MatrixProfileSettings(EnvBackedResource):
    """How and where the matrix-profile worker runs (no secrets: it gets URLs)."""

    SERVICE_NAME = "Matrix-profile analysis"
    ENV_VARS = {
        "image": "MATRIX_PROFILE_JOB_IMAGE",
        "tag": "MATRIX_PROFILE_JOB_TAG",
        "image_allowlist": "MATRIX_PROFILE_IMAGE_ALLOWLIST",
        "launcher": "MATRIX_PROFILE_LAUNCHER",
        "namespace": "MATRIX_PROFILE_K8S_NAMESPACE",
    }
    REQUIRED_FIELDS = ()
    DEFAULTS = {"tag": DEFAULT_IMAGE_TAG, "launcher": LauncherKind.AUTO.value}

    image: str | None = Field(
        default=None, description="Worker image repository ($MATRIX_PROFILE_JOB_IMAGE)."
    )
    tag: str | None = Field(
        default=None, description="Tag or 'sha256:' digest ($MATRIX_PROFILE_JOB_TAG)."
    )
    image_allowlist: str | None = Field(
        default=None,
        description="Allowed repositories ($MATRIX_PROFILE_IMAGE_ALLOWLIST).",
    )
    launcher: str | None = Field(
        default=None,
        description="subprocess, kubernetes, auto ($MATRIX_PROFILE_LAUNCHER).",
    )
    namespace: str | None = Field(
        default=None, description="Jobs' namespace ($MATRIX_PROFILE_K8S_NAMESPACE)."
    )
    cpu_request: str = Field(default="500m", description="Worker CPU request.")
    cpu_limit: str = Field(default="2", description="Worker CPU limit.")
    memory_request: str = Field(default="1Gi", description="Worker memory request.")
    memory_limit: str = Field(default="4Gi", description="Worker memory limit.")
    scratch_size_limit: str = Field(default="1Gi", description="Size of its /tmp.")
    run_as_user: int = Field(default=10001, description="Non-root UID of the worker.")
    ttl_seconds_after_finished: int = Field(
        default=3600, description="Clean-up of Jobs the code could not delete."
    )
    poll_interval_s: float = Field(default=3.0, description="Job status poll (s).")
    unschedulable_grace_s: float = Field(
        default=120.0, description="Seconds a Pod may stay unschedulable."
    )

    def launcher_kind(self, override: str | None = None) -> LauncherKind:
        """The launcher (``override``, else the setting), 'auto' resolved here.

        Raises:
            ValueError: If the value names no known launcher.
        """
        raw = override or self.setting("launcher") or LauncherKind.AUTO.value
        try:
            kind = LauncherKind(raw.strip().lower())
        except ValueError:
            allowed = ", ".join(item.value for item in LauncherKind)
            raise ValueError(
                f"launcher must be one of {allowed} (see {self.ENV_VARS['launcher']})"
            ) from None
        if kind is not LauncherKind.AUTO:
            return kind
        in_cluster = IN_CLUSTER_TOKEN_FILE.exists()
        return LauncherKind.KUBERNETES if in_cluster else LauncherKind.SUBPROCESS

    def image_reference(self) -> str:
        """The worker image as ``repo:tag`` or ``repo@sha256:…``.

        Raises:
            ImageNotAllowedError: An image unset, malformed or not allowed.
        """
        repository = (self.setting("image") or "").strip()
        if not repository:
            raise ImageNotAllowedError(
                f"{self.ENV_VARS['image']} must be set to run the analysis on "
                "Kubernetes"
            )
        listed = (self.setting("image_allowlist") or repository).split(",")
        allowed = tuple(item.strip() for item in listed if item.strip())
        tag = (self.setting("tag") or DEFAULT_IMAGE_TAG).strip()
        separator = "@" if tag.startswith(DIGEST_PREFIX) else ":"
        return checked_image(
            f"{repository}{separator}{tag}",
            allowed,
            f"{self.ENV_VARS['image']} or {self.ENV_VARS['tag']}",
            self.ENV_VARS["image_allowlist"],
        )

    def kubernetes_namespace(self) -> str:
        """Namespace of the analysis Jobs."""
        configured = self.setting("namespace")
        if not configured and IN_CLUSTER_NAMESPACE_FILE.exists():
            configured = IN_CLUSTER_NAMESPACE_FILE.read_text(encoding="utf-8")
        return (configured or DEFAULT_NAMESPACE).strip()

    def kubernetes_api_client(self) -> "kubernetes.client.ApiClient":
        """An API client from the in-cluster service account, else the kubeconfig."""
        from moderate.support.k8s_jobs import api_client

        return api_client()

    def worker_launcher(self, kind: LauncherKind, timeout_s: int) -> WorkerLauncher:
        """The launcher of one analysis (``kind`` resolved, ``timeout_s`` its limit).

        Raises:
            ImageNotAllowedError: For Kubernetes, if the image is not allowed.
        """
        if kind is LauncherKind.SUBPROCESS:
            return SubprocessWorkerLauncher()
        from moderate.matrix_profile.kubernetes_launcher import (
            KubernetesWorkerLauncher,
            WorkerJobSpec,
        )

        spec = WorkerJobSpec(
            image=self.image_reference(),
            namespace=self.kubernetes_namespace(),
            active_deadline_s=timeout_s,
            ttl_seconds_after_finished=self.ttl_seconds_after_finished,
            cpu_request=self.cpu_request,
            cpu_limit=self.cpu_limit,
            memory_request=self.memory_request,
            memory_limit=self.memory_limit,
            scratch_size_limit=self.scratch_size_limit,
            run_as_user=self.run_as_user,
        )
        return KubernetesWorkerLauncher(
            api_client=self.kubernetes_api_client(),
            spec=spec,
            poll_interval_s=self.poll_interval_s,
            unschedulable_grace_s=self.unschedulable_grace_s,
        )

    def _probe(self) -> str:
        kind = self.launcher_kind()
        if kind is not LauncherKind.KUBERNETES:
            return f"launcher {kind.value}"
        import kubernetes

        image = self.image_reference()
        namespace = self.kubernetes_namespace()
        api_client = self.kubernetes_api_client()
        try:
            kubernetes.client.BatchV1Api(api_client).list_namespaced_job(
                namespace, limit=HEALTH_LIST_LIMIT
            )
        finally:
            api_client.close()
        return f"launcher kubernetes, image {image}, Jobs listable in {namespace}"
