"""Fixtures of the worker tests."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import OpExecutionContext, PipesEnvContextInjector, open_pipes_session
from dagster_pipes import PipesContext

from moderate.matrix_profile.worker.cli import main
from moderate.matrix_profile.worker.options import SUMMARY_MESSAGE_TYPE
from moderate.support.pipes import JobLogMessageReader, custom_message
from moderate_tests.matrix_profile.support import in_op
from moderate_tests.matrix_profile.worker.data import planted_csv
from moderate_tests.matrix_profile.worker.loopback import LoopbackServer


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    """A scripted HTTP server on 127.0.0.1."""
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.Timestamp]:
    """A 30-day 15-minute CSV with one planted spike, and the spike's start."""
    path = tmp_path_factory.mktemp("planted") / "site-load.csv"
    return path, planted_csv(path)


@dataclass(frozen=True)
class PipesRun:
    """One in-process worker run in a Pipes session set up like the Job's."""

    exit_code: int
    stdout: str
    stderr: str
    log: str
    summary: Mapping[str, Any] | None


@pytest.fixture
def main_in_pipes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[[Sequence[str]], PipesRun]:
    """Runs ``main(argv)`` with its context in the environment, messages on stderr.

    ``log`` is stderr without the Pipes messages, as the launchers keep it.
    """

    def run(argv: Sequence[str]) -> PipesRun:
        def analyse(context: OpExecutionContext) -> PipesRun:
            reader = JobLogMessageReader()
            with open_pipes_session(
                context=context,
                context_injector=PipesEnvContextInjector(),
                message_reader=reader,
            ) as session:
                for name, value in session.get_bootstrap_env_vars().items():
                    monkeypatch.setenv(name, value)
                monkeypatch.setattr(PipesContext, "_instance", None)
                capsys.readouterr()
                code = main(list(argv))
                captured = capsys.readouterr()
                log = reader.read_log(captured.err)
            messages = session.get_custom_messages()
            summary = custom_message(messages, SUMMARY_MESSAGE_TYPE)
            return PipesRun(code, captured.out, captured.err, log, summary)

        return in_op(analyse)

    return run
