"""The self-contained HTML report (inline CSS, figures as base64 SVG)."""

from datetime import datetime
from html import escape

import pandas as pd

from moderate.matrix_profile.worker.analysis import Analysis
from moderate.matrix_profile.worker.figures import draw_all
from moderate.matrix_profile.worker.series import FilledSeries, format_duration

TITLE = "Matrix profile analysis"
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto; max-width: 1240px; padding: 1.5rem; color: #1b1b1b;
  line-height: 1.45; }
h1 { margin-bottom: 0.2rem; }
.subtitle { color: #444; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #c8c8c8; padding: 0.3rem 0.6rem; text-align: left; }
thead th { background: #eef2f6; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { color: #444; font-size: 0.95rem; margin-top: 0.3rem; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5rem 0.8rem; }
footer { color: #666; font-size: 0.85rem; margin-top: 2rem; }
"""


def render_report(
    input_name: str,
    variable: str,
    filled: FilledSeries,
    analysis: Analysis,
    generated_at: datetime,
) -> str:
    """The complete HTML document, with no external references."""
    shown = escape(variable)
    index = filled.series.index
    window = analysis.window
    discords = [
        [
            f"#{rank}",
            _when(index[discord.index]),
            _when(index[discord.index + window - 1]),
            f"{discord.distance:.3f}",
            _when(index[discord.neighbour]),
        ]
        for rank, discord in enumerate(analysis.discords, start=1)
    ]
    motifs = [
        [
            f"#{rank}",
            _when(index[motif.index]),
            _when(index[motif.neighbour]),
            f"{motif.distance:.3f}",
        ]
        for rank, motif in enumerate(analysis.motifs, start=1)
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{TITLE}: {shown}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{TITLE}</h1>",
        f'<p class="subtitle">Variable <strong>{shown}</strong> of '
        f"<strong>{escape(input_name)}</strong></p>",
        "<p>The series was split into overlapping windows of "
        f"{window} points. For every window the matrix profile gives the "
        "distance to the most similar other window, after removing level and "
        "scale (z-normalisation). <strong>Discords</strong> are windows with the "
        "largest distance: shapes seen nowhere else, i.e. candidate anomalies. "
        "<strong>Motifs</strong> are pairs of windows with the smallest distance: "
        "the most repeated patterns. Distances range from 0 (same shape) to "
        f"{2 * window ** 0.5:.1f} (2&radic;window); a discord matters "
        "when its distance stands well above the typical (median) distance.</p>",
        _notes(filled, analysis),
        '<h2 id="summary">Summary</h2>',
        _table(
            "Input and settings",
            ["Item", "Value"],
            _summary_rows(input_name, variable, filled, analysis),
            "summary-table",
        ),
        '<h2 id="discords-table">Top discords (anomalies)</h2>',
        _table(
            "Windows least like any other, largest distance first",
            ["Rank", "Window start", "Window end", "Distance", "Nearest window"],
            discords,
            "discords",
        ),
        '<h2 id="motifs-table">Top motifs (repeated patterns)</h2>',
        _table(
            "Most similar pairs of windows, smallest distance first",
            ["Rank", "First occurrence", "Second occurrence", "Distance"],
            motifs,
            "motifs",
        ),
        '<h2 id="figures">Figures</h2>',
        *draw_all(filled.series, analysis, variable),
        "</main>",
        f"<footer>Generated {generated_at.strftime(TIME_FORMAT)} with "
        "stumpy's matrix profile (z-normalised Euclidean distance).</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _when(timestamp: pd.Timestamp) -> str:
    return escape(timestamp.strftime(TIME_FORMAT))


def _notes(filled: FilledSeries, analysis: Analysis) -> str:
    notes = []
    if analysis.approximate_share is not None:
        notes.append(
            "This matrix profile is approximate (stumpy.scrump over "
            f"{analysis.approximate_share:.0%} of the comparisons, set by the "
            "platform for long series): each distance is at least the exact one "
            "(the nearest neighbour may have been missed), so motifs are real "
            "pairs but maybe not the closest, and a discord's distance may be "
            "overstated."
        )
    if filled.unfilled:
        notes.append(
            f"{filled.unfilled} points sit in gaps too long to interpolate; the "
            f"{analysis.excluded} windows overlapping them were left out."
        )
    if analysis.flat_windows:
        notes.append(
            f"{analysis.flat_windows} windows hold a single repeated value (an "
            "outage or a stuck sensor?). After z-normalisation all flat windows "
            "look identical (distance 0) and lie at distance "
            f"{analysis.window ** 0.5:.1f} (the square root of the window) from "
            "every other window: long flat stretches show up as motifs and their "
            "edges as discords."
        )
    if filled.series.duplicates:
        notes.append(
            f"{filled.series.duplicates} rows repeated an earlier timestamp and were "
            "averaged with it."
        )
    if not notes:
        return ""
    items = "".join(f"<li>{escape(note)}</li>" for note in notes)
    return f'<div class="note" role="note"><ul>{items}</ul></div>'


def _summary_rows(
    input_name: str, variable: str, filled: FilledSeries, analysis: Analysis
) -> list[list[str]]:
    series = filled.series
    window_span = format_duration(series.period * analysis.window)
    profile = (
        "exact"
        if analysis.approximate_share is None
        else f"approximate ({analysis.approximate_share:.0%} of comparisons)"
    )
    interpolated = (
        f"{filled.interpolated} (longest gap filled: {filled.max_filled_gap})"
    )
    return [
        ["Input file", escape(input_name)],
        ["Analysis variable", escape(variable)],
        ["Rows read", str(series.rows)],
        ["From", _when(series.index[0])],
        ["To", _when(series.index[-1])],
        ["Sampling period", escape(format_duration(series.period))],
        ["Points on the regular grid", str(series.points)],
        ["Missing points", f"{series.missing} ({series.missing_share:.1%})"],
        ["Interpolated points", interpolated],
        ["Empty, NaN or infinite values", str(series.non_finite)],
        ["Duplicated timestamps merged", str(series.duplicates)],
        ["Window", f"{analysis.window} points ({escape(window_span)})"],
        ["Windows compared", str(len(analysis.profile) - analysis.excluded)],
        ["Matrix profile", profile],
        ["Flat windows (one repeated value)", str(analysis.flat_windows)],
        ["Typical distance (median)", f"{analysis.typical_distance:.3f}"],
    ]


def _table(caption: str, header: list[str], rows: list[list[str]], key: str) -> str:
    """A table whose first column heads its row and whose other cells are numbers."""
    head = "".join(f'<th scope="col">{cell}</th>' for cell in header)
    body = "".join(
        f'<tr><th scope="row">{first}</th>'
        + "".join(f'<td class="number">{cell}</td>' for cell in rest)
        + "</tr>"
        for first, *rest in rows
    )
    return (
        f'<table id="{key}"><caption>{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
