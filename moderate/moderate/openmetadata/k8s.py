"""The workflow runner of the ingestion image as a Job (``support.k8s_jobs``).

Request and summary go through Dagster Pipes, read from the Job's log at its end.
"""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dagster import (
    OpExecutionContext,
    PipesEnvContextInjector,
    PipesMessageReader,
    open_pipes_session,
)
from dagster._core.pipes.utils import extract_message_or_forward_to_stdout
from dagster_pipes import PipesDefaultMessageWriter

from moderate.openmetadata.runners import (
    RUNNER_ARGUMENTS,
    SUCCESS_STATUSES,
    WorkflowOutcome,
    summary_from_messages,
)
from moderate.openmetadata.workflows import WorkflowRequest

DEFAULT_POLL_INTERVAL_S = 5.0
UNSCHEDULABLE_GRACE_S = 600.0
TTL_AFTER_FINISHED_S = 3600
DEFAULT_NAMESPACE = "default"
STATUS_VIA_PIPES = "--status-via-pipes"
"""The container exits 0 after reporting; a failed Job then means a crash or the
deadline, and its reason becomes the summary."""
JOB_NAME_PREFIX = "moderate-om-"
NAME_SUFFIX_CHARS = 8
COMPONENT_LABEL = "moderate-openmetadata-ingestion"


class _JobLogMessageReader(PipesMessageReader):
    """Pipes messages from the Job's log, read after the Job ended."""

    handler: Any = None

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[Mapping[str, Any]]:
        """Keeps the handler; the worker writes its messages to stderr."""
        self.handler = handler
        yield {PipesDefaultMessageWriter.STDIO_KEY: PipesDefaultMessageWriter.STDERR}

    def read_log(self, log: str) -> None:
        """Hands every message line to the session, the rest to stdout."""
        for line in log.splitlines():
            extract_message_or_forward_to_stdout(self.handler, line)

    def no_messages_debug_text(self) -> str:
        """Where the messages were looked for."""
        return "Read the messages from the Kubernetes Job's log after it ended."


@dataclass(frozen=True)
class KubernetesWorkflowRunner:
    """Runs the workflow in the ingestion image as a Job next to the run.

    Secrets come from ``secret_name`` by ``secretKeyRef``, never from the Job spec;
    ``line`` is the ``major.minor`` of the image's package; a None ``namespace``
    means the run's own.
    """

    image: str
    python: str
    script: str
    timeout_s: int
    line: str
    secret_name: str
    namespace: str | None = None
    service_account: str | None = None
    kubeconfig_file: str | None = None
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S

    def version_line(self) -> str:
        """The configured line of the image's ingestion package."""
        return self.line

    def package_version(self) -> str:
        """The image's package version as far as configured (``<line>.x``)."""
        return f"{self.line}.x"

    def job(
        self, request: WorkflowRequest, env: Mapping[str, str], name: str, run_id: str
    ) -> dict[str, Any]:
        """The Job of ``request``; ``env``: plain variables (the Pipes bootstrap)."""
        from dagster_k8s.utils import detect_current_namespace

        from moderate.support.k8s_jobs import job_manifest

        reference = {"name": self.secret_name}
        secret_env = [
            {"name": key, "valueFrom": {"secretKeyRef": {**reference, "key": key}}}
            for key in request.secret_variables
        ]
        plain = {**env, "PYTHONUNBUFFERED": "1"}
        container = {
            "name": "ingestion",
            "image": self.image,
            "command": [self.python, self.script, *RUNNER_ARGUMENTS, STATUS_VIA_PIPES],
            "env": secret_env + [{"name": k, "value": v} for k, v in plain.items()],
        }
        pod_spec: dict[str, Any] = {"containers": [container]}
        if self.service_account:
            pod_spec["serviceAccountName"] = self.service_account
        namespace = (
            self.namespace
            or detect_current_namespace(self.kubeconfig_file)
            or DEFAULT_NAMESPACE
        )
        labels = {
            "app.kubernetes.io/component": COMPONENT_LABEL,
            "dagster/run-id": run_id,
        }
        return job_manifest(
            name, namespace, labels, pod_spec, self.timeout_s, TTL_AFTER_FINISHED_S
        )

    def run(
        self,
        context: OpExecutionContext,
        request: WorkflowRequest,
        secrets: Mapping[str, str],
    ) -> WorkflowOutcome:
        """Runs the request in a Job; ``secrets`` is unused (see class doc)."""
        from moderate.support.k8s_jobs import KubernetesJobRunner, api_client

        reader = _JobLogMessageReader()
        name = f"{JOB_NAME_PREFIX}{uuid.uuid4().hex[:NAME_SUFFIX_CHARS]}"
        with open_pipes_session(
            context=context,
            context_injector=PipesEnvContextInjector(),
            message_reader=reader,
            extras=request.as_extras(),
        ) as session:
            env = session.get_bootstrap_env_vars()
            job = self.job(request, env, name, context.run_id)
            runner = KubernetesJobRunner(
                api_client(self.kubeconfig_file),
                job["metadata"]["namespace"],
                self.poll_interval_s,
                UNSCHEDULABLE_GRACE_S,
                "The ingestion workflow",
            )
            outcome = runner.run(job, should_stop=lambda: False)
            reader.read_log(outcome.log)
        summary = summary_from_messages(session.get_custom_messages())
        exit_code = outcome.exit_code
        if outcome.reason is not None:
            summary = {"status": "failed", "error_summary": outcome.reason}
        elif exit_code == 0 and (summary or {}).get("status") not in SUCCESS_STATUSES:
            exit_code = 1  # the container exits 0 whatever the workflow reported
        return WorkflowOutcome(
            request=request,
            summary=summary,
            exit_code=exit_code,
            timed_out=outcome.timed_out,
            timeout_s=self.timeout_s,
        )
