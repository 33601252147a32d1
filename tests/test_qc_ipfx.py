"""Sweep QC measurements equal ipfx's (``ipfx.epochs`` + ``ipfx.qc_features``) on the real ABF files.

ipfx feeds ``measure_vm`` windows computed by ``ipfx.epochs`` from the stimulus epoch and the
recording epoch (see ``ipfx.qc_feature_extractor.current_clamp_sweep_qc_features``).  Here the same
ipfx functions are called with ``test_pulse`` set to whether glifx found a test pulse (ipfx's
extractor always assumes one, which on ABF protocols without a test pulse drops the first step).
A measurement is compared only where ipfx's window is well defined: ipfx indexes before the start of
the sweep when the baseline is shorter than 0.5 s (pre-noise) and lets its post window reach into the
stimulus when the tail is shorter than 0.5 s.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

pytestmark = pytest.mark.shared_data

ABFS = ["171116sh_0016.abf", "171116sh_0018.abf", "18711001.abf", "190619B_0003.abf",
        "2019_07_24_0055_fsi.abf", "File_axon_5.abf"]


def _ipfx_reference(sweep) -> dict[str, float]:
    import ipfx.epochs as ep
    import ipfx.qc_features as qcf

    v, i, hz = np.asarray(sweep.v), np.asarray(sweep.i), sweep.sampling_rate
    test_pulse = sweep.epochs.test is not None
    ref: dict[str, float] = {}
    stim = ep.get_stim_epoch(i, test_pulse=test_pulse)
    assert stim == sweep.epochs.stimulus  # same stimulus epoch as glifx
    stim_start, stim_end = stim
    expt_start, _ = ep.get_experiment_epoch(i, hz, test_pulse)
    if expt_start >= 0:
        a, b = ep.get_first_noise_epoch(expt_start, hz)
        ref["pre_noise_rms_mv"] = qcf.measure_vm(v[a:b])[1]
    a, b = ep.get_first_stability_epoch(stim_start, hz)
    ref["pre_vm_mv"], ref["slow_noise_rms_mv"] = qcf.measure_vm(v[a:b])
    _, rec_end = ep.get_recording_epoch(v)
    a, b = ep.get_last_noise_epoch(rec_end, hz)
    if a > stim_end:
        ref["post_noise_rms_mv"] = qcf.measure_vm(v[a:b])[1]
    a, b = ep.get_last_stability_epoch(rec_end, hz)
    if a > stim_end:
        ref["post_vm_mv"] = qcf.measure_vm(v[a:b])[0]
        ref["vm_delta_mv"] = qcf.measure_vm_delta(ref["pre_vm_mv"], ref["post_vm_mv"])
    return ref


def test_sweep_measurements_equal_ipfx_on_abf_files(shared_data):
    from glifx.io import load_cell
    from glifx.qc import qc_sweep

    compared: Counter[str] = Counter()
    for name in ABFS:
        cell = load_cell(shared_data / "real" / "pyabf" / name)
        for sweep in cell:
            if sweep.epochs.stimulus is None:  # a 0 pA sweep: no stimulus, nothing to compare
                continue
            ours = qc_sweep(sweep).measurements
            for key, expected in _ipfx_reference(sweep).items():
                if np.isnan(ours[key]):  # not measured by glifx (ramps: post windows)
                    assert key in ("post_noise_rms_mv", "post_vm_mv", "vm_delta_mv"), (name, key)
                    continue
                assert ours[key] == pytest.approx(expected, rel=1e-9), (name, sweep.sweep_number, key)
                compared[key] += 1
    # every measurement was checked on a good number of real sweeps
    assert compared["pre_noise_rms_mv"] >= 10, compared
    for key in ("slow_noise_rms_mv", "post_noise_rms_mv", "vm_delta_mv", "pre_vm_mv", "post_vm_mv"):
        assert compared[key] >= 30, compared
