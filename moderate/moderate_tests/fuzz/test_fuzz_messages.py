"""Fuzzing the analysis-request parser: every body yields a request or a reason."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from moderate.matrix_profile.messages import (
    MAX_REASON_CHARS,
    MAX_WORKFLOW_JOB_ID,
    MatrixProfileMessage,
    ParsedMessage,
    parse_message,
)
from moderate_tests.fuzz.corpus import load_corpus

SEEDS = load_corpus("messages")
FIELDS = ("workflow_job_id", "analysis_variable", "bucket", "key", "image", "tag")
AMQP_LONG_LONG_MAX = 2**63 - 1

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "workflow_job_id": st.integers() | json_values,
        "analysis_variable": st.text(max_size=600) | json_values,
        "bucket": st.from_regex(r"[a-z0-9.-]{0,70}", fullmatch=True) | json_values,
        "key": st.text(max_size=1100) | json_values,
        "image": st.text(max_size=20),
    },
)


def _check(body: bytes) -> ParsedMessage:
    parsed = parse_message(body)
    assert (parsed.message is None) != (parsed.reason is None)
    if parsed.reason is not None:
        assert 0 < len(parsed.reason) <= MAX_REASON_CHARS
    job_id = parsed.workflow_job_id
    if job_id is not None:
        assert 0 < job_id <= MAX_WORKFLOW_JOB_ID <= AMQP_LONG_LONG_MAX
        str(job_id).encode("ascii")
    if parsed.message is not None:
        assert isinstance(parsed.message, MatrixProfileMessage)
        assert parsed.message.workflow_job_id == job_id
        for value in (parsed.message.analysis_variable, parsed.message.key):
            value.encode("utf-8")
        json.dumps(parsed.message.model_dump())
    return parsed


@pytest.mark.parametrize("seed", SEEDS, ids=range(len(SEEDS)))
def test_seed_corpus(seed: bytes) -> None:
    _check(seed)


@given(st.binary(max_size=4096))
def test_arbitrary_bytes(body: bytes) -> None:
    _check(body)


@given(st.sampled_from(SEEDS), st.binary(max_size=64), st.integers(0, 4096))
def test_spliced_seeds(seed: bytes, patch: bytes, position: int) -> None:
    cut = min(position, len(seed))
    _check(seed[:cut] + patch + seed[cut + len(patch) :])


@given(message_like)
def test_message_shaped_json(payload: dict[str, object]) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
    parsed = _check(body)
    if parsed.message is not None:
        assert set(FIELDS[:4]) <= set(payload)


@given(st.integers(1, 64), st.sampled_from([b"[", b'{"a":', b'[{"b":']))
def test_nesting_is_bounded(depth_scale: int, opener: bytes) -> None:
    _check(opener * (depth_scale * 1000))
