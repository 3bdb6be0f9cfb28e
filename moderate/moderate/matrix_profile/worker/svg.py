"""Minimal SVG line charts (axes, ticks, lines, bands, markers, legends).

Home-grown: the report needs four fixed line charts; importing matplotlib and
drawing its first figure cost ~0.9 s CPU in every worker process, and SVG is
text that a self-contained HTML page embeds as is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
TEXT_COLOUR = "#222222"
AXIS_COLOUR = "#555555"
GRID_COLOUR = "#d9d9d9"
FONT_SIZE = 12
TITLE_SIZE = 13
SMALL_SIZE = 10
TICK_LENGTH = 4
MAX_Y_TICKS = 6
Y_PADDING = 0.05
MARKER_RADIUS = 4
LEGEND_LINE = 18
LEGEND_ROW = 14
LEGEND_CHAR_WIDTH = 0.6
NICE_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Box:
    """A plot area in pixels (origin top left)."""

    left: float
    top: float
    width: float
    height: float


def nice_ticks(low: float, high: float, most: int = MAX_Y_TICKS) -> list[float]:
    """Round tick values covering ``[low, high]`` with at most ``most`` ticks."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in NICE_STEPS if s * magnitude >= raw)
    first = math.ceil(low / step) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [first + index * step for index in range(count)]


def value_range(*arrays: np.ndarray) -> tuple[float, float]:
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


def _label(value: float) -> str:
    return f"{value:.6g}"


@dataclass
class Panel:
    """One set of axes: data ranges mapped onto a box of the picture.

    Attributes:
        key: Identifier unique within the picture (names its clip path).
        box: Plot area in pixels.
        x_range: Data values at the left and right edges.
        y_range: Data values at the bottom and top edges.
        parts: SVG elements drawn inside the plot area.
        legend_entries: (shape, colour, label) of each labelled element.
    """

    key: str
    box: Box
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    parts: list[str] = field(default_factory=list)
    legend_entries: list[tuple[str, str, str]] = field(default_factory=list)

    def _x(self, values: np.ndarray) -> np.ndarray:
        low, high = self.x_range
        scale = self.box.width / (high - low) if high > low else 0.0
        return self.box.left + (np.asarray(values, dtype=np.float64) - low) * scale

    def _y(self, values: np.ndarray) -> np.ndarray:
        low, high = self.y_range
        scale = self.box.height / (high - low) if high > low else 0.0
        bottom = self.box.top + self.box.height
        return bottom - (np.asarray(values, dtype=np.float64) - low) * scale

    def line(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        colour: str,
        width: float,
        label: str | None = None,
    ) -> None:
        """A line through the points, broken where ``ys`` is NaN."""
        px, py = self._x(xs), self._y(ys)
        finite = np.isfinite(px) & np.isfinite(py)
        commands: list[str] = []
        pen_down = False
        for x, y, ok in zip(px.tolist(), py.tolist(), finite.tolist(), strict=True):
            if not ok:
                pen_down = False
                continue
            commands.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
            pen_down = True
        if commands:
            self.parts.append(
                f'<path d="{" ".join(commands)}" fill="none" stroke="{colour}" '
                f'stroke-width="{width}" stroke-linejoin="round"/>'
            )
        if label is not None:
            self.legend_entries.append(("line", colour, label))

    def band(self, start: float, end: float, colour: str, opacity: float) -> None:
        """A vertical band over the whole height between two x values."""
        left, right = self._x(np.array([start, end])).tolist()
        self.parts.append(
            f'<rect x="{left:.1f}" y="{self.box.top:.1f}" '
            f'width="{max(right - left, 1.0):.1f}" height="{self.box.height:.1f}" '
            f'fill="{colour}" fill-opacity="{opacity}"/>'
        )

    def markers(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        colour: str,
        shape: str = "circle",
        label: str | None = None,
    ) -> None:
        """Point markers (``circle`` or downward ``triangle``)."""
        px, py = self._x(np.asarray(xs)), self._y(np.asarray(ys))
        for x, y in zip(px.tolist(), py.tolist(), strict=True):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue
            self.parts.append(_marker(shape, x, y, colour))
        if label is not None:
            self.legend_entries.append((shape, colour, label))

    def note(self, x: float, text: str, colour: str) -> None:
        """Bold text just inside the top edge at data position ``x``."""
        left = float(self._x(np.array([x]))[0]) + 2
        self.parts.append(
            _text(left, self.box.top + FONT_SIZE + 1, text, "start", colour, bold=True)
        )

    def frame(
        self,
        x_ticks: Sequence[tuple[float, str]],
        title: str,
        x_label: str | None = None,
        y_label: str | None = None,
    ) -> str:
        """The panel's SVG: grid, content, axes, ticks, labels and legend."""
        box = self.box
        bottom, right = box.top + box.height, box.left + box.width
        grid: list[str] = []
        ticks: list[str] = []
        for value in nice_ticks(*self.y_range):
            y = float(self._y(np.array([value]))[0])
            grid.append(_hline(box.left, right, y, GRID_COLOUR))
            ticks.append(_hline(box.left - TICK_LENGTH, box.left, y, AXIS_COLOUR))
            ticks.append(
                _text(
                    box.left - TICK_LENGTH - 2, y + 4, _label(value), "end", small=True
                )
            )
        for value, text in x_ticks:
            x = float(self._x(np.array([value]))[0])
            if not box.left - 0.5 <= x <= right + 0.5:
                continue
            grid.append(_vline(x, box.top, bottom, GRID_COLOUR))
            ticks.append(_vline(x, bottom, bottom + TICK_LENGTH, AXIS_COLOUR))
            ticks.append(
                _text(x, bottom + TICK_LENGTH + SMALL_SIZE + 2, text, small=True)
            )
        labels = [
            _text(box.left + box.width / 2, box.top - 8, title, size=TITLE_SIZE),
        ]
        if x_label:
            labels.append(_text(box.left + box.width / 2, bottom + 34, x_label))
        if y_label:
            x = box.left - 46
            y = box.top + box.height / 2
            labels.append(_text(x, y, y_label, rotate=f"rotate(-90 {x:.1f} {y:.1f})"))
        outline = (
            f'<rect x="{box.left:.1f}" y="{box.top:.1f}" width="{box.width:.1f}" '
            f'height="{box.height:.1f}" fill="none" stroke="{AXIS_COLOUR}"/>'
        )
        clip = f"clip-{self.key}"
        content = (
            f'<clipPath id="{clip}"><rect x="{box.left:.1f}" y="{box.top:.1f}" '
            f'width="{box.width:.1f}" height="{box.height:.1f}"/></clipPath>'
            f'<g clip-path="url(#{clip})">{"".join(self.parts)}</g>'
        )
        return "".join(
            [*grid, content, outline, *ticks, *labels, self._legend(right, box.top)]
        )

    def _legend(self, right: float, top: float) -> str:
        if not self.legend_entries:
            return ""
        longest = max(len(label) for _, _, label in self.legend_entries)
        width = LEGEND_LINE + 14 + longest * SMALL_SIZE * LEGEND_CHAR_WIDTH
        height = LEGEND_ROW * len(self.legend_entries) + 6
        left = right - width - 6
        parts = [
            f'<rect x="{left:.1f}" y="{top + 6:.1f}" width="{width:.1f}" '
            f'height="{height:.1f}" fill="#ffffff" fill-opacity="0.85" '
            f'stroke="{GRID_COLOUR}"/>'
        ]
        for row, (shape, colour, label) in enumerate(self.legend_entries):
            y = top + 6 + 3 + LEGEND_ROW * row + LEGEND_ROW / 2
            if shape == "line":
                parts.append(
                    f'<line x1="{left + 4:.1f}" y1="{y:.1f}" '
                    f'x2="{left + 4 + LEGEND_LINE:.1f}" y2="{y:.1f}" '
                    f'stroke="{colour}" stroke-width="2"/>'
                )
            else:
                parts.append(_marker(shape, left + 4 + LEGEND_LINE / 2, y, colour))
            parts.append(
                _text(left + 8 + LEGEND_LINE, y + 3.5, label, "start", small=True)
            )
        return "".join(parts)


def document(width: int, height: int, panels: Sequence[str]) -> str:
    """A standalone SVG picture of the given panels (from :meth:`Panel.frame`)."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}">'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'{"".join(panels)}</svg>'
    )


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "triangle":
        r = MARKER_RADIUS + 1
        return (
            f'<polygon points="{x - r:.1f},{y - r:.1f} {x + r:.1f},{y - r:.1f} '
            f'{x:.1f},{y + r:.1f}" fill="{colour}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARKER_RADIUS}" fill="{colour}"/>'


def _hline(left: float, right: float, y: float, colour: str) -> str:
    return (
        f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" '
        f'stroke="{colour}"/>'
    )


def _vline(x: float, top: float, bottom: float, colour: str) -> str:
    return (
        f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" '
        f'stroke="{colour}"/>'
    )


def _text(
    x: float,
    y: float,
    text: str,
    anchor: str = "middle",
    colour: str = TEXT_COLOUR,
    *,
    size: int | None = None,
    small: bool = False,
    bold: bool = False,
    rotate: str | None = None,
) -> str:
    attributes = [f'x="{x:.1f}"', f'y="{y:.1f}"', f'text-anchor="{anchor}"']
    if colour != TEXT_COLOUR:
        attributes.append(f'fill="{colour}"')
    if size is not None or small:
        attributes.append(f'font-size="{size if size is not None else SMALL_SIZE}"')
    if bold:
        attributes.append('font-weight="bold"')
    if rotate:
        attributes.append(f'transform="{rotate}"')
    return f"<text {' '.join(attributes)}>{escape(text)}</text>"
