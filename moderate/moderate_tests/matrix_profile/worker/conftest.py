"""Fixtures of the worker tests."""

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

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
