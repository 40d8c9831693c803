"""Gradients of a loss with respect to every conductance and every input.

Two independent routes, both returning a `Gradient`:

* `implicit_gradient` — implicit differentiation of the monDEQ fixed point z = σ(W z + r) through
  its active set: with D = diag(σ'(·)) (1 on free nodes, 0 on clamped ones for ideal diodes),
  (I − D W)ᵀ λ̃ = ∂ℓ/∂z and dℓ = λ̃ᵀ D (dW z + dr).  With W = I − H/c and r = −B u/c this is
  dℓ = −μᵀ (dH v + dB u), μ = D λ̃ / c.
* `hardware_linearization_gradient` — the rule the circuit itself can measure (docs/science.md §1.4):
  forward drops V_e from a forward measurement; adjoint drops λ_e from the linearized network
  (conducting ideal diode → short, blocking → open, real diode → its small-signal conductance,
  sources zeroed) driven by currents ∂ℓ/∂v at the outputs — either solved as that linear network
  ("adjoint") or measured as the response to a small output perturbation ("perturb", λ ≈ ΔV/ε,
  optionally centered ±ε); then ∂ℓ/∂g_e = −V_e·λ_e.  It uses node-voltage measurements only.

For an edge e between terminals a and b, (dH v + dB u) = A_n[:, e]·V_e, hence for both routes
∂ℓ/∂g_e = −V_e·λ_e with λ_e = (A_nᵀ μ)_e; and ∂ℓ/∂u = −μᵀ B.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Gradient", "implicit_gradient", "hardware_linearization_gradient", "linearized_conductance",
           "gradient_from_drops"]


@dataclass
class Gradient:
    """∂ℓ/∂g per edge (summed over the batch) and ∂ℓ/∂u, ∂ℓ/∂x per sample."""

    conductance: np.ndarray  # (m,)
    sources: np.ndarray  # (batch, p)
    features: np.ndarray  # (batch, d)
    per_sample: np.ndarray  # (batch, m)


def _assemble(net, u, v, mu):
    """Gradient from node adjoints μ (batch, n): ∂ℓ/∂g_e = −V_e·λ_e."""
    An, _ = net.incidence_dense()
    V = net.drops(v, u)
    lam = mu @ An
    per_sample = -V * lam
    _, B, _, _ = net.kernel()
    d_u = -mu @ B
    return Gradient(per_sample.sum(axis=0), d_u, d_u @ net.encoding.matrix, per_sample)


def gradient_from_drops(net, u, v, lam):
    """Gradient from measured adjoint drops λ_e (batch, m); ∂ℓ/∂u from the source edges' drops."""
    V = net.drops(v, u)
    per_sample = -V * lam
    _, As = net.incidence_dense()
    # ∂ℓ/∂u_p = −Σ_e g_e·λ_e·(A_s)_pe: the adjoint current drawn from source p
    d_u = -(lam * net.conductance) @ As.T
    return Gradient(per_sample.sum(axis=0), d_u, d_u @ net.encoding.matrix, per_sample)


def _sources(net, x, u):
    if (x is None) == (u is None):
        raise ValueError("give exactly one of features x or source voltages u")
    return np.atleast_2d(net.source_voltages(x) if u is None else net._check_u(u))


def _node_gradient(net, dl_dv, batch):
    g = np.asarray(dl_dv, dtype=float)
    if g.ndim == 1:
        g = np.broadcast_to(g, (batch, g.size))
    if g.shape != (batch, net.n_neurons):
        raise ValueError(f"∂ℓ/∂v must have shape ({batch}, {net.n_neurons}); got {g.shape}")
    return g


def implicit_gradient(net, dl_dv, x=None, *, u=None, equilibrium=None):
    """Exact gradient by implicit differentiation of the monDEQ form of `net`.

    dl_dv: (batch, n) loss gradient with respect to every node voltage (zero off the outputs).
    """
    u = _sources(net, x, u)
    eq = equilibrium or net.solve(u=u)
    v = eq.x
    g = _node_gradient(net, dl_dv, len(v))
    H, _, _, _ = net.kernel()
    c = float(np.max(np.diag(H)))
    W = np.eye(net.n_neurons) - H / c
    if net.element.is_box:
        D = (eq.state == 0).astype(float)
    else:
        D = 1.0 / (1.0 + net.node_element.slope(v) / c)
    M = np.eye(net.n_neurons)[None] - D[:, :, None] * W[None]
    lam_tilde = np.linalg.solve(np.transpose(M, (0, 2, 1)), g[:, :, None])[:, :, 0]
    return _assemble(net, u, v, D * lam_tilde / c)


def linearized_conductance(net, v, state=None):
    """Small-signal conductance of each neuron's element to ground at operating point v.

    Ideal diodes: ∞ (a short) when conducting, 0 (open) when blocking; returned as (G, shorted)
    with shorted a boolean mask.  Real diodes: their slope F'(v), nothing shorted.
    """
    v = np.atleast_2d(v)
    element = net.node_element
    if element.is_box:
        lo = np.broadcast_to(np.asarray(element.lower, float), v.shape[1:])
        hi = np.broadcast_to(np.asarray(element.upper, float), v.shape[1:])
        if state is None:
            tol = 1e-12 * max(1.0, float(np.max(np.abs(v))))
            shorted = (np.abs(v - lo) <= tol) | (np.abs(v - hi) <= tol)
        else:
            shorted = state != 0
        return np.zeros_like(v), shorted
    return element.slope(v), np.zeros(v.shape, dtype=bool)


def _adjoint_by_linear_network(net, v, g, state):
    """Node voltages λ of the linearized network, sources zeroed, currents g injected."""
    H, _, _, _ = net.kernel()
    G_el, shorted = linearized_conductance(net, v, state)
    lam = np.zeros_like(v)
    for k in range(len(v)):
        keep = ~shorted[k]
        K = H[np.ix_(keep, keep)] + np.diag(G_el[k, keep])
        lam[k, keep] = np.linalg.solve(K, g[k, keep])
    return lam


def hardware_linearization_gradient(net, dl_dv, x=None, *, u=None, method="adjoint", epsilon=1e-4,
                                    centered=False, measurement=None):
    """Gradient by the hardware-linearization rule ∂ℓ/∂g_e = −V_e·λ_e, from measurements only.

    method: "adjoint" solves the linearized network; "perturb" measures the response to an
    output perturbation (relative size epsilon, centered ±ε if asked).  `measurement` is a
    forward `Equilibrium` already taken at u (else one forward solve is made).
    """
    u = _sources(net, x, u)
    meas = measurement or net.solve(u=u)
    v = meas.x
    g = _node_gradient(net, dl_dv, len(v))
    if method == "adjoint":
        mu = _adjoint_by_linear_network(net, v, g, meas.state if net.element.is_box else None)
    elif method == "perturb":
        from .hwlin import measure_adjoint
        from .seam import IdealBackend
        lam, _ = measure_adjoint(IdealBackend(net), u, v, g, epsilon, centered)
        return gradient_from_drops(net, u, v, lam)
    else:
        raise ValueError(f"unknown method {method!r}; use 'adjoint' or 'perturb'")
    return _assemble(net, u, v, mu)
