"""The report's plots, drawn as SVG documents (see ``svg``).

Long lines are reduced to the points a pixel column can show (its first NaN,
minimum and maximum: the picture is the same). The x axis of the time plots
counts grid points (the grid is regular); its ticks are placed at round times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.analysis import Analysis
from moderate.matrix_profile.worker.series import RegularSeries
from moderate.matrix_profile.worker.svg import (
    Box,
    Panel,
    document,
    nice_ticks,
    value_range,
)

WIDE = (1200, 360)
WIDE_BOX = Box(left=72, top=34, width=1110, height=270)
PANEL_SIZE = (400, 260)
PANEL_MARGINS = {"left": 64, "right": 12, "top": 30, "bottom": 52}
PANELS_PER_ROW = 3
POINTS_PER_PIXEL_COLUMN = 3
PLOTTED_COLUMNS = int(WIDE_BOX.width)
MAX_TIME_TICKS = 8
HOUR = 3600
DAY = 24 * HOUR
# Tick spacings in seconds; months and years are approximated by 30 and 365 days.
TIME_STEPS = tuple(step * HOUR for step in (1, 2, 3, 6, 12)) + tuple(
    step * DAY for step in (1, 2, 7, 14, 30, 91, 182, 365, 730, 1825)
)
SERIES_COLOUR = "#1f4e79"
DISCORD_COLOUR = "#c0392b"
NEIGHBOUR_COLOUR = "#7f8c8d"
MOTIF_COLOURS = ("#1f77b4", "#e67e22")
SHADE_ALPHA = 0.25
LINE_WIDTH = 0.7
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Plot:
    """One rendered figure.

    Attributes:
        key: Stable identifier (used as the HTML element id).
        title: Heading shown above the figure.
        svg: SVG document.
        alt: Text alternative describing the figure.
        caption: Caption shown under the figure.
    """

    key: str
    title: str
    svg: str
    alt: str
    caption: str


def draw_all(series: RegularSeries, analysis: Analysis, variable: str) -> list[Plot]:
    """The four figures of the report.

    Args:
        series: Regular series (short gaps interpolated).
        analysis: Its matrix profile, discords and motifs.
        variable: Name of the analysis variable, for labels.

    Returns:
        Series with discords, matrix profile, discord shapes, motif pairs.
    """
    plots = [
        _series_plot(series, analysis, variable),
        _profile_plot(series, analysis),
    ]
    if analysis.discords:
        plots.append(_discord_plot(series, analysis, variable))
    if analysis.motifs:
        plots.append(_motif_plot(series, analysis))
    return plots


def envelope(values: np.ndarray, columns: int = PLOTTED_COLUMNS) -> np.ndarray:
    """Positions of the points that draw ``values`` the same on ``columns`` pixels.

    The series is cut into ``columns`` consecutive buckets; each keeps its
    minimum, its maximum and its first NaN (so a gap still breaks the line).

    Args:
        values: The line's values, NaN where it breaks.
        columns: Horizontal resolution of the plot.

    Returns:
        Sorted positions into ``values``; all of them when the series is short.
    """
    count = len(values)
    if count <= POINTS_PER_PIXEL_COLUMN * columns:
        return np.arange(count)
    size = -(-count // columns)
    padded = np.full(columns * size, np.nan)
    padded[:count] = values
    grid = padded.reshape(columns, size)
    missing = np.isnan(grid)
    offsets = np.arange(columns) * size
    lowest = np.where(missing, np.inf, grid).argmin(axis=1) + offsets
    highest = np.where(missing, -np.inf, grid).argmax(axis=1) + offsets
    gaps = missing.argmax(axis=1) + offsets
    gaps = gaps[missing.any(axis=1)]
    picked = np.unique(np.concatenate([lowest, highest, gaps]))
    return picked[picked < count]


def _label(timestamp: pd.Timestamp) -> str:
    return timestamp.strftime("%Y-%m-%d %H:%M")


def time_ticks(index: pd.DatetimeIndex, count: int) -> list[tuple[float, str]]:
    """Ticks at round UTC times over the first ``count`` points of a regular grid.

    Returns:
        (grid position, label) pairs; labels show the time of day only when
        the ticks are less than a day apart.
    """
    if count < 2:
        return []
    first = int(index[0].value)
    period = int(index[1].value) - first
    last = first + period * (count - 1)
    span = (last - first) / 1e9
    step = next((s for s in TIME_STEPS if span / s <= MAX_TIME_TICKS), TIME_STEPS[-1])
    step_ns = step * 1_000_000_000
    stamp = -(-first // step_ns) * step_ns
    pattern = "%Y-%m-%d" if step >= DAY else "%m-%d %H:%M"
    ticks = []
    while stamp <= last:
        when = pd.Timestamp(stamp, tz="UTC")
        ticks.append(((stamp - first) / period, when.strftime(pattern)))
        stamp += step_ns
    return ticks


def _wide_panel(key: str, count: int, y: tuple[float, float]) -> Panel:
    return Panel(key, WIDE_BOX, (0.0, float(max(count - 1, 1))), y)


def _series_plot(series: RegularSeries, analysis: Analysis, variable: str) -> Plot:
    values = series.values
    panel = _wide_panel("series", len(values), value_range(values))
    last = len(values) - 1
    for rank, discord in enumerate(analysis.discords, start=1):
        end = min(discord.index + analysis.window, last)
        panel.band(discord.index, end, DISCORD_COLOUR, SHADE_ALPHA)
        panel.note(discord.index, f"#{rank}", DISCORD_COLOUR)
    shown = envelope(values)
    panel.line(shown, values[shown], SERIES_COLOUR, LINE_WIDTH)
    svg = panel.frame(
        time_ticks(series.index, len(values)),
        f"{variable} (UTC) with the top discords shaded",
        y_label=variable,
    )
    where = ", ".join(
        f"#{rank} at {_label(series.index[d.index])}"
        for rank, d in enumerate(analysis.discords, start=1)
    )
    return Plot(
        key="series",
        title="Series and anomalies",
        svg=document(*WIDE, [svg]),
        alt=(
            f"Line chart of {variable} from {_label(series.index[0])} to "
            f"{_label(series.index[-1])} UTC with the top discords shaded in red"
            + (f": {where}." if where else ".")
        ),
        caption=(
            f"The analysed series on its regular grid. Red bands mark the "
            f"{len(analysis.discords)} most unusual windows (discords), numbered "
            "by rank."
        ),
    )


def _profile_plot(series: RegularSeries, analysis: Analysis) -> Plot:
    shown = np.where(np.isfinite(analysis.profile), analysis.profile, np.nan)
    panel = _wide_panel("profile", len(shown), value_range(shown))
    drawn = envelope(shown)
    panel.line(drawn, shown[drawn], NEIGHBOUR_COLOUR, LINE_WIDTH)
    discord_at = [d.index for d in analysis.discords]
    panel.markers(
        discord_at, shown[discord_at].tolist(), DISCORD_COLOUR, label="discords"
    )
    motif_at = [m.index for m in analysis.motifs] + [
        m.neighbour for m in analysis.motifs
    ]
    panel.markers(
        motif_at,
        shown[motif_at].tolist(),
        MOTIF_COLOURS[0],
        shape="triangle",
        label="motifs",
    )
    svg = panel.frame(
        time_ticks(series.index, len(shown)),
        f"Matrix profile (window {analysis.window} points)",
        y_label="distance to nearest neighbour",
    )
    return Plot(
        key="profile",
        title="Matrix profile",
        svg=document(*WIDE, [svg]),
        alt=(
            "Line chart of the matrix profile: for each window start, the "
            "z-normalised distance to its most similar window elsewhere. Peaks "
            "are discords (red dots), troughs are motifs (blue triangles)."
        ),
        caption=(
            "High values mean the window starting there resembles nothing else in "
            "the series; low values mean it repeats. Breaks in the line are windows "
            "that overlap a gap too long to interpolate."
        ),
    )


def _grid(count: int) -> tuple[tuple[int, int], list[Box]]:
    """Picture size and plot areas of ``count`` small panels, three per row."""
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // PANELS_PER_ROW)
    width, height = PANEL_SIZE
    margins = PANEL_MARGINS
    boxes = [
        Box(
            left=(position % PANELS_PER_ROW) * width + margins["left"],
            top=(position // PANELS_PER_ROW) * height + margins["top"],
            width=width - margins["left"] - margins["right"],
            height=height - margins["top"] - margins["bottom"],
        )
        for position in range(count)
    ]
    return (width * columns, height * rows), boxes


def _hours(series: RegularSeries, window: int) -> np.ndarray:
    return np.arange(window) * series.period.total_seconds() / SECONDS_PER_HOUR


def _hour_ticks(hours: np.ndarray) -> list[tuple[float, str]]:
    return [(tick, f"{tick:g}") for tick in nice_ticks(0.0, float(hours[-1]))]


def _discord_plot(series: RegularSeries, analysis: Analysis, variable: str) -> Plot:
    window = analysis.window
    size, boxes = _grid(len(analysis.discords))
    hours = _hours(series, window)
    svgs = []
    for rank, (discord, box) in enumerate(
        zip(analysis.discords, boxes, strict=True), start=1
    ):
        nearest = series.values[discord.neighbour : discord.neighbour + window]
        own = series.values[discord.index : discord.index + window]
        panel = Panel(
            f"discord-{rank}", box, (0.0, float(hours[-1])), value_range(nearest, own)
        )
        panel.line(
            hours,
            nearest,
            NEIGHBOUR_COLOUR,
            1.0,
            label=f"nearest: {_label(series.index[discord.neighbour])}",
        )
        panel.line(
            hours,
            own,
            DISCORD_COLOUR,
            1.4,
            label=f"#{rank}: {_label(series.index[discord.index])}",
        )
        svgs.append(
            panel.frame(
                _hour_ticks(hours),
                f"Discord #{rank} (distance {discord.distance:.2f})",
                x_label="hours into the window",
                y_label=variable,
            )
        )
    return Plot(
        key="discords",
        title="Discord shapes",
        svg=document(*size, svgs),
        alt=(
            f"{len(analysis.discords)} small line charts, one per discord, each "
            "overlaying the anomalous window (red) on its most similar window "
            "(grey)."
        ),
        caption=(
            "Each discord (red) beside the window that resembles it most (grey), in "
            "the original units. Even the best match differs clearly."
        ),
    )


def _znorm(values: np.ndarray) -> np.ndarray:
    spread = np.nanstd(values)
    centred = values - np.nanmean(values)
    return centred / spread if spread > 0 else centred


def _motif_plot(series: RegularSeries, analysis: Analysis) -> Plot:
    window = analysis.window
    size, boxes = _grid(len(analysis.motifs))
    hours = _hours(series, window)
    svgs = []
    for rank, (motif, box) in enumerate(
        zip(analysis.motifs, boxes, strict=True), start=1
    ):
        pair = [
            _znorm(series.values[start : start + window])
            for start in (motif.index, motif.neighbour)
        ]
        panel = Panel(f"motif-{rank}", box, (0.0, float(hours[-1])), value_range(*pair))
        for start, values, colour in zip(
            (motif.index, motif.neighbour), pair, MOTIF_COLOURS, strict=True
        ):
            panel.line(hours, values, colour, 1.2, label=_label(series.index[start]))
        svgs.append(
            panel.frame(
                _hour_ticks(hours),
                f"Motif #{rank} (distance {motif.distance:.2f})",
                x_label="hours into the window",
                y_label="z-normalised value",
            )
        )
    return Plot(
        key="motifs",
        title="Motif pairs",
        svg=document(*size, svgs),
        alt=(
            f"{len(analysis.motifs)} small line charts, one per motif, each "
            "overlaying the two most similar windows after z-normalisation."
        ),
        caption=(
            "The most repeated patterns: each pair of windows, z-normalised (mean 0, "
            "standard deviation 1) so that their shapes can be compared."
        ),
    )
