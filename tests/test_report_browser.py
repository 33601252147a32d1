"""The report rendered by a real headless browser (issue 21, item 4).

Chromium from the system package manager (``.ci/run`` installs Debian's ``chromium``), driven
through playwright with that executable.  Checked: no console or page errors, every image
decoded (``complete`` and a natural width), one screenshot per section.  Set
``GLIFX_SCREENSHOTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from glifx.process import process_cell

RS_CELL = Path(__file__).resolve().parents[1] / "data_samples" / "rs_cell.nwb"
#: Sections a fitted cell's report has, in order.
SECTIONS = ["summary", "features", "traces", "spike", "ev", "parameters", "levels",
            "test-voltage", "long-square", "overlay", "fi", "qc"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no system chromium (apt-get install chromium; .ci/run does it on Debian)")


@pytest.mark.slow
def test_report_renders_in_chromium(tmp_path) -> None:
    """GLIF1 on the RS sample (about 30 s with first-run compilation), then the browser."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = _chromium()
    res = process_cell(RS_CELL, tmp_path / "out", levels=(1,))
    report = res.out_dir / "report.html"
    shots = Path(os.environ.get("GLIFX_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, "
                "i.clientWidth])")
            sections = page.query_selector_all("section")
            ids = [s.get_attribute("id") for s in sections]
            for sid, sec in zip(ids, sections, strict=True):
                sec.screenshot(path=str(shots / f"{sid}.png"))
            pdf = page.pdf(path=str(shots / "report.pdf"))
        finally:
            browser.close()
    assert errors == []
    assert len(images) >= 9
    undecoded = [alt for alt, complete, width, _ in images if not (complete and width > 0)]
    assert undecoded == []
    # 2x resolution: every figure has at least two pixels per CSS pixel it is shown at
    blurry = [alt for alt, _, natural, shown in images if natural < 2 * shown]
    assert blurry == []
    assert ids == SECTIONS
    for sid in ids:
        assert (shots / f"{sid}.png").stat().st_size > 2000, sid
    assert pdf[:4] == b"%PDF"
