"""Active-set and Newton solvers for general (dense or sparse) kernels.

* `active_set` — box elements: a primal–dual active-set (semismooth Newton) method on the linear
  complementarity problem: guess which nodes sit at a bound, solve the linear system of the rest,
  update the guess from the sign of the residual currents, repeat until the guess stops changing.
  It ends at the exact piecewise-linear solution (to rounding) and the diode states; for
  M-matrices (resistor networks) it converges from any start.
* `damped_newton` — smooth elements: Newton with an Armijo line search on ‖Hx + q + f(x)‖.
* `solve_fixed_sets` — the linear solve with the states fixed, also the adjoint's.
"""

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .kernels import bounds, diagonal, matmul

__all__ = ["active_set", "damped_newton", "gather_solve", "solve_fixed_sets"]

_CHUNK_BYTES = 192 * 2**20  # memory for one batch of stacked dense systems


def gather_solve(A, rhs, sel):
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
        xf = gather_solve(H, -(q[use_free] + xb[use_free] @ H.T), f)
        x[use_free] = np.where(f, xf, xb[use_free])
    if (~use_free).any():
        K = inverse()
        c = clamped[~use_free]
        y = -(q[~use_free] @ K.T)
        r = gather_solve(K, np.where(c, bound[~use_free] - y, 0.0), c)
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
            x = np.clip(x - step * (matmul(H, x) + q), lo, hi)
        new_pattern = x <= lo
        if np.array_equal(new_pattern, pattern):
            break
        pattern = new_pattern
    return x


def active_set(H, q, element, max_iter, x0=None, inverse=None):
    """Primal–dual active set on the LCP: (x, iterations, indices of samples still changing).

    inverse: a function returning H⁻¹ (kept by the caller across calls), else computed once here."""
    batch, n = q.shape
    d = diagonal(H)
    lo, hi = bounds(element, n)
    solve = _solve_fixed_sets_sparse if sp.issparse(H) else _solve_fixed_sets_dense
    cache = {}

    def own_inverse():
        if "K" not in cache:
            cache["K"] = np.linalg.inv(H)
        return cache["K"]

    inverse = inverse or own_inverse
    if not sp.issparse(H):
        H = np.asarray(H, dtype=float)
    x = _warm_start(H, q, d, lo, hi) if x0 is None else np.clip(x0, lo, hi)
    state = np.full((batch, n), 2, dtype=np.int8)  # 2: no guess yet
    pending = np.arange(batch)
    # a node whose test value lies within rounding of its bound (a degenerate node: bound and
    # zero current at once) keeps its state; deciding it from rounding noise can cycle
    scale = np.maximum(np.max(np.abs(q / d), axis=1, keepdims=True),
                       np.max(np.abs(np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], [0.0]]))))
    for it in range(1, max_iter + 1):
        xp = x[pending]
        y = xp - (matmul(H, xp) + q[pending]) / d
        new_state = np.where(y <= lo, -1, np.where(y >= hi, 1, 0)).astype(np.int8)
        if it > 1:
            noise = 1e-12 * scale[pending]
            near = (np.abs(y - np.nan_to_num(lo, neginf=0.0)) <= noise) & np.isfinite(lo)
            near |= (np.abs(y - np.nan_to_num(hi, posinf=0.0)) <= noise) & np.isfinite(hi)
            new_state = np.where(near, state[pending], new_state)
        changed = np.any(new_state != state[pending], axis=1)
        pending = pending[changed]
        if pending.size == 0:
            return x, it, pending
        state[pending] = new_state[changed]
        x[pending] = solve(H, q[pending], state[pending], lo, hi, inverse)
    return x, max_iter, pending


def damped_newton(H, q, element, x0, max_iter, tol):
    """Damped Newton on Φ(x) = Hx + q + f(x) with an Armijo line search on ‖Φ‖₂.

    Returns (x, iterations, indices of samples whose scaled residual stayed above √tol)."""
    batch, n = q.shape
    sparse = sp.issparse(H)
    if not sparse:
        H = np.asarray(H, dtype=float)
    d = diagonal(H)
    scale = np.maximum(np.max(np.abs(q / d), axis=1), 1e-300)
    x = np.array(x0, dtype=float)

    def phi(x, rows):
        return matmul(H, x) + q[rows] + element.current(x)

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




def solve_fixed_sets(H, q, state, lo, hi, inverse=None):
    """x with the states fixed: x_i at its bound where state ≠ 0, (Hx + q)_F = 0 on the rest."""
    if sp.issparse(H):
        return _solve_fixed_sets_sparse(H, q, state, lo, hi)
    return _solve_fixed_sets_dense(np.asarray(H, dtype=float), q, state, lo, hi,
                                   inverse or (lambda: np.linalg.inv(H)))
