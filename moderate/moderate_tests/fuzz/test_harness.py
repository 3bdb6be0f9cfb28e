"""The fuzz harness itself: bounded, and a parser's crash or hang fails it."""

import time
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import DeadlineExceeded

from moderate_tests.fuzz.conftest import FUZZ_DEADLINE, FUZZ_MAX_EXAMPLES

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
MAX_TEST_TIMEOUT_S = 300
CRASH_ABOVE = 500
SHORT_DEADLINE = timedelta(milliseconds=20)
SLOW_S = 0.2


class ParserCrashError(Exception):
    """What a broken parser raises: no refusal the harness expects."""


def _broken_parser(value: int) -> int:
    if value > CRASH_ABOVE:
        raise ParserCrashError(value)
    return value


def test_the_profile_bounds_every_fuzz_test() -> None:
    active = settings.default
    assert active.max_examples == FUZZ_MAX_EXAMPLES
    assert active.deadline == FUZZ_DEADLINE
    assert active.derandomize and active.database is None


def test_a_hard_hang_is_ended_by_the_test_timeout() -> None:
    options = tomllib.loads(PYPROJECT.read_text())["tool"]["pytest"]["ini_options"]
    assert 0 < int(options["timeout"]) <= MAX_TEST_TIMEOUT_S


def test_an_unexpected_exception_fails_the_property() -> None:
    @given(st.integers(min_value=0, max_value=10 * CRASH_ABOVE))
    def property_of_the_parser(value: int) -> None:
        assert _broken_parser(value) == value

    with pytest.raises(ParserCrashError):
        property_of_the_parser()


def test_a_slow_example_fails_the_property() -> None:
    @settings(parent=settings.default, deadline=SHORT_DEADLINE, max_examples=3)
    @given(st.just(0))
    def property_of_a_slow_parser(value: int) -> None:
        time.sleep(SLOW_S)

    with pytest.raises(DeadlineExceeded):
        property_of_a_slow_parser()
