"""The measurement seam (host/seam.py): a perturbed measurement carries both phases of its batch,
each sample with its own injection; hardware linearization differences the two phases (so a drift
shared by both phases of a batch cancels)."""

import numpy as np

from diodenet.host.gradcheck import agreement, random_network
from diodenet.host.hwlin import measure_adjoint, measure_gradient
from diodenet.host.losses import network_loss
from diodenet.host.seam import IdealBackend, Measurement, MeasurementBackend


def _setup(rng, batch=6):
    net = random_network(10, n_features=3, n_outputs=2, seed=int(rng.integers(1000)))
    u = net.source_voltages(rng.uniform(0, 1, (batch, 3)))
    inject = np.zeros((batch, net.n_neurons))
    inject[:, -2:] = rng.normal(0, 1e-3, (batch, 2)) * np.mean(net.conductance)
    return net, u, inject


def test_both_phases_agree_with_the_reference_solver(rng):
    net, u, inject = _setup(rng)
    be = IdealBackend(net)
    assert isinstance(be, MeasurementBackend)
    m = be.measure(u, inject=inject)
    assert m.ok.all() and m.forward is not None
    assert np.allclose(m.forward, net.solve(u=u).x, atol=1e-12, rtol=0)
    assert np.allclose(m.v, net.solve(u=u, inject=inject).x, atol=1e-12, rtol=0)
    assert not np.allclose(m.v, m.forward)                    # the injection did something
    # a forward measurement has one phase
    f = be.measure(u)
    assert f.forward is None and np.allclose(f.v, m.forward, atol=1e-12, rtol=0)


def test_a_batch_of_per_sample_perturbations_equals_per_sample_requests(rng):
    net, u, inject = _setup(rng)
    be = IdealBackend(net)
    batch = be.measure(u, inject=inject)
    for s in range(len(u)):
        one = IdealBackend(net).measure(u[s:s + 1], inject=inject[s:s + 1])
        assert np.allclose(one.v[0], batch.v[s], atol=1e-12, rtol=0)
        assert np.allclose(one.forward[0], batch.forward[s], atol=1e-12, rtol=0)


def test_the_forward_phase_follows_a_new_program(rng):
    """The ideal backend reuses the last forward solve only for the same network and sources."""
    net, u, inject = _setup(rng)
    be = IdealBackend(net)
    be.measure(u)
    g = np.clip(net.conductance * 1.3, net.g_min, net.g_max)
    be.program(g)
    m = be.measure(u, inject=inject)
    assert np.allclose(m.forward, be.network.solve(u=u).x, atol=1e-12, rtol=0)
    assert not np.allclose(m.forward, net.solve(u=u).x)


class DriftingBackend(IdealBackend):
    """Every request (one batch on a board) reads all nodes shifted by its own offset: a slow drift
    of the reference between batches, the same for both phases of one batch."""

    def __init__(self, network, step=2e-3):
        super().__init__(network)
        self.step, self.calls = step, 0

    def measure(self, u, inject=None):
        self.calls += 1
        m = super().measure(u, inject)
        d = self.step * self.calls
        return Measurement(m.v + d, m.u, m.ok, m.state, None if m.forward is None else m.forward + d)


class OnePhaseDrifting(DriftingBackend):
    """The same drift on a backend that reports only the perturbed phase."""

    def measure(self, u, inject=None):
        m = super().measure(u, inject)
        return Measurement(m.v, m.u, m.ok, m.state)


def test_linearization_against_its_own_forward_phase_cancels_drift(rng):
    net, u, _ = _setup(rng)
    y = rng.integers(0, 2, len(u))
    v = net.solve(u=u).x
    _, dl_dv, _ = network_loss(net, v, y)
    exact, ok = measure_adjoint(IdealBackend(net), u, v, dl_dv, epsilon=1e-3)
    assert ok.all()
    scale = np.abs(exact).max()
    own, _ = measure_adjoint(DriftingBackend(net), u, v, dl_dv, epsilon=1e-3)
    assert np.abs(own - exact).max() < 1e-6 * scale
    # against a forward reading of another request the drift does not cancel
    other, _ = measure_adjoint(OnePhaseDrifting(net), u, v, dl_dv, epsilon=1e-3)
    assert np.abs(other - exact).max() > 1e-2 * scale
    # and the gradient through the seam uses the own phase: equal to the drift-free one's λ part
    g = measure_gradient(DriftingBackend(net, step=0.0), u, y, epsilon=1e-3)
    assert agreement(g.conductance, measure_gradient(IdealBackend(net), u, y, epsilon=1e-3).conductance)[1] < 1e-12
