"""Resampling, duplicates, gaps and windows, checked on small series."""

import numpy as np
import pandas as pd
import pytest

from moderate.matrix_profile.worker.errors import InputError
from moderate.matrix_profile.worker.series import (
    choose_window,
    fill_short_gaps,
    format_duration,
    parse_window,
    regularise,
    sampling_period_s,
)

QUARTER = pd.Timedelta(minutes=15)


def _raw(offsets_min: list[float], values: list[float]) -> pd.Series:
    start = pd.Timestamp("2024-05-01", tz="UTC")
    stamps = pd.DatetimeIndex([start + pd.Timedelta(minutes=m) for m in offsets_min])
    numbers = np.asarray(values, dtype=float)
    return pd.Series(np.where(np.isfinite(numbers), numbers, np.nan), index=stamps)


def test_jittered_unsorted_rows_land_on_the_nearest_grid_point() -> None:
    raw = _raw([30.2, 0, 14.5, 45, 15.3, 60], [3, 0, 1, 4, 2, 5])

    series = regularise(raw)

    assert series.period == QUARTER
    assert series.values.tolist() == [0, 1.5, 3, 4, 5]
    assert series.index[0] == pd.Timestamp("2024-05-01", tz="UTC")
    assert series.missing == 0


def test_duplicates_are_averaged_and_counted() -> None:
    raw = _raw([0, 15, 15, 30, 45, 45, 45], [1, 2, 4, 5, 6, 7, 8])

    series = regularise(raw)

    assert series.duplicates == 3
    assert series.values.tolist() == [1, 3, 5, 7]


def test_edges_without_values_are_trimmed_and_gaps_counted() -> None:
    raw = _raw([0, 15, 30, 45, 90, 105, 120], [np.nan, 1, 2, 3, 6, 7, np.inf])

    series = regularise(raw)

    assert series.index[0] == pd.Timestamp("2024-05-01 00:15", tz="UTC")
    assert series.index[-1] == pd.Timestamp("2024-05-01 01:45", tz="UTC")
    assert series.points == 7
    assert series.missing == 2
    assert series.missing_share == pytest.approx(2 / 7)


def test_short_gaps_interpolated_long_gaps_kept() -> None:
    values = np.arange(40, dtype=float)
    values[5:7] = np.nan
    values[20:30] = np.nan
    raw = _raw([15 * i for i in range(40)], values.tolist())

    filled = fill_short_gaps(regularise(raw), window=16)

    assert filled.interpolated == 2
    assert filled.max_filled_gap == 2
    assert filled.unfilled == 10
    assert filled.series.values[5:7].tolist() == [5, 6]


@pytest.mark.parametrize(
    ("median_step_s", "period_s"),
    [(888.0, 900), (900.0, 900), (3421.0, 3600), (1.0, 1), (0.2, 1), (700.4, 700)],
)
def test_sampling_period(median_step_s: float, period_s: int) -> None:
    assert sampling_period_s(median_step_s) == period_s


def test_too_many_missing_points() -> None:
    raw = _raw([0, 15, 30, 45, 60, 600], [1, 2, 3, 4, 5, 6])

    with pytest.raises(InputError, match="have no value"):
        regularise(raw)


def test_grid_too_long() -> None:
    raw = _raw([0, 1 / 60, 2 / 60, 60 * 24 * 30], [1, 2, 3, 4])

    with pytest.raises(InputError, match="too long to analyse"):
        regularise(raw)


@pytest.mark.parametrize(
    ("spec", "period", "points", "window"),
    [
        (None, QUARTER, 10_000, 96),
        (None, pd.Timedelta(hours=1), 10_000, 24),
        (None, pd.Timedelta(minutes=1), 10_000, 1440),
        (None, pd.Timedelta(seconds=1), 100_000, 2000),
        (None, QUARTER, 200, 50),
        (None, QUARTER, 16, 4),
        ("6h", QUARTER, 1000, 24),
        ("12", QUARTER, 1000, 12),
    ],
)
def test_choose_window(
    spec: str | None, period: pd.Timedelta, points: int, window: int
) -> None:
    assert choose_window(spec, period, points) == window


def test_series_shorter_than_sixteen_points() -> None:
    with pytest.raises(InputError, match="at least 16 are needed"):
        choose_window(None, QUARTER, 15)


def test_parse_window_rounds_to_points() -> None:
    assert parse_window("1h", pd.Timedelta(minutes=25)) == 2


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (pd.Timedelta(minutes=15), "15 min"),
        (pd.Timedelta(days=2, hours=1), "2 days 1 h"),
        (pd.Timedelta(seconds=0), "0 s"),
    ],
)
def test_format_duration(duration: pd.Timedelta, text: str) -> None:
    assert format_duration(duration) == text
