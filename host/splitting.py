"""Operator-splitting solvers of 0 ∈ H x + q + F(x) (docs/science.md §1.3).

* `forward_backward` — x ← J_αF(x − α(Hx + q)); converges for α < 2m/‖H‖² (m = strong
  monotonicity); for symmetric H the step 2/(m + L) is used.
* `peaceman_rachford` — z ← (2R_A − I)(2J_αF − I) z with R_A = (I + αH)⁻¹(· − αq); converges for
  every α > 0; α = 1/√(mL) by default.  These two are the textbook forms (any element).
* `dense_peaceman_rachford` — the fast path for a dense kernel with box elements: the linear
  resolvent as one explicit inverse K = (I + αH)⁻¹ (reusable while H does not change), so an
  iteration is one matrix product; α = 2.3/‖H‖₂ from a few power steps (no eigenvalue problem;
  the constant was measured on Winston–Kolter monDEQs, benchmarks/solver_peers.py); the product
  updated by float32 increments re-anchored in float64, to the tolerance or to rounding.
  x = Π(z) lies exactly on its bound wherever a diode conducts.
"""

import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .certificate import ConvergenceError, certify, monotonicity_bounds, natural_residual
from .elements import IdealDiode
from .kernels import as_batch, matmul

__all__ = ["forward_backward", "peaceman_rachford", "dense_peaceman_rachford", "spectral_norm",
           "resolvent_inverse", "PR_ALPHA"]

PR_ALPHA = 2.3  # α·‖H‖₂ of the dense path


def spectral_norm(H, steps=12, seed=0):
    """‖H‖₂ by power iteration on HᵀH (a few products; within ~1 % for these kernels)."""
    v = np.random.default_rng(seed).normal(size=H.shape[0])
    norm = 0.0
    for _ in range(steps):
        w = H.T @ (H @ v)
        norm = float(np.linalg.norm(w))
        if norm == 0:
            return 0.0
        v = w / norm
    return float(np.sqrt(norm))


def resolvent_inverse(H, alpha):
    """K = (I + αH)⁻¹ as an explicit matrix (numpy's LAPACK: the same BLAS as the iterations)."""
    n = H.shape[0]
    return np.linalg.inv(np.eye(n) + alpha * np.asarray(H, dtype=float))


def dense_peaceman_rachford(H, q, lo, hi, *, tol=1e-9, exact=False, alpha=None, K=None, z0=None,
                            max_iter=100000, residual=None):
    """Peaceman–Rachford for box elements with an explicit resolvent (see module docstring).

    An iteration is x = Π(z), v = 2x − z − αq, y = K v, z ← z + 2(y − x).  The product K v is
    updated by increments in float32, y ← y + K₃₂(v − v_prev), and re-anchored by a full float64
    product K v whenever the step has fallen 1000-fold since the last anchor: the float32
    rounding then scales with the increments, not with v, so the iterates converge to float64
    accuracy at about half the cost of float64 products.

    residual(x) → per-sample relative natural residual (default: ideal diodes); checked when the
    step says it may be met.  Returns (x, iterations, z, alpha, K): z is the splitting state a
    warm start continues from."""
    H = np.asarray(H, dtype=float)
    residual = residual or (lambda x: natural_residual(H, q, x))
    if alpha is None:
        alpha = PR_ALPHA / spectral_norm(H)
    if K is None:
        K = resolvent_inverse(H, alpha)
    K32 = K.astype(np.float32)
    aq = alpha * q
    scale = np.maximum(np.max(np.abs(q / H.diagonal()), axis=1, keepdims=True), 1e-300)
    z = np.zeros_like(q) if z0 is None else np.array(z0, dtype=float)
    x = np.clip(z, lo, hi)
    v = 2 * x - z - aq
    y = v @ K.T
    anchor_step, best, since, it = np.inf, np.inf, 0, 0
    check_at = tol  # step below which the residual is worth checking (learned from each check)
    while it < max_iter:
        it += 1
        d = y - x
        z += 2 * d
        step = float(np.max(np.abs(d) / scale))
        x = np.clip(z, lo, hi)
        v_new = 2 * x - z - aq
        anchored = step <= 1e-3 * anchor_step
        if anchored:
            y = v_new @ K.T
            anchor_step = step
        else:
            y += ((v_new - v).astype(np.float32) @ K32.T).astype(np.float64)
        v = v_new
        if exact:
            if step < 0.9 * best:
                best, since = step, 0
            else:
                since += 1
            if step <= 1e-16 or (since >= 4 and step <= 1e-11):  # at rounding: no more progress
                if anchor_step <= 1e3 * step:
                    break
                anchor_step = 1e-3 * step  # stalled on float32 increments: anchor, then go on
        elif step <= check_at:
            r = float(np.max(residual(x)))
            if r <= tol:
                break
            check_at = 0.8 * step * tol / r
    return x, it, z, alpha, K


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
    q, _ = as_batch(q)
    if alpha is None:
        m, L, symmetric = monotonicity_bounds(H)
        alpha = 2.0 / (m + L) if symmetric else m / L**2
    x = np.zeros_like(q) if x0 is None else np.array(x0, dtype=float)
    it = 0
    deadline = np.inf if max_seconds is None else time.perf_counter() + max_seconds
    while it < max_iter and time.perf_counter() < deadline:
        for _ in range(every):
            x = element.resolvent(x - alpha * (matmul(H, x) + q), alpha)
        it += every
        if np.max(natural_residual(H, q, x, element)) <= tol:
            break
    return _check(H, q, x, element, tol, it, check, "forward-backward")


def peaceman_rachford(H, q, element=IdealDiode(), alpha=None, tol=1e-9, max_iter=100000,
                      x0=None, check=True, every=10, max_seconds=None):
    """Peaceman–Rachford splitting with the linear resolvent factored once (same stopping rules)."""
    q, _ = as_batch(q)
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
