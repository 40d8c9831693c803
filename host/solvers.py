"""Reference solvers for the equilibrium 0 ∈ H x + q + F(x), batched over samples.

H is the (monotone) kernel matrix of the network, q = B u the drive of one sample, F the element
relation at every node (`elements`).  For a ReLU monDEQ H = I − W and q = −(U x + b).

`solve_exact` is the one entry point; it picks the algorithm from the structure of H and says which
in the returned certificate (`Equilibrium.method`):

* "bipartite-newton" — box elements, H bipartite (a layered network) with one colour of at most
  `bipartite.SMALL_SIDE` nodes: the other colour eliminated in closed form, a semismooth Newton on
  the rest (`bipartite.reduced_newton`); exact.
* "red-black-sor" — box elements, H bipartite with both colours large (deeper layered networks):
  projected red–black SOR (`bipartite.red_black_sor`).
* "peaceman-rachford" — box elements, dense H that is not bipartite, n ≥ `DENSE_SPLITTING_MIN`
  (monDEQs): Peaceman–Rachford with an explicit resolvent (`splitting.dense_peaceman_rachford`).
* "active-set" — box elements otherwise (small or sparse H): primal–dual active set
  (`active_set.active_set`); exact.
* "newton" — smooth elements: damped Newton from the ideal-diode solution.

The iterative paths stop at `tol` (relative natural residual) when it is given and otherwise run to
rounding (exact-to-rounding mode); the exact paths always end at the exact solution.  Every path
ends with the same certificate (`certificate.certify`).  A `PreparedKernel` holds what depends only
on H — the colouring, the blocks, the resolvent inverse, the monotonicity bounds — so it is computed
once while the weights do not change (inference, the backward pass); `solve_adjoint` solves the
backward pass's linear system with the forward pass's structure and state.
"""

import numpy as np
import scipy.sparse as sp

from .active_set import active_set, damped_newton, gather_solve, solve_fixed_sets
from .bipartite import SMALL_SIDE, BipartiteKernel, cols, red_black_sor, reduced_newton, two_coloring
from .certificate import ConvergenceError, Equilibrium, certify, monotonicity_bounds, natural_residual
from .compiled import largest_abs, solve_small
from .elements import IdealDiode
from .kernels import as_batch, bounds, diagonal, one_blas_thread
from .splitting import ReflectedResolvent, dense_peaceman_rachford, forward_backward, peaceman_rachford

__all__ = [
    "Equilibrium",
    "ConvergenceError",
    "PreparedKernel",
    "solve_exact",
    "solve_adjoint",
    "forward_backward",
    "peaceman_rachford",
    "certify",
    "natural_residual",
    "monotonicity_bounds",
    "METHODS",
]

METHODS = ("bipartite-newton", "red-black-sor", "peaceman-rachford", "active-set", "newton")
DENSE_SPLITTING_MIN = 48  # smallest dense non-bipartite kernel solved by splitting (measured)
SOR_MIN = 256  # smallest bipartite kernel with two large colours solved by red–black SOR
SOR_MAX_SWEEPS = 300  # then the active set takes over (ill-conditioned couplings)
SOR_MIN_FILL = 0.1  # ... whose colours are coupled this densely (layers, not lattices: measured)


class PreparedKernel:
    """H with everything that depends only on it, computed on first use and kept.

    colouring: a known two-colouring (red, black) of H's coupling graph (e.g. from a network's
    layers), or None to detect it from H's zero pattern."""

    def __init__(self, H, colouring="detect"):
        if not sp.issparse(H):
            H = np.asarray(H, dtype=float)
        if H.ndim != 2 or H.shape[0] != H.shape[1]:
            raise ValueError(f"kernel matrix must be square, got shape {H.shape}")
        self.H = H
        self.n = H.shape[0]
        self.sparse = sp.issparse(H)
        self._colouring = colouring
        self._cache = {}

    @property
    def d(self):
        """H's diagonal (refuses a node with no conductance to anything)."""
        if "d" not in self._cache:
            self._cache["d"] = diagonal(self.H)
        return self._cache["d"]

    def colouring(self):
        if isinstance(self._colouring, str):
            # a bipartite coupling graph has at most n²/2 off-diagonal entries: a denser H is not
            dense = not self.sparse and np.count_nonzero(self.H) > self.n * self.n // 2 + self.n
            self._colouring = None if dense else two_coloring(self.H)
        return self._colouring

    def coupling_fill(self):
        """Fraction of the possible couplings between the two colours that are present."""
        red, black = self.colouring()
        off = (self.H.nnz if self.sparse else np.count_nonzero(self.H)) - np.count_nonzero(self.H.diagonal())
        return off / max(2 * len(red) * len(black), 1)

    def bipartite(self):
        if "bipartite" not in self._cache:
            red, black = self.colouring()
            self._cache["bipartite"] = BipartiteKernel(self.H, red, black)
        return self._cache["bipartite"]

    def monotonicity(self):
        """(m, L, symmetric), computed once (raises if H is not strongly monotone)."""
        if "monotonicity" not in self._cache:
            self._cache["monotonicity"] = monotonicity_bounds(self.H)
        return self._cache["monotonicity"]

    def inverse(self):
        if "inverse" not in self._cache:
            self._cache["inverse"] = np.linalg.inv(self.H)
        return self._cache["inverse"]

    def resolvent(self):
        """The dense splitting path's `splitting.ReflectedResolvent` (α, (I + αH)⁻¹, 2K − I)."""
        if "resolvent" not in self._cache:
            self._cache["resolvent"] = ReflectedResolvent(self.H)
        return self._cache["resolvent"]

    def method_for(self, element):
        """The algorithm `solve_exact` uses for this kernel and element."""
        if not element.is_box:
            return "newton"
        if self.sparse:
            return "active-set"
        colours = self.colouring()
        if colours is not None:
            small = min(len(colours[0]), len(colours[1]))
            if small <= SMALL_SIDE:
                return "bipartite-newton"
            if self.n >= SOR_MIN and self.coupling_fill() >= SOR_MIN_FILL:
                return "red-black-sor"  # densely coupled layers; sparse lattices converge too slowly
        elif self.n >= DENSE_SPLITTING_MIN:
            return "peaceman-rachford"
        return "active-set"


def _prepared(H):
    return H if isinstance(H, PreparedKernel) else PreparedKernel(H)


def _check_drive(kernel, q):
    q, _ = as_batch(q)
    n = q.shape[1]
    if kernel.H.shape != (n, n):
        raise ValueError(f"kernel matrix has shape {kernel.H.shape} but the drive has {n} nodes")
    if not np.isfinite(largest_abs(q)):  # one pass: NaN or inf anywhere makes it non-finite
        raise ValueError("drive (inputs) contains NaN or infinite values")
    return q


def solve_exact(H, q, element=IdealDiode(), max_iter=200, tol=None, x0=None, *, start=None, method=None):
    """The equilibrium of 0 ∈ Hx + q + F(x) for each row of q, by the algorithm the structure picks.

    H: (n, n) dense array, SciPy sparse matrix or `PreparedKernel`; monotone, positive diagonal.
    q: (n,) or (batch, n).  tol: stop the iterative paths at this relative natural residual
    (default: run them to rounding; smooth elements: Newton to 1e-13).  x0: a starting point;
    start: a previous `Equilibrium` of the same kernel (its solver state warm-starts the splitting
    paths).  method: force one of `METHODS`.  Returns an `Equilibrium` (batched even for a single
    q) whose `method` names the algorithm.  Raises ConvergenceError naming the samples that did
    not converge."""
    kernel = _prepared(H)
    q = _check_drive(kernel, q)
    n = q.shape[1]
    kernel.d  # noqa: B018  (refuse a node with no conductance before anything else)
    method = method or kernel.method_for(element)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if x0 is None and start is not None:
        x0 = start.x
    state = {}
    if method == "newton":
        base = solve_exact(kernel, q, IdealDiode(), max_iter=max_iter, tol=tol).x if x0 is None else x0
        x, iterations, pending = damped_newton(kernel.H, q, element, element.start(base), max_iter,
                                               1e-13 if tol is None else tol)
        if pending.size:
            raise ConvergenceError(f"damped Newton did not converge for samples {pending[:10].tolist()}")
        return _finish(kernel, q, x, element, iterations, method, state)
    lo, hi = bounds(element, n)
    if method in ("bipartite-newton", "red-black-sor"):
        residual = lambda x, hx: natural_residual(kernel.H, q, x, element, w=hx + q)  # noqa: E731
    if method == "bipartite-newton":
        with one_blas_thread(q.size):
            x, iterations, pending, schur, hxq = reduced_newton(kernel.bipartite(), q, lo, hi, max_iter, x0)
        state["schur"] = schur
        if hxq is not None and not pending.size:
            state["hxq"] = hxq
    elif method == "red-black-sor":
        x, iterations, pending, state["hx"] = red_black_sor(kernel.bipartite(), q, lo, hi, tol=tol or 1e-9, x0=x0,
                                                            residual=residual, exact=tol is None,
                                                            max_sweeps=SOR_MAX_SWEEPS)
        if pending.size:  # slow to converge here: the active set finishes from where SOR got
            xp, more, pending_as = active_set(kernel.H, q[pending], element, max_iter, x[pending],
                                              inverse=kernel.inverse)
            x[pending] = xp
            iterations += more
            pending = pending[pending_as]
            state.pop("hx")
    elif method == "peaceman-rachford":
        z0 = None
        if start is not None and "z" in start.solver_state and start.solver_state["z"].shape == q.shape:
            z0 = start.solver_state["z"]
        target, iterations = tol or 1e-9, 0
        for _ in range(3):  # the stopping test is taken at the resolvent's output; x = Π(z) is certified
            x, more, z0, _ = dense_peaceman_rachford(kernel.H, q, lo, hi, tol=target, exact=tol is None,
                                                     z0=z0, resolvent=kernel.resolvent())
            iterations += more
            eq = certify(kernel.H, q, x, element, iterations, d=kernel.d)
            pending = np.flatnonzero(eq.residual > (tol or 1e-9))
            if not pending.size:
                eq.method, eq.solver_state = method, {"z": z0}
                return eq
            target *= 0.1
        state["z"] = z0
    else:
        x, iterations, pending = active_set(kernel.H, q, element, max_iter, x0,
                                            inverse=None if kernel.sparse else kernel.inverse)
    if pending.size:
        x, iterations = _rescue(kernel, q, element, x, iterations, pending, max_iter)
    return _finish(kernel, q, x, element, iterations, method, state)


def _finish(kernel, q, x, element, iterations, method, state):
    hx = state.pop("hx", None)  # H x when the path already has it (red-black SOR's products)
    hxq = state.pop("hxq", None)  # H x + q when the path has it (bipartite Newton's last check)
    if hxq is not None:
        eq = certify(kernel.H, q, x, element, iterations, hxq=hxq, d=kernel.d)
        eq.method, eq.solver_state = method, state
        return eq
    if hx is None and method == "bipartite-newton":
        with one_blas_thread(x.size):
            hx = kernel.bipartite().apply(x)
    elif hx is None and method == "red-black-sor":
        hx = kernel.bipartite().apply(x)
    eq = certify(kernel.H, q, x, element, iterations, hx=hx, d=kernel.d)
    eq.method, eq.solver_state = method, state
    return eq


def _rescue(kernel, q, element, x, iterations, pending, max_iter):
    """Samples a fast path left unsettled (rare cycling): a splitting estimate, then active set."""
    pr = peaceman_rachford(kernel.H, q[pending], element, tol=1e-6, max_iter=20000, check=False)
    xp, it2, still = active_set(kernel.H, q[pending], element, max_iter, pr.x)
    if still.size:
        raise ConvergenceError(f"the solver did not settle for samples {pending[still][:10].tolist()}")
    x = x.copy()
    x[pending] = xp
    return x, iterations + it2


def solve_adjoint(H, g, equilibrium, element=IdealDiode(), transpose=True):
    """μ of the backward pass: (Hᵀ + diag F'(x)) μ = g at the equilibrium, with μ = 0 on nodes held
    at a bound (a conducting ideal diode shorts its node; docs/science.md §1.4).

    transpose=False solves with H itself: the linearized circuit of hardware linearization (the
    same system for a resistor network, whose H is symmetric).  Uses the forward pass's structure
    and state (e.g. the Schur complements of "bipartite-newton")."""
    kernel = _prepared(H)
    g = np.atleast_2d(np.asarray(g, dtype=float))
    x = equilibrium.x
    method = equilibrium.method or kernel.method_for(element)
    if not element.is_box:
        A = kernel.H.toarray() if kernel.sparse else kernel.H
        A = A.T if transpose else A
        J = A[None] + element.slope(x)[:, :, None] * np.eye(kernel.n)[None]
        return np.linalg.solve(J, g[:, :, None])[:, :, 0]
    free = equilibrium.state == 0
    if method == "bipartite-newton":
        with one_blas_thread(g.size):
            return _adjoint_bipartite(kernel.bipartite(), g, free, equilibrium.solver_state.get("schur"), transpose)
    if method == "red-black-sor":
        K = kernel.bipartite().transpose() if transpose else kernel.bipartite()
        lo = np.where(free, -np.inf, 0.0)
        hi = np.where(free, np.inf, 0.0)
        resid = lambda mu, hmu: _linear_residual(kernel.H, g, mu, free, hmu)  # noqa: E731
        mu, _, _, _ = red_black_sor(K, -g, lo, hi, residual=resid, exact=True)
        return mu
    if kernel.sparse:
        A = kernel.H.T.tocsr() if transpose else kernel.H
        state = np.where(free, 0, -1).astype(np.int8)
        zero = np.zeros(kernel.n)
        return solve_fixed_sets(A, -g, state, zero, zero)
    A = kernel.H.T if transpose else kernel.H
    return gather_solve(A, g, free)


def _linear_residual(H, g, mu, free, hmu):
    """Relative residual of the adjoint's linear system on the free nodes, with hmu = A μ."""
    r = np.where(free, hmu - g, 0.0)
    scale = np.maximum(np.max(np.abs(g / H.diagonal()), axis=1), 1e-300)
    return np.max(np.abs(r / H.diagonal()), axis=1) / scale


def _adjoint_bipartite(K, g, free, schur, transpose):
    """Adjoint on a bipartite kernel: the large colour eliminated as in the forward pass; the
    small colour's system is the transposed Schur complement the forward pass built."""
    S, L = K.S_ix, K.L_ix
    fS, fL = cols(free, S), cols(free, L)
    H_SL, H_LS = (K.H_LS.T, K.H_SL.T) if transpose else (K.H_SL, K.H_LS)
    w = fL / K.d_L
    if schur is not None and np.array_equal(schur[1], fL):
        M = schur[0].transpose(0, 2, 1) if transpose else schur[0]
    else:
        M = K.schur(w)
        M = M.transpose(0, 2, 1) if transpose else M
    gS, gL = cols(g, S), cols(g, L)
    rhs = gS - (gL * w) @ H_SL.T
    A = np.where(fS[:, :, None], M, np.eye(len(K.small))[None])
    muS = solve_small(A, np.where(fS, rhs, 0.0)) if len(K.small) else rhs
    mu = np.empty_like(g)
    mu[:, S] = muS
    mu[:, L] = w * (gL - muS @ H_LS.T)
    return mu
