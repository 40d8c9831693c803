"""Gradients measured through the seam: hardware linearization, equilibrium propagation, failures."""

import numpy as np
import pytest

from diodenet.host.gradcheck import agreement, random_network
from diodenet.host.gradients import implicit_gradient
from diodenet.host.hwlin import measure_gradient
from diodenet.host.losses import network_loss
from diodenet.host.seam import IdealBackend, Measurement


def setup(rng, n=12, batch=5):
    net = random_network(n, n_features=4, n_outputs=3, seed=int(rng.integers(1000)))
    x = rng.uniform(0, 1, (batch, 4))
    y = rng.integers(0, 3, batch)
    return net, net.source_voltages(x), y


def exact(net, u, y):
    eq = net.solve(u=u)
    _, dl, _ = network_loss(net, eq.x, y)
    return implicit_gradient(net, dl, u=u, equilibrium=eq).conductance


@pytest.mark.parametrize("centered", [False, True])
def test_measured_gradient_equals_implicit_on_the_ideal_backend(rng, centered):
    for _ in range(3):
        net, u, y = setup(rng)
        got = measure_gradient(IdealBackend(net), u, y, epsilon=1e-4, centered=centered)
        assert got.ok.all()
        cos, rel = agreement(got.conductance, exact(net, u, y))
        assert rel <= 1e-9 and cos > 1 - 1e-12


def test_equilibrium_propagation_has_a_bias_linear_in_beta(rng):
    net, u, y = setup(rng)
    ref = exact(net, u, y)
    errors = []
    for beta in (1e-1, 1e-2, 1e-3):
        ep = measure_gradient(IdealBackend(net), u, y, method="eqprop", epsilon=beta)
        errors.append(agreement(ep.conductance, ref)[1])
    hl = measure_gradient(IdealBackend(net), u, y, epsilon=1e-3)
    # eqprop's error shrinks about 10× per decade of β; linearization at the same size has none
    # (it is exact while no diode changes state)
    assert errors[0] > 5 * errors[1] > 25 * errors[2]
    assert agreement(hl.conductance, ref)[1] < errors[2] / 1000


class FlakyBackend(IdealBackend):
    """Fails the measurement of chosen samples (as a board or ngspice might)."""

    def __init__(self, network, fail_forward=(), fail_perturbed=()):
        super().__init__(network)
        self.fail_forward, self.fail_perturbed = set(fail_forward), set(fail_perturbed)
        self.calls = 0

    def measure(self, u, inject=None):
        m = super().measure(u, inject)
        bad = self.fail_forward if inject is None else self.fail_perturbed
        ok = np.array([i not in bad for i in range(len(u))])
        return Measurement(np.where(ok[:, None], m.v, np.nan), m.u, ok, m.state)


def test_failed_measurements_are_skipped_not_used(rng):
    net, u, y = setup(rng, batch=6)
    got = measure_gradient(FlakyBackend(net, fail_forward={1}, fail_perturbed={2}), u, y)
    # forward failure: sample 1; perturbed failure: the 3rd of the remaining rows = original sample 3
    assert got.ok.tolist() == [True, False, True, False, True, True]
    keep = got.ok
    assert np.isfinite(got.conductance).all()
    assert agreement(got.conductance, exact(net, u[keep], y[keep]))[1] < 1e-9
    none = measure_gradient(FlakyBackend(net, fail_forward=range(6)), u, y)
    assert not none.ok.any() and np.all(none.conductance == 0) and np.isnan(none.loss)


def test_bad_arguments(rng):
    net, u, y = setup(rng)
    with pytest.raises(ValueError, match="unknown method"):
        measure_gradient(IdealBackend(net), u, y, method="guess")
    with pytest.raises(ValueError, match="epsilon"):
        measure_gradient(IdealBackend(net), u, y, epsilon=0)


def test_default_epsilon_follows_the_converter(rng):
    from diodenet.host.hwlin import DEFAULT_EPSILON, choose_epsilon

    net, u, y = setup(rng)
    v = net.solve(u=u).x
    exact = IdealBackend(net)
    assert choose_epsilon(exact, v) == DEFAULT_EPSILON
    exact.resolution = 2.5 / 4096  # a 12-bit converter over 2.5 V
    eps = choose_epsilon(exact, v)
    assert eps == pytest.approx(100 * 2.5 / 4096 / np.abs(v).max())
    assert choose_epsilon(exact, v, 0.05) == 0.05
    with pytest.raises(ValueError, match="epsilon"):
        choose_epsilon(exact, v, -1.0)
