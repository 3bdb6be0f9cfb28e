"""Message validation, object keys, log truncation and error summaries."""

import re
from datetime import UTC, datetime

import pytest

from moderate.matrix_profile.messages import (
    MAX_BODY_BYTES,
    MAX_WORKFLOW_JOB_ID,
    analysis_run_key,
    dead_letter_id,
    parse_message,
)
from moderate.matrix_profile.results import (
    LOG_KEEP_LAST_CHARS,
    MAX_ERROR_CHARS,
    TRACEBACK_OMITTED,
    TRUNCATION_MARKER,
    error_summary,
    failure_results,
    new_log_key,
    new_report_key,
    redact_urls,
    strip_tracebacks,
    success_results,
    truncate_log,
)
from moderate.matrix_profile.worker.errors import GENERIC_FAILURE

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
        (b"[" * 200_000, None, "larger than"),
        (b"[" * 1000 + b"]" * 1000, None, "nests deeper"),
        (b'{"workflow_job_id": ' + b"9" * 5000 + b"}", None, "more than 19 digits"),
        (b'{"workflow_job_id": 2, "workflow_job_id": 3}', None, "repeats a field"),
        (b'{"workflow_job_id": NaN}', None, "NaN is not a JSON value"),
        (b" " * (MAX_BODY_BYTES + 1), None, "larger than"),
        (
            b'{"workflow_job_id": 9, "analysis_variable": "a\\u0000b", '
            b'"bucket": "abc", "key": "k"}',
            9,
            "control characters",
        ),
        (
            b'{"workflow_job_id": 9, "analysis_variable": "\\ud800", '
            b'"bucket": "abc", "key": "k"}',
            9,
            "analysis_variable",
        ),
        (
            b'{"workflow_job_id": 9, "analysis_variable": "x", '
            b'"bucket": "Not A Bucket", "key": "k"}',
            9,
            "bucket",
        ),
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


@pytest.mark.parametrize("job_id", [MAX_WORKFLOW_JOB_ID + 1, 2**63, 10**19 - 1])
def test_ids_beyond_the_api_are_unreadable(job_id):
    body = (
        b'{"workflow_job_id": %d, "analysis_variable": "x", "bucket": "abc", '
        b'"key": "k"}' % job_id
    )
    parsed = parse_message(body)
    assert parsed.message is None
    assert parsed.workflow_job_id is None
    assert "workflow_job_id" in parsed.reason


def test_largest_api_id_is_valid():
    body = (
        b'{"workflow_job_id": %d, "analysis_variable": "x", "bucket": "abc", '
        b'"key": "k"}' % MAX_WORKFLOW_JOB_ID
    )
    assert parse_message(body).message.workflow_job_id == MAX_WORKFLOW_JOB_ID


def test_brackets_inside_strings_do_not_count_as_nesting():
    variable = ("[" * 100 + '\\"' + "{" * 100).encode()
    body = (
        b'{"workflow_job_id": 9, "analysis_variable": "' + variable + b'", '
        b'"bucket": "abc", "key": "k"}'
    )
    parsed = parse_message(body)
    assert parsed.reason is None
    assert parsed.message.analysis_variable.startswith("[[[")


def test_dead_letter_ids_are_stable_and_distinct():
    assert dead_letter_id(b"x", None) == dead_letter_id(b"x", None)
    assert dead_letter_id(b"x", None) != dead_letter_id(b"y", None)
    assert dead_letter_id(b"x", "m-1") != dead_letter_id(b"x", "m-2")
    assert re.fullmatch(r"mp-dead-letter-[0-9a-f]{64}", dead_letter_id(b"", None))


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
    assert error_summary(log) == "ValueError: y"
    assert error_summary("nothing useful") == GENERIC_FAILURE
    assert error_summary("", "The analysis exceeded its time limit of 60 s") == (
        f"The analysis exceeded its time limit of 60 s. {GENERIC_FAILURE}"
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
    assert failure_results(1, "out", "", "logs/x.log")["error"] == GENERIC_FAILURE


def test_uploaded_logs_lose_their_tracebacks():
    log = (
        "starting\n"
        "Traceback (most recent call last):\n"
        '  File "/app/moderate/worker/x.py", line 3, in run\n'
        "    secret_internal_call()\n"
        "RuntimeError: boom\n"
        "moderate-mp-error: The analysis failed.\n"
    )
    stripped = strip_tracebacks(log)
    assert "Traceback" not in stripped
    assert "/app/moderate" not in stripped
    assert "secret_internal_call" not in stripped
    assert f"{TRACEBACK_OMITTED} RuntimeError: boom\n" in stripped
    assert stripped.startswith("starting\n")
    assert stripped.endswith("moderate-mp-error: The analysis failed.\n")
