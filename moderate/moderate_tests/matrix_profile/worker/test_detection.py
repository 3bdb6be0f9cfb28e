"""The worker finds planted anomalies and reports sensible figures."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderate.matrix_profile.worker import numba_cache
from moderate.matrix_profile.worker.options import WorkerOptions
from moderate.matrix_profile.worker.pipeline import WorkerResult, run
from moderate_tests.matrix_profile.worker.data import (
    POINTS_PER_DAY,
    SPIKE_POINTS,
    daily_load,
    plant_flat_day,
    plant_spike,
    write_csv,
)


def _run(path: Path, tmp_path: Path, **extra: object) -> WorkerResult:
    options = WorkerOptions(
        input_url=str(path),
        analysis_variable="power",
        report_path=tmp_path / "report.html",
        **extra,
    )
    return run(options)


def _hits(result: WorkerResult, start: pd.Timestamp, length: int) -> list[int]:
    """Ranks (1-based) of the discords whose window overlaps the anomaly."""
    period = result.filled.series.period
    window = result.analysis.window
    anomaly_start = start.tz_localize("UTC")
    anomaly_end = anomaly_start + period * length
    ranks = []
    for rank, discord in enumerate(result.analysis.discords, start=1):
        begin = result.filled.series.index[discord.index]
        if begin < anomaly_end and anomaly_start < begin + period * window:
            ranks.append(rank)
    return ranks


def test_planted_spike_is_the_top_discord(
    planted: tuple[Path, pd.Timestamp], tmp_path: Path
) -> None:
    path, spike = planted
    result = _run(path, tmp_path)

    assert result.analysis.window == POINTS_PER_DAY
    assert _hits(result, spike, SPIKE_POINTS) == [1]
    summary = result.summary()
    assert summary["points"] == 30 * POINTS_PER_DAY
    assert summary["sampling_period_s"] == 900.0
    assert summary["report_bytes"] == (tmp_path / "report.html").stat().st_size
    top = pd.Timestamp(summary["discords"][0]["timestamp"])
    assert top <= spike.tz_localize("UTC") < top + pd.Timedelta(days=1)
    distances = [d["distance"] for d in summary["discords"]]
    assert distances == sorted(distances, reverse=True)
    assert summary["discords"][0]["distance"] > 2 * summary["discords"][1]["distance"]


def test_stuck_sensor_found_despite_messy_rows(tmp_path: Path) -> None:
    frame = daily_load(days=35, seed=11)
    flat = plant_flat_day(frame, day=20)
    frame.loc[[300, 301, 2000], "power"] = np.nan
    frame.loc[2500, "power"] = np.inf
    frame = frame.drop(index=range(1000, 1005))
    duplicates = frame.iloc[[10, 20, 30]]
    messy = pd.concat([frame, duplicates]).sample(frac=1.0, random_state=3)
    path = write_csv(messy, tmp_path / "messy.csv")

    result = _run(path, tmp_path)

    series = result.filled.series
    assert series.duplicates == 3
    assert series.non_finite == 4
    assert series.missing == 5 + 4
    assert result.filled.interpolated == 9
    assert result.filled.unfilled == 0
    assert 1 in _hits(result, flat, POINTS_PER_DAY)


def test_hourly_series_uses_a_one_day_window(tmp_path: Path) -> None:
    frame = daily_load(days=40, period=pd.Timedelta(hours=1))
    path = write_csv(frame, tmp_path / "hourly.csv")

    summary = _run(path, tmp_path, top_k=2).summary()

    assert summary["window"] == 24
    assert summary["sampling_period_s"] == 3600.0
    assert len(summary["discords"]) == 2
    assert len(summary["motifs"]) == 2


@pytest.mark.parametrize(("window", "points"), [("6h", 24), ("48", 48), ("1D", 96)])
def test_window_override(
    planted: tuple[Path, pd.Timestamp], tmp_path: Path, window: str, points: int
) -> None:
    path, _ = planted
    assert _run(path, tmp_path, window=window, top_k=1).analysis.window == points


def test_default_window_shrinks_for_short_series(tmp_path: Path) -> None:
    frame = daily_load(days=2)
    path = write_csv(frame, tmp_path / "short.csv")

    result = _run(path, tmp_path, top_k=1)

    assert result.analysis.window == 2 * POINTS_PER_DAY // 4


def test_long_gap_windows_are_left_out(tmp_path: Path) -> None:
    frame = daily_load(days=20)
    spike = plant_spike(frame, day=14, hour=6)
    gap = range(5 * POINTS_PER_DAY, 6 * POINTS_PER_DAY)
    frame = frame.drop(index=gap)
    path = write_csv(frame, tmp_path / "gap.csv")

    result = _run(path, tmp_path)

    window = result.analysis.window
    assert result.filled.unfilled == POINTS_PER_DAY
    assert result.analysis.excluded == POINTS_PER_DAY + window - 1
    assert _hits(result, spike, SPIKE_POINTS) == [1]
    for discord in result.analysis.discords:
        assert np.isfinite(
            result.filled.series.values[discord.index : discord.index + window]
        ).all()


def test_meter_outage_is_reported_as_flat_windows(tmp_path: Path) -> None:
    frame = daily_load(days=30)
    outage = range(12 * POINTS_PER_DAY + 40, 15 * POINTS_PER_DAY + 40)
    frame.loc[outage, "power"] = 0.0
    path = write_csv(frame, tmp_path / "outage.csv")

    result = _run(path, tmp_path)

    window = result.analysis.window
    assert result.analysis.flat_windows == len(outage) - window + 1
    assert result.analysis.motifs[0].distance == pytest.approx(0.0, abs=1e-6)
    assert result.analysis.motifs[0].index in outage
    edges = (outage.start, outage.stop)
    top = result.analysis.discords[0]
    assert any(top.index < edge < top.index + window for edge in edges)
    assert top.distance == pytest.approx(window**0.5, rel=1e-3)
    html = (tmp_path / "report.html").read_text()
    assert f"{len(outage) - window + 1} windows hold a single repeated value" in html


def test_warmup_compiles_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="moderate.matrix_profile.worker")

    numba_cache.main()

    assert "stumpy compiled and cached in" in caplog.text


def test_neighbours_never_overlap_their_window(
    planted: tuple[Path, pd.Timestamp], tmp_path: Path
) -> None:
    result = _run(planted[0], tmp_path, top_k=5)

    analysis = result.analysis
    starts = np.arange(len(analysis.profile))
    assert (np.abs(analysis.neighbours - starts) >= analysis.window).all()
    for pair in analysis.motifs:
        assert pair.neighbour - pair.index >= analysis.window
