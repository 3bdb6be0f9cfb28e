"""The HTML report renders in headless Chromium with every figure visible."""

from pathlib import Path

import pandas as pd
import pytest

from moderate.matrix_profile.worker.options import WorkerOptions
from moderate.matrix_profile.worker.pipeline import run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOP_K = 3
FIGURES = ("series", "profile", "discords", "motifs")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (.ci/setup.d/40-chromium.sh)",
    ),
]


def test_report_renders_with_figures_and_tables(
    planted: tuple[Path, pd.Timestamp], tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    report = tmp_path / "report.html"
    result = run(
        WorkerOptions(
            input_url=str(planted[0]),
            analysis_variable="power",
            report_path=report,
            top_k=TOP_K,
        )
    )
    external: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on(
                "request",
                lambda request: (
                    external.append(request.url)
                    if not request.url.startswith(("file:", "data:"))
                    else None
                ),
            )
            page.goto(report.as_uri(), wait_until="load")
            title = page.title()
            heading = page.locator("h1").inner_text()
            images = page.evaluate("""() => Array.from(document.images).map(img => ({
                id: img.closest("figure").id,
                complete: img.complete,
                width: img.naturalWidth,
                height: img.naturalHeight,
                alt: img.alt,
                shown: img.getBoundingClientRect().width,
            }))""")
            captions = page.locator("figure figcaption").all_inner_texts()
            discord_rows = page.locator("#discords tbody tr").all_inner_texts()
            motif_rows = page.locator("#motifs tbody tr").count()
            summary = page.locator("#summary-table").inner_text()
            for key in FIGURES:
                assert page.locator(f"#figure-{key} img").is_visible()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert title == "Matrix profile analysis: power"
    assert heading == "Matrix profile analysis"
    assert [image["id"] for image in images] == [f"figure-{key}" for key in FIGURES]
    for image in images:
        assert image["complete"]
        assert image["width"] > 300
        assert image["height"] > 100
        assert image["shown"] > 0
        assert len(image["alt"]) > 40
    assert len(captions) == len(FIGURES)
    assert len(discord_rows) == TOP_K
    assert motif_rows == TOP_K
    first = result.filled.series.index[result.analysis.discords[0].index]
    assert first.strftime("%Y-%m-%d %H:%M UTC") in discord_rows[0]
    assert "site-load.csv" in summary
    assert "15 min" in summary
    assert external == []
    assert (tmp_path / "report.png").stat().st_size > 10_000
