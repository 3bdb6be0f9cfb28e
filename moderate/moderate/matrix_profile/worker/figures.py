"""The report's plots, drawn with matplotlib's Agg canvas into PNG bytes.

Figures are built with the object API (no pyplot), so no global backend or
figure registry is involved; matplotlib is imported only when drawing. To keep
drawing cheap, long lines are reduced to the points a pixel column can show
(its first NaN, minimum and maximum: the picture is the same) and the margins
are fixed instead of computed by a layout engine (which draws every text twice).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.analysis import Analysis
from moderate.matrix_profile.worker.series import RegularSeries

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
WIDE = (12.0, 3.6)
WIDE_MARGINS = {"left": 0.06, "right": 0.99, "bottom": 0.15, "top": 0.9}
PANEL_SIZE = (4.0, 2.6)
PANEL_MARGINS_IN = {"left": 0.6, "right": 0.1, "bottom": 0.5, "top": 0.35}
PANEL_GAPS = {"wspace": 0.3, "hspace": 0.55}
PANELS_PER_ROW = 3
POINTS_PER_PIXEL_COLUMN = 3
PLOTTED_COLUMNS = int(WIDE[0] * DPI)
# zlib level 1: a fifth of the encoding time of the default (6), files ~20% larger.
PNG_OPTIONS = {"compress_level": 1}
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
        png: PNG bytes.
        alt: Text alternative describing the figure.
        caption: Caption shown under the figure.
    """

    key: str
    title: str
    png: bytes
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


def _png(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, pil_kwargs=PNG_OPTIONS)
    return buffer.getvalue()


def _wide_figure() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=WIDE, dpi=DPI)
    figure.subplots_adjust(**WIDE_MARGINS)
    return figure, figure.subplots()


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


def _time_axis(axes: Axes) -> None:
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.grid(alpha=0.3)


def _series_plot(series: RegularSeries, analysis: Analysis, variable: str) -> Plot:
    import matplotlib.dates as mdates

    figure, axes = _wide_figure()
    times = series.index.tz_localize(None)
    shown = envelope(series.values)
    axes.plot(
        times[shown], series.values[shown], color=SERIES_COLOUR, linewidth=LINE_WIDTH
    )
    for rank, discord in enumerate(analysis.discords, start=1):
        start = times[discord.index]
        end = times[min(discord.index + analysis.window, len(times) - 1)]
        axes.axvspan(
            mdates.date2num(start),
            mdates.date2num(end),
            color=DISCORD_COLOUR,
            alpha=SHADE_ALPHA,
            linewidth=0,
        )
        axes.annotate(
            f"#{rank}",
            xy=(start, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(2, -12),
            textcoords="offset points",
            color=DISCORD_COLOUR,
            fontweight="bold",
        )
    axes.set_ylabel(variable)
    axes.set_title(f"{variable} (UTC) with the top discords shaded")
    _time_axis(axes)
    where = ", ".join(
        f"#{rank} at {_label(series.index[d.index])}"
        for rank, d in enumerate(analysis.discords, start=1)
    )
    return Plot(
        key="series",
        title="Series and anomalies",
        png=_png(figure),
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
    figure, axes = _wide_figure()
    starts = series.index[: len(analysis.profile)].tz_localize(None)
    shown = np.where(np.isfinite(analysis.profile), analysis.profile, np.nan)
    drawn = envelope(shown)
    axes.plot(starts[drawn], shown[drawn], color=NEIGHBOUR_COLOUR, linewidth=LINE_WIDTH)
    discord_at = [d.index for d in analysis.discords]
    axes.scatter(
        starts[discord_at],
        shown[discord_at],
        color=DISCORD_COLOUR,
        zorder=3,
        label="discords",
    )
    motif_at = [m.index for m in analysis.motifs] + [
        m.neighbour for m in analysis.motifs
    ]
    axes.scatter(
        starts[motif_at],
        shown[motif_at],
        color=MOTIF_COLOURS[0],
        marker="v",
        zorder=3,
        label="motifs",
    )
    axes.set_ylabel("distance to nearest neighbour")
    axes.set_title(f"Matrix profile (window {analysis.window} points)")
    axes.legend(loc="upper right")
    _time_axis(axes)
    return Plot(
        key="profile",
        title="Matrix profile",
        png=_png(figure),
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


def _panels(count: int) -> tuple[Figure, list[Axes]]:
    from matplotlib.figure import Figure

    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // PANELS_PER_ROW)
    width, height = PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows
    figure = Figure(figsize=(width, height), dpi=DPI)
    figure.subplots_adjust(
        left=PANEL_MARGINS_IN["left"] / width,
        right=1 - PANEL_MARGINS_IN["right"] / width,
        bottom=PANEL_MARGINS_IN["bottom"] / height,
        top=1 - PANEL_MARGINS_IN["top"] / height,
        **PANEL_GAPS,
    )
    grid = figure.subplots(rows, columns, squeeze=False)
    axes = list(grid.flat)
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, axes[:count]


def _hours(series: RegularSeries, window: int) -> np.ndarray:
    return np.arange(window) * series.period.total_seconds() / SECONDS_PER_HOUR


def _discord_plot(series: RegularSeries, analysis: Analysis, variable: str) -> Plot:
    window = analysis.window
    figure, axes = _panels(len(analysis.discords))
    hours = _hours(series, window)
    for rank, (discord, panel) in enumerate(
        zip(analysis.discords, axes, strict=True), start=1
    ):
        panel.plot(
            hours,
            series.values[discord.neighbour : discord.neighbour + window],
            color=NEIGHBOUR_COLOUR,
            linewidth=1.0,
            label=f"nearest: {_label(series.index[discord.neighbour])}",
        )
        panel.plot(
            hours,
            series.values[discord.index : discord.index + window],
            color=DISCORD_COLOUR,
            linewidth=1.4,
            label=f"#{rank}: {_label(series.index[discord.index])}",
        )
        panel.set_title(f"Discord #{rank} (distance {discord.distance:.2f})")
        panel.set_xlabel("hours into the window")
        panel.set_ylabel(variable)
        panel.legend(fontsize="small")
        panel.grid(alpha=0.3)
    return Plot(
        key="discords",
        title="Discord shapes",
        png=_png(figure),
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
    figure, axes = _panels(len(analysis.motifs))
    hours = _hours(series, window)
    for rank, (motif, panel) in enumerate(
        zip(analysis.motifs, axes, strict=True), start=1
    ):
        for start, colour in zip(
            (motif.index, motif.neighbour), MOTIF_COLOURS, strict=True
        ):
            panel.plot(
                hours,
                _znorm(series.values[start : start + window]),
                color=colour,
                linewidth=1.2,
                label=_label(series.index[start]),
            )
        panel.set_title(f"Motif #{rank} (distance {motif.distance:.2f})")
        panel.set_xlabel("hours into the window")
        panel.set_ylabel("z-normalised value")
        panel.legend(fontsize="small")
        panel.grid(alpha=0.3)
    return Plot(
        key="motifs",
        title="Motif pairs",
        png=_png(figure),
        alt=(
            f"{len(analysis.motifs)} small line charts, one per motif, each "
            "overlaying the two most similar windows after z-normalisation."
        ),
        caption=(
            "The most repeated patterns: each pair of windows, z-normalised (mean 0, "
            "standard deviation 1) so that their shapes can be compared."
        ),
    )
