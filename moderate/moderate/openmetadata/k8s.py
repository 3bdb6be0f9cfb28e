"""Kubernetes implementation of the workflow runner (the ingestion image as a pod)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import OpExecutionContext

from moderate.openmetadata.runners import (
    RUNNER_ARGUMENTS,
    WorkflowOutcome,
    summary_from_messages,
)
from moderate.openmetadata.workflows import WorkflowRequest

POD_START_ALLOWANCE_S = 600
DEFAULT_POLL_INTERVAL_S = 5.0
STATUS_VIA_PIPES = "--status-via-pipes"
"""The pod always exits 0 after reporting: ``PipesK8sClient`` raises on a failed pod
and the workflow's own summary would be lost; a failed pod then means a crash or
the deadline."""
COMPONENT_LABEL = "moderate-openmetadata-ingestion"


@dataclass(frozen=True)
class KubernetesWorkflowRunner:
    """Runs the workflow in the ingestion image as a pod next to the run.

    Secrets come from a Kubernetes secret (``secretKeyRef``), never from the pod
    spec. Kubernetes kills the pod at ``activeDeadlineSeconds``; the pod is always
    deleted afterwards.

    Attributes:
        image: Ingestion image with tag or digest.
        python: Interpreter of the ingestion environment in the image.
        script: Runner entry point in the image.
        timeout_s: Time limit of one workflow.
        line: Release line (``major.minor``) of the package in the image.
        secret_name: Kubernetes secret holding the variables of CONTRACT §8.1.
        namespace: Namespace of the pod; None for the run's own namespace.
        service_account: Service account of the pod; None for the default.
        load_incluster_config: Use the in-cluster configuration (else kubeconfig).
        kubeconfig_file: Kubeconfig to use outside the cluster (None: default).
        poll_interval_s: Seconds between pod status polls.
    """

    image: str
    python: str
    script: str
    timeout_s: int
    line: str
    secret_name: str
    namespace: str | None = None
    service_account: str | None = None
    load_incluster_config: bool = True
    kubeconfig_file: str | None = None
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S

    def version_line(self) -> str:
        """The configured line of the image's ingestion package."""
        return self.line

    def package_version(self) -> str:
        """The image's package version as far as configured (``<line>.x``)."""
        return f"{self.line}.x"

    def pod_spec(self, request: WorkflowRequest) -> dict[str, Any]:
        """Base pod spec: deadline, no restarts, secrets by reference."""
        env = [
            {
                "name": variable,
                "valueFrom": {
                    "secretKeyRef": {"name": self.secret_name, "key": variable}
                },
            }
            for variable in request.secret_variables
        ]
        env.append({"name": "PYTHONUNBUFFERED", "value": "1"})
        spec: dict[str, Any] = {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": self.timeout_s,
            "containers": [
                {
                    "name": "ingestion",
                    "image": self.image,
                    "command": [
                        self.python,
                        self.script,
                        *RUNNER_ARGUMENTS,
                        STATUS_VIA_PIPES,
                    ],
                    "env": env,
                }
            ],
        }
        if self.service_account:
            spec["serviceAccountName"] = self.service_account
        return spec

    def run(
        self,
        context: OpExecutionContext,
        request: WorkflowRequest,
        secrets: Mapping[str, str],
    ) -> WorkflowOutcome:
        """Runs the request in a pod; ``secrets`` is unused (see class doc)."""
        from dagster_k8s import PipesK8sClient
        from dagster_k8s.client import DagsterK8sError

        client = PipesK8sClient(
            load_incluster_config=self.load_incluster_config,
            kubeconfig_file=self.kubeconfig_file,
            poll_interval=self.poll_interval_s,
        )
        try:
            invocation = client.run(
                context=context,
                extras=request.as_extras(),
                namespace=self.namespace,
                base_pod_meta={
                    "labels": {"app.kubernetes.io/component": COMPONENT_LABEL}
                },
                base_pod_spec=self.pod_spec(request),
                pod_wait_timeout=self.timeout_s + POD_START_ALLOWANCE_S,
                delete_pod_on_completion=True,
            )
        except DagsterK8sError as error:
            timed_out = "DeadlineExceeded" in str(error)
            return WorkflowOutcome(
                request=request,
                summary={"status": "failed", "error_summary": str(error)},
                exit_code=None,
                timed_out=timed_out,
                timeout_s=self.timeout_s,
            )
        summary = summary_from_messages(invocation.get_custom_messages())
        reported = (summary or {}).get("status")
        return WorkflowOutcome(
            request=request,
            summary=summary,
            exit_code=0 if reported in ("success", "partial_success") else 1,
            timeout_s=self.timeout_s,
        )
