"""The certificate of an equilibrium of 0 ∈ H x + q + F(x): residual, feasibility, complementarity.

Every solver path (`solvers.solve_exact`) ends here, so the same numbers vouch for every
algorithm.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .elements import IdealDiode
from .compiled import box_certificate
from .kernels import as_batch, bounds, diagonal, matmul

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

    w: Hx + q when the caller has it (saves the product).  Box elements: the certificate's own
    residual (`compiled.box_certificate`)."""
    q, _ = as_batch(q)
    x = np.atleast_2d(x)
    d = diagonal(H)
    w = matmul(H, x) + q if w is None else w
    if element.is_box:
        return box_certificate(x, w, q, d, *bounds(element, x.shape[1]))[0]
    r = w / d + element.current(x) / d
    scale = np.maximum(np.max(np.abs(x), axis=1), np.max(np.abs(q / d), axis=1))
    scale = np.where(scale > 0, scale, 1.0)
    return np.max(np.abs(r), axis=1) / scale


def certify(H, q, x, element=IdealDiode(), iterations=0, hx=None, hxq=None, d=None):
    """Build the `Equilibrium` of x with its certificate (complementarity and feasibility).

    hx: H x when the caller can form it faster (e.g. through a layered kernel's blocks); hxq:
    H x + q likewise (overwritten for smooth elements).  Box elements: one compiled pass
    (`compiled.box_certificate`).  d: H's diagonal, when the caller has already checked it."""
    q, single = as_batch(q)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[1]
    d = diagonal(H) if d is None else d
    if hxq is not None:
        hx_q = hxq
    else:
        hx_q = (matmul(H, x) if hx is None else hx) + q
    if element.is_box:
        lo, hi = bounds(element, n)
        residual, state, primal, dual, complementarity = box_certificate(x, hx_q, q, d, lo, hi)
        return Equilibrium(x, state, residual, primal, dual, complementarity, iterations)
    residual = natural_residual(H, q, x, element, w=hx_q)
    w = np.divide(hx_q, d, out=hx_q)
    state = np.zeros(x.shape, dtype=np.int8)
    primal = np.zeros(len(x))
    dual = np.max(np.abs(w + element.current(x) / d), axis=1)
    complementarity = np.zeros(len(x))
    return Equilibrium(x, state, residual, primal, dual, complementarity, iterations)


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


