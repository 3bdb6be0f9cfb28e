"""Runs the worker as a local subprocess (``dagster dev``, compose deployments)."""

import codecs
import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from dagster import (
    OpExecutionContext,
    PipesTempFileContextInjector,
    PipesTempFileMessageReader,
    open_pipes_session,
)

from moderate.matrix_profile.launcher import (
    WORKER_MODULE,
    ShouldStop,
    WorkerCancelledError,
    WorkerRequest,
    WorkerResult,
)
from moderate.matrix_profile.results import (
    LOG_KEEP_LAST_CHARS,
    LOG_TRUNCATE_ABOVE_BYTES,
    TRUNCATION_MARKER,
)
from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE
from moderate.support.pipes import custom_message
from moderate.support.processes import DEFAULT_KILL_GRACE_S, stop_process_group

POLL_INTERVAL_S = 0.2
READER_JOIN_TIMEOUT_S = 10.0
READ_CHUNK_BYTES = 64 * 1024
SCRATCH_PREFIX = "moderate-mp-"

LOGGER = logging.getLogger(__name__)


class LogBuffer:
    """Thread-safe text sink that keeps only the tail of very long output."""

    def __init__(
        self,
        limit_chars: int = LOG_TRUNCATE_ABOVE_BYTES,
        keep_chars: int = LOG_KEEP_LAST_CHARS,
    ) -> None:
        self._limit_chars = limit_chars
        self._keep_chars = keep_chars
        self._chunks: list[str] = []
        self._size = 0
        self._truncated = False
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        """Appends ``text``, dropping the oldest output beyond the limit."""
        with self._lock:
            self._chunks.append(text)
            self._size += len(text)
            if self._size > self._limit_chars:
                self._chunks = ["".join(self._chunks)[-self._keep_chars :]]
                self._size = len(self._chunks[0])
                self._truncated = True

    def text(self) -> str:
        """Everything kept, behind a marker when older output was dropped."""
        with self._lock:
            body = "".join(self._chunks)
            return TRUNCATION_MARKER + body if self._truncated else body


class SubprocessWorkerLauncher:
    """Runs ``python -m moderate.matrix_profile.worker`` in its own process group.

    Its environment is minimal (no credentials of the code location, the URLs
    never in argv), its ``HOME`` a scratch folder removed afterwards; on timeout
    or cancellation the group gets SIGTERM, then SIGKILL ``kill_grace_s`` later.
    """

    def __init__(
        self,
        command: Sequence[str] = (sys.executable, "-m", WORKER_MODULE),
        poll_interval_s: float = POLL_INTERVAL_S,
        kill_grace_s: float = DEFAULT_KILL_GRACE_S,
    ) -> None:
        self._command = tuple(command)
        self._poll_interval_s = poll_interval_s
        self._kill_grace_s = kill_grace_s

    def run(
        self,
        context: OpExecutionContext,
        request: WorkerRequest,
        should_stop: ShouldStop,
    ) -> WorkerResult:
        """Runs the worker for at most ``request.timeout_s`` s (``WorkerLauncher``)."""
        command = [*self._command, *request.worker_arguments()]
        buffer = LogBuffer()
        with (
            tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch,
            open_pipes_session(
                context=context,
                context_injector=PipesTempFileContextInjector(),
                message_reader=PipesTempFileMessageReader(),
            ) as session,
        ):
            env = {
                **_worker_environment(Path(scratch)),
                **session.get_bootstrap_env_vars(),
                **request.url_environment(),
            }
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=scratch,
                start_new_session=True,
            )
            reader = threading.Thread(
                target=_pump, args=(process.stdout, buffer), daemon=True
            )
            job = request.workflow_job_id
            LOGGER.info("Started the worker of job %s (pid %s)", job, process.pid)
            try:
                reader.start()
                exit_code, reason = self._wait(process, request.timeout_s, should_stop)
            finally:
                stop_process_group(process, self._kill_grace_s)
                if reader.is_alive():
                    reader.join(READER_JOIN_TIMEOUT_S)
        summary = custom_message(session.get_custom_messages(), SUMMARY_MESSAGE_TYPE)
        return WorkerResult(exit_code, reason, buffer.text(), summary)

    def _wait(
        self, process: subprocess.Popen[bytes], timeout_s: float, stop: ShouldStop
    ) -> tuple[int | None, str | None]:
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if stop():  # the caller's ``finally`` stops the group
                LOGGER.warning("Run cancelled: stopping worker pid %s", process.pid)
                raise WorkerCancelledError(
                    "the run was cancelled; the worker was stopped"
                )
            if time.monotonic() >= deadline:
                LOGGER.warning("Worker pid %s exceeded %s s", process.pid, timeout_s)
                return None, f"The analysis exceeded its time limit of {timeout_s:g} s"
            time.sleep(self._poll_interval_s)
        if process.returncode < 0:
            killer = _signal_name(-process.returncode)
            return process.returncode, f"The analysis process was killed by {killer}"
        return process.returncode, None


def _worker_environment(scratch: Path) -> dict[str, str]:
    return {
        "PATH": os.defpath,
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
    }


def _pump(stream: io.BufferedReader, buffer: LogBuffer) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with stream:
        while chunk := stream.read1(READ_CHUNK_BYTES):
            buffer.write(decoder.decode(chunk))
        buffer.write(decoder.decode(b"", final=True))


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
