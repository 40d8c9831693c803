"""The linear complementarity problem LCP(M, q), solved exactly:

    find z ≥ 0 with w = M z + q ≥ 0 and zᵀw = 0.

For the positive semidefinite M that reciprocal resistor–diode circuits produce (and the
P-matrices, positive definite but not symmetric, of well-posed circuits with gyrators):
1. `principal_pivoting` — block principal pivoting (Júdice & Pires 1994, "A block principal
   pivoting algorithm for large-scale strictly monotone linear complementarity problems") with
   Murty's single least-index pivot as the anti-cycling fallback.  Each step solves one principal
   linear system; it ends exactly (up to rounding) in a few steps.  It needs the principal
   submatrices it meets to be nonsingular (always true for positive definite M).
2. `lemke` — Lemke's complementary pivoting algorithm with a covering vector and the
   lexicographic ratio test against degeneracy (Cottle, Pang & Stone, "The Linear Complementarity
   Problem", 1992, §4.4).  For copositive-plus M (which includes every PSD M) it either finds a
   solution or ends on a secondary ray, which proves that the LCP has no solution.
`solve_lcp` runs 1 and falls back to 2, then polishes Lemke's answer with 1 from its support.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LCPResult", "LCPInfeasible", "PivotRule", "solve_lcp", "principal_pivoting", "lemke"]


class LCPInfeasible(ValueError):
    """The LCP has no solution (for PSD M: Lemke's algorithm ended on a secondary ray)."""

    def __init__(self, message: str, indices=()):
        super().__init__(message)
        self.indices = list(indices)


@dataclass
class LCPResult:
    z: np.ndarray
    w: np.ndarray
    method: str
    iterations: int

    @property
    def residual(self) -> float:
        """max(complementarity |z_i w_i|, infeasibility max(−z, −w)) — 0 for an exact solution."""
        if self.z.size == 0:
            return 0.0
        return float(max(np.max(np.abs(self.z * self.w)), -np.min(self.z), -np.min(self.w), 0.0))


class PivotRule:
    """Which infeasible indices block principal pivoting flips: all of them while their number
    keeps falling (three more tries when it does not), then only the largest one (Murty's
    single-index rule, which cannot cycle)."""

    def __init__(self, n: int):
        self.best, self.chances = n + 1, 3

    def flip(self, basic: np.ndarray, bad: np.ndarray) -> None:
        """Flip `basic` (a boolean mask, in place) at the chosen indices of `bad` (sorted)."""
        if bad.size < self.best:
            self.best, self.chances = bad.size, 3
        elif self.chances > 0:
            self.chances -= 1
        else:
            bad = bad[-1:]
        basic[bad] = ~basic[bad]


def _tolerance(M: np.ndarray, q: np.ndarray, rtol: float) -> float:
    return rtol * max(float(np.max(np.abs(q), initial=0.0)), 1e-300)


def principal_pivoting(M, q, *, start=None, rtol: float = 1e-11, max_iter: int | None = None):
    """Block principal pivoting; returns an LCPResult, or None when it cannot proceed.

    `start` is an optional boolean mask of the initially basic z's (a warm start).  None is
    returned when a principal system is singular or the iteration limit is reached; the caller
    should then use `lemke`.  `rtol` scales the sign tolerance on w (relative to max|q|) and on
    z (in the same units, through the diagonal of M).
    """
    M = np.asarray(M, dtype=float)
    q = np.asarray(q, dtype=float)
    n = q.size
    if n == 0:
        return LCPResult(np.zeros(0), np.zeros(0), "principal-pivoting", 0)
    tol_w = _tolerance(M, q, rtol)
    diag = np.abs(np.diag(M))
    tol_z = tol_w / np.where(diag > 0, diag, 1.0)
    basic = np.zeros(n, dtype=bool) if start is None else np.asarray(start, dtype=bool).copy()
    if max_iter is None:
        max_iter = 10 * n + 50
    rule = PivotRule(n)
    for it in range(1, max_iter + 1):
        z = np.zeros(n)
        idx = np.flatnonzero(basic)
        if idx.size:
            sub = M[np.ix_(idx, idx)]
            try:
                zb = np.linalg.solve(sub, -q[idx])
            except np.linalg.LinAlgError:
                return None
            if not np.all(np.isfinite(zb)):
                return None
            # A (numerically) singular block shows up as a huge solution; with the unit
            # diagonal that solve_lcp gives M, a sound one is of the order of q.
            if np.max(np.abs(zb), initial=0.0) > 1e10 * max(float(np.max(np.abs(q))), 1e-300):
                return None
            # Reject nearly singular principal systems (their solution is not trustworthy).
            if np.max(np.abs(sub @ zb + q[idx]), initial=0.0) > 1e3 * tol_w:
                return None
            z[idx] = zb
        w = M @ z + q
        w[idx] = 0.0
        bad = np.flatnonzero((basic & (z < -tol_z)) | (~basic & (w < -tol_w)))
        if bad.size == 0:
            z[z < 0] = 0.0
            w[w < 0] = 0.0
            w[basic] = 0.0
            return LCPResult(z, w, "principal-pivoting", it)
        rule.flip(basic, bad)
    return None


def lemke(M, q, *, d=None, max_iter: int | None = None, pivot_tol: float = 1e-11) -> LCPResult:
    """Lemke's algorithm (covering vector `d`, default all ones) with lexicographic ratio test.

    Revised form: each pivot recomputes the basis inverse from the original data, so rounding
    errors do not accumulate over the pivots.  Raises LCPInfeasible on a secondary ray (for
    copositive-plus M: no solution exists) and RuntimeError past the iteration limit.
    """
    M = np.asarray(M, dtype=float)
    q = np.asarray(q, dtype=float)
    n = q.size
    if n == 0 or np.all(q >= 0):
        return LCPResult(np.zeros(n), q.copy(), "lemke", 0)
    d = np.ones(n) if d is None else np.asarray(d, dtype=float)
    if max_iter is None:
        max_iter = 50 * n + 100
    # Columns of [I, −M, −d]: variables 0..n-1 are w, n..2n-1 are z, 2n is z0.
    A = np.hstack([np.eye(n), -M, -d[:, None]])
    colscale = np.max(np.abs(A), axis=0)
    colscale[colscale == 0] = 1.0
    z0 = 2 * n

    def lexmin(rows, xb, binv, col):
        """Row with the lexicographically smallest (x_B, B⁻¹ row) / col over candidates."""
        keys = np.column_stack([xb[rows], binv[rows]]) / col[rows][:, None]
        best = min(range(len(rows)), key=lambda k: tuple(keys[k]))
        return rows[best]

    basis = np.arange(n)
    # Entry of z0: the row of the most negative q_i / d_i leaves.
    ratios = q / d
    t_min = np.min(ratios)
    ties = np.flatnonzero(ratios <= t_min + 1e-14 * abs(t_min))
    row = ties[0] if ties.size == 1 else lexmin(ties, q, np.eye(n), -d)
    basis[row] = z0
    entering = n + row  # the complement of w_row
    for it in range(1, max_iter + 1):
        binv = np.linalg.inv(A[:, basis])
        xb = binv @ q
        col = binv @ A[:, entering]
        cand = np.flatnonzero(col > pivot_tol * colscale[entering] * np.max(np.abs(binv)))
        if cand.size == 0:
            raise LCPInfeasible("Lemke's algorithm ended on a secondary ray: the LCP has no "
                                "solution", indices=[entering % n])
        xb_c = np.maximum(xb[cand], 0.0)
        r = xb_c / col[cand]
        rmin = np.min(r)
        # Ratios equal up to rounding are ties (degenerate rows have x_B ≈ 0 ± rounding);
        # the lexicographic rule decides between them.
        tied = cand[r <= rmin + 1e-11 * max(abs(rmin), float(np.max(np.abs(xb))), 1e-300)
                    / max(float(np.max(col[cand])), 1e-300)]
        z0_rows = [i for i in tied if basis[i] == z0]
        if z0_rows:
            row = z0_rows[0]
        else:
            row = tied[0] if tied.size == 1 else lexmin(tied, np.maximum(xb, 0.0), binv, col)
        left = basis[row]
        basis[row] = entering
        if left == z0:
            xb = np.linalg.solve(A[:, basis], q)
            z = np.zeros(n)
            for i, var in enumerate(basis):
                if n <= var < 2 * n:
                    z[var - n] = xb[i]
            z = np.maximum(z, 0.0)
            return LCPResult(z, M @ z + q, "lemke", it)
        entering = left + n if left < n else left - n
    raise RuntimeError(f"Lemke's algorithm did not finish in {max_iter} pivots")


def _lemke_retrying(M, q, tries: int = 4):
    """Lemke's algorithm; a secondary ray is confirmed with other covering vectors.

    In exact arithmetic a ray proves infeasibility for PSD M, but on a degenerate problem
    rounding can steer the pivots onto a spurious one.  Other covering vectors take other
    paths.  Returns an LCPResult, or the LCPInfeasible of the first try when every try ends on
    a ray.
    """
    rng = np.random.default_rng(0)
    first = None
    for k in range(tries):
        d = None if k == 0 else rng.uniform(0.5, 1.5, q.size)
        try:
            return lemke(M, q, d=d)
        except LCPInfeasible as exc:
            first = first or exc
    return first


def _polish(M, q, z, rtol):
    """Improve an approximate solution with the support it found.

    Principal pivoting warm-started from the support makes it exact when the principal systems
    are nonsingular; otherwise (PSD M with dependent columns, e.g. parallel diodes) the support
    system M_SS z_S = −q_S is solved by nonnegative least squares.  For PSD M every solution of
    that consistent system gives the same w, so w is exact even where z is not unique.
    """
    res = principal_pivoting(M, q, start=z > 0, rtol=rtol, max_iter=5)
    if res is not None:
        return res.z
    S = np.flatnonzero(z > 0)
    if S.size == 0:
        return z
    from scipy.optimize import nnls
    zs, _ = nnls(M[np.ix_(S, S)], -q[S], maxiter=50 * S.size + 100)
    trial = np.zeros_like(z)
    trial[S] = zs
    w_old = M @ z + q
    w_new = M @ trial + q
    def worst(zz, ww):
        return max(np.max(np.abs(zz * ww)), -np.min(ww), 0.0)
    return trial if worst(trial, w_new) <= worst(z, w_old) else z


def solve_lcp(M, q, *, rtol: float = 1e-11) -> LCPResult:
    """Solve LCP(M, q) for PSD M exactly: principal pivoting, Lemke as the fallback.

    Indices with a zero diagonal (for PSD M: a zero row and column, so w_i = q_i whatever z is)
    get z_i = 0; if such a q_i is negative the LCP has no solution (LCPInfeasible lists them).
    The problem is scaled symmetrically to a unit diagonal before solving.
    """
    M = np.asarray(M, dtype=float)
    q = np.asarray(q, dtype=float)
    n = q.size
    if M.shape != (n, n):
        raise ValueError(f"M must be {n}x{n}, got {M.shape}")
    if n == 0:
        return LCPResult(np.zeros(0), np.zeros(0), "trivial", 0)
    diag = np.diag(M).copy()
    dmax = max(float(np.max(np.abs(diag))), 1e-300)
    zero = diag <= 1e-14 * dmax
    tol_w = _tolerance(M, q, rtol)
    bad = np.flatnonzero(zero & (q < -tol_w))
    if bad.size:
        raise LCPInfeasible("the LCP has no solution: w_i = q_i < 0 cannot be raised by z",
                            indices=bad)
    keep = np.flatnonzero(~zero)
    z = np.zeros(n)
    method, its = "trivial", 0
    if keep.size:
        s = 1.0 / np.sqrt(diag[keep])
        Ms = M[np.ix_(keep, keep)] * s[:, None] * s[None, :]
        qs = q[keep] * s
        res = principal_pivoting(Ms, qs, rtol=rtol)
        if res is None:
            res = _lemke_retrying(Ms, qs)
            if isinstance(res, LCPInfeasible):
                raise LCPInfeasible(str(res), indices=keep[res.indices])
            res.z = _polish(Ms, qs, res.z, rtol)
        z[keep] = res.z * s
        method, its = res.method, res.iterations
    w = M @ z + q
    return LCPResult(z, w, method, its)
