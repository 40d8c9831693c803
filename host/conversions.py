"""Exact maps between the circuit form and the monDEQ form (docs/science.md §1.2).

Circuit → monDEQ always exists: with kernel H, drive B u and u = E x + e0,
    I − W = H / c,   U = −B E / c,   b = −B e0 / c      (any scale c > 0),
and the fixed point z* equals the node voltages v*.

monDEQ → resistor-only circuit exists when W is symmetric with nonnegative off-diagonal
couplings (then I − W is an M-matrix).  A positive diagonal rescaling z = S v keeps the
complementarity problem (rows and columns scaled alike: H = c·S(I − W)S, drive c·S(Ux + b)), and
S = diag((I − W)⁻¹ 1) makes every row sum of H positive, i.e. every leak conductance ≥ 0.  So
such a W is always realizable with resistors, each neuron read through a gain: z_j = S_jj·v_j.
Signed inputs and biases come from the differential encoding.  Anything else — negative couplings
or a non-symmetric W — needs ideal transformers and gyrators, which resistors cannot realize.
"""

from dataclasses import dataclass

import numpy as np

from .encoding import InputEncoding
from .mondeq import MonDEQ
from .network import GROUND, ResistorDiodeNetwork

__all__ = ["mondeq_from_network", "network_from_mondeq", "ResistorRealization", "NotRealizableError"]


class NotRealizableError(ValueError):
    """The monDEQ needs elements other than resistors (transformers, gyrators)."""


def mondeq_from_network(net, scale=None):
    """The monDEQ whose fixed point equals the network's node voltages (scale c: default max H_jj)."""
    H, B, _, _ = net.kernel()
    c = float(np.max(np.diag(H))) if scale is None else float(scale)
    E, e0 = net.encoding.matrix, net.encoding.offset
    W = np.eye(net.n_neurons) - H / c
    if not net.diodes.all():
        raise ValueError("the monDEQ form needs a diode at every neuron; this network has linear nodes "
                         f"{np.flatnonzero(~net.diodes)[:10].tolist()}")
    return MonDEQ(W, -B @ E / c, -B @ e0 / c, net.element)


@dataclass
class ResistorRealization:
    """A resistor-only network whose node voltages v give the monDEQ fixed point z = node_gain·v."""

    network: ResistorDiodeNetwork
    node_gain: np.ndarray


def network_from_mondeq(model, *, input_scale=None, bias=None, conductance_scale=1e-3, tol=1e-12):
    """Realize a symmetric, nonnegatively coupled ReLU monDEQ with resistors and ideal diodes.

    input_scale (volts per unit feature) and bias (rail volts) default to twice the smallest
    values that leave every leak conductance ≥ 0.  Returns a `ResistorRealization`; every neuron
    is an output.  Raises NotRealizableError naming what resistors alone cannot realize.
    """
    W, U, b = model.W, model.U, model.b
    n, d = U.shape
    scale_w = max(np.abs(W).max(), 1.0)
    asym = np.abs(W - W.T).max()
    if asym > tol * scale_w:
        raise NotRealizableError(
            f"W is not symmetric (max |W − Wᵀ| = {asym:.3g}): its skew part needs gyrators; "
            "resistors alone realize only symmetric couplings (see the analog compiler)"
        )
    off = W - np.diag(np.diag(W))
    if off.min() < -tol * scale_w:
        j, k = np.unravel_index(np.argmin(off), off.shape)
        raise NotRealizableError(
            f"W[{j},{k}] = {off[j, k]:.3g} < 0: a negative coupling between neurons needs an inverting "
            "element (ideal transformer with negative turns ratio); resistors give only W_jk ≥ 0"
        )
    K = np.eye(n) - (W + W.T) / 2
    model.monotonicity()  # raises if not well posed
    gain = np.ones(n) if np.all(K.sum(axis=1) > 0) else np.linalg.solve(K, np.ones(n))
    if np.any(gain <= 0):
        raise NotRealizableError("I − W is not an M-matrix; no positive node scaling exists")
    # Row budget left for inputs and bias (per unit of gain): (K·gain)_j / gain_j.
    budget = (K @ gain) / gain
    need = np.max((np.abs(U).sum(axis=1) + np.abs(b)) / budget)
    input_scale = 2 * max(need, 1e-12) if input_scale is None else float(input_scale)
    bias = 2 * max(need, 1e-12) if bias is None else float(bias)
    S = np.diag(gain)
    H = S @ K @ S
    U_s = gain[:, None] * U
    b_s = gain * b
    enc = InputEncoding(d, differential=True, scale=input_scale, bias=bias)
    # Conductances before the overall scale c: couplings −H_jk, inputs U⁺/s, U⁻/s, bias b±/V_b.
    edges, g = [], []
    for j in range(n):
        for k in range(j + 1, n):
            if -H[j, k] > 0:
                edges.append((j, k))
                g.append(-H[j, k])
        for i in range(d):
            for src, val in ((n + i, U_s[j, i]), (n + d + i, -U_s[j, i])):
                if val > 0:
                    edges.append((j, src))
                    g.append(val / input_scale)
        for src, val in ((n + 2 * d, b_s[j]), (n + 2 * d + 1, -b_s[j])):
            if val > 0:
                edges.append((j, src))
                g.append(val / bias)
    edges = np.array(edges, dtype=np.int64).reshape(-1, 2)
    g = np.array(g)
    # The leak takes up what the row of H has left over.
    used = np.zeros(n)
    np.add.at(used, edges[:, 0], g)
    np.add.at(used, edges[edges[:, 1] < n, 1], g[edges[:, 1] < n])
    leak = np.diag(H) - used
    if leak.min() < -1e-9 * np.diag(H).max():
        j = int(np.argmin(leak))
        raise NotRealizableError(
            f"neuron {j} would need a negative leak conductance ({leak[j]:.3g}): its input and bias "
            "weights are too large for the chosen input scale and bias voltage; raise input_scale/bias"
        )
    has_leak = leak > 1e-15 * np.diag(H).max()
    edges = np.vstack([edges, np.column_stack([np.flatnonzero(has_leak), np.full(has_leak.sum(), GROUND)])])
    g = np.concatenate([g, leak[has_leak]])
    c = conductance_scale / g.max()
    net = ResistorDiodeNetwork(n, enc, edges, g * c, 0.0, np.maximum(g * c, conductance_scale),
                               np.arange(n), model.element)
    return ResistorRealization(net, gain)
