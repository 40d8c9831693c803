"""How good is the measured gradient?  Hardware linearization against a reference.

References: the exact implicit gradient (reference solver; only meaningful on the ideal backend,
where the two must agree to rounding), or central finite differences of the loss measured through
the same backend — for the device-level circuit that is the gradient of the real devices.
"""

import numpy as np

from .gradients import implicit_gradient
from .hwlin import measure_gradient
from .losses import network_loss
from .network import ResistorDiodeNetwork

__all__ = ["random_network", "finite_difference_gradient", "measured_vs_reference_gradient", "agreement"]


def random_network(n_neurons=32, n_features=8, n_outputs=4, seed=0, element=None, g_min=1e-6, g_max=1e-3,
                   input_scale=1.0):
    """A random layered network: n_neurons in all (n_outputs of them linear readout nodes),
    differential inputs, hidden–hidden couplings, conductances log-uniform over [g_min, g_max]."""
    if n_neurons <= n_outputs:
        raise ValueError(f"need more than {n_outputs} neurons, got {n_neurons}")
    rng = np.random.default_rng(seed)
    net = ResistorDiodeNetwork.layered(n_features, n_neurons - n_outputs, n_outputs, hidden_coupling=True,
                                       output_diodes=False, element=element, g_min=g_min, g_max=g_max,
                                       input_scale=input_scale, bias=input_scale, rng=rng)
    g = np.exp(rng.uniform(np.log(g_min), np.log(g_max), net.n_edges))
    return net.with_conductance(g)


def finite_difference_gradient(backend, u, targets, loss="cross_entropy", step=1e-4, edges=None, progress=None):
    """Central differences of the measured loss: (ℓ(g + h e) − ℓ(g − h e))/2h with h = step·g_e."""
    net = backend.network
    g0 = net.conductance.copy()
    edges = np.arange(net.n_edges) if edges is None else np.asarray(edges)
    out = np.zeros(len(edges))

    def loss_at(g):
        backend.program(g)
        meas = backend.measure(u)
        if not meas.ok.all():
            raise RuntimeError("a finite-difference measurement failed")
        return network_loss(net, meas.v, targets, loss)[0]

    try:
        for k, e in enumerate(edges):
            h = step * g0[e]
            gp, gm = g0.copy(), g0.copy()
            gp[e] += h
            gm[e] -= h
            out[k] = (loss_at(gp) - loss_at(gm)) / (2 * h)
            if progress is not None:
                progress.update(1)
    finally:
        backend.program(g0)
    return out


def agreement(measured, reference):
    """(cosine similarity, max relative error) between two gradient vectors."""
    norm = np.linalg.norm(measured) * np.linalg.norm(reference)
    cos = float(measured @ reference / norm) if norm > 0 else 0.0
    rel = float(np.abs(measured - reference).max() / np.abs(reference).max())
    return cos, rel


def measured_vs_reference_gradient(backend, x, y, *, reference="implicit", loss="cross_entropy", epsilon=None,
                   centered=True, fd_step=1e-4, edges=None, progress=None):
    """Measured hardware-linearization gradient vs `reference` ('implicit' or 'fd').

    Returns a dict with cosine, rel_error, and the two vectors (over `edges`, default all)."""
    net = backend.network
    u = net.source_voltages(x)
    measured = measure_gradient(backend, u, y, loss=loss, epsilon=epsilon, centered=centered)
    if not measured.ok.all():
        raise RuntimeError(f"{measured.n_failed} measurements failed during the gradient check")
    edges = np.arange(net.n_edges) if edges is None else np.asarray(edges)
    if reference == "implicit":
        eq = net.solve(u=u)
        _, dl_dv, _ = network_loss(net, eq.x, y, loss)
        ref = implicit_gradient(net, dl_dv, u=u, equilibrium=eq).conductance[edges]
    elif reference == "fd":
        ref = finite_difference_gradient(backend, u, y, loss, fd_step, edges, progress)
    else:
        raise ValueError(f"unknown reference {reference!r}; use 'implicit' or 'fd'")
    got = measured.conductance[edges]
    cos, rel = agreement(got, ref)
    return {"cosine": cos, "rel_error": rel, "measured": got, "reference": ref, "edges": edges}
