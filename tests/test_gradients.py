"""Implicit gradients vs hardware linearization vs central finite differences."""

import numpy as np
import pytest
from finite_differences import central_differences

from diodenet.host.elements import ShockleyDiode
from diodenet.host.gradients import hardware_linearization_gradient, implicit_gradient
from diodenet.host.losses import network_loss
from diodenet.host.network import ResistorDiodeNetwork


def rel(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


def setup(rng, element=None, output_diodes=False, loss="cross_entropy"):
    net = ResistorDiodeNetwork.layered(5, 6, 3, hidden_coupling=True, output_diodes=output_diodes,
                                       element=element, rng=rng)
    x = rng.uniform(size=(6, 5))
    y = rng.integers(0, 3, 6) if loss == "cross_entropy" else rng.uniform(0, 0.1, (6, 3))
    return net, x, y


def loss_at(net, x, y, loss):
    return network_loss(net, net.solve(x).x, y, loss)[0]


@pytest.mark.parametrize("element", [None, ShockleyDiode(1e-12, 1.2)], ids=["ideal", "shockley"])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_hardware_linearization_equals_implicit_gradient(rng, element, loss):
    for trial in range(3):
        net, x, y = setup(rng, element, output_diodes=trial == 2, loss=loss)
        eq = net.solve(x)
        _, dl_dv, _ = network_loss(net, eq.x, y, loss)
        exact = implicit_gradient(net, dl_dv, x)
        adjoint = hardware_linearization_gradient(net, dl_dv, x)
        assert rel(adjoint.conductance, exact.conductance) <= 1e-9
        assert rel(adjoint.sources, exact.sources) <= 1e-9
        perturbed = hardware_linearization_gradient(net, dl_dv, x, method="perturb", centered=True, epsilon=1e-5)
        assert rel(perturbed.conductance, exact.conductance) <= 1e-6
        assert rel(perturbed.sources, exact.sources) <= 1e-6


@pytest.mark.parametrize("element", [None, ShockleyDiode(1e-12, 1.2)], ids=["ideal", "shockley"])
def test_gradients_match_central_finite_differences(rng, element):
    net, x, y = setup(rng, element)
    eq = net.solve(x)
    _, dl_dv, _ = network_loss(net, eq.x, y)
    exact = implicit_gradient(net, dl_dv, x)
    measured = hardware_linearization_gradient(net, dl_dv, x)
    g0 = net.conductance
    picks = rng.choice(net.n_edges, 25, replace=False)
    picks = np.union1d(picks, np.argsort(-np.abs(exact.conductance))[:10])
    fd = central_differences(lambda g: loss_at(net.with_conductance(g), x, y, "cross_entropy"), g0, picks)
    assert rel(exact.conductance[picks], fd) < 1e-5
    assert rel(measured.conductance[picks], fd) < 1e-5
    # input (feature) gradients too
    fx = np.zeros_like(x)
    for k in range(x.shape[0]):
        for i in range(x.shape[1]):
            xp, xm = x.copy(), x.copy()
            xp[k, i] += 1e-6
            xm[k, i] -= 1e-6
            fx[k, i] = (loss_at(net, xp, y, "cross_entropy") - loss_at(net, xm, y, "cross_entropy")) / 2e-6
    assert rel(exact.features, fx) < 1e-5
    assert rel(measured.features, fx) < 1e-5


def test_gradient_rule_is_local(rng):
    """∂ℓ/∂g_e = −V_e·λ_e per edge: only the edge's own two readings enter."""
    net, x, y = setup(rng)
    eq = net.solve(x)
    _, dl_dv, _ = network_loss(net, eq.x, y)
    grad = hardware_linearization_gradient(net, dl_dv, x)
    V = net.drops(eq.x, net.source_voltages(x))
    # an edge whose drop is zero in every sample (e.g. two clamped nodes) has zero gradient
    zero = np.all(np.abs(V) < 1e-15, axis=0)
    assert np.all(grad.conductance[zero] == 0)
    with pytest.raises(ValueError, match="unknown method"):
        hardware_linearization_gradient(net, dl_dv, x, method="magic")
    with pytest.raises(ValueError, match="shape"):
        implicit_gradient(net, dl_dv[:, :2], x)
