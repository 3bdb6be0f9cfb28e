"""The report's four figures, drawn as SVG text.

Home-grown: matplotlib's import and first figure cost ~0.9 s CPU per worker.
The time axes count grid points, with ticks at round times.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from html import escape

import numpy as np
import pandas as pd

from moderate.matrix_profile.worker.analysis import Analysis
from moderate.matrix_profile.worker.series import RegularSeries

WIDE = (1200, 360)
WIDE_BOX = (72, 34, 1110, 270)  # plot area: left, top, width, height (px)
PANEL_SIZE = (400, 260)
PANEL_MARGINS = (64, 12, 30, 52)  # left, right, top, bottom (px)
PANELS_PER_ROW = 3
POINTS_PER_PIXEL_COLUMN = 3
MAX_TIME_TICKS = 8
MAX_Y_TICKS = 6
HOUR = 3600
DAY = 24 * HOUR
# Tick spacings in seconds; months and years are approximated by 30 and 365 days.
TIME_STEPS = tuple(step * HOUR for step in (1, 2, 3, 6, 12)) + tuple(
    step * DAY for step in (1, 2, 7, 14, 30, 91, 182, 365, 730, 1825)
)
NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
SERIES_COLOUR = "#1f4e79"
DISCORD_COLOUR = "#c0392b"
NEIGHBOUR_COLOUR = "#7f8c8d"
MOTIF_COLOURS = ("#1f77b4", "#e67e22")
TEXT_COLOUR = "#222222"
AXIS_COLOUR = "#555555"
GRID_COLOUR = "#d9d9d9"
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
FONT_SIZE = 12
TITLE_SIZE = 13
SMALL_SIZE = 10
SHADE_STYLE = {"fill": DISCORD_COLOUR, "fill_opacity": "0.25"}
LEGEND_STYLE = {"fill": "#ffffff", "fill_opacity": "0.85", "stroke": GRID_COLOUR}
LINE_WIDTH = 0.7
TICK_LENGTH = 4
Y_PADDING = 0.05
MARKER_RADIUS = 4
LEGEND_LINE = 18
LEGEND_ROW = 14
LEGEND_CHAR_WIDTH = 0.6


@dataclass(frozen=True)
class _Box:
    """A plot area in pixels (origin top left)."""

    left: float
    top: float
    width: float
    height: float


@dataclass
class _Panel:
    """One set of axes: data ranges mapped onto a box of the picture."""

    box: _Box
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    parts: list[str] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)

    def x(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Pixel columns of data x values."""
        low, high = self.x_range
        scale = self.box.width / (high - low) if high > low else 0.0
        return self.box.left + (np.asarray(values, dtype=np.float64) - low) * scale

    def y(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Pixel rows of data y values."""
        low, high = self.y_range
        scale = self.box.height / (high - low) if high > low else 0.0
        bottom = self.box.top + self.box.height
        return bottom - (np.asarray(values, dtype=np.float64) - low) * scale

    def line(
        self, xs: np.ndarray, ys: np.ndarray, colour: str, width: float, label: str = ""
    ) -> None:
        """A line through the points, broken where ``ys`` is NaN."""
        commands: list[str] = []
        pen_down = False
        for x, y in zip(self.x(xs).tolist(), self.y(ys).tolist(), strict=True):
            drawn = math.isfinite(x) and math.isfinite(y)
            if drawn:
                commands.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
            pen_down = drawn
        if commands:
            style = {"stroke_width": str(width), "stroke_linejoin": "round"}
            path = " ".join(commands)
            self.parts.append(_tag("path", d=path, fill="none", stroke=colour, **style))
        if label:
            self.legend.append(("line", colour, label))

    def markers(
        self, xs: Sequence[int], ys: np.ndarray, colour: str, shape: str, label: str
    ) -> None:
        """Point markers (``circle`` or downward ``triangle``) with a legend entry."""
        for x, y in zip(self.x(xs).tolist(), self.y(ys).tolist(), strict=True):
            if math.isfinite(x) and math.isfinite(y):
                self.parts.append(_marker(shape, x, y, colour))
        self.legend.append((shape, colour, label))

    def band(self, start: float, end: float, text: str) -> None:
        """A shaded discord band over the whole height, labelled at its top."""
        left, right = self.x([start, end]).tolist()
        top, width, height = self.box.top, max(right - left, 1.0), self.box.height
        self.parts.append(_rect(left, top, width, height, **SHADE_STYLE))
        label_top = top + FONT_SIZE + 1
        self.parts.append(_text(left + 2, label_top, text, "start", DISCORD_COLOUR))

    def frame(
        self,
        x_ticks: Sequence[tuple[float, str]],
        title: str,
        y_label: str,
        x_label: str = "",
    ) -> str:
        """The panel's SVG: grid, content, axes, ticks, labels and legend."""
        box = self.box
        bottom, right = box.top + box.height, box.left + box.width
        grid: list[str] = []
        ticks: list[str] = []
        for value in _nice_ticks(*self.y_range):
            y = float(self.y([value])[0])
            grid.append(_segment(box.left, y, right, y, GRID_COLOUR))
            ticks.append(_segment(box.left - TICK_LENGTH, y, box.left, y, AXIS_COLOUR))
            label = f"{value:.6g}"
            tick_left = box.left - TICK_LENGTH - 2
            ticks.append(_text(tick_left, y + 4, label, "end", size=SMALL_SIZE))
        for value, text in x_ticks:
            x = float(self.x([value])[0])
            if box.left - 0.5 <= x <= right + 0.5:
                grid.append(_segment(x, box.top, x, bottom, GRID_COLOUR))
                ticks.append(_segment(x, bottom, x, bottom + TICK_LENGTH, AXIS_COLOUR))
                tick_top = bottom + TICK_LENGTH + SMALL_SIZE + 2
                ticks.append(_text(x, tick_top, text, size=SMALL_SIZE))
        centre, middle = box.left + box.width / 2, box.top + box.height / 2
        labels = [_text(centre, box.top - 8, title, size=TITLE_SIZE)]
        if x_label:
            labels.append(_text(centre, bottom + 34, x_label))
        turn = f"rotate(-90 {box.left - 46:.1f} {middle:.1f})"
        labels.append(_text(box.left - 46, middle, y_label, transform=turn))
        outline = _rect(*astuple(box), fill="none", stroke=AXIS_COLOUR)
        legend = self._legend(right, box.top) if self.legend else ""
        return "".join([*grid, *self.parts, outline, *ticks, *labels, legend])

    def _legend(self, right: float, top: float) -> str:
        longest = max(len(label) for _, _, label in self.legend)
        width = LEGEND_LINE + 14 + longest * SMALL_SIZE * LEGEND_CHAR_WIDTH
        left = right - width - 6
        height = LEGEND_ROW * len(self.legend) + 6.0
        parts = [_rect(left, top + 6, width, height, **LEGEND_STYLE)]
        for row, (shape, colour, label) in enumerate(self.legend):
            y = top + 9 + LEGEND_ROW * row + LEGEND_ROW / 2
            if shape == "line":
                end = left + 4 + LEGEND_LINE
                parts.append(_segment(left + 4, y, end, y, colour, stroke_width="2"))
            else:
                parts.append(_marker(shape, left + 4 + LEGEND_LINE / 2, y, colour))
            legend_left = left + 8 + LEGEND_LINE
            parts.append(_text(legend_left, y + 3.5, label, "start", size=SMALL_SIZE))
        return "".join(parts)


def draw_all(series: RegularSeries, analysis: Analysis, variable: str) -> list[str]:
    """The report's figure sections: series, profile, discord shapes, motif pairs."""
    figures = [
        _series_plot(series, analysis, variable),
        _profile_plot(series, analysis),
    ]
    if analysis.discords:
        figures.append(_shapes(series, analysis, variable, discords=True))
    if analysis.motifs:
        figures.append(_shapes(series, analysis, "z-normalised value", discords=False))
    return figures


def envelope(values: np.ndarray, columns: int = WIDE_BOX[2]) -> np.ndarray:
    """Sorted positions of the points that draw ``values`` the same on ``columns``.

    Each of ``columns`` buckets keeps its minimum, maximum and first NaN.
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
    gaps = (missing.argmax(axis=1) + offsets)[missing.any(axis=1)]
    picked = np.unique(np.concatenate([lowest, highest, gaps]))
    return picked[picked < count]


def _time_ticks(index: pd.DatetimeIndex, count: int) -> list[tuple[float, str]]:
    """Ticks at round UTC times on ``count`` points; time of day if under a day."""
    if count < 2:
        return []
    first = int(index[0].value)
    period = int(index[1].value) - first
    last = first + period * (count - 1)
    span_s = (last - first) / 1e9
    step = next((s for s in TIME_STEPS if span_s / s <= MAX_TIME_TICKS), TIME_STEPS[-1])
    step_ns = step * 1_000_000_000
    pattern = "%Y-%m-%d" if step >= DAY else "%m-%d %H:%M"
    stamps = range(-(-first // step_ns) * step_ns, last + 1, step_ns)
    return [
        ((stamp - first) / period, pd.Timestamp(stamp, tz="UTC").strftime(pattern))
        for stamp in stamps
    ]


def _series_plot(series: RegularSeries, analysis: Analysis, variable: str) -> str:
    values = series.values
    panel = _wide_panel(values)
    for rank, discord in enumerate(analysis.discords, start=1):
        end = min(discord.index + analysis.window, len(values) - 1)
        panel.band(discord.index, end, f"#{rank}")
    shown = envelope(values)
    panel.line(shown, values[shown], SERIES_COLOUR, LINE_WIDTH)
    svg = panel.frame(
        _time_ticks(series.index, len(values)),
        f"{variable} (UTC) with the top discords shaded",
        variable,
    )
    where = ", ".join(
        f"#{rank} at {_when(series.index[d.index])}"
        for rank, d in enumerate(analysis.discords, start=1)
    )
    return _figure(
        "series",
        "Series and anomalies",
        _document(*WIDE, [svg]),
        alt=f"Line chart of {variable} from {_when(series.index[0])} to "
        f"{_when(series.index[-1])} UTC with the top discords shaded in red"
        + (f": {where}." if where else "."),
        caption="The analysed series on its regular grid. Red bands mark the "
        f"{len(analysis.discords)} most unusual windows (discords), numbered "
        "by rank.",
    )


def _profile_plot(series: RegularSeries, analysis: Analysis) -> str:
    shown = np.where(np.isfinite(analysis.profile), analysis.profile, np.nan)
    panel = _wide_panel(shown)
    drawn = envelope(shown)
    panel.line(drawn, shown[drawn], NEIGHBOUR_COLOUR, LINE_WIDTH)
    discord_at = [d.index for d in analysis.discords]
    panel.markers(discord_at, shown[discord_at], DISCORD_COLOUR, "circle", "discords")
    motif_at = [m.index for m in analysis.motifs] + [
        m.neighbour for m in analysis.motifs
    ]
    panel.markers(motif_at, shown[motif_at], MOTIF_COLOURS[0], "triangle", "motifs")
    svg = panel.frame(
        _time_ticks(series.index, len(shown)),
        f"Matrix profile (window {analysis.window} points)",
        "distance to nearest neighbour",
    )
    return _figure(
        "profile",
        "Matrix profile",
        _document(*WIDE, [svg]),
        alt="Line chart of the matrix profile: for each window start, the "
        "z-normalised distance to its most similar window elsewhere. Peaks "
        "are discords (red dots), troughs are motifs (blue triangles).",
        caption="High values mean the window starting there resembles nothing "
        "else in the series; low values mean it repeats. Breaks in the line are "
        "windows that overlap a gap too long to interpolate.",
    )


def _shapes(
    series: RegularSeries, analysis: Analysis, y_label: str, discords: bool
) -> str:
    """Three small panels a row: discords on their nearest windows, or motif pairs."""
    window = analysis.window
    hours = np.arange(window) * series.period.total_seconds() / HOUR
    ticks = [(tick, f"{tick:g}") for tick in _nice_ticks(0.0, float(hours[-1]))]
    width, height = PANEL_SIZE
    left, right, top, bottom = PANEL_MARGINS
    name = "Discord" if discords else "Motif"
    matches = analysis.discords if discords else analysis.motifs
    svgs = []
    for rank, match in enumerate(matches, start=1):
        position = rank - 1
        if discords:
            drawn = [
                (match.neighbour, NEIGHBOUR_COLOUR, 1.0, "nearest: "),
                (match.index, DISCORD_COLOUR, 1.4, f"#{rank}: "),
            ]
        else:
            drawn = [(match.index, MOTIF_COLOURS[0], 1.2, "")]
            drawn.append((match.neighbour, MOTIF_COLOURS[1], 1.2, ""))
        shapes = [series.values[start : start + window] for start, *_ in drawn]
        if not discords:
            shapes = [_znorm(values) for values in shapes]
        box = _Box(
            left=(position % PANELS_PER_ROW) * width + left,
            top=(position // PANELS_PER_ROW) * height + top,
            width=width - left - right,
            height=height - top - bottom,
        )
        panel = _Panel(box, (0.0, float(hours[-1])), _value_range(*shapes))
        for values, (start, colour, line_width, prefix) in zip(
            shapes, drawn, strict=True
        ):
            label = prefix + _when(series.index[start])
            panel.line(hours, values, colour, line_width, label)
        title = f"{name} #{rank} (distance {match.distance:.2f})"
        svgs.append(panel.frame(ticks, title, y_label, "hours into the window"))
    columns = min(len(matches), PANELS_PER_ROW)
    rows = -(-len(matches) // PANELS_PER_ROW)
    svg = _document(width * columns, height * rows, svgs)
    charts = (
        f"{len(matches)} small line charts, one per {name.lower()}, each overlaying"
    )
    if discords:
        return _figure(
            "discords",
            "Discord shapes",
            svg,
            alt=f"{charts} the anomalous window (red) on its most similar window "
            "(grey).",
            caption="Each discord (red) beside the window that resembles it most "
            "(grey), in the original units. Even the best match differs clearly.",
        )
    return _figure(
        "motifs",
        "Motif pairs",
        svg,
        alt=f"{charts} the two most similar windows after z-normalisation.",
        caption="The most repeated patterns: each pair of windows, z-normalised "
        "(mean 0, standard deviation 1) so that their shapes can be compared.",
    )


def _wide_panel(values: np.ndarray) -> _Panel:
    x_range = (0.0, float(max(len(values) - 1, 1)))
    return _Panel(_Box(*WIDE_BOX), x_range, _value_range(values))


def _znorm(values: np.ndarray) -> np.ndarray:
    spread = np.nanstd(values)
    centred = values - np.nanmean(values)
    return centred / spread if spread > 0 else centred


def _when(timestamp: pd.Timestamp) -> str:
    return timestamp.strftime("%Y-%m-%d %H:%M")


def _nice_ticks(low: float, high: float) -> list[float]:
    """Round tick values covering ``[low, high]``, at most ``MAX_Y_TICKS``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / MAX_Y_TICKS
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in NICE_STEPS if s * magnitude >= raw)
    first = math.ceil(low / step) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [first + index * step for index in range(count)]


def _value_range(*arrays: np.ndarray) -> tuple[float, float]:
    """The finite span of ``arrays`` padded by 5 %; ``(0, 1)`` when empty."""
    finite = [a[np.isfinite(a)] for a in arrays if a.size]
    values = np.concatenate(finite) if finite else np.empty(0)
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    if high == low:
        return low - 1.0, high + 1.0
    pad = (high - low) * Y_PADDING
    return low - pad, high + pad


def _figure(key: str, title: str, svg: str, alt: str, caption: str) -> str:
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f'<section aria-labelledby="figure-{key}-title">'
        f'<h3 id="figure-{key}-title">{escape(title)}</h3>'
        f'<figure id="figure-{key}">'
        f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption>"
        "</figure></section>"
    )


def _document(width: int, height: int, panels: Sequence[str]) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'{"".join(panels)}</svg>'
    )


def _tag(name: str, text: str = "", **attributes: object) -> str:
    """An SVG element: ``stroke_width`` is written ``stroke-width``, floats to 0.1."""
    written = " ".join(
        f'{key.replace("_", "-")}="'
        + (f"{value:.1f}" if isinstance(value, float) else escape(str(value)))
        + '"'
        for key, value in attributes.items()
    )
    if text:
        return f"<{name} {written}>{escape(text)}</{name}>"
    return f"<{name} {written}/>"


def _rect(x: float, y: float, width: float, height: float, **style: str) -> str:
    return _tag("rect", x=x, y=y, width=width, height=height, **style)


def _segment(
    x1: float, y1: float, x2: float, y2: float, colour: str, **extra: str
) -> str:
    return _tag("line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=colour, **extra)


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "triangle":
        r = MARKER_RADIUS + 1
        points = f"{x - r:.1f},{y - r:.1f} {x + r:.1f},{y - r:.1f} {x:.1f},{y + r:.1f}"
        return _tag("polygon", points=points, fill=colour)
    return _tag("circle", cx=x, cy=y, r=MARKER_RADIUS, fill=colour)


def _text(
    x: float,
    y: float,
    text: str,
    anchor: str = "middle",
    colour: str = TEXT_COLOUR,
    size: int = FONT_SIZE,
    **extra: str,
) -> str:
    """A text; coloured text (a band's label) is bold."""
    attributes: dict[str, object] = {"x": x, "y": y, "text_anchor": anchor}
    if colour != TEXT_COLOUR:
        attributes.update(fill=colour, font_weight="bold")
    if size != FONT_SIZE:
        attributes["font_size"] = size
    return _tag("text", text, **attributes, **extra)
