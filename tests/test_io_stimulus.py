"""Stimulus classification from command waveforms, and Allen codes through ipfx's ontology."""

from __future__ import annotations

import numpy as np
import pytest

from glifx import Cell
from glifx.stimulus import NAME_INFERRED, NAME_UNKNOWN, classify_command, classify_sweeps, name_from_code

RATE = 50_000.0


def command(duration_s: float = 3.0) -> np.ndarray:
    return np.zeros(int(duration_s * RATE))


def put(i: np.ndarray, start_s: float, end_s: float, level: float) -> np.ndarray:
    i[int(start_s * RATE):int(end_s * RATE)] = level
    return i


def with_test_pulse(i: np.ndarray) -> np.ndarray:
    return put(i, 0.02, 0.03, -20.0)  # Allen-style 10 ms test pulse early in the sweep


@pytest.mark.parametrize("test_pulse", [False, True])
def test_long_square(test_pulse):
    i = put(command(), 1.02, 2.02, 150.0)
    if test_pulse:
        i = with_test_pulse(i)
    guess = classify_command(i, RATE)
    assert (guess.name, guess.amplitude, guess.name_source) == ("Long Square", 150.0, NAME_INFERRED)


def test_short_square_and_triple():
    single = with_test_pulse(put(command(), 1.02, 1.023, 700.0))
    assert classify_command(single, RATE).name == "Short Square"
    assert classify_command(single, RATE).amplitude == 700.0
    triple = command()
    for start in (1.02, 1.04, 1.06):
        put(triple, start, start + 0.002, 900.0)
    guess = classify_command(with_test_pulse(triple), RATE)
    assert (guess.name, guess.amplitude) == ("Short Square - Triple", 900.0)


def test_ramp_and_noise():
    i = command(6.0)
    n = int(5.0 * RATE)
    i[int(1.0 * RATE):int(1.0 * RATE) + n] = np.arange(n) * (25.0 / RATE)  # 25 pA/s
    guess = classify_command(with_test_pulse(i), RATE)
    assert guess.name == "Ramp"
    assert guess.amplitude == pytest.approx(125.0, abs=0.01)

    rng = np.random.default_rng(0)
    noise = command()
    noise[int(1.0 * RATE):int(2.0 * RATE)] = 100.0 + 20.0 * rng.standard_normal(int(RATE))
    guess = classify_command(with_test_pulse(noise), RATE)
    assert guess.name == "Noise"
    assert guess.amplitude == pytest.approx(100.0, abs=2.0)


def test_test_pulse_only_and_flat():
    assert classify_command(with_test_pulse(command()), RATE).name == "Test"
    flat = classify_command(command(), RATE)
    assert (flat.name, flat.name_source) == (None, NAME_UNKNOWN)
    assert classify_command(None, RATE).name_source == NAME_UNKNOWN
    nan_command = command()
    nan_command[5] = np.nan
    assert classify_command(nan_command, RATE).name_source == NAME_UNKNOWN


def test_intermediate_step_is_unknown():
    guess = classify_command(put(command(), 1.0, 1.05, 50.0), RATE)  # 50 ms: neither long nor short
    assert (guess.name, guess.amplitude, guess.name_source) == (None, 50.0, NAME_UNKNOWN)


def test_family_with_fixed_prepulse_uses_the_varying_step():
    """A fixed -100 pA prepulse before a varying step: the amplitude is the varying step's."""
    commands = []
    for amp in (0.0, 50.0, 100.0):
        i = put(command(1.5), 0.023, 0.323, -100.0)
        commands.append(put(i, 0.823, 1.323, amp))
    guesses = classify_sweeps(commands, RATE)
    assert [g.name for g in guesses] == ["Long Square"] * 3
    assert [g.amplitude for g in guesses] == [0.0, 50.0, 100.0]


def test_family_flat_sweep_is_zero_step():
    commands = [put(command(1.0), 0.2, 0.7, amp) for amp in (-50.0, 0.0, 50.0)]
    guesses = classify_sweeps(commands, RATE)
    assert [(g.name, g.amplitude) for g in guesses] == [
        ("Long Square", -50.0), ("Long Square", 0.0), ("Long Square", 50.0)
    ]


def test_from_arrays_infers_names():
    commands = [put(command(1.0), 0.2, 0.7, amp) for amp in (-50.0, 50.0)]
    cell = Cell.from_arrays([np.full(c.size, -70.0) for c in commands], commands, RATE)
    table = cell.sweep_table()
    assert list(table.stimulus_name) == ["Long Square"] * 2
    assert list(table.stimulus_amplitude_pa) == [-50.0, 50.0]
    assert list(table.name_source) == [NAME_INFERRED] * 2
    named = Cell.from_arrays([np.zeros(10)], [np.zeros(10)], RATE, stimulus_names=["Noise 1"])
    assert named.record(0).name_source == "file"


@pytest.mark.parametrize(
    "code, name",
    [
        ("C1LSCOARSE150216", "Long Square"),
        ("C1LSCOARSE150216_DA_0", "Long Square"),
        ("C1SSCOARSE150112", "Short Square"),
        ("C2SSTRIPLE171103", "Short Square - Triple"),
        ("C1RP25PR1S141203", "Ramp"),
        ("C1NSSEED_1150216", "Noise 1"),
        ("not-a-code", None),
        (None, None),
    ],
)
def test_name_from_code_uses_ipfx_ontology(code, name):
    assert name_from_code(code) == name


def test_family_with_test_pulses_takes_the_zero_step():
    commands = [with_test_pulse(put(command(), 1.02, 2.02, amp)) for amp in (-30.0, 0.0, 30.0)]
    guesses = classify_sweeps(commands, RATE)
    assert [(g.name, g.amplitude) for g in guesses] == [
        ("Long Square", -30.0), ("Long Square", 0.0), ("Long Square", 30.0)
    ]
    alone = classify_sweeps([with_test_pulse(command())], RATE)[0]
    assert (alone.name, alone.amplitude) == ("Test", None)
