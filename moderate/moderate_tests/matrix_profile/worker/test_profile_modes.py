"""The default profile is exactly stumpy's; the approximate mode is opt-in."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import stumpy

from moderate.matrix_profile.worker import cli
from moderate.matrix_profile.worker.analysis import analyse
from moderate.matrix_profile.worker.figures import envelope
from moderate.matrix_profile.worker.options import Approximation, WorkerOptions
from moderate.matrix_profile.worker.pipeline import run

WINDOW = 24


def _series(points: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    values = np.sin(2 * np.pi * np.arange(points) / WINDOW) + rng.normal(0, 0.2, points)
    values[points // 2 : points // 2 + 6] += 3
    return values


def _stump_with_full_exclusion_zone(values: np.ndarray) -> np.ndarray:
    previous = stumpy.config.STUMPY_EXCL_ZONE_DENOM
    stumpy.config.STUMPY_EXCL_ZONE_DENOM = 1
    try:
        return stumpy.stump(values, m=WINDOW)
    finally:
        stumpy.config.STUMPY_EXCL_ZONE_DENOM = previous


def test_default_profile_equals_stump() -> None:
    values = _series(1_500)
    analysis = analyse(values, WINDOW, top_k=3)
    expected = _stump_with_full_exclusion_zone(values)
    assert analysis.exact
    np.testing.assert_array_equal(analysis.profile, expected[:, 0].astype(float))
    np.testing.assert_array_equal(analysis.neighbours, expected[:, 1].astype(int))


def test_a_series_under_the_threshold_stays_exact() -> None:
    values = _series(1_500)
    analysis = analyse(values, WINDOW, 3, Approximation(above_points=1_500, share=0.1))
    assert analysis.exact
    expected = _stump_with_full_exclusion_zone(values)
    np.testing.assert_array_equal(analysis.profile, expected[:, 0].astype(float))


def test_approximate_profile_bounds_the_exact_one_and_is_repeatable() -> None:
    values = _series(1_500)
    mode = Approximation(above_points=1_000, share=0.2)
    first = analyse(values, WINDOW, 3, mode)
    second = analyse(values, WINDOW, 3, mode)
    exact = _stump_with_full_exclusion_zone(values)[:, 0].astype(float)
    assert first.approximate_share == 0.2
    assert not first.exact
    np.testing.assert_array_equal(first.profile, second.profile)
    assert (first.profile >= exact - 1e-9).all()
    # The planted spike is still the top discord, give or take a few points.
    assert abs(first.discords[0].index - len(values) // 2) < WINDOW


@pytest.mark.parametrize(("above", "share"), [(0, 0.1), (10, 0.0), (10, 1.5)])
def test_approximation_ranges_are_checked(above: int, share: float) -> None:
    with pytest.raises(ValueError, match="approximate-mode"):
        Approximation(above_points=above, share=share)


def test_the_mode_comes_from_the_deployment_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    arguments = ["--input-url", "x.csv", "--analysis-variable", "power"]
    arguments += ["--report-path", str(tmp_path / "r.html")]
    assert cli.parse_options(arguments).approximation is None
    monkeypatch.setenv(cli.APPROXIMATE_ABOVE_VARIABLE, "50000")
    monkeypatch.setenv(cli.APPROXIMATE_SHARE_VARIABLE, "0.25")
    assert cli.parse_options(arguments).approximation == Approximation(50_000, 0.25)
    monkeypatch.setenv(cli.APPROXIMATE_ABOVE_VARIABLE, "many")
    with pytest.raises(cli.UsageError, match="invalid int value"):
        cli.parse_options(arguments)


def test_report_and_summary_say_when_the_profile_is_approximate(
    tmp_path: Path,
) -> None:
    points = 2_000
    stamps = pd.date_range("2020-01-01", periods=points, freq="15min")
    source = tmp_path / "series.csv"
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"), "power": _series(points)}
    ).to_csv(source, index=False)
    report = tmp_path / "report.html"
    result = run(
        WorkerOptions(
            input_url=str(source),
            analysis_variable="power",
            report_path=report,
            window=str(WINDOW),
            approximation=Approximation(above_points=1_000, share=0.5),
        )
    )
    assert result.summary()["exact"] is False
    assert "This matrix profile is approximate" in report.read_text()


def test_envelope_keeps_extremes_and_gaps() -> None:
    values = np.sin(np.arange(100_000) / 50.0)
    values[40_000:40_010] = np.nan
    values[70_123] = 5.0
    picked = envelope(values, columns=500)
    assert len(picked) <= 3 * 500
    assert (np.diff(picked) > 0).all()
    assert 70_123 in picked
    assert np.isnan(values[picked]).any()
    assert np.nanmin(values[picked]) == np.nanmin(values)
    short = np.arange(10.0)
    np.testing.assert_array_equal(envelope(short, columns=500), np.arange(10))


def test_the_worker_imports_no_dagster() -> None:
    probe = (
        "import sys, moderate.matrix_profile.worker.cli, "
        "moderate.matrix_profile.worker.pipeline; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('dagster', 'stumpy', 'matplotlib')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert completed.stdout.strip() == "[]"
