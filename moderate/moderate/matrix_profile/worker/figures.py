"""The report's plots, drawn with matplotlib's Agg canvas into PNG bytes.

Figures are built with the object API (no pyplot), so no global backend or
figure registry is involved.
"""

import io
from dataclasses import dataclass

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from moderate.matrix_profile.worker.analysis import Analysis
from moderate.matrix_profile.worker.series import RegularSeries

DPI = 100
WIDE = (12.0, 3.6)
PANEL_SIZE = (4.0, 2.6)
PANELS_PER_ROW = 3
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
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _label(timestamp: pd.Timestamp) -> str:
    return timestamp.strftime("%Y-%m-%d %H:%M")


def _time_axis(axes: Axes) -> None:
    locator = mdates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes.grid(alpha=0.3)


def _series_plot(series: RegularSeries, analysis: Analysis, variable: str) -> Plot:
    figure = Figure(figsize=WIDE, dpi=DPI, layout="constrained")
    axes = figure.subplots()
    times = series.index.tz_localize(None)
    axes.plot(times, series.values, color=SERIES_COLOUR, linewidth=LINE_WIDTH)
    for rank, discord in enumerate(analysis.discords, start=1):
        start = times[discord.index]
        end = times[min(discord.index + analysis.window, len(times) - 1)]
        axes.axvspan(start, end, color=DISCORD_COLOUR, alpha=SHADE_ALPHA, linewidth=0)
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
    figure = Figure(figsize=WIDE, dpi=DPI, layout="constrained")
    axes = figure.subplots()
    starts = series.index[: len(analysis.profile)].tz_localize(None)
    shown = np.where(np.isfinite(analysis.profile), analysis.profile, np.nan)
    axes.plot(starts, shown, color=NEIGHBOUR_COLOUR, linewidth=LINE_WIDTH)
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
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // PANELS_PER_ROW)
    figure = Figure(
        figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows),
        dpi=DPI,
        layout="constrained",
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
