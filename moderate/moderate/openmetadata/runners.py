"""Runs workflow requests in the separate ingestion environment (PITFALLS 34).

Every workflow runs in a process of its own, a subprocess or a Kubernetes pod,
spoken to through Dagster Pipes.
"""

import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path
from typing import Any, Protocol

from dagster import (
    OpExecutionContext,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)

from moderate.openmetadata.versions import line_of
from moderate.openmetadata.workflows import WorkflowRequest
from moderate.support.processes import stop_process_group

SUMMARY_MESSAGE_TYPE = "openmetadata_workflow_summary"
RUNNER_ARGUMENTS = ("run",)
INGESTION_PACKAGE = "openmetadata-ingestion"
KILL_GRACE_S = 10.0
ERROR_SUMMARY_LIMIT = 2000
STEP_COUNTS = ("records", "updated_records", "warnings", "filtered", "errors")
SUCCESS_STATUSES = ("success", "partial_success")


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


class WorkflowRunner(Protocol):
    """Runs one workflow request in the ingestion environment."""

    def version_line(self) -> str:
        """``major.minor`` of the ingestion package the runner uses."""

    def package_version(self) -> str:
        """Version of the ingestion package, as precisely as the runner knows it."""

    def run(
        self,
        context: OpExecutionContext,
        request: WorkflowRequest,
        secrets: Mapping[str, str],
    ) -> WorkflowOutcome:
        """Runs ``request``; ``secrets`` holds its secret values (pods ignore them)."""


def summary_from_messages(messages: Sequence[Any]) -> Mapping[str, Any] | None:
    """The last workflow summary among the Pipes custom messages."""
    summaries = [
        message
        for message in messages
        if isinstance(message, Mapping) and message.get("type") == SUMMARY_MESSAGE_TYPE
    ]
    return summaries[-1] if summaries else None


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
            summary=summary_from_messages(session.get_custom_messages()),
            exit_code=None if timed_out else exit_code,
            timed_out=timed_out,
            timeout_s=self.timeout_s,
        )
