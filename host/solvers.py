"""Reference solvers for the equilibrium 0 ∈ H x + q + F(x), batched over samples.

H is the (monotone) kernel matrix of the network, q = B u the drive of one sample, F the element
relation at every node (`elements`).  For a ReLU monDEQ H = I − W and q = −(U x + b).

* `solve_exact` — for box elements (ideal diode, shifted, clip) a primal–dual active-set
  (semismooth Newton) method on the linear complementarity problem: guess which nodes sit at a
  bound, solve the linear system of the rest, update the guess from the sign of the residual
  currents, repeat until the guess stops changing.  It terminates with the exact piecewise-linear
  solution (to rounding) and the diode states; for M-matrices (resistor networks) it converges
  from any start.  For smooth elements: damped Newton with an Armijo line search on ‖F‖.
* `forward_backward` — x ← J_αF(x − α(Hx + q)); converges for α < 2m/‖H‖² (m = strong
  monotonicity); for symmetric H the step 2/(m + L) is used.
* `peaceman_rachford` — z ← (2R_A − I)(2J_αF − I) z with R_A = (I + αH)⁻¹(· − αq); converges for
  every α > 0; α = 1/√(mL) by default.

Every solver returns an `Equilibrium` with a certificate (see `certify`).
"""

import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .elements import IdealDiode

__all__ = [
    "Equilibrium",
    "ConvergenceError",
    "solve_exact",
    "forward_backward",
    "peaceman_rachford",
    "certify",
    "natural_residual",
    "monotonicity_bounds",
]

_CHUNK_BYTES = 192 * 2**20  # memory for one batch of stacked dense systems


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

    @property
    def max_residual(self):
        return float(np.max(self.residual, initial=0.0))


def _as_batch(q):
    q = np.asarray(q, dtype=float)
    single = q.ndim == 1
    return np.atleast_2d(q), single


def _diag(H):
    d = np.asarray(H.diagonal(), dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        bad = np.flatnonzero(~(d > 0))
        raise ValueError(
            f"kernel matrix has a non-positive diagonal at node(s) {bad[:10].tolist()}: such a node has "
            "no conductance to anything; connect it (a leak to ground or an input)"
        )
    return d


def _matmul(H, X):
    """Rows of X times Hᵀ: (batch, n) → (batch, n)."""
    return np.asarray((H @ X.T).T) if sp.issparse(H) else X @ H.T


def _bounds(element, n):
    lo = np.broadcast_to(np.asarray(element.lower, dtype=float), (n,))
    hi = np.broadcast_to(np.asarray(element.upper, dtype=float), (n,))
    return lo, hi


def natural_residual(H, q, x, element=IdealDiode()):
    """Relative natural residual per sample: ‖x − J(x − D⁻¹(Hx+q))‖∞ / max(‖x‖∞, ‖D⁻¹q‖∞)."""
    q, _ = _as_batch(q)
    x = np.atleast_2d(x)
    d = _diag(H)
    w = _matmul(H, x) + q
    if element.is_box:
        r = x - element.resolvent(x - w / d)
    else:
        r = w / d + element.current(x) / d
    scale = np.maximum(np.max(np.abs(x), axis=1), np.max(np.abs(q / d), axis=1))
    scale = np.where(scale > 0, scale, 1.0)
    return np.max(np.abs(r), axis=1) / scale


def certify(H, q, x, element=IdealDiode(), iterations=0):
    """Build the `Equilibrium` of x with its certificate (complementarity and feasibility)."""
    q, single = _as_batch(q)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    n = x.shape[1]
    d = _diag(H)
    w = (_matmul(H, x) + q) / d
    residual = natural_residual(H, q, x, element)
    if element.is_box:
        lo, hi = _bounds(element, n)
        primal = np.max(np.maximum(np.maximum(lo - x, x - hi), 0.0), axis=1)
        at_lo = np.isfinite(lo) & (np.abs(x - lo) <= 1e-12 * (1 + np.abs(np.where(np.isfinite(lo), lo, 0))))
        at_hi = np.isfinite(hi) & (np.abs(x - hi) <= 1e-12 * (1 + np.abs(np.where(np.isfinite(hi), hi, 0))))
        state = np.where(at_lo, -1, np.where(at_hi, 1, 0)).astype(np.int8)
        wrong = np.where(at_lo, np.maximum(-w, 0), np.where(at_hi, np.maximum(w, 0), np.abs(w)))
        dual = np.max(wrong, axis=1)
        dist = np.minimum(np.abs(x - lo), np.abs(hi - x))
        dist = np.where(np.isfinite(dist), dist, 0.0)  # unbounded (linear) nodes: covered by `dual`
        complementarity = np.max(np.abs(w) * dist, axis=1)
    else:
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


# --- exact solver: active set for box elements --------------------------------------------------

def _gather_solve(A, rhs, sel):
    """Solve A[S, S] y = rhs[S] for each sample's index set S = sel[b]; zero off S.

    Samples are sorted by |S| and solved in chunks padded (with identity rows) to the chunk's
    largest set, so the work is Σ|S|³ rather than batch·n³."""
    batch, n = sel.shape
    count = sel.sum(axis=1)
    out = np.zeros((batch, n))
    by_size = np.argsort(count, kind="stable")
    start = 0
    while start < batch:
        k = int(count[by_size[min(batch - 1, start)]])
        # grow the chunk while the memory budget for its padded systems allows
        stop = start
        while stop < batch:
            k_next = int(count[by_size[stop]])
            if (stop - start + 1) * k_next * k_next * 8 > _CHUNK_BYTES and stop > start:
                break
            k = k_next
            stop += 1
        members = by_size[start:stop]
        start = stop
        if k == 0:
            continue
        idx = np.argsort(~sel[members], axis=1, kind="stable")[:, :k]  # selected indices first
        ok = np.arange(k)[None, :] < count[members][:, None]
        sub = A[idx[:, :, None], idx[:, None, :]]
        sub = np.where(ok[:, :, None] & ok[:, None, :], sub, np.eye(k)[None])
        b = np.where(ok, np.take_along_axis(rhs[members], idx, axis=1), 0.0)
        y = np.linalg.solve(sub, b[:, :, None])[:, :, 0]
        rows = np.zeros((len(members), n))
        np.put_along_axis(rows, idx, np.where(ok, y, 0.0), axis=1)
        out[members] = rows
    return out


def _solve_fixed_sets_dense(H, q, state, lo, hi, inverse):
    """Solve x_L = lo, x_U = hi, (Hx + q)_F = 0 for every sample of the batch.

    Per sample, whichever block is smaller: the free one, H_FF x_F = −q_F − H_FC x_C, or the
    clamped one through the inverse K = H⁻¹ (computed once): x = −Kq + K_{:,C} r_C with
    K_CC r_C = x_C + (Kq)_C, r_C being the diode currents."""
    free = state == 0
    clamped = ~free
    bound = np.where(state < 0, lo, hi)
    xb = np.where(clamped, bound, 0.0)
    x = np.empty_like(q)
    use_free = free.sum(axis=1) <= clamped.sum(axis=1)
    if use_free.any():
        f = free[use_free]
        xf = _gather_solve(H, -(q[use_free] + xb[use_free] @ H.T), f)
        x[use_free] = np.where(f, xf, xb[use_free])
    if (~use_free).any():
        K = inverse()
        c = clamped[~use_free]
        y = -(q[~use_free] @ K.T)
        r = _gather_solve(K, np.where(c, bound[~use_free] - y, 0.0), c)
        x[~use_free] = np.where(c, bound[~use_free], y + r @ K.T)
    return x


def _solve_fixed_sets_sparse(H, q, state, lo, hi, inverse=None):
    batch, n = q.shape
    out = np.empty_like(q)
    H = sp.csr_matrix(H)
    for k in range(batch):
        free = state[k] == 0
        M = sp.diags(free.astype(float)) @ H + sp.diags((~free).astype(float))
        rhs = np.where(free, -q[k], np.where(state[k] < 0, lo, hi))
        out[k] = spla.spsolve(sp.csc_matrix(M), rhs)
    return out


def _warm_start(H, q, d, lo, hi, block=10, max_blocks=10):
    """A cheap first guess of the active set: Jacobi-preconditioned projected gradient steps
    (x ← clip(x − (Hx + q)/(2·max_j Σ|H_jk|/H_jj ... )), a few matrix products, stopped once the
    clamped set stops changing.  Each step costs one product with H, far less than one
    active-set solve, and a good guess saves whole solves."""
    # Step 1/‖D⁻¹H‖∞ (Gershgorin) keeps the scaled iteration monotone for any M-matrix.
    row = np.asarray(abs(H).sum(axis=1)).ravel() / d
    step = 1.0 / (d * row.max())
    x = np.clip(-q / d, lo, hi)
    pattern = x <= lo
    for _ in range(max_blocks):
        for _ in range(block):
            x = np.clip(x - step * (_matmul(H, x) + q), lo, hi)
        new_pattern = x <= lo
        if np.array_equal(new_pattern, pattern):
            break
        pattern = new_pattern
    return x


def _active_set(H, q, element, max_iter, x0=None):
    batch, n = q.shape
    d = _diag(H)
    lo, hi = _bounds(element, n)
    solve = _solve_fixed_sets_sparse if sp.issparse(H) else _solve_fixed_sets_dense
    cache = {}

    def inverse():
        if "K" not in cache:
            cache["K"] = np.linalg.inv(H)
        return cache["K"]

    if not sp.issparse(H):
        H = np.asarray(H, dtype=float)
    x = _warm_start(H, q, d, lo, hi) if x0 is None else np.clip(x0, lo, hi)
    state = np.full((batch, n), 2, dtype=np.int8)  # 2: no guess yet
    pending = np.arange(batch)
    for it in range(1, max_iter + 1):
        xp = x[pending]
        y = xp - (_matmul(H, xp) + q[pending]) / d
        new_state = np.where(y <= lo, -1, np.where(y >= hi, 1, 0)).astype(np.int8)
        changed = np.any(new_state != state[pending], axis=1)
        pending = pending[changed]
        if pending.size == 0:
            return x, it, pending
        state[pending] = new_state[changed]
        x[pending] = solve(H, q[pending], state[pending], lo, hi, inverse)
    return x, max_iter, pending


def _newton(H, q, element, x0, max_iter, tol):
    """Damped Newton on Φ(x) = Hx + q + f(x) with an Armijo line search on ‖Φ‖₂.

    Returns (x, iterations, indices of samples whose scaled residual stayed above √tol)."""
    batch, n = q.shape
    sparse = sp.issparse(H)
    if not sparse:
        H = np.asarray(H, dtype=float)
    d = _diag(H)
    scale = np.maximum(np.max(np.abs(q / d), axis=1), 1e-300)
    x = np.array(x0, dtype=float)

    def phi(x, rows):
        return _matmul(H, x) + q[rows] + element.current(x)

    def scaled(F, rows):
        return np.max(np.abs(F / d), axis=1) / scale[rows]

    active = np.arange(batch)
    it = 0
    while active.size and it < max_iter:
        it += 1
        xa = x[active]
        Fa = phi(xa, active)
        keep = scaled(Fa, active) > tol
        active, xa, Fa = active[keep], xa[keep], Fa[keep]
        if not active.size:
            break
        slope = element.slope(xa)
        if sparse:
            dx = np.stack([spla.spsolve(sp.csc_matrix(H + sp.diags(slope[k])), -Fa[k])
                           for k in range(len(active))])
        else:
            J = H[None] + slope[:, :, None] * np.eye(n)[None]
            dx = np.linalg.solve(J, -Fa[:, :, None])[:, :, 0]
        norm = np.linalg.norm(Fa, axis=1)
        t = np.ones(len(active))
        for _ in range(60):
            ok = np.linalg.norm(phi(xa + t[:, None] * dx, active), axis=1) <= (1 - 1e-4 * t) * norm
            ok |= t < 1e-12
            if np.all(ok):
                break
            t = np.where(ok, t, t / 2)
        x_new = xa + t[:, None] * dx
        x[active] = x_new
        # A step at the limit of double precision means the sample has converged.
        size = np.maximum(np.max(np.abs(xa), axis=1), 1e-300)
        active = active[np.max(np.abs(x_new - xa), axis=1) > 4e-16 * size]
    final = scaled(phi(x, np.arange(batch)), np.arange(batch))
    return x, it, np.flatnonzero(final > np.sqrt(tol))


def solve_exact(H, q, element=IdealDiode(), max_iter=200, tol=1e-13, x0=None):
    """The exact equilibrium of 0 ∈ Hx + q + F(x) for each row of q.

    H: (n, n) dense array or SciPy sparse matrix, monotone with positive diagonal.
    q: (n,) or (batch, n).  Returns an `Equilibrium` (batched even for a single q).
    Box elements: active-set method (exact); smooth elements: damped Newton started from the
    ideal-diode solution, to `tol` relative.  Raises ConvergenceError naming the samples that
    did not converge.
    """
    q, _ = _as_batch(q)
    n = q.shape[1]
    if H.shape != (n, n):
        raise ValueError(f"kernel matrix has shape {H.shape} but the drive has {n} nodes")
    if not np.all(np.isfinite(q)):
        raise ValueError("drive (inputs) contains NaN or infinite values")
    if element.is_box:
        x, iterations, pending = _active_set(H, q, element, max_iter, x0)
        if pending.size:
            # Rare cycling (possible for non-symmetric H): restart from a splitting estimate.
            pr = peaceman_rachford(H, q[pending], element, tol=1e-6, max_iter=20000, check=False)
            xp, it2, still = _active_set(H, q[pending], element, max_iter, pr.x)
            x[pending] = xp
            iterations += it2
            if still.size:
                raise ConvergenceError(
                    f"active-set solver did not settle for samples {pending[still][:10].tolist()}"
                )
    else:
        start = solve_exact(H, q, IdealDiode(), max_iter=max_iter).x if x0 is None else x0
        x, iterations, pending = _newton(H, q, element, element.start(start), max_iter, tol)
        if pending.size:
            raise ConvergenceError(f"damped Newton did not converge for samples {pending[:10].tolist()}")
    return certify(H, q, x, element, iterations)


# --- splitting methods --------------------------------------------------------------------------

def _check(H, q, x, element, tol, iterations, check, name):
    eq = certify(H, q, x, element, iterations)
    if check and eq.max_residual > tol:
        raise ConvergenceError(
            f"{name} stopped after {iterations} iterations at residual {eq.max_residual:.3g} > {tol:g}; "
            "raise max_iter or use solve_exact"
        )
    return eq


def forward_backward(H, q, element=IdealDiode(), alpha=None, tol=1e-9, max_iter=100000,
                     x0=None, check=True, every=10, max_seconds=None):
    """Forward–backward splitting x ← J_αF(x − α(Hx + q)) until the relative residual ≤ tol.

    Stops after max_iter iterations or max_seconds; then raises ConvergenceError if check."""
    q, _ = _as_batch(q)
    if alpha is None:
        m, L, symmetric = monotonicity_bounds(H)
        alpha = 2.0 / (m + L) if symmetric else m / L**2
    x = np.zeros_like(q) if x0 is None else np.array(x0, dtype=float)
    it = 0
    deadline = np.inf if max_seconds is None else time.perf_counter() + max_seconds
    while it < max_iter and time.perf_counter() < deadline:
        for _ in range(every):
            x = element.resolvent(x - alpha * (_matmul(H, x) + q), alpha)
        it += every
        if np.max(natural_residual(H, q, x, element)) <= tol:
            break
    return _check(H, q, x, element, tol, it, check, "forward-backward")


def peaceman_rachford(H, q, element=IdealDiode(), alpha=None, tol=1e-9, max_iter=100000,
                      x0=None, check=True, every=10, max_seconds=None):
    """Peaceman–Rachford splitting with the linear resolvent factored once (same stopping rules)."""
    q, _ = _as_batch(q)
    n = q.shape[1]
    if alpha is None:
        m, L, _ = monotonicity_bounds(H)
        alpha = 1.0 / np.sqrt(m * L)
    if sp.issparse(H):
        lu = spla.splu(sp.csc_matrix(sp.identity(n) + alpha * H))

        def resolve_linear(v):
            return lu.solve(v.T).T
    else:
        factor = sla.lu_factor(np.eye(n) + alpha * np.asarray(H, dtype=float))

        def resolve_linear(v):
            return sla.lu_solve(factor, v.T).T
    z = np.zeros_like(q) if x0 is None else np.array(x0, dtype=float)
    x = element.resolvent(z, alpha)
    it = 0
    deadline = np.inf if max_seconds is None else time.perf_counter() + max_seconds
    while it < max_iter and time.perf_counter() < deadline:
        for _ in range(every):
            x = element.resolvent(z, alpha)
            y = resolve_linear(2 * x - z - alpha * q)
            z = z + 2 * (y - x)
        it += every
        x = element.resolvent(z, alpha)
        if np.max(natural_residual(H, q, x, element)) <= tol:
            break
    return _check(H, q, x, element, tol, it, check, "Peaceman-Rachford")
