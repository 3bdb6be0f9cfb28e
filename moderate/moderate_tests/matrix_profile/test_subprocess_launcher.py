"""SubprocessWorkerLauncher with a scripted stand-in worker."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from moderate.matrix_profile import subprocess_launcher
from moderate.matrix_profile.launcher import WorkerCancelledError, WorkerRequest
from moderate.matrix_profile.results import TRUNCATION_MARKER, error_summary
from moderate.matrix_profile.subprocess_launcher import (
    LogBuffer,
    SubprocessWorkerLauncher,
)
from moderate_tests.matrix_profile.support import run_in_op

FAKE_WORKER = Path(__file__).with_name("fake_worker.py")


def _launcher() -> SubprocessWorkerLauncher:
    return SubprocessWorkerLauncher(
        command=(sys.executable, str(FAKE_WORKER)), poll_interval_s=0.05, kill_grace_s=1
    )


def _request(
    mode: str, timeout_s: int = 60, window: str | None = None
) -> WorkerRequest:
    return WorkerRequest(
        workflow_job_id=1,
        run_id="run",
        analysis_variable=mode,
        input_url="http://127.0.0.1:9/in.csv?X-Amz-Signature=s3cr3t",
        report_upload_url="http://127.0.0.1:9/out.html",
        timeout_s=timeout_s,
        window=window,
    )


def _never() -> bool:
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")


def test_input_error_keeps_exit_code_and_message():
    result = run_in_op(_launcher(), _request("input-error"), _never)
    assert (result.exit_code, result.reason) == (2, None)
    assert not result.succeeded
    assert error_summary(result.log) == "The input has no 'ok' column."


def test_crash_is_summarised_by_its_exception_line_without_secrets():
    result = run_in_op(_launcher(), _request("crash"), _never)
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.log
    summary = error_summary(result.log)
    assert summary.startswith("RuntimeError: boom while reading")
    assert "Traceback" not in summary
    assert "s3cr3t" not in summary


def test_worker_gets_no_credentials_of_the_code_location(monkeypatch):
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("API_PASSWORD", "do-not-leak")
    result = run_in_op(_launcher(), _request("env"), _never)
    summary = result.summary
    assert summary is not None
    assert "S3_SECRET_ACCESS_KEY" not in summary["env"]
    assert "API_PASSWORD" not in summary["env"]
    assert {"HOME", "DAGSTER_PIPES_CONTEXT"} <= set(summary["env"])


def test_presigned_urls_reach_the_worker_by_environment_not_argv():
    request = _request("env")
    result = run_in_op(_launcher(), request, _never)
    summary = result.summary
    assert summary is not None
    assert {"MODERATE_MP_INPUT_URL", "MODERATE_MP_REPORT_UPLOAD_URL"} <= set(
        summary["env"]
    )
    argv = " ".join(summary["argv"])
    assert "--analysis-variable=env" in argv
    for url in (request.input_url, request.report_upload_url):
        assert url not in argv
        assert url not in result.log


def test_timeout_kills_the_whole_process_group(tmp_path):
    pids_file = tmp_path / "pids"
    started = time.monotonic()
    result = run_in_op(
        _launcher(), _request("hang", timeout_s=2, window=str(pids_file)), _never
    )
    assert time.monotonic() - started < 20
    assert result.exit_code is None
    assert result.reason == "The analysis exceeded its time limit of 2 s"
    worker_pid, child_pid = (int(pid) for pid in pids_file.read_text().split())
    assert not _alive(worker_pid)
    assert not _alive(child_pid), "the worker's child survived"


def test_cancellation_kills_the_worker(tmp_path):
    pids_file = tmp_path / "pids"
    with pytest.raises(WorkerCancelledError):
        run_in_op(
            _launcher(),
            _request("hang", window=str(pids_file)),
            lambda: pids_file.exists(),
        )
    worker_pid, child_pid = (int(pid) for pid in pids_file.read_text().split())
    assert not _alive(worker_pid)
    assert not _alive(child_pid)


class _UnstartableThread(threading.Thread):
    """The launcher's log reader cannot start; Dagster's threads can."""

    def start(self) -> None:
        if getattr(self, "_target", None) is subprocess_launcher._pump:
            raise RuntimeError("can't start new thread")
        super().start()


def test_worker_is_killed_when_its_log_reader_cannot_start(tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess_launcher.threading, "Thread", _UnstartableThread)
    pids_file = tmp_path / "pids"
    with pytest.raises(RuntimeError, match="can't start new thread"):
        run_in_op(_launcher(), _request("hang", window=str(pids_file)), _never)
    monkeypatch.undo()
    deadline = time.monotonic() + 3
    while not pids_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not pids_file.exists():
        return
    pids = [int(pid) for pid in pids_file.read_text().split()]
    alive = [pid for pid in pids if _alive(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "the worker outlived its launcher"


def test_killed_worker_is_reported():
    result = run_in_op(_launcher(), _request("sigkill"), _never)
    assert result.exit_code == -9
    assert result.reason == "The analysis process was killed by SIGKILL"


def test_long_output_keeps_its_tail():
    result = run_in_op(_launcher(), _request("chatty"), _never)
    assert result.exit_code == 1
    assert "progress line 019999" in result.log
    assert error_summary(result.log) == "gave up after chatting"


def test_log_buffer_keeps_the_tail_behind_a_marker():
    buffer = LogBuffer(limit_chars=100, keep_chars=40)
    for number in range(30):
        buffer.write(f"line {number:02d}\n")
    text = buffer.text()
    assert text.startswith(TRUNCATION_MARKER)
    assert text.endswith("line 29\n")
    assert len(text) - len(TRUNCATION_MARKER) <= 100


def test_option_like_column_names_stay_values(tmp_path):
    evil = f"--report-path={tmp_path / 'evil.html'}"
    result = run_in_op(_launcher(), _request(evil), _never)
    assert result.exit_code == 2
    assert error_summary(result.log) == f"unknown mode {evil}"
    assert not (tmp_path / "evil.html").exists()
