"""Download and upload over real HTTP: a loopback server and SeaweedFS (S3)."""

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest
import urllib3.util.retry

from moderate.matrix_profile.launcher import WorkerRequest
from moderate.matrix_profile.subprocess_launcher import SubprocessWorkerLauncher
from moderate.matrix_profile.worker.cli import ERROR_PREFIX, main
from moderate.matrix_profile.worker.errors import UploadError
from moderate.matrix_profile.worker.transfer import REPORT_CONTENT_TYPE, upload_report
from moderate.resources import S3Resource
from moderate_tests.matrix_profile.support import run_in_op
from moderate_tests.matrix_profile.worker.conftest import PipesRun
from moderate_tests.matrix_profile.worker.loopback import LoopbackServer, Reply
from moderate_tests.support.ports import LOOPBACK, free_port

SIGNATURE = "secret-signature"
WORKER_TIMEOUT_S = 240
URL_LIFETIME_S = 600


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Records the retry pauses (urllib3's backoff) instead of sleeping."""
    pauses: list[float] = []
    monkeypatch.setattr(urllib3.util.retry.time, "sleep", pauses.append)
    return pauses


def _argv(input_url: str, tmp_path: Path) -> list[str]:
    return [
        "--input-url",
        input_url,
        "--analysis-variable",
        "power",
        "--report-path",
        str(tmp_path / "report.html"),
        "--top-k",
        "1",
        "--http-timeout-s",
        "5",
    ]


def _last_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert SIGNATURE not in err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith(ERROR_PREFIX)
    return last.removeprefix(ERROR_PREFIX)


def test_download_over_http_never_logs_the_signature(
    loopback: LoopbackServer,
    planted: tuple[Path, pd.Timestamp],
    tmp_path: Path,
    main_in_pipes: Callable[[Sequence[str]], PipesRun],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = loopback.serve("/bucket/site-load.csv", Reply(200, planted[0].read_bytes()))

    run = main_in_pipes(_argv(url, tmp_path))

    assert run.exit_code == 0
    assert run.summary is not None
    assert SIGNATURE not in caplog.text + run.stderr
    assert "/bucket/site-load.csv" in caplog.text
    assert "site-load.csv" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("status", [403, 404])
def test_refused_download_is_an_input_error(
    loopback: LoopbackServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    url = loopback.serve("/bucket/gone.csv", Reply(status, b"<Error/>"))

    assert main(_argv(url, tmp_path)) == 2

    message = _last_error(capsys)
    assert message.startswith(f"The input file could not be downloaded (HTTP {status})")
    assert loopback.script.served["/bucket/gone.csv"] == 1


def test_transient_download_errors_are_retried(
    loopback: LoopbackServer,
    planted: tuple[Path, pd.Timestamp],
    tmp_path: Path,
    backoffs: list[float],
) -> None:
    url = loopback.serve(
        "/bucket/flaky.csv",
        Reply(503),
        Reply(500),
        Reply(200, planted[0].read_bytes()),
    )

    assert main(_argv(url, tmp_path)) == 0

    assert loopback.script.served["/bucket/flaky.csv"] == 3
    assert backoffs == [2.0]


def test_persistent_server_errors_exit_1(
    loopback: LoopbackServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    backoffs: list[float],
) -> None:
    url = loopback.serve("/bucket/down.csv", Reply(502))

    assert main(_argv(url, tmp_path)) == 1

    assert "answered HTTP 502 on every attempt" in _last_error(capsys)
    assert backoffs == [2.0, 4.0]


def test_unreachable_storage_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], backoffs: list[float]
) -> None:
    closed_url = f"http://{LOOPBACK}:{free_port()}/x.csv?X-Amz-Signature={SIGNATURE}"

    assert main(_argv(closed_url, tmp_path)) == 1

    assert _last_error(capsys) == (
        "The input file could not be downloaded: the storage could not be reached "
        "(ConnectionError)."
    )
    assert len(backoffs) == 2


@pytest.mark.parametrize("declared", [True, False])
def test_oversized_input_is_refused(
    loopback: LoopbackServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    declared: bool,
) -> None:
    body = b"timestamp,power\n" + b"2024-01-01 00:00:00,1\n" * 80_000
    reply = Reply(200, body, declare_length=declared)
    url = loopback.serve("/bucket/big.csv", reply)

    assert main([*_argv(url, tmp_path), "--max-input-mb", "1"]) == 2

    message = _last_error(capsys)
    assert message.startswith("The input file is too large")
    assert message.endswith("the limit is 1 MB.")


def test_upload_retries_and_sends_exact_content_type(
    loopback: LoopbackServer, backoffs: list[float]
) -> None:
    url = loopback.serve("/outputs/report.html", Reply(503), Reply(200))

    upload_report(url, b"<!DOCTYPE html>", timeout_s=5)

    puts = [r for r in loopback.script.received if r.method == "PUT"]
    assert len(puts) == 2
    assert all(r.headers["Content-Type"] == "text/html" for r in puts)
    assert puts[-1].body == b"<!DOCTYPE html>"
    assert backoffs == []


def test_refused_upload_is_not_retried(loopback: LoopbackServer) -> None:
    url = loopback.serve("/outputs/report.html", Reply(403, b"<Error/>"))

    with pytest.raises(UploadError, match=r"refused \(HTTP 403\)"):
        upload_report(url, b"<html>", timeout_s=5)

    assert loopback.script.served["/outputs/report.html"] == 1


def test_worker_process_with_presigned_s3_urls(
    s3: S3Resource, planted: tuple[Path, pd.Timestamp]
) -> None:
    """The real entry point, reading and writing SeaweedFS through presigned URLs."""
    input_key = f"alice-assets/site-load-{uuid.uuid4()}.csv"
    report_key = f"matrixprofile-{uuid.uuid4().hex}.html"
    s3.client().put_object(
        Bucket=s3.data_lake_bucket, Key=input_key, Body=planted[0].read_bytes()
    )
    get_url = s3.presigned_get_url(s3.data_lake_bucket, input_key, URL_LIFETIME_S)
    put_url = s3.presigned_put_url(
        s3.job_outputs_bucket, report_key, URL_LIFETIME_S, REPORT_CONTENT_TYPE
    )

    request = WorkerRequest(
        workflow_job_id=1,
        run_id="run",
        analysis_variable="power",
        input_url=get_url,
        report_upload_url=put_url,
        timeout_s=WORKER_TIMEOUT_S,
    )

    result = run_in_op(SubprocessWorkerLauncher(), request, lambda: False)

    assert result.succeeded, result.log[-3000:]
    assert result.summary is not None
    stored = s3.client().get_object(Bucket=s3.job_outputs_bucket, Key=report_key)
    assert stored["ContentType"] == "text/html"
    body = stored["Body"].read()
    assert len(body) == result.summary["report_bytes"]
    assert body.startswith(b"<!DOCTYPE html>")
    assert "X-Amz-Signature" not in result.log


def test_s3_rejects_a_report_with_another_content_type(s3: S3Resource) -> None:
    put_url = s3.presigned_put_url(
        s3.job_outputs_bucket,
        "matrixprofile-x.html",
        URL_LIFETIME_S,
        "application/json",
    )

    with pytest.raises(UploadError, match=r"refused \(HTTP 403\)"):
        upload_report(put_url, b"<html></html>", timeout_s=10)

    assert not s3.object_exists(s3.job_outputs_bucket, "matrixprofile-x.html")


@pytest.mark.parametrize("tamper", [False, True])
def test_missing_or_forged_s3_input_is_an_input_error(
    s3: S3Resource,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: bool,
) -> None:
    key = "alice-assets/never-uploaded.csv"
    if tamper:
        s3.client().put_object(Bucket=s3.data_lake_bucket, Key=key, Body=b"x")
    url = s3.presigned_get_url(s3.data_lake_bucket, key, URL_LIFETIME_S)
    if tamper:
        url = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")

    assert main(_argv(url, tmp_path)) == 2

    expected = "HTTP 403" if tamper else "HTTP 404"
    assert expected in _last_error(capsys)
