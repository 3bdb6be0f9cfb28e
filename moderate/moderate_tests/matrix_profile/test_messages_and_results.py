"""Message validation, object keys, log truncation and error summaries."""

import re
from datetime import UTC, datetime

import pytest

from moderate.matrix_profile.messages import (
    analysis_run_key,
    parse_message,
    rejection_run_key,
)
from moderate.matrix_profile.results import (
    GENERIC_ERROR,
    LOG_KEEP_LAST_CHARS,
    MAX_ERROR_CHARS,
    TRUNCATION_MARKER,
    error_summary,
    failure_results,
    new_log_key,
    new_report_key,
    redact_urls,
    success_results,
    truncate_log,
)

VALID = (
    b'{"workflow_job_id": 42, "analysis_variable": "power", '
    b'"bucket": "platform-api", "key": "alice-assets/load-1.csv"}'
)


def test_valid_message_parses():
    parsed = parse_message(VALID)
    assert parsed.reason is None
    assert parsed.message.workflow_job_id == 42
    assert parsed.message.analysis_variable == "power"
    assert analysis_run_key(42) == "mp-42"
    assert rejection_run_key(42) == "mp-42-rejected"


def test_image_and_tag_are_ignored_not_honoured():
    parsed = parse_message(VALID[:-1] + b', "image": "x/y", "tag": "z", "note": 1}')
    assert parsed.message is not None
    assert parsed.ignored_fields == ("image", "note", "tag")
    assert not hasattr(parsed.message, "image")


@pytest.mark.parametrize(
    ("body", "job_id", "reason"),
    [
        (b"{", None, "body is not JSON"),
        (b"\xff", None, "body is not UTF-8"),
        (b"[]", None, "body is not a JSON object"),
        (b'{"workflow_job_id": "42"}', None, "workflow_job_id"),
        (b'{"workflow_job_id": 0}', None, "workflow_job_id"),
        (b'{"workflow_job_id": 9, "bucket": "b"}', 9, "analysis_variable"),
        (
            b'{"workflow_job_id": 9, "analysis_variable": "", "bucket": "abc", '
            b'"key": "k"}',
            9,
            "analysis_variable",
        ),
    ],
)
def test_invalid_messages_give_a_reason(body, job_id, reason):
    parsed = parse_message(body)
    assert parsed.message is None
    assert parsed.workflow_job_id == job_id
    assert reason in parsed.reason


def test_key_conventions():
    assert re.fullmatch(r"matrixprofile-[0-9a-f]{32}\.html", new_report_key())
    moment = datetime(2026, 3, 1, 10, 22, 33, tzinfo=UTC)
    assert re.fullmatch(
        r"logs/matrix-profile-job-42-20260301-102233-[0-9a-f]{8}\.log",
        new_log_key(42, moment),
    )
    assert new_report_key() != new_report_key()


def test_logs_over_five_mebibytes_keep_their_tail():
    small = "x" * 1000
    assert truncate_log(small) == small
    big = "a" * (5 * 1024 * 1024) + "THE END"
    cut = truncate_log(big)
    assert cut.startswith(TRUNCATION_MARKER)
    assert cut.endswith("THE END")
    assert len(cut) == len(TRUNCATION_MARKER) + LOG_KEEP_LAST_CHARS
    multibyte = "é" * (3 * 1024 * 1024)
    assert truncate_log(multibyte).startswith(TRUNCATION_MARKER)


def test_error_summary_prefers_the_worker_line():
    log = "info\nTraceback (most recent call last):\n  x\nValueError: y\n"
    assert error_summary(log + "moderate-mp-error: bad column\n") == "bad column"
    assert (
        error_summary(log) == "Traceback (most recent call last):\n  x\nValueError: y"
    )
    assert error_summary("nothing useful") == GENERIC_ERROR
    assert error_summary("", "The analysis exceeded its time limit of 60 s") == (
        f"The analysis exceeded its time limit of 60 s. {GENERIC_ERROR}"
    )
    long = "moderate-mp-error: " + "z" * 5000
    assert len(error_summary(long)) == MAX_ERROR_CHARS


def test_presigned_signatures_are_redacted():
    text = (
        "GET https://s3.example/b/k.csv?X-Amz-Signature=abc&X-Amz-Credential=d failed"
    )
    assert redact_urls(text) == "GET https://s3.example/b/k.csv?<redacted> failed"


def test_results_bodies_follow_the_contract_table():
    assert success_results(1, "out", "matrixprofile-a.html") == {
        "workflow_job_id": 1,
        "output_bucket": "out",
        "output_key": "matrixprofile-a.html",
        "error": None,
        "error_logs_key": None,
    }
    failed = failure_results(1, "out", "e" * 3000, None)
    assert failed["output_key"] is None
    assert failed["error_logs_key"] is None
    assert len(failed["error"]) == MAX_ERROR_CHARS
    assert failure_results(1, "out", "", "logs/x.log")["error"] == GENERIC_ERROR
