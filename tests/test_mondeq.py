import numpy as np
import pytest

from diodenet.host.conversions import NotRealizableError, mondeq_from_network, network_from_mondeq
from diodenet.host.mondeq import MonDEQ
from diodenet.host.network import ResistorDiodeNetwork


def test_winston_kolter_is_strongly_monotone(rng):
    for m in (0.05, 0.5):
        model = MonDEQ.random(12, 3, m=m, rng=rng)
        assert model.monotonicity() >= m - 1e-12
        x = rng.normal(size=(9, 3))
        z = model.solve(x).x
        assert model.fixed_point_residual(x, z).max() < 1e-12


def test_circuit_to_mondeq_has_the_same_fixed_point(rng):
    net = ResistorDiodeNetwork.layered(4, 5, 2, hidden_coupling=True, output_diodes=True, rng=rng)
    model = mondeq_from_network(net)
    x = rng.uniform(size=(11, 4))
    v = net.solve(x).x
    assert model.fixed_point_residual(x, v).max() < 1e-14
    assert np.abs(model.solve(x).x - v).max() < 1e-14
    # symmetric, nonnegative couplings, U ≥ 0 on + inputs … and signed U via differential pairs
    assert np.allclose(model.W, model.W.T)
    assert (model.W - np.diag(np.diag(model.W))).min() >= 0


def symmetric_nonneg(rng, n, strength):
    W = rng.uniform(0, strength, (n, n))
    W = (W + W.T) / 2
    np.fill_diagonal(W, rng.uniform(-0.5, 0.5, n))
    return W


@pytest.mark.parametrize("strength", [0.05, 0.18])  # the second needs per-neuron gains
def test_mondeq_to_resistor_circuit_round_trip(rng, strength):
    n, d = 8, 3
    W = symmetric_nonneg(rng, n, strength)
    model = MonDEQ(W, rng.normal(size=(n, d)), rng.normal(size=n))
    if np.linalg.eigvalsh(np.eye(n) - W)[0] <= 0:
        pytest.skip("random draw not monotone")
    real = network_from_mondeq(model)
    x = rng.normal(size=(10, d))
    z = model.solve(x).x
    v = real.network.solve(x).x
    assert np.abs(real.node_gain * v - z).max() <= 1e-12 * np.abs(z).max()
    if strength > 0.1:
        assert not np.allclose(real.node_gain, 1.0)
    # and back again: the circuit's own monDEQ has the circuit's fixed point
    again = mondeq_from_network(real.network)
    assert again.fixed_point_residual(x, v).max() < 1e-12


def test_resistors_cannot_realize_signed_or_skew_couplings(rng):
    n = 4
    W = symmetric_nonneg(rng, n, 0.1)
    W[0, 1] = W[1, 0] = -0.05
    with pytest.raises(NotRealizableError, match="negative coupling.*transformer"):
        network_from_mondeq(MonDEQ(W, np.ones((n, 1)), np.zeros(n)))
    with pytest.raises(NotRealizableError, match="not symmetric.*gyrators"):
        network_from_mondeq(MonDEQ.random(n, 2, rng=rng))


def test_bad_mondeq_inputs():
    with pytest.raises(ValueError, match="W \\(n×n\\)"):
        MonDEQ(np.eye(3), np.ones((2, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        MonDEQ(np.full((2, 2), np.nan), np.ones((2, 1)), np.zeros(2))
    with pytest.raises(ValueError, match="not strongly monotone"):
        MonDEQ(2 * np.eye(2), np.ones((2, 1)), np.zeros(2)).solve(np.ones((1, 1)))
