"""Operator-splitting solvers of 0 ∈ H x + q + F(x) (docs/science.md §1.3).

* `forward_backward` — x ← J_αF(x − α(Hx + q)); converges for α < 2m/‖H‖² (m = strong
  monotonicity); for symmetric H the step 2/(m + L) is used.
* `peaceman_rachford` — z ← (2R_A − I)(2J_αF − I) z with R_A = (I + αH)⁻¹(· − αq); converges for
  every α > 0; α = 1/√(mL) by default.  These two are the textbook forms (any element).
* `dense_peaceman_rachford` — the fast path for a dense kernel with box elements, in reflected
  form (one product per iteration, z ← (2K − I)(2Π(z) − z) − 2αKq) with K = (I + αH)⁻¹ one
  explicit block-recursive inverse (`ReflectedResolvent`, reusable while H does not change);
  α = 2.3/‖H‖₂ from a few power steps (no eigenvalue problem; the constant was measured on
  Winston–Kolter monDEQs, benchmarks/solver_peers.py); float32 iterations, then float64 anchors
  with float32 work between them (nonlinear increments while states change, a linear correction
  once they have settled), to the tolerance or to rounding (docs/science.md §1.6).  x = Π(z) lies exactly on its bound wherever a diode conducts.
"""

import functools
import math
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .certificate import ConvergenceError, certify, monotonicity_bounds, natural_residual
from .compiled import largest_abs, linear_after_product, reflect, reflect_after_product, resolvent_residual, row_scratch
from .elements import IdealDiode
from .kernels import as_batch, matmul, step_scale

__all__ = ["forward_backward", "peaceman_rachford", "dense_peaceman_rachford", "spectral_norm",
           "resolvent_inverse", "ReflectedResolvent", "PR_ALPHA"]

PR_ALPHA = 2.3  # α·‖H‖₂ of the dense path


@functools.lru_cache(maxsize=16)
def _random_vector(n, seed):
    """A fixed N(0, 1) vector of length n (read-only; a generator costs ~20 µs to build per call)."""
    v = np.random.default_rng(seed).normal(size=n)
    v.flags.writeable = False
    return v


def spectral_norm(H, steps=12, seed=0):
    """‖H‖₂ by power iteration on HᵀH (a few products; within ~1 % for these kernels)."""
    v = _random_vector(H.shape[0], seed)
    Ht = H.T
    norm = 0.0
    for _ in range(steps):
        w = Ht @ (H @ v)
        norm = math.sqrt(float(w @ w))
        if norm == 0:
            return 0.0
        v = np.multiply(w, 1.0 / norm, out=w)
    return math.sqrt(norm)


def resolvent_inverse(H, alpha):
    """K = (I + αH)⁻¹ as an explicit matrix.

    I + αH has a positive definite symmetric part (H is monotone), and so has every leading block
    and Schur complement of it: the block-recursive inverse needs no pivoting, and its products
    run at the BLAS's full speed (2× LAPACK's inverse at n = 1024, benchmarks/solver_peers.py).
    A random probe checks it; LAPACK's pivoted inverse is the fallback."""
    A = alpha * np.asarray(H, dtype=float)
    np.einsum("ii->i", A)[...] += 1.0  # the diagonal as a writable view (fancy indexing: ~7× slower)
    try:
        K = block_inverse(A)
    except np.linalg.LinAlgError:  # a singular leading block (H not monotone)
        return np.linalg.inv(A)
    probe = _random_vector(A.shape[0], 0)
    with np.errstate(all="ignore"):
        off = np.max(np.abs(K @ (A @ probe) - probe))
    if not off <= 1e-8 * np.max(np.abs(probe)):  # NaN or inaccurate: pivoting
        K = np.linalg.inv(A)
    return K


def block_inverse(A, leaf=64):
    """A⁻¹ by halving: with X = A₁₁⁻¹, T = X A₁₂, U = A₂₁ X and Y = (A₂₂ − A₂₁T)⁻¹ the inverse is
    [[X + T Y U, −T Y], [−Y U, Y]] (no pivoting: for matrices whose leading blocks are invertible)."""
    n = A.shape[0]
    if n <= leaf:
        return np.linalg.inv(A)
    k = n // 2
    X = block_inverse(A[:k, :k], leaf)
    T = X @ A[:k, k:]
    Y = block_inverse(A[k:, k:] - A[k:, :k] @ T, leaf)
    U = A[k:, :k] @ X
    out = np.empty_like(A)
    out[k:, k:] = Y
    out[:k, k:] = -(T @ Y)
    out[k:, :k] = -(Y @ U)
    out[:k, :k] = X - out[:k, k:] @ U
    return out


class ReflectedResolvent:
    """What the dense splitting path keeps while H does not change: α, K = (I + αH)⁻¹ and the
    reflected resolvent M = 2K − I (stored transposed, float64 and float32, for row batches)."""

    def __init__(self, H, alpha=None):
        H = np.asarray(H, dtype=float)
        self.alpha = PR_ALPHA / spectral_norm(H) if alpha is None else float(alpha)
        self.K = resolvent_inverse(H, self.alpha)
        Mt = 2 * self.K.T  # 2Kᵀ (Fortran-ordered, as Kᵀ: BLAS takes either)
        np.einsum("ii->i", Mt)[...] -= 1.0
        self.Mt = Mt
        self.Mt32 = Mt.astype(np.float32)


ROUNDING_STEP = 8 * np.finfo(float).eps  # a relative step this small is at float64 rounding
CHECK_EVERY = 2  # iterations between looks at the step
INNER_REDUCTION = 1e-6  # a float32 correction shrinks the step this much (~16× float32 rounding)


def dense_peaceman_rachford(H, q, lo, hi, *, tol=1e-9, exact=False, alpha=None, z0=None,
                            max_iter=100000, resolvent=None):
    """Peaceman–Rachford for box elements with an explicit resolvent (see module docstring).

    In reflected form the iteration is one product: z ← M w − c with w = 2Π(z) − z (|z| for
    ideal diodes), M = 2K − I and c = 2αKq; x = Π(z).  Two phases:

    1. float32 iterations (half the cost of a float64 product) until the step stops shrinking at
       float32 precision — by then the diode states have settled;
    2. float64 anchors with float32 corrections: an anchor is one float64 step z' = M w(z) − c
       and its residual ρ = z' − z; while no state changes, w(z + δ) = w(z) + S δ (S = ±1 per
       node), so the fixed point is z + δ with δ = M S δ + ρ, solved by the same linear iteration
       in float32 (three passes per iteration instead of the nonlinear step's four in mixed
       precision) until δ's step has fallen 10⁶-fold; the next anchor sees the true states again.
       Each anchor gains ~6 digits; the run ends on an anchor.

    The stopping test needs no product: with y = (z + w_prev)/2 = K(w_prev − αq) the linear
    resolvent's output, H y + q = (w_prev − y)/α, so the natural residual at y is elementwise.
    Temporaries are preallocated (a fresh 256 × 256 buffer per iteration costs as much as the
    product).  Returns (x, iterations, z, resolvent): z is the splitting state a warm start
    continues from."""
    H = np.asarray(H, dtype=float)
    R = resolvent or ReflectedResolvent(H, alpha)
    alpha = R.alpha
    n = H.shape[1]
    lo = np.broadcast_to(lo, (n,))
    hi = np.broadcast_to(hi, (n,))
    diode = bool(np.all(lo == 0) and np.all(hi == np.inf))
    d = H.diagonal()
    scale = step_scale(q, d, lo, hi)
    # a cone (bounds 0 or ±inf) commutes with scaling: iterate on q/scale, so a step is relative
    cone = bool(np.all((lo == 0) | np.isinf(lo)) and np.all((hi == 0) | np.isinf(hi)))
    if cone:
        q = q / scale
        z0 = None if z0 is None else np.asarray(z0, dtype=float) / scale
    divisor = None if cone else scale
    c = (2 * alpha) * (q @ R.K.T)
    z = -c if z0 is None else np.array(z0, dtype=float)

    per_sample = None if divisor is None else 1.0 / divisor

    def relative_step(delta):
        return largest_abs(delta, per_sample)

    # phase 1: float32, the step looked at every CHECK_EVERY iterations (one product and one
    # compiled pass each: z ← M w − c, w ← 2Π(z) − z, and the step when it is looked at)
    z32 = z.astype(np.float32)
    c32 = c.astype(np.float32)
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    w32 = np.empty_like(z32)
    prev32 = z32.copy()
    scratch32 = row_scratch(z32)
    reflect(z32, lo32, hi32, w32)
    best, it = np.inf, 0
    while it < max_iter and z0 is None:  # a warm start is already close: float64 at once
        for k in range(1, CHECK_EVERY + 1):
            np.matmul(w32, R.Mt32, out=z32)
            step = reflect_after_product(z32, c32, lo32, hi32, w32, *((prev32, per_sample) if k == CHECK_EVERY else ()),
                                         scratch=scratch32)
        it += CHECK_EVERY
        if step <= 3e-6 or (step <= 1e-3 and step > 0.9 * best):
            break  # at float32 precision (or stalled near it): float64 takes over
        best = min(best, step)

    # phase 2: float64 anchors; between them float32 work — a linear correction once the states
    # have settled, nonlinear steps carried by increments while they still change
    if z0 is None:
        z = z32.astype(np.float64)
    w, w_prev, z_new, scratch = (np.empty_like(z) for _ in range(4))
    # float32 buffers: phase 1's, whose pages are already mapped (fresh ones fault on first use)
    rho32, work32 = c32, (w32, prev32, z32)
    signs, signs_new = np.empty_like(z32), np.empty_like(z32)
    reflect(z, lo, hi, w)
    best, since, check_at = np.inf, 0, tol
    while it < max_iter:
        np.matmul(w, R.Mt, out=z_new)  # anchor: one float64 step z_new = M w − c
        z_new -= c
        it += 1
        np.subtract(z_new, z, out=rho32, casting="same_kind")  # ρ: what the correction needs
        step = relative_step(rho32)
        if step < 0.9 * best:
            best, since = step, 0
        else:
            since += 1
        if since >= 2 and step <= 1e-11:  # at rounding and no longer shrinking (any tol)
            z = z_new
            break
        if exact:
            if step <= ROUNDING_STEP:
                z = z_new
                break
            goal = max(INNER_REDUCTION * step, ROUNDING_STEP)
        else:
            if step <= check_at:
                r = resolvent_residual(z_new, w, q, d, lo, hi, alpha, cone)
                if r <= 0.5 * tol:
                    z = z_new
                    break
                check_at = 0.8 * step * tol / r
            goal = max(INNER_REDUCTION * step, check_at)
        if not _states_changed(z, z_new, lo, hi, diode, (signs, signs_new, scratch)):
            # no state changed over the step: z* = z + δ with δ = M S δ + ρ (w(z + δ) = w(z) + S δ),
            # solved by PR's own linear iteration in float32 from δ = ρ (its first step is z_new)
            _reflection_signs(z, lo, hi, diode, signs)
            delta, more = _correction(rho32, signs, R.Mt32, goal, max_iter - it, work32, per_sample, scratch32)
            it += more
            z += delta
            reflect(z, lo, hi, w)
            continue
        # states still changing: nonlinear steps z ← z + M₃₂(w − w_prev) until the step has fallen
        # 1000-fold (the float32 rounding scales with the increments), then the next anchor
        z, z_new = z_new, z
        w, w_prev = w_prev, w
        reflect(z, lo, hi, w)
        dw32, dz32 = work32[0], work32[1]
        while it < max_iter:
            for _ in range(CHECK_EVERY):
                np.subtract(w, w_prev, out=dw32, casting="same_kind")
                np.matmul(dw32, R.Mt32, out=dz32)
                z += dz32
                w, w_prev = w_prev, w
                reflect(z, lo, hi, w)
            it += CHECK_EVERY
            if relative_step(dz32) <= max(1e-3 * step, goal):
                break
    if cone:
        z *= scale
    x = np.clip(z, lo, hi)
    return x, it, z, R


def _reflection_signs(z, lo, hi, diode, out):
    """S (float32): +1 where the reflection w = 2Π(z) − z passes z through (inside the box), −1
    where it mirrors it, so that w(z + δ) = w(z) + S δ while no node changes state."""
    if diode:
        return np.copysign(1.0, z, out=out, casting="same_kind")
    np.copyto(out, np.where((z > lo) & (z < hi), 1.0, -1.0), casting="same_kind")
    return out


def _states_changed(z, z_new, lo, hi, diode, work):
    """Whether any node's reflection state differs between z and z_new (for ideal diodes: a sign
    change, z·z_new < 0, one pass and a whole-array reduction)."""
    signs, signs_new, scratch = work
    if diode:
        return bool(np.min(np.multiply(z, z_new, out=scratch)) < 0)
    _reflection_signs(z, lo, hi, diode, signs)
    _reflection_signs(z_new, lo, hi, diode, signs_new)
    return not np.array_equal(signs, signs_new)


def _correction(rho, signs, Mt32, goal, max_iter, work, per_sample, scratch=None):
    """δ = M S δ + ρ by the float32 iteration δ ← M S δ + ρ from δ = ρ: Peaceman–Rachford's own
    linear part with the states fixed (its contraction, float32 cost, one product and one compiled
    pass per iteration), until the step falls to `goal` or stalls at float32 rounding.  Returns
    (δ, iterations)."""
    delta, prev, t = work
    np.copyto(delta, rho)
    np.multiply(delta, signs, out=t)
    best, k = np.inf, 0
    while k < max_iter:
        for j in range(1, CHECK_EVERY + 1):
            delta, prev = prev, delta
            np.matmul(t, Mt32, out=delta)
            step = linear_after_product(delta, rho, signs, t, *((prev, per_sample) if j == CHECK_EVERY else ()),
                                        scratch=scratch)
        k += CHECK_EVERY
        if step <= goal or step > 0.9 * best:
            break
        best = step
    return delta, k


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
