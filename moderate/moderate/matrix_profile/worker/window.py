"""Choosing the subsequence length (window) of the matrix profile."""

import pandas as pd

from moderate.matrix_profile.worker.errors import InputError
from moderate.matrix_profile.worker.series import format_duration

DEFAULT_WINDOW = pd.Timedelta(days=1)
MIN_WINDOW_POINTS = 4
MAX_DEFAULT_WINDOW_POINTS = 2_000
MIN_WINDOWS_PER_SERIES = 4


def choose_window(spec: str | None, period: pd.Timedelta, points: int) -> int:
    """The window in points.

    Args:
        spec: An integer number of points, a pandas offset alias (``1D``,
            ``6h``, ``90min``), or None for one day of ``period``. The default
            is bounded to ``[4, min(2000, points // 4)]``; an explicit window is
            used as given.
        period: Sampling period of the series.
        points: Length of the series.

    Returns:
        The window length in points.

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
    """Converts a window given as points or as a duration into points.

    Args:
        spec: ``"96"`` (points) or a fixed-length offset alias like ``"1D"``.
        period: Sampling period used to convert a duration.

    Returns:
        Number of points (rounded).

    Raises:
        InputError: Not a positive integer nor a fixed-length duration.
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
