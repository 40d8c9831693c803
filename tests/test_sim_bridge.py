"""The analog bridge of the co-simulated board (sim/bridge.py), without the simulator: physical DAC
volts in, physical ADC volts out, the array in ngspice, and a built board's seeded part deviations."""

import numpy as np
import pytest

from diodenet.boards.afe import SMALL_AFE
from diodenet.sim.bridge import CONVERTER_SPREAD, AnalogBridge, part_deviations

pytestmark = pytest.mark.spice


def _drive(bridge, x, seed=0):
    """Program random rheostat codes, set every line's DAC to V_MID ± s·x and the perturbation
    DACs to V_MID."""
    afe = bridge.afe
    lowest = afe.rheostat.code_for_conductance(afe.g_max)          # the front-end's r_min
    codes = np.random.default_rng(seed).integers(lowest, afe.pot.code_max + 1, afe.n_pots)
    for e, code in enumerate(codes):
        bridge.set_pot(*afe.pot_location(e), int(code))
    u = bridge.network.source_voltages(np.atleast_2d(x))[0]
    for line, value in zip(afe.input_lines, u):
        bridge.set_dac(*afe.line_dac(line), afe.v_mid + value)
    for ch in afe.pert_dac_channels:
        bridge.set_dac(1, ch, afe.v_mid)
    return u


def test_nominal_board_reads_the_reference_solver_around_v_mid():
    from diodenet.sim.check import reference_network
    bridge = AnalogBridge(SMALL_AFE)
    u = _drive(bridge, [0.7, -0.4])
    got = np.array([bridge.voltage(c) for c in range(SMALL_AFE.n_adc)])
    net = bridge.network.with_conductance(bridge.g)
    ref = reference_network(net, SMALL_AFE.diode).solve(u=u[None]).x[0] + SMALL_AFE.v_mid
    assert np.abs(got - ref).max() < 0.25 * SMALL_AFE.adc_lsb
    assert got.min() < SMALL_AFE.v_mid < got.max()          # nodes on both sides of V_MID


def test_part_deviations_are_seeded_and_within_their_spreads():
    a, b = part_deviations(SMALL_AFE, 0.2, seed=3), part_deviations(SMALL_AFE, 0.2, seed=3)
    c = part_deviations(SMALL_AFE, 0.2, seed=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["r_ab"], c["r_ab"])
    assert np.all(np.abs(a["r_ab"] - 1) <= 0.2) and np.ptp(a["r_ab"]) > 0
    lo, hi = SMALL_AFE.pot.r_w_range
    assert np.all((a["r_w"] >= lo) & (a["r_w"] <= hi))
    assert np.all(np.abs(a["dac_offset"]) <= CONVERTER_SPREAD["dac_offset"])
    nominal = part_deviations(SMALL_AFE, 0.0, seed=3)
    assert np.all(nominal["r_ab"] == 1) and np.all(nominal["r_w"] == SMALL_AFE.pot.r_w)


def test_a_built_board_reads_differently_from_its_model():
    nominal, built = AnalogBridge(SMALL_AFE), AnalogBridge(SMALL_AFE, pot_tolerance=0.2, seed=1)
    for bridge in (nominal, built):
        _drive(bridge, [0.3, 0.8])
    v0 = np.array([nominal.voltage(c) for c in range(SMALL_AFE.n_adc)])
    v1 = np.array([built.voltage(c) for c in range(SMALL_AFE.n_adc)])
    assert np.abs(v1 - v0).max() > 2 * SMALL_AFE.adc_lsb     # calibration has something to find
    assert np.abs(v1 - v0).max() < 0.2
