"""Notebook-friendly results (issue 21, item 6): short reprs, HTML reprs, summary, write, plot."""

from __future__ import annotations

import html.parser
from pathlib import Path

import pandas as pd
import pytest

import glifx
from glifx._display import MAX_REPR_LINES
from glifx.process import CellResult, process_cell

RS_CELL = Path(__file__).resolve().parents[1] / "data_samples" / "rs_cell.nwb"


class _Tags(html.parser.HTMLParser):
    """Counts opened and closed tags, so that an unbalanced fragment shows."""

    VOID = {"br", "img", "hr", "meta", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text += data


def _check_html(fragment: str, *texts: str) -> None:
    parser = _Tags()
    parser.feed(fragment)
    parser.close()
    assert not parser.stack, f"unclosed tags {parser.stack}"
    assert "table" in parser.seen
    for text in texts:
        assert text in parser.text, text


def _check_repr(obj: object, *texts: str) -> str:
    text = repr(obj)
    assert 1 <= len(text.splitlines()) <= MAX_REPR_LINES, text
    assert max(len(line) for line in text.splitlines()) <= 200
    for t in texts:
        assert t in text, t
    return text


@pytest.fixture(scope="module")
def rs_parts():
    cell = glifx.load_cell(RS_CELL)
    qc = glifx.run_qc(cell)
    return cell, qc, glifx.extract_features(cell, qc=qc)


def test_cell_repr_and_html(rs_parts) -> None:
    cell, _, _ = rs_parts
    _check_repr(cell, "rs_cell", "32 sweeps")
    _check_html(cell._repr_html_(), "Cell rs_cell", "Long Square sweeps", "Noise 1")


def test_qc_repr_and_html(rs_parts) -> None:
    _, qc, _ = rs_parts
    _check_repr(qc, "QCResult('rs_cell')", "cell passed", f"{len(qc.passed_sweeps)} passed")
    _check_html(qc._repr_html_(), "QC of rs_cell", "not measured: ")


def test_features_repr_and_html(rs_parts) -> None:
    _, _, feats = rs_parts
    ls = feats.cell["long_square"]
    _check_repr(feats, f"{len(feats.spikes)} spikes", f"rheobase_i={ls['rheobase_i']:.4g}")
    key = feats.key_features()
    assert key["input_resistance"] == ls["input_resistance"]
    assert key["first_spike_width"] == ls["rheobase_first_spike_width"]
    _check_html(feats._repr_html_(), "Features of rs_cell", "input_resistance")


def test_long_lists_are_cut() -> None:
    from glifx._display import text_repr

    text = text_repr("T", [str(k) for k in range(30)])
    assert len(text.splitlines()) == MAX_REPR_LINES and text.endswith("… 22 more")


@pytest.mark.slow
def test_fit_and_cell_result(tmp_path) -> None:
    """GLIF1 on the RS sample (about 20 s with first-run compilation)."""
    res = process_cell(RS_CELL, None, levels=(1,))
    assert isinstance(res, CellResult) and res.out_dir is None
    summary = res.fit.summary()
    assert isinstance(summary, pd.DataFrame)
    assert list(summary.columns) == ["level", "fitted", "train_ev", "test_ev", "optimiser",
                                     "wall_time_s", "reason"]
    assert summary["level"].tolist() == [1] and bool(summary["fitted"].iloc[0])
    assert summary["test_ev"].iloc[0] == res.fit[1].test_ev
    _check_repr(res.fit, "FitResult('rs_cell'", "GLIF1: train EV")
    _check_html(res.fit._repr_html_(), "GLIF fits of rs_cell", "test_ev")
    _check_repr(res, "CellResult('rs_cell'", "GLIF1", "output: not written")
    _check_html(res._repr_html_(), "Cell rs_cell", "QC of rs_cell", "Features of rs_cell",
                "GLIF fits of rs_cell")
    for what in ("ev", "fi", "voltage", "qc"):
        fig = res.plot(what)
        assert fig.axes, what
    with pytest.raises(glifx.ConfigError, match="what must be"):
        res.plot("nope")
    out = res.write(tmp_path)
    assert out == res.out_dir == tmp_path / "rs_cell"
    assert {"report.html", "fit_summary.json", "GLIF1_neuron_config.json"} <= {
        p.name for p in out.iterdir()}
