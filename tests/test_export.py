"""``glifx.export`` without NEST: the conversion formulas, what NEST cannot take, the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from glifx.cli import main
from glifx.errors import ConfigError
from glifx.export import clip_reset, spike_cut_seconds, step_current, to_bmtk, to_nest
from glifx.glif import GlifModel


def _glif5(**changes: object) -> GlifModel:
    model = GlifModel(
        level=5, R_input=2e8, C=1e-10, th_inf=0.02, El_reference=-0.07, spike_cut_length=40,
        dt=5e-5, asc_amp_array=(-5e-11, -1e-11), asc_tau_array=(0.01, 0.1), asc_r=(1.0, 0.5),
        a=0.3, b=0.004, a_spike=0.002, b_spike=100.0, a_voltage=20.0, b_voltage=80.0,
        coeff_th_inf=0.9, coeff_C=1.1, coeff_G=1.2, coeff_a=0.5, coeff_b=2.0,
        coeff_asc_amp=(0.8, 1.5), init_voltage=0.001, init_AScurrents=(1e-12, 0.0),
    )
    return replace(model, **changes)


def test_every_parameter_follows_the_documented_formula() -> None:
    p = to_nest(_glif5()).params
    expected = {
        "E_L": -70.0, "V_m": -69.0, "V_th": -70.0 + 0.9 * 20.0, "V_reset": -70.0,
        "g": 1.2 / 2e8 * 1e9, "C_m": 1.1 * 100.0, "t_ref": 2.0,
        "th_spike_add": 2.0, "th_spike_decay": 0.1, "voltage_reset_fraction": 0.3,
        "voltage_reset_add": 4.0, "th_voltage_index": 0.5 * 20.0 * 1e-3,
        "th_voltage_decay": 2.0 * 80.0 * 1e-3,
    }
    for key, value in expected.items():
        assert math.isclose(p[key], value, rel_tol=1e-12), (key, p[key], value)
    assert p["asc_amps"] == pytest.approx([0.8 * -50.0, 1.5 * -10.0])
    assert p["asc_decay"] == pytest.approx([0.1, 0.01])
    assert p["asc_init"] == pytest.approx([1.0, 0.0])
    assert p["asc_r"] == [1.0, 0.5]
    assert p["tau_syn"] == pytest.approx([2.0])
    assert (p["spike_dependent_threshold"], p["after_spike_currents"], p["adapting_threshold"]) == (
        True, True, True)
    json.dumps(p)  # plain JSON types only


@pytest.mark.parametrize(("level", "flags"), [
    (1, (False, False, False)), (2, (True, False, False)), (3, (False, True, False)),
    (4, (True, True, False)), (5, (True, True, True)),
])
def test_mechanism_flags_and_only_the_parameters_each_level_uses(level: int, flags: tuple) -> None:
    kw: dict = {"level": level, "voltage_reset_method": None, "threshold_dynamics_method": None,
                "threshold_reset_method": None, "asc_dynamics_method": None, "asc_reset_method": None}
    p = to_nest(_glif5(**kw)).params
    assert (p["spike_dependent_threshold"], p["after_spike_currents"], p["adapting_threshold"]) == flags
    assert ("th_spike_add" in p) == flags[0] and ("asc_amps" in p) == flags[1]
    assert ("th_voltage_index" in p) == flags[2]


def test_cond_synapses_and_their_arguments() -> None:
    neuron = to_nest(_glif5(), synapses="cond", tau_syn=(1e-3, 5e-3), E_rev=(0.0, -0.08))
    assert neuron.model == "glif_cond"
    assert "g_m" in neuron.params and "g" not in neuron.params
    assert neuron.params["tau_syn"] == pytest.approx([1.0, 5.0])
    assert neuron.params["E_rev"] == pytest.approx([0.0, -80.0])
    default = to_nest(_glif5(), synapses="cond").params
    assert default["tau_syn"] == pytest.approx([0.2, 2.0])
    assert default["E_rev"] == pytest.approx([0, -85])


def test_leak_reversal_off_rest_shifts_the_reset_offset() -> None:
    p = to_nest(_glif5(El=0.002)).params
    assert p["E_L"] == pytest.approx(-68.0)
    assert p["V_th"] == pytest.approx(-70.0 + 18.0)  # thresholds stay relative to rest
    assert p["voltage_reset_add"] == pytest.approx(4.0 + (0.3 - 1.0) * 2.0)


def test_spike_cut_in_seconds_wins() -> None:
    model = _glif5(spike_cut_s=0.003)
    assert spike_cut_seconds(model) == 0.003 and to_nest(model).params["t_ref"] == pytest.approx(3.0)


@pytest.mark.parametrize(("model_or_kw", "message"), [
    ({"a": 1.2}, "voltage reset fraction in [0, 1]"),
    ({"asc_r": (1.0, 1.5)}, "asc_r: NEST needs fractions in [0, 1]"),
    ({"spike_cut_length": 0}, "t_ref > 0"),
    ({"b_spike": 0.0}, "b_spike: NEST needs a decay rate > 0"),
    ({"th_inf": -0.001}, "threshold above the leak reversal"),
    ({"level": None, "voltage_reset_method": "zero", "threshold_dynamics_method": "inf",
      "threshold_reset_method": "inf", "asc_dynamics_method": "exp", "asc_reset_method": "none"},
     "five standard levels only"),
])
def test_what_nest_cannot_represent_is_one_clear_error(model_or_kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        to_nest(_glif5(**model_or_kw))


@pytest.mark.parametrize(("kw", "message"), [
    ({"synapses": "gap"}, "synapses: expected 'psc' or 'cond'"),
    ({"tau_syn": (0.002, -1.0)}, "tau_syn: expected time constants > 0 s"),
    ({"E_rev": (0.0,)}, "E_rev: only conductance synapses"),
    ({"synapses": "cond", "tau_syn": (0.001, 0.002, 0.003)}, "one reversal potential per tau_syn"),
    ({"synapses": "cond", "E_rev": (0.0,)}, "one reversal potential per port"),
])
def test_bad_synapse_arguments(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        to_nest(_glif5(), **kw)


@pytest.mark.parametrize(("a", "clipped"), [(-0.4, 0.0), (1.28, 1.0)])
def test_clip_reset_keeps_the_reset_from_theta_inf(a: float, clipped: float) -> None:
    model = _glif5(a=a, El=0.002)
    refusal = r"in \[0, 1\], got .* \(reset='clip' exports an approximation\)"
    with pytest.raises(ConfigError, match=refusal):
        to_nest(model)
    exported, note = clip_reset(model)
    theta = 0.9 * 0.02  # coeff_th_inf * th_inf
    assert exported.a == clipped
    assert exported.a * theta + exported.b == pytest.approx(a * theta + 0.004, abs=1e-15)
    # a reset from V moves by (a' - a) (V - theta_inf): from 5 mV above it, (a' - a) 5 mV
    v = theta + 0.005
    moved = (exported.a * v + exported.b) - (a * v + 0.004)
    assert moved == pytest.approx((clipped - a) * 0.005, abs=1e-15)
    neuron = to_nest(model, reset="clip")
    assert neuron.notes == (note,) and f"clipped from {a:.4g} to {clipped:g}" in note
    assert neuron.params == to_nest(exported).params  # the clipped model, exported exactly
    assert to_bmtk(model, reset="clip")["notes"] == [note]


def test_clip_changes_nothing_a_nest_model_has() -> None:
    assert to_nest(_glif5(), reset="clip") == to_nest(_glif5())
    assert clip_reset(_glif5()) == (_glif5(), None)
    level3 = _glif5(level=3, voltage_reset_method=None, threshold_dynamics_method=None,
                    threshold_reset_method=None, asc_dynamics_method=None, asc_reset_method=None,
                    a=None, b=None)
    assert clip_reset(level3) == (level3, None)
    with pytest.raises(ConfigError, match="reset: expected 'exact' or 'clip', got 'round'"):
        to_nest(_glif5(), reset="round")  # type: ignore[arg-type]


def test_bmtk_cell_model() -> None:
    cell = to_bmtk(_glif5(), synapses="cond")
    assert cell["model_type"] == "point_neuron" and cell["model_template"] == "nest:glif_cond"
    assert cell["dynamics_params"] == to_nest(_glif5(), synapses="cond").params


def test_step_current_schedules_each_sample_two_steps_early() -> None:
    gen = step_current([0.0, 0.0, 0.0, 1e-10, 2e-10], 0.05)
    assert gen["amplitude_times"] == pytest.approx([0.05, 0.10])
    assert gen["amplitude_values"] == pytest.approx([100.0, 200.0])
    with pytest.raises(ConfigError, match="NaN"):
        step_current([0.0, math.nan], 0.05)


# ------------------------------------------------------------------------------------------ CLI
def _config(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "GLIF5_neuron_config.json"
    path.write_text(json.dumps(_glif5(**changes).to_allen_config()))
    return path


def test_cli_export_nest_and_bmtk(tmp_path: Path) -> None:
    config = _config(tmp_path)
    runner = CliRunner()
    printed = runner.invoke(main, ["export", str(config), "--to", "nest"])
    assert printed.exit_code == 0, printed.output
    payload = json.loads(printed.output)
    assert payload["model"] == "glif_psc" and payload["params"] == to_nest(_glif5()).params
    out = tmp_path / "cell.json"
    written = runner.invoke(main, ["export", str(config), "--to", "bmtk", "--synapses", "cond",
                                   "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert "model_template nest:glif_cond" in written.output
    assert json.loads(out.read_text()) == to_bmtk(_glif5(), synapses="cond")["dynamics_params"]


def test_cli_export_clip_says_what_it_changed(tmp_path: Path) -> None:
    config = _config(tmp_path, a=-0.4)
    refused = CliRunner().invoke(main, ["export", str(config), "--to", "nest"])
    assert refused.exit_code == 2
    [line] = refused.output.strip().splitlines()
    assert "voltage reset fraction in [0, 1]" in line and "--reset clip" in line
    clipped = CliRunner().invoke(main, ["export", str(config), "--to", "nest", "--reset", "clip"])
    assert clipped.exit_code == 0, clipped.output
    neuron = to_nest(_glif5(a=-0.4), reset="clip")
    assert json.loads(clipped.stdout)["params"] == neuron.params  # stdout stays plain JSON
    assert clipped.stderr.strip().splitlines() == [f"glifx: note: {neuron.notes[0]}"]


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "brian2"], "--to: expected 'nest' or 'bmtk', got 'brian2'"),
    ([], "--to: expected 'nest' or 'bmtk', got nothing"),
    (["--to", "nest", "--synapses", "gap"], "--synapses: expected 'psc' or 'cond', got 'gap'"),
    (["--to", "nest", "--reset", "round"], "--reset: expected 'exact' or 'clip', got 'round'"),
])
def test_cli_export_bad_arguments_one_line_exit_2(tmp_path: Path, args: list, message: str) -> None:
    result = CliRunner().invoke(main, ["export", str(_config(tmp_path)), *args])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"glifx: error: {message}"]


def test_cli_export_unknown_level_and_unknown_method_one_line_exit_2(tmp_path: Path) -> None:
    custom = _config(tmp_path, level=None, voltage_reset_method="zero", threshold_dynamics_method="inf",
                     threshold_reset_method="inf", asc_dynamics_method="exp", asc_reset_method="none")
    result = CliRunner().invoke(main, ["export", str(custom), "--to", "bmtk"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "cannot export to bmtk" in line and "five standard levels only" in line

    config = json.loads(_config(tmp_path).read_text())
    config["threshold_dynamics_method"]["name"] = "quadratic"
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps(config))
    result = CliRunner().invoke(main, ["export", str(unknown), "--to", "nest"])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert "unknown method 'quadratic'" in line

    result = CliRunner().invoke(main, ["export", str(tmp_path / "absent.json"), "--to", "nest"])
    assert result.exit_code == 2 and "no such file" in result.output
