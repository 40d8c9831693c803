"""The network an analog front-end realizes: nonlinear by construction, inside every part's limits,
recorded in model files (boards/frontend.py, boards/afe.py)."""

import numpy as np
import pytest

from diodenet.boards.afe import AFE, SMALL_AFE
from diodenet.boards.frontend import (FrontEndMismatch, afe_of_network, check_same_frontend,
                                      frontend_network)
from diodenet.host.metrics import diode_on_fraction
from diodenet.host.network import GROUND


def _random_states(afe, sets=20, samples=500, seed=0):
    """Node voltages of the board's network for random rheostat values and random features."""
    rng = np.random.default_rng(seed)
    net = frontend_network(afe, rng=0)
    m = afe.n_pots
    out = []
    for _ in range(sets):
        g = net.conductance.copy()
        g[:m] = np.exp(rng.uniform(np.log(afe.g_min), np.log(afe.g_max), m))
        x = rng.uniform(-1, 1, (samples, afe.n_inputs))
        out.append((net.with_conductance(g), x, net.with_conductance(g).solve(x).x))
    return out


@pytest.mark.parametrize("afe", [AFE(), SMALL_AFE], ids=["full", "small"])
def test_diodes_conduct_on_the_boards_lines(afe):
    """The property a user needs: with the lines inside the DACs' range, the diodes conduct for
    some inputs and block for others (a linear array would give 0 % or 100 %)."""
    fractions = [diode_on_fraction(net, v) for net, _, v in _random_states(afe)]
    assert 0.1 < np.mean(fractions) < 0.9, fractions
    assert min(fractions) > 0.0 and max(fractions) < 1.0


@pytest.mark.parametrize("afe", [AFE(), SMALL_AFE], ids=["full", "small"])
def test_every_terminal_stays_inside_the_rails_and_the_current_limit(afe):
    for net, x, v in _random_states(afe, sets=5):
        u = net.source_voltages(x)
        lo, hi = afe.line_range
        assert u.min() >= lo and u.max() <= hi
        # physical voltages: V_MID + model voltage, inside the converters' 0 .. V_REF
        phys = afe.v_mid + v
        assert phys.min() >= 0 and phys.max() <= afe.v_ref
        drops = np.abs(net.drops(v, u))[:, :afe.n_pots]
        assert (drops * net.conductance[:afe.n_pots]).max() <= afe.pot.i_max
    # at full span (a line at one end, the node at the other) the largest conductance stays
    # within the part's limit, and a front-end asking for more is held at it
    assert afe.g_max * afe.v_span_max <= afe.pot.i_max
    from dataclasses import replace
    low = replace(afe, r_min=100.0, pot_r_ab=10e3)
    assert low.g_max * low.v_span_max == pytest.approx(low.pot.i_max)


def test_network_structure_follows_the_afe():
    afe = AFE()
    net = frontend_network(afe, rng=0)
    m = afe.n_pots
    assert m == 6 * 10 + 2 * 6 + 2 * 2 and afe.n_pot_chips == 19
    assert afe.rheostat.r_ab == afe.pot_r_ab == 100e3 and afe.g_max == pytest.approx(1 / afe.r_min)
    assert net.n_sources == len(afe.input_lines) == 10
    assert (net.edges[m:, 1] == GROUND).all()                   # leaks and injections to V_MID
    assert np.allclose(net.g_min[m:], net.g_max[m:])
    assert np.allclose(net.conductance[m + afe.n_neurons:], 1 / afe.r_inject)
    assert net.diodes.tolist() == [True] * 6 + [False] * 2
    assert np.all(net.g_max[:m] == afe.g_max) and np.all(net.g_min[:m] == afe.g_min)


def test_model_files_record_the_frontend(tmp_path):
    from diodenet.host.modelio import load_model, save_model
    net = frontend_network(SMALL_AFE, x_scale=2.0, rng=1)
    save_model(tmp_path / "m.npz", net)
    back = load_model(tmp_path / "m.npz")
    assert afe_of_network(back) == SMALL_AFE
    assert back.encoding == net.encoding and back.encoding.scale == SMALL_AFE.input_span / 2.0
    assert np.array_equal(back.conductance, net.conductance)


def test_features_outside_the_range_are_clipped_and_counted():
    net = frontend_network(SMALL_AFE, rng=0)
    x = np.array([[0.5, -0.5], [3.0, 0.0]])
    u = net.source_voltages(x)
    lo, hi = SMALL_AFE.line_range
    assert u.max() == hi and u.min() == lo
    assert net.encoding.n_clipped(x) == 2 and net.encoding.n_clipped(x[:1]) == 0


def test_a_different_frontend_is_named():
    from dataclasses import replace
    with pytest.raises(FrontEndMismatch, match=r"r_inject: model 100000.0, the board 47000.0"):
        check_same_frontend(SMALL_AFE, replace(SMALL_AFE, r_inject=47e3))
    check_same_frontend(SMALL_AFE, replace(SMALL_AFE, readout_gain=7.0))   # a host-side choice


def test_settle_time_covers_the_array_rc():
    afe = AFE()
    tau = afe.slowest_time_constant()
    # the slowest mode is at least as slow as the most weakly held node's own RC
    c = afe.node_capacitance()
    assert tau > 0 and afe.settle_time() >= afe.dac.t_settle + np.log(2 ** 13) * tau
    assert afe.settle_time() < afe.dac.t_settle + np.log(2 ** 13) * tau + 1e-6
    assert c.min() >= afe.pot.c_wiper


def test_board_limits_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="kind='simulation'"):
        AFE(n_hidden=12, n_outputs=2, n_inputs=2).check()
    AFE(n_hidden=12, n_outputs=2, n_inputs=2, kind="simulation").check()


def _bat54_element(afe):
    from diodenet.analog.devices import diode_card
    from diodenet.host.elements import ShockleyDiode
    card = diode_card(afe.diode)
    return ShockleyDiode(card.saturation_current(), card.N)


@pytest.mark.parametrize("seed", range(5))
def test_kink_init_puts_every_hidden_kink_inside_the_data(seed):
    """The board's BAT54 is a soft ReLU: a hidden unit is nonlinear over the data only when its
    node swings well past the knee on both sides.  With the default (kink) initialization every
    hidden node, solved with the BAT54 by the reference solver over features filling the data's
    range, is clamped below V_MID for some inputs, follows its lines above it for others, and
    spans several tenths of a volt; the output rheostats start near g_min."""
    afe, x_scale = SMALL_AFE, 2.0
    x = np.random.default_rng(100 + seed).uniform(-x_scale, x_scale, (2000, afe.n_inputs))
    net = frontend_network(afe, x_scale=x_scale, rng=seed, element=_bat54_element(afe))
    v = net.solve(x).x[:, :afe.n_hidden]
    assert np.all(np.mean(v < -0.05, axis=0) > 0.02), np.mean(v < -0.05, axis=0)
    assert np.all(np.mean(v > 0.1, axis=0) > 0.02), np.mean(v > 0.1, axis=0)
    assert np.all(v.max(axis=0) - v.min(axis=0) > 0.3)
    g, m = net.conductance, afe.n_pots
    assert np.all(g[:m] >= afe.g_min) and np.all(g[:m] <= afe.g_max)
    out = afe.n_hidden * len(afe.input_lines)
    assert np.all(g[out:m] <= 2 * afe.g_min)
    # the small random conductances of the uniform initialization leave some unit linear
    uni = frontend_network(afe, x_scale=x_scale, rng=seed, init="uniform", element=_bat54_element(afe))
    vu = uni.solve(x).x[:, :afe.n_hidden]
    assert np.any(np.mean(vu < -0.05, axis=0) <= 0.02) or np.any(vu.max(axis=0) - vu.min(axis=0) <= 0.3)


def test_unknown_init_is_named():
    with pytest.raises(ValueError, match="unknown init 'zeros'"):
        frontend_network(SMALL_AFE, init="zeros")


def test_moons_is_learned_through_the_soft_bat54_relu():
    """Training the board's front-end with the BAT54 diode on moons (the training defaults of a
    front-end: lr 0.05 cosine, 30 epochs, batch 16) beats the 87-92 % a linear model gets."""
    from diodenet.host.datasets import load_dataset
    from diodenet.host.datasets import feature_scale
    from diodenet.host.train import TrainConfig, train
    data = load_dataset("moons", seed=0)
    net = frontend_network(SMALL_AFE, x_scale=feature_scale(data.x_train), rng=0,
                           element=_bat54_element(SMALL_AFE))
    config = TrainConfig(epochs=30, batch_size=16, lr=0.05, lr_schedule="cosine", seed=0)
    result = train(net, data, config, None, progress=False)
    assert result.history[-1]["test_accuracy"] >= 0.95
