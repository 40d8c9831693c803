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

import numpy as np

from .kernels import as_index
from .solvers import solve_adjoint

__all__ = ["Gradient", "implicit_gradient", "hardware_linearization_gradient", "linearized_conductance",
           "gradient_from_drops"]


class Gradient:
    """∂ℓ/∂g per edge (summed over the batch) and, computed when asked, ∂ℓ/∂u and ∂ℓ/∂x per
    sample and ∂ℓ/∂g per sample (batch × edges: large for a big network)."""

    def __init__(self, conductance, sources=None, per_sample=None, *, encoding=None, source_fn=None,
                 per_sample_fn=None):
        self.conductance = conductance  # (m,)
        self._sources, self._per_sample = sources, per_sample
        self._encoding, self._source_fn, self._per_sample_fn = encoding, source_fn, per_sample_fn

    @property
    def sources(self):
        """∂ℓ/∂u (batch, p)."""
        if self._sources is None:
            self._sources = self._source_fn()
        return self._sources

    @property
    def features(self):
        """∂ℓ/∂x (batch, d) through the input encoding."""
        return self.sources @ self._encoding.matrix

    @property
    def per_sample(self):
        """∂ℓ/∂g_e per sample (batch, m)."""
        if self._per_sample is None:
            self._per_sample = self._per_sample_fn()
        return self._per_sample


def _assemble(net, u, v, mu, x=None):
    """Gradient from node adjoints μ (batch, n): ∂ℓ/∂g_e = −Σ_batch V_e·λ_e.

    By kind of edge, with ⟨a, b⟩ = Σ_batch a·b: neuron j – source s: −(⟨v_j, μ_j⟩ − ⟨u_s, μ_j⟩);
    neuron j – ground: −⟨v_j, μ_j⟩; neurons a – b: −⟨v_a − v_b, μ_a − μ_b⟩.  The source terms
    are one product μᵀu (neurons × sources) read at the edges' positions: no (batch × edges) array."""
    u = np.broadcast_to(np.atleast_2d(u), (len(v), net.n_sources))
    plan = net._stamp_plan()
    a, b = net.edges[:, 0], net.edges[:, 1]
    vm = np.einsum("bj,bj->j", v, mu)
    affine = x is not None and net.encoding.is_affine_on(x)
    total = np.empty(net.n_edges)
    block = net.source_block()
    if block is not None:  # written in place into the block's edges: ⟨μ_j, u_s⟩ − ⟨v_j, μ_j⟩
        r0, view = block
        start, stride, _, k = plan["block"]
        out = np.lib.stride_tricks.as_strided(total[start:], shape=view.shape, strides=(stride * 8, 8))
        m_rows = mu[:, r0:r0 + k]
        if affine:
            _encoded_products(net.encoding, m_rows, np.atleast_2d(x), out)
        else:
            np.matmul(m_rows.T, u, out=out)
        out -= vm[r0:r0 + k, None]
    rest = plan["rest"]
    ra, rb = a[rest], b[rest]
    at_neuron = np.where((ra >= 0) & (ra < net.n_neurons), ra, rb)
    total[rest] = -vm[at_neuron]  # every edge touches a neuron: the ⟨v_j, μ_j⟩ term
    if block is None and plan["ns_edge"].size:
        if affine:  # u = E x + e0: a product over features
            Q = net.encoding.push_forward(mu.T @ np.atleast_2d(x)) + np.outer(mu.sum(axis=0), net.encoding.offset)
        else:
            Q = mu.T @ u  # (n, p): ⟨μ_j, u_s⟩
        total[plan["ns_edge"]] += Q.ravel()[plan["ns_flat"]]
    nn = plan["nn_edge"][: plan["nn_edge"].size // 2]
    if nn.size:
        ea, eb = a[nn], b[nn]
        A, B, i, j = plan["nn_pairs"]
        if 2 * len(A) * len(B) <= 4 * nn.size:  # couplings in dense blocks: two small products
            A_ix, B_ix = as_index(A), as_index(B)  # layers are contiguous ranges: views, no gathers
            va, vb, ma, mb = (arr[:, idx] for arr, idx in ((v, A_ix), (v, B_ix), (mu, A_ix), (mu, B_ix)))
            cross = (va.T @ mb)[i, j] + (ma.T @ vb)[i, j]  # ⟨v_a, μ_b⟩ + ⟨μ_a, v_b⟩
        else:
            cross = np.einsum("be,be->e", v[:, ea], mu[:, eb]) + np.einsum("be,be->e", v[:, eb], mu[:, ea])
        total[nn] += cross - vm[eb]  # −⟨v_a − v_b, μ_a − μ_b⟩ = −vm_a + cross − vm_b

    def sources():
        _, B, _, _ = net.kernel()
        return -mu @ B

    def per_sample():
        t = net.terminal_voltages(v, u)
        ta, tb = net.terminal_index()
        lam = np.concatenate([mu, np.zeros((len(mu), t.shape[1] - net.n_neurons))], axis=1)
        return -(t[:, ta] - t[:, tb]) * (lam[:, ta] - lam[:, tb])

    return Gradient(total, encoding=net.encoding, source_fn=sources, per_sample_fn=per_sample)


def _encoded_products(encoding, mu, x, out):
    """out[j, s] = Σ_batch μ_j·u_s for u = E x + e0, from one product μᵀx over the features."""
    encoding.push_forward(mu.T @ x, out=out)
    rails = 2 * encoding.n_features if encoding.differential else encoding.n_features
    out[:, rails:] = np.outer(mu.sum(axis=0), encoding.offset[rails:])


def gradient_from_drops(net, u, v, lam):
    """Gradient from measured adjoint drops λ_e (batch, m); ∂ℓ/∂u from the source edges' drops."""
    V = net.drops(v, u)
    per_sample = -V * lam
    _, As = net.incidence()
    # ∂ℓ/∂u_p = −Σ_e g_e·λ_e·(A_s)_pe: the adjoint current drawn from source p
    d_u = -np.asarray((As @ (lam * net.conductance).T).T)
    return Gradient(per_sample.sum(axis=0), d_u, per_sample, encoding=net.encoding)


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
    The node adjoint μ solves (Hᵀ + diag F'(v)) μ = ∂ℓ/∂v with μ = 0 where an ideal diode holds
    its node (`solvers.solve_adjoint`, which reuses the forward pass's structure and state).
    """
    u = _sources(net, x, u)
    eq = equilibrium or net.solve(u=u)
    g = _node_gradient(net, dl_dv, len(eq.x))
    mu = solve_adjoint(net.prepared_kernel(), g, eq, net.node_element, transpose=True)
    return _assemble(net, u, eq.x, mu, x=None if x is None else np.atleast_2d(np.asarray(x, dtype=float)))


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


def _adjoint_by_linear_network(net, meas, g):
    """Node voltages λ of the linearized network, sources zeroed, currents g injected: conducting
    ideal diodes short their nodes, real diodes add their small-signal conductance."""
    return solve_adjoint(net.prepared_kernel(), g, meas, net.node_element, transpose=False)


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
        mu = _adjoint_by_linear_network(net, meas, g)
    elif method == "perturb":
        from .hwlin import measure_adjoint
        from .seam import IdealBackend
        lam, _ = measure_adjoint(IdealBackend(net), u, v, g, epsilon, centered)
        return gradient_from_drops(net, u, v, lam)
    else:
        raise ValueError(f"unknown method {method!r}; use 'adjoint' or 'perturb'")
    return _assemble(net, u, v, mu)
