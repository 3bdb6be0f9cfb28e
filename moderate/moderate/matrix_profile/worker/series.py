"""From raw rows to a regular series: sort, merge duplicates, resample, window, gaps."""

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.errors import InputError

logger = logging.getLogger(__name__)

MIN_PERIOD_S = 1
COMMON_PERIODS_S = (
    1, 2, 5, 10, 15, 20, 30,
    60, 120, 300, 600, 900, 1200, 1800,
    3600, 7200, 10800, 14400, 21600, 43200, 86400,
)  # fmt: skip
SNAP_TOLERANCE = 0.1
MAX_GRID_POINTS = 400_000
MAX_MISSING_SHARE = 0.5
GAP_FILL_WINDOW_DIVISOR = 8
DEFAULT_WINDOW = pd.Timedelta(days=1)
MIN_WINDOW_POINTS = 4
MAX_DEFAULT_WINDOW_POINTS = 2_000
MIN_WINDOWS_PER_SERIES = 4
DURATION_UNITS = (("day", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


@dataclass(frozen=True)
class RegularSeries:
    """The analysis variable on a regular UTC grid (NaN where no value landed).

    ``rows`` were read, ``duplicates`` merged into a row with the same timestamp,
    ``non_finite`` empty, NaN or infinite; ``missing`` grid points had no value.
    """

    index: pd.DatetimeIndex
    values: np.ndarray
    period: pd.Timedelta
    rows: int
    duplicates: int
    non_finite: int
    missing: int

    @property
    def points(self) -> int:
        """Number of grid points."""
        return len(self.values)

    @property
    def missing_share(self) -> float:
        """Share of grid points that had no value."""
        return self.missing / self.points if self.points else 0.0


@dataclass(frozen=True)
class FilledSeries:
    """A regular series with its short gaps interpolated (the longest: points)."""

    series: RegularSeries
    interpolated: int
    max_filled_gap: int

    @property
    def unfilled(self) -> int:
        """Points left missing (inside long gaps)."""
        return int(np.isnan(self.series.values).sum())


def regularise(raw: pd.Series) -> RegularSeries:
    """Puts the rows as read on the nearest grid point, averaging collisions.

    Raises:
        InputError: Fewer than two distinct timestamps with values, a grid that
            would be too long, or too many missing points.
    """
    frame = raw.sort_index()
    merged = frame.groupby(level=0).mean()
    duplicates = len(frame) - len(merged)
    merged = merged[np.isfinite(merged.to_numpy())]
    if len(merged) < 2:
        raise InputError(
            f"Too few points: the input has {len(merged)} timestamp(s) with a "
            "numeric value."
        )
    offsets_s = (merged.index - merged.index[0]).total_seconds().to_numpy()
    period_s = sampling_period_s(float(np.median(np.diff(offsets_s))))
    period = pd.Timedelta(seconds=period_s)
    grid_points = int(offsets_s[-1] // period_s) + 1
    if grid_points > MAX_GRID_POINTS:
        raise InputError(
            f"The series is too long to analyse: {grid_points} points at a "
            f"sampling period of {format_duration(period)}; the limit is "
            f"{MAX_GRID_POINTS} points. Resample the data to a coarser period."
        )
    cells = np.rint(offsets_s / period_s).astype(np.int64)
    cell_means = pd.Series(merged.to_numpy(), index=cells).groupby(level=0).mean()
    values = np.full(int(cells[-1]) + 1, np.nan)
    values[cell_means.index.to_numpy()] = cell_means.to_numpy()
    missing = int(np.isnan(values).sum())
    share = missing / len(values)
    if share > MAX_MISSING_SHARE:
        raise InputError(
            f"{share:.0%} of the {len(values)} points of the regular "
            f"{format_duration(period)} grid have no value (the limit is "
            f"{MAX_MISSING_SHARE:.0%}); the timestamps are too irregular or the "
            "data has too many gaps."
        )
    logger.info(
        "regular grid: %d points every %s, %d missing, %d duplicates merged",
        len(values),
        format_duration(period),
        missing,
        duplicates,
    )
    return RegularSeries(
        index=pd.date_range(merged.index[0], periods=len(values), freq=period),
        values=values,
        period=period,
        rows=len(raw),
        duplicates=duplicates,
        non_finite=int(raw.isna().sum()),
        missing=missing,
    )


def sampling_period_s(median_step_s: float) -> int:
    """The grid period (s): a common period within 10 % of the step, else the step."""
    nearest = min(COMMON_PERIODS_S, key=lambda period: abs(period - median_step_s))
    if abs(nearest - median_step_s) <= SNAP_TOLERANCE * nearest:
        return nearest
    return max(MIN_PERIOD_S, round(median_step_s))


def choose_window(spec: str | None, period: pd.Timedelta, points: int) -> int:
    """The window in points: ``spec`` (points or ``1D``, ``6h``), else about a day.

    Raises:
        InputError: An unreadable window, one under 4 points, or a series
            shorter than four windows.
    """
    if points < MIN_WINDOW_POINTS * MIN_WINDOWS_PER_SERIES:
        raise InputError(
            f"Too few points: the series has {points} points on its regular grid; "
            f"at least {MIN_WINDOW_POINTS * MIN_WINDOWS_PER_SERIES} are needed."
        )
    if spec is None:
        day = round(DEFAULT_WINDOW / period)
        upper = min(MAX_DEFAULT_WINDOW_POINTS, points // MIN_WINDOWS_PER_SERIES)
        return max(MIN_WINDOW_POINTS, min(day, upper))
    window = parse_window(spec, period)
    if window < MIN_WINDOW_POINTS:
        raise InputError(
            f"The window '{spec}' covers {window} point(s) at a sampling period of "
            f"{format_duration(period)}; it must cover at least {MIN_WINDOW_POINTS}."
        )
    if points < window * MIN_WINDOWS_PER_SERIES:
        raise InputError(
            f"Too few points for the window '{spec}' ({window} points): the series "
            f"has {points} points and needs at least {window * MIN_WINDOWS_PER_SERIES}"
            f" ({MIN_WINDOWS_PER_SERIES} windows)."
        )
    return window


def parse_window(spec: str, period: pd.Timedelta) -> int:
    """Points (rounded) of a window given as ``"96"`` points or a duration ``"1D"``.

    Raises:
        InputError: Neither a number of points nor a positive duration.
    """
    text = spec.strip()
    if text.isdigit():
        return int(text)
    try:
        duration = pd.to_timedelta(text)
    except ValueError as error:
        raise InputError(
            f"The window '{spec}' is neither a number of points nor a duration "
            "such as '1D', '6h' or '90min'."
        ) from error
    if duration <= pd.Timedelta(0):
        raise InputError(f"The window '{spec}' must be a positive duration.")
    return round(duration / period)


def fill_short_gaps(series: RegularSeries, window: int) -> FilledSeries:
    """Interpolates gaps of at most ``window // 8`` points (at least one) linearly.

    Unlike pandas' ``interpolate(limit=...)``, longer gaps stay wholly missing.
    """
    limit = max(1, window // GAP_FILL_WINDOW_DIVISOR)
    values = series.values.copy()
    edges = np.diff(np.concatenate(([0], np.isnan(values).astype(np.int8), [0])))
    interpolated = longest = 0
    for start, stop in zip(
        np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True
    ):
        length = int(stop - start)
        if length > limit:
            continue
        left, right = values[start - 1], values[stop]
        steps = np.arange(1, length + 1) / (length + 1)
        values[start:stop] = left + (right - left) * steps
        interpolated += length
        longest = max(longest, length)
    return FilledSeries(replace(series, values=values), interpolated, longest)


def format_duration(duration: pd.Timedelta) -> str:
    """A compact human duration: ``15 min``, ``1 h 30 min``, ``2 days``."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in DURATION_UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            plural = "s" if unit == "day" and count > 1 else ""
            parts.append(f"{count} {unit}{plural}")
    return " ".join(parts) or "0 s"
