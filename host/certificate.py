"""The certificate of an equilibrium of 0 ∈ H x + q + F(x): residual, feasibility, complementarity.

Every solver path (`solvers.solve_exact`) ends here, so the same numbers vouch for every
algorithm.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .elements import IdealDiode
from .kernels import as_batch, as_index, bounds, diagonal, matmul

__all__ = ["Equilibrium", "ConvergenceError", "certify", "natural_residual", "monotonicity_bounds"]


class ConvergenceError(RuntimeError):
    """A solver did not reach its tolerance; the message names the samples."""


@dataclass
class Equilibrium:
    """Solution of a batch: x (batch, n), states, and the certificate.

    state: −1 at the lower bound (ideal diode conducting, node clamped), +1 at the upper bound,
    0 free (diode blocking).  For smooth elements state is 0 everywhere.
    residual: relative natural residual ‖x − J(x − D⁻¹(Hx + q))‖∞ / scale per sample (0 at the
    exact solution).  primal: bound violation (volts).  dual: wrong-sign or nonzero residual
    current at each node divided by H_ii (volts).  complementarity: max_i |w_i/H_ii|·dist(x_i, bound).
    """

    x: np.ndarray
    state: np.ndarray
    residual: np.ndarray
    primal: np.ndarray
    dual: np.ndarray
    complementarity: np.ndarray
    iterations: int
    method: str = ""  # the algorithm that produced x (`solvers.solve_exact` picks it)
    solver_state: dict = field(default_factory=dict, repr=False)  # for warm starts and the adjoint

    @property
    def max_residual(self):
        return float(np.max(self.residual, initial=0.0))


def natural_residual(H, q, x, element=IdealDiode(), w=None):
    """Relative natural residual per sample: ‖x − J(x − D⁻¹(Hx+q))‖∞ / max(‖x‖∞, ‖D⁻¹q‖∞).

    w: Hx + q when the caller has it (saves the product)."""
    q, _ = as_batch(q)
    x = np.atleast_2d(x)
    d = diagonal(H)
    w = matmul(H, x) + q if w is None else w
    if element.is_box:
        r = x - element.resolvent(x - w / d)
    else:
        r = w / d + element.current(x) / d
    scale = np.maximum(np.max(np.abs(x), axis=1), np.max(np.abs(q / d), axis=1))
    scale = np.where(scale > 0, scale, 1.0)
    return np.max(np.abs(r), axis=1) / scale


def certify(H, q, x, element=IdealDiode(), iterations=0, hx=None, hxq=None):
    """Build the `Equilibrium` of x with its certificate (complementarity and feasibility).

    hx: H x when the caller can form it faster (e.g. through a layered kernel's blocks); hxq:
    H x + q likewise (overwritten)."""
    q, single = as_batch(q)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[1]
    d = diagonal(H)
    if hxq is not None:
        hx_q = hxq
    else:
        hx_q = (matmul(H, x) if hx is None else hx) + q
    if element.is_box:
        lo, hi = bounds(element, n)
        if np.all(hi == np.inf):  # diodes, shifted diodes, linear nodes: residual and certificate in one pass
            w = np.divide(hx_q, d, out=hx_q)
            residual, state, primal, dual, complementarity = _lower_bound_certificate(x, w, lo, _scale(x, q, d))
            return Equilibrium(x, state, residual, primal, dual, complementarity, iterations)
        residual = natural_residual(H, q, x, element, w=hx_q)
        w = np.divide(hx_q, d, out=hx_q)
        state, primal, dual, complementarity = _box_certificate(x, w, lo, hi)
    else:
        residual = natural_residual(H, q, x, element, w=hx_q)
        w = np.divide(hx_q, d, out=hx_q)
        state = np.zeros(x.shape, dtype=np.int8)
        primal = np.zeros(len(x))
        dual = np.max(np.abs(w + element.current(x) / d), axis=1)
        complementarity = np.zeros(len(x))
    return Equilibrium(x, state, residual, primal, dual, complementarity, iterations)


def _scale(x, q, d):
    """The natural residual's scale per sample: max(‖x‖∞, ‖D⁻¹q‖∞), 1 where both vanish.  One
    row reduction (a reduction along short rows costs ~4 elementwise passes)."""
    both = np.abs(q / d)
    np.maximum(both, np.abs(x), out=both)
    scale = np.max(both, axis=1)
    return np.where(scale > 0, scale, 1.0)


def _box_certificate(x, w, lo, hi):
    """States, bound violation, wrong-sign current and complementarity of x in the box [lo, hi]
    with w = (Hx+q)/H_ii.  A bound counts as active within 1e-12·(1 + |bound|).  Masks by
    arithmetic (masked selects are an order of magnitude slower on big batches); |x − ±inf| = inf
    never passes a finite tolerance."""
    primal = np.max(np.maximum(np.maximum(lo - x, x - hi), 0.0), axis=1)
    tol_lo = 1e-12 * (1 + np.abs(np.nan_to_num(lo, posinf=0.0, neginf=0.0)))
    tol_hi = 1e-12 * (1 + np.abs(np.nan_to_num(hi, posinf=0.0, neginf=0.0)))
    at_lo = np.abs(x - lo) <= tol_lo
    at_hi = (np.abs(x - hi) <= tol_hi) & ~at_lo
    state = at_hi.astype(np.int8) - at_lo
    wrong = at_lo * np.maximum(-w, 0) + at_hi * np.maximum(w, 0) + ~(at_lo | at_hi) * np.abs(w)
    dist = np.minimum(np.abs(x - lo), np.abs(hi - x))
    unbounded = ~(np.isfinite(lo) | np.isfinite(hi))
    if unbounded.any():
        dist[:, unbounded] = 0.0  # linear nodes: covered by `dual`
    return state, primal, np.max(wrong, axis=1), np.max(np.abs(w) * dist, axis=1)


def _lower_bound_certificate(x, w, lo, scale):
    """Residual and `_box_certificate` when no node has an upper bound (diodes, shifted diodes,
    linear nodes), in about half the passes (w is overwritten).  With the upper bound at +inf the natural residual
    x − max(x − w, lo) is min(w, x − lo) (w on linear nodes, whose lo is −inf)."""
    gap = x - lo  # +inf on linear nodes
    primal = np.zeros(len(x))
    if np.min(gap) < 0:  # a whole-array reduction first: per-row ones cost more
        primal = np.maximum(-np.min(gap, axis=1), 0.0)
    r = np.minimum(w, gap)
    residual = np.max(np.abs(r, out=r), axis=1) / scale
    np.abs(gap, out=gap)
    finite = np.isfinite(lo)
    at_lo = gap <= 1e-12 * (1 + np.abs(np.where(finite, lo, 0.0)))
    magnitude = np.abs(w)
    # a conducting node (at its bound) may carry any current w ≥ 0, a blocking or linear node none:
    # the violation is max(−w, |w|·free), by arithmetic (a masked select over mixed diode states
    # mispredicts its branches: 3–7× slower)
    violation = np.multiply(magnitude, ~at_lo, out=r)
    np.maximum(violation, np.negative(w, out=w), out=violation)
    dual = np.max(violation, axis=1)
    bounded = as_index(np.flatnonzero(finite))  # linear nodes: covered by `dual`
    gap_b = gap[:, bounded]
    complementarity = np.max(np.multiply(gap_b, magnitude[:, bounded], out=gap_b), axis=1, initial=0.0)
    return residual, np.negative(at_lo.view(np.int8)), primal, dual, complementarity


def monotonicity_bounds(H):
    """(m, L, symmetric): strong monotonicity λ_min(sym H), Lipschitz ‖H‖₂, whether H = Hᵀ."""
    if sp.issparse(H):
        H = sp.csr_matrix(H)
        symmetric = abs(H - H.T).max() <= 1e-12 * abs(H).max()
        S = (H + H.T) / 2
        m = spla.eigsh(S, k=1, which="SA", return_eigenvectors=False)[0]
        L = spla.svds(H, k=1, return_singular_vectors=False)[0] if not symmetric else \
            spla.eigsh(S, k=1, which="LA", return_eigenvectors=False)[0]
    else:
        H = np.asarray(H, dtype=float)
        symmetric = np.allclose(H, H.T, rtol=0, atol=1e-12 * np.abs(H).max())
        S = (H + H.T) / 2
        eig = np.linalg.eigvalsh(S)
        m = eig[0]
        L = eig[-1] if symmetric else np.linalg.norm(H, 2)
    if not m > 0:
        raise ValueError(
            f"kernel matrix is not strongly monotone (λ_min(sym H) = {m:.3g}): the equilibrium is not "
            "unique; every node needs a path to ground or a source"
        )
    return float(m), float(L), bool(symmetric)


