"""Runs workflow requests in the separate ingestion environment (PITFALLS 34).

Every workflow runs in a process of its own, spoken to through Dagster Pipes: a
subprocess, or the ingestion image as a Job (``support.k8s_jobs``) whose messages
are read from its log at its end.
"""

import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from dagster import (
    OpExecutionContext,
    PipesEnvContextInjector,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)

from moderate.openmetadata.versions import line_of
from moderate.openmetadata.workflows import WorkflowRequest
from moderate.support.pipes import JobLogMessageReader, custom_message
from moderate.support.processes import stop_process_group

SUMMARY_MESSAGE_TYPE = "openmetadata_workflow_summary"
RUNNER_ARGUMENTS = ("run",)
INGESTION_PACKAGE = "openmetadata-ingestion"
KILL_GRACE_S = 10.0
ERROR_SUMMARY_LIMIT = 2000
STEP_COUNTS = ("records", "updated_records", "warnings", "filtered", "errors")
SUCCESS_STATUSES = ("success", "partial_success")
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


@dataclass(frozen=True)
class WorkflowOutcome:
    """What came back from one workflow process (``exit_code`` None: killed)."""

    request: WorkflowRequest
    summary: Mapping[str, Any] | None
    exit_code: int | None
    timed_out: bool = False
    timeout_s: float | None = None

    @property
    def status(self) -> str:
        """One of success, partial_success, failed, not_run, timed_out."""
        if self.timed_out:
            return "timed_out"
        if self.summary is None:
            return "failed"
        return str(self.summary.get("status", "failed"))

    @property
    def succeeded(self) -> bool:
        """Whether the workflow completed without failing."""
        return self.exit_code == 0 and self.status in SUCCESS_STATUSES

    def error_summary(self) -> str:
        """Why the workflow failed, in the workflow's own words when it said so."""
        if self.timed_out:
            return (
                f"workflow {self.request.pipeline_fqn} exceeded its time limit of "
                f"{self.timeout_s:g} s and was killed"
            )
        reported = self.summary.get("error_summary") if self.summary else None
        if reported:
            return str(reported)[:ERROR_SUMMARY_LIMIT]
        if self.summary and self.summary.get("failures"):
            return "; ".join(map(str, self.summary["failures"]))[:ERROR_SUMMARY_LIMIT]
        return (
            f"workflow {self.request.pipeline_fqn} exited with status "
            f"{self.exit_code} without a summary"
        )

    def metadata(self) -> dict[str, Any]:
        """Run metadata: status, versions and per-step counts."""
        summary = self.summary or {}
        values: dict[str, Any] = {
            "workflow": self.request.kind.value,
            "service_name": self.request.service_name,
            "pipeline_fqn": self.request.pipeline_fqn,
            "status": self.status,
            "exit_code": -1 if self.exit_code is None else self.exit_code,
        }
        for key in ("server_version", "package_version", "success_percentage"):
            if summary.get(key) is not None:
                values[key] = summary[key]
        for step in summary.get("steps", []):
            name = str(step.get("name", "step"))
            for count in STEP_COUNTS:
                values[f"{name}.{count}"] = int(step.get(count, 0))
        return values


@dataclass(frozen=True)
class SubprocessWorkflowRunner:
    """Runs ``script`` (``run_workflow.py``) with the ingestion virtualenv's python.

    Home-grown rather than ``PipesSubprocessClient``, which passes the code
    location's environment on and has no time limit: the process gets its own
    session (a time-out kills every child, SIGKILL ``kill_grace_s`` after
    SIGTERM), a fresh home folder removed afterwards, and only the Pipes
    bootstrap variables and the request's secrets as environment.
    """

    python: Path
    script: Path
    timeout_s: float
    kill_grace_s: float = KILL_GRACE_S

    def version_line(self) -> str:
        """Line of the package installed in the virtualenv."""
        return line_of(self.package_version())

    def package_version(self) -> str:
        """The virtualenv's package version (not run); FileNotFoundError if none."""
        site_packages = self.python.parent.parent.glob("lib/python3*/site-packages")
        paths = sorted(str(path) for path in site_packages)
        for found in distributions(name=INGESTION_PACKAGE, path=paths):
            return str(found.version)
        raise FileNotFoundError(
            f"no openmetadata-ingestion package next to {self.python}: build the "
            "ingestion environment (openmetadata-ingestion/, uv sync --locked)"
        )

    def run(
        self,
        context: OpExecutionContext,
        request: WorkflowRequest,
        secrets: Mapping[str, str],
    ) -> WorkflowOutcome:
        """Runs the request as a subprocess; see :class:`WorkflowRunner`."""
        timed_out, exit_code = False, None
        with (
            tempfile.TemporaryDirectory(prefix="moderate-ingestion-") as home,
            open_pipes_session(
                context=context,
                context_injector=PipesTempFileContextInjector(),
                message_reader=PipesTempFileMessageReader(),
                extras=request.as_extras(),
            ) as session,
        ):
            env = {
                "HOME": home,
                "TMPDIR": home,
                "LANG": "C.UTF-8",
                "PYTHONUNBUFFERED": "1",
                **session.get_bootstrap_env_vars(),
                **{name: secrets[name] for name in request.secret_variables},
            }
            process = subprocess.Popen(
                [str(self.python), str(self.script), *RUNNER_ARGUMENTS],
                cwd=home,
                env=env,
                start_new_session=True,
            )
            try:
                exit_code = process.wait(timeout=self.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                if process.poll() is None:
                    stop_process_group(process, self.kill_grace_s)
        return WorkflowOutcome(
            request=request,
            summary=custom_message(session.get_custom_messages(), SUMMARY_MESSAGE_TYPE),
            exit_code=None if timed_out else exit_code,
            timed_out=timed_out,
            timeout_s=self.timeout_s,
        )


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

        reader = JobLogMessageReader()
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
            sys.stdout.write(reader.read_log(outcome.log))
        summary = custom_message(session.get_custom_messages(), SUMMARY_MESSAGE_TYPE)
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


WorkflowRunner = SubprocessWorkflowRunner | KubernetesWorkflowRunner
"""Runs one workflow request in the ingestion environment."""
