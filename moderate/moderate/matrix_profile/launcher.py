"""The interface of the worker launchers (subprocess, Kubernetes Job).

A launcher runs the worker within a deadline in a Dagster Pipes session (the
worker reports its summary through it), captures its combined output and always
cleans up, also when the wait is interrupted.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dagster import OpExecutionContext

from moderate.matrix_profile.worker.errors import EXIT_OK
from moderate.matrix_profile.worker.options import (
    INPUT_URL_VARIABLE,
    REPORT_UPLOAD_URL_VARIABLE,
)

WORKER_MODULE = "moderate.matrix_profile.worker"

ShouldStop = Callable[[], bool]


class WorkerCancelledError(RuntimeError):
    """The run was cancelled while the worker ran; the worker was stopped."""


@dataclass(frozen=True)
class WorkerRequest:
    """Everything the worker gets: presigned URLs and analysis options only.

    The URLs are bearer credentials: out of ``repr``, they reach the worker
    through its environment (:meth:`url_environment`), never its argv.
    """

    workflow_job_id: int
    run_id: str
    analysis_variable: str
    input_url: str = field(repr=False)
    report_upload_url: str = field(repr=False)
    timeout_s: int
    window: str | None = None
    top_k: int | None = None

    def worker_arguments(self) -> list[str]:
        """The worker's arguments, no URL; ``--name=value`` keeps ``-x`` a value."""
        options = {"window": self.window, "top-k": self.top_k}
        return [f"--analysis-variable={self.analysis_variable}"] + [
            f"--{name}={value}" for name, value in options.items() if value is not None
        ]

    def url_environment(self) -> dict[str, str]:
        """The presigned URLs as the worker's environment variables."""
        return {
            INPUT_URL_VARIABLE: self.input_url,
            REPORT_UPLOAD_URL_VARIABLE: self.report_upload_url,
        }


@dataclass(frozen=True)
class WorkerResult:
    """How the worker ended (``exit_code`` None: it never ran to an exit).

    ``reason`` explains what the exit code does not (timeout, start failure, …);
    ``summary`` is the worker's Pipes summary message, if it sent one.
    """

    exit_code: int | None
    reason: str | None
    log: str
    summary: Mapping[str, Any] | None

    @property
    def succeeded(self) -> bool:
        """Whether the worker exited 0 and the launcher saw nothing wrong."""
        return self.exit_code == EXIT_OK and self.reason is None


class WorkerLauncher(Protocol):
    """Runs the worker once and cleans up whatever it started."""

    def run(
        self,
        context: OpExecutionContext,
        request: WorkerRequest,
        should_stop: ShouldStop,
    ) -> WorkerResult:
        """Runs the worker in a Pipes session of ``context``, polling ``should_stop``.

        Raises:
            WorkerCancelledError: When ``should_stop`` turned True (worker stopped).
        """
        ...
