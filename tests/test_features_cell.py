"""Cell summaries against ipfx's LongSquareAnalysis (the oracle), and extract_features end to end.

How ipfx is driven (so that both see the same thing):
- ``SpikeFeatureExtractor(start, end, filter=None)`` (ipfx cannot filter 20 kHz data) and
  ``SpikeTrainFeatureExtractor(start, end)``, ``LongSquareAnalysis(spx, sptx, subthresh_min_amp=-100)``
  over ipfx Sweeps built from the same arrays.
- ``start``/``end``: the step of the dual-step / pre-pulse protocols, as glifx's ``step_window`` finds it
  (the longest constant segment of the largest command): 0.14685-0.6468 s for 171116sh_0018 and
  2019_07_24_0055_fsi, 0.8234-1.32335 s for 18711001.
- 18711001 has no hyperpolarising step (0...290 pA); its sweeps share a -100 pA pre-pulse
  (0.0234-0.32335 s) with only 23.4 ms of baseline before it.  glifx takes tau, sag and input
  resistance from that pre-pulse; ipfx is driven on the same window with baseline_interval and
  sag_baseline_interval = 0.0234 s (its 0.1 s default would reach before t = 0 and raise) and
  subthresh_min_amp = -101 (all pre-pulses are -100 pA).  With 30 sweeps at one amplitude ipfx's
  input-resistance least-squares fit is degenerate, so the comparison uses one sweep (sweep 0),
  where ipfx (like glifx) draws the line through that sweep's baseline.
"""

from __future__ import annotations

import json
import math
import warnings

import ipfx.stimulus_protocol_analysis as ipfx_spa
import numpy as np
import pandas as pd
import pytest
from ipfx.feature_extractor import SpikeFeatureExtractor, SpikeTrainFeatureExtractor
from ipfx.sweep import Sweep as IpfxSweep
from ipfx.sweep import SweepSet

import glifx
from glifx.features import extract_features, long_square_summary, step_window

pytestmark = pytest.mark.shared_data


def _cell(shared_data, name):
    return glifx.load_cell(shared_data / "real" / "pyabf" / f"{name}.abf")


def _ipfx_long_square(sweeps, start, end, **kw):
    ss = SweepSet([IpfxSweep(np.array(s.t), np.array(s.v), np.array(s.i), "CurrentClamp",
                             s.sampling_rate, s.sweep_number) for s in sweeps])
    bl = kw.pop("baseline_interval", 0.1)
    sbl = kw.pop("sag_baseline_interval", 0.03)
    spx = SpikeFeatureExtractor(start=start, end=end, filter=None)
    sptx = SpikeTrainFeatureExtractor(start=start, end=end, baseline_interval=bl,
                                      sag_baseline_interval=sbl)
    lsa = ipfx_spa.LongSquareAnalysis(spx, sptx, subthresh_min_amp=kw.pop("subthresh_min_amp", -100.0),
                                      require_subthreshold=False, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lsa.analyze(ss)


@pytest.mark.parametrize("name,window", [
    ("171116sh_0018", (0.14685, 0.6468)),
    ("2019_07_24_0055_fsi", (0.14685, 0.6468)),
    ("18711001", (0.8234, 1.32335)),
])
def test_long_square_vs_ipfx(shared_data, name, window):
    sweeps = list(_cell(shared_data, name))
    start, end = step_window(sweeps)
    assert (start, end) == pytest.approx(window, abs=1e-9)
    ours, table = long_square_summary(sweeps, start, end, filter=None)
    ref = _ipfx_long_square(sweeps, start, end)
    assert ours["rheobase_i"] == ref["rheobase_i"]
    assert ours["fi_fit_slope"] == pytest.approx(ref["fi_fit_slope"], rel=1e-9)
    assert ours["hero_amp"] == ref["hero_sweep"]["stim_amp"]
    assert ours["v_baseline"] == pytest.approx(ref["v_baseline"], rel=1e-9)
    if name != "18711001":
        for key in ("input_resistance", "tau", "sag"):
            assert ours[key] == pytest.approx(ref[key], rel=1e-9), key
        assert ours["vm_for_sag"] == pytest.approx(ref["vm_for_sag"])
    else:  # no hyperpolarising step: ipfx has no tau / Rin; glifx used the pre-pulse
        assert "tau" not in ref and "input_resistance" not in ref
        assert ours["subthreshold_window"] == pytest.approx([0.0234, 0.32335])
        assert ours["tau"] > 0 and ours["input_resistance"] > 0
    np.testing.assert_allclose(table["avg_rate"], ref["sweeps"]["avg_rate"])


def test_18711001_prepulse_vs_ipfx(shared_data):
    sweeps = list(_cell(shared_data, "18711001"))
    ours, _ = long_square_summary(sweeps, filter=None)
    p0, p1 = ours["subthreshold_window"]
    one = [sweeps[0]]
    mine, _ = long_square_summary(one, p0, p1, filter=None, subthresh_min_amp=-101.0,
                                  baseline_interval=p0, sag_baseline_interval=p0)
    ref = _ipfx_long_square(one, p0, p1, subthresh_min_amp=-101.0, baseline_interval=p0,
                            sag_baseline_interval=p0, require_suprathreshold=False)
    for key in ("input_resistance", "tau", "sag"):
        assert mine[key] == pytest.approx(ref[key], rel=1e-9), key
    # The whole-cell value over the 30 pre-pulses (one amplitude: a line through the mean peak and
    # the mean baseline) is the mean of ipfx's single-sweep values.
    singles = [_ipfx_long_square([s], p0, p1, subthresh_min_amp=-101.0, baseline_interval=p0,
                                 sag_baseline_interval=p0, require_suprathreshold=False)
               for s in sweeps]
    assert ours["input_resistance"] == pytest.approx(np.mean([r["input_resistance"] for r in singles]),
                                                     rel=1e-6)


# PROVENANCE.md: amplitudes from -100 pA by 25 (APs 0,0,0,0,0,0,2,...: first at sweep 6, 50 pA),
# from -120 pA by 60 (APs 0,0,0,0,3,...: 120 pA), from -100 pA by 50 (APs 0,0,0,0,0,0,2,...: 200 pA)
@pytest.mark.parametrize("name,step,rheobase", [("171116sh_0018", 25.0, 50.0),
                                                ("190619B_0003", 60.0, 120.0),
                                                ("File_axon_5", 50.0, 200.0)])
def test_any_amplitude_set_defaults(shared_data, name, step, rheobase):
    """25, 50 and 60 pA step sets at 10 and 20 kHz, default filter (clipped): the rheobase is the
    first amplitude whose sweep fires in PROVENANCE.md's AP counts."""
    cell = _cell(shared_data, name)
    amps = sorted({s.stimulus_amplitude for s in cell})
    assert np.allclose(np.diff(amps), step)
    feats = extract_features(cell)
    ls = feats.cell["long_square"]
    assert ls["rheobase_i"] == rheobase
    assert math.isfinite(ls["input_resistance"]) and ls["input_resistance"] > 0
    assert feats.sweeps["filter_khz"].iloc[0] == pytest.approx(0.8 * cell.sweep(0).sampling_rate / 2e3)
    assert list(feats.spikes.columns[:3]) == ["sweep_number", "relative_to_stimulus",
                                              "threshold_index"]


def test_extract_features_with_qc_and_write(shared_data, tmp_path):
    cell = _cell(shared_data, "File_axon_5")

    class FakeQC:
        passed_sweeps = [0, 1, 2, 6, 7, 8]
        sweeps = pd.DataFrame({"sweep_number": range(9),
                               "reasons": [[], [], [], ["slow noise"], ["slow noise"], ["leak"],
                                           [], [], []]})

    feats = extract_features(cell, qc=FakeQC())
    assert feats.sweeps["sweep_number"].tolist() == [0, 1, 2, 6, 7, 8]
    assert feats.cell["dropped_sweeps"] == {"3": "failed QC: slow noise", "4": "failed QC: slow noise",
                                            "5": "failed QC: leak"}
    # provenance counts for this file: APs 0,0,0,0,0,0,2,2,3
    assert feats.sweeps["spike_count"].tolist() == [0, 0, 0, 2, 2, 3]
    paths = feats.write(tmp_path / "out")
    back = json.loads(paths["cell"].read_text())
    assert back["long_square"]["rheobase_i"] == 200.0
    assert len(pd.read_csv(paths["spikes"])) == 7
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_extract_features_with_real_qc(shared_data):
    cell = _cell(shared_data, "171116sh_0018")
    qc = glifx.run_qc(cell)
    feats = extract_features(cell, qc=qc)
    analysed = set(feats.sweeps["sweep_number"])
    assert analysed == set(qc.passed_sweeps)
    assert set(map(int, feats.cell["dropped_sweeps"])) == set(cell.sweep_numbers) - analysed


def test_ramp_summary(shared_data):
    feats = extract_features(_cell(shared_data, "171116sh_0016"))
    # provenance: APs 0,0,0,0,0,0,0,1,2,3,4 over the ramps
    assert feats.sweeps["spike_count"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]
    assert feats.cell["ramp"]["spiking_sweeps"] == [7, 8, 9, 10]
    assert feats.cell["ramp"]["mean_spike_0_threshold_v"] < 0


def test_cli_features(shared_data, tmp_path):
    from click.testing import CliRunner

    from glifx.cli import main

    out = tmp_path / "res"
    res = CliRunner().invoke(main, ["features", str(shared_data / "real" / "pyabf" / "File_axon_5.abf"),
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "rheobase_i=200" in res.output
    assert {p.name for p in out.iterdir()} == {"spikes.csv", "sweep_features.csv", "cell_features.json",
                                               "columns.json"}
    bad = CliRunner().invoke(main, ["features", str(tmp_path / "missing.abf")])
    assert bad.exit_code == 2
