"""Compiled kernels (Numba) for loops numpy cannot fuse.

A batch of a few hundred samples of ~100 nodes is small: numpy spends more time starting its
passes than doing them, and a figure built from five elementwise passes and four row reductions
streams the batch nine times.  These kernels make one pass per sample.  Each is compiled on first
use and cached on disk (Numba's `cache=True`: the `__pycache__` next to this file, or Numba's
user cache when that is not writable), so only the first process after an install pays the
compilation (~1 s per kernel).

* `box_certificate` — the certificate of a batch in a box (docs/science.md §1.3), one pass;
* `diode_nodes`, `diode_states` — nodes each alone with an ideal diode to ground, given their
  inflow: voltages and residual currents, or diode states and elimination weights, in one pass;
* `largest_abs`, `row_largest_abs`, `resolvent_residual` — the stopping tests of the iterative
  paths (a step's largest entry, a scale per sample, Peaceman–Rachford's residual), one pass each;
* `reflect`, `reflect_after_product`, `linear_after_product` — Peaceman–Rachford's reflection and
  the elementwise work around
  its one product per iteration (`splitting.dense_peaceman_rachford`), with the step's size;
* `solve_small` — a batch of small dense systems (Schur complements of a layered network's
  outputs, ~10 × 10) by Gaussian elimination vectorised across samples (LAPACK's batched solve
  costs ~0.5 µs of set-up per system: 150 µs against 31 µs for 256 systems of 10).
"""

import numpy as np
from numba import njit

__all__ = ["box_certificate", "solve_small", "diode_nodes", "diode_states", "largest_abs", "row_largest_abs",
           "resolvent_residual", "reflect", "reflect_after_product", "linear_after_product", "row_scratch",
           "ACTIVE_TOLERANCE"]

ACTIVE_TOLERANCE = 1e-12  # a node sits at a bound b when |x − b| ≤ this · (1 + |b|)


# Largest entries of non-negative terms are taken on their bits as integers: the bits of
# non-negative floats order as their values do (a NaN's above +inf's, so a NaN wins), and an
# integer maximum vectorises where LLVM leaves a float max reduction scalar here (~4× slower).

@njit(cache=True, nogil=True)
def _largest_bits(bits):
    m = bits[0] * 0  # 0 of the bits' integer type
    for i in range(bits.shape[0]):
        m = bits[i] if bits[i] > m else m
    return m


@njit(cache=True, nogil=True)
def _certify_rows(x, hxq, q, inv_d, lo, hi, residual, state, primal, dual, complementarity):
    batch, n = x.shape
    tol_lo = np.empty(n)
    tol_hi = np.empty(n)
    bounded = np.empty(n, dtype=np.bool_)
    for i in range(n):
        tol_lo[i] = ACTIVE_TOLERANCE * (1.0 + (abs(lo[i]) if np.isfinite(lo[i]) else 0.0))
        tol_hi[i] = ACTIVE_TOLERANCE * (1.0 + (abs(hi[i]) if np.isfinite(hi[i]) else 0.0))
        bounded[i] = np.isfinite(lo[i]) or np.isfinite(hi[i])
    # per row: the five figures' node terms (all ≥ 0) into a buffer, then their maxima as int64
    terms = np.empty((5, n))
    bits = terms.view(np.int64)
    for b in range(batch):
        xb, hb, qb, sb = x[b], hxq[b], q[b], state[b]
        bad = 0  # a NaN or an infinity in x or in H x + q: the figures are NaN
        for i in range(n):
            xi = xb[i]
            w = hb[i] * inv_d[i]  # the node's residual current over its conductance (volts)
            probe = xi * 0.0 + w * 0.0
            bad |= probe != probe
            ax, aq = abs(xi), abs(qb[i] * inv_d[i])
            terms[0, i] = ax if ax > aq else aq
            gap_lo = xi - lo[i]
            gap_hi = hi[i] - xi
            # x − Π(x − w) = min(max(w, x − hi), x − lo): no cancellation of x against x − w
            r = w if w > -gap_hi else -gap_hi
            r = r if r < gap_lo else gap_lo
            terms[1, i] = abs(r)
            p = -gap_lo if -gap_lo > -gap_hi else -gap_hi
            terms[2, i] = p if p > 0.0 else 0.0
            # states and wrong-sign currents by arithmetic (branches on mixed states mispredict):
            # at a bound the element may carry current of one sign only, a free node none
            at_lo = 1.0 if abs(gap_lo) <= tol_lo[i] else 0.0
            at_hi = (1.0 - at_lo) if abs(gap_hi) <= tol_hi[i] else 0.0
            s = at_hi - at_lo
            sb[i] = np.int8(s)
            aw = abs(w)
            one_sign, none = s * w, (1.0 - at_lo - at_hi) * aw
            wrong = one_sign if one_sign > none else none
            terms[3, i] = wrong if wrong > 0.0 else 0.0
            dist = abs(gap_lo) if abs(gap_lo) < abs(gap_hi) else abs(gap_hi)
            terms[4, i] = aw * dist if bounded[i] else 0.0
        m0 = m1 = m2 = m3 = m4 = 0
        for i in range(n):
            m0 = bits[0, i] if bits[0, i] > m0 else m0
            m1 = bits[1, i] if bits[1, i] > m1 else m1
            m2 = bits[2, i] if bits[2, i] > m2 else m2
            m3 = bits[3, i] if bits[3, i] > m3 else m3
            m4 = bits[4, i] if bits[4, i] > m4 else m4
        bits[0, 0], bits[0, 1], bits[0, 2], bits[0, 3], bits[0, 4] = m0, m1, m2, m3, m4
        scale = terms[0, 0]
        if bad:
            residual[b] = primal[b] = dual[b] = complementarity[b] = np.nan
        else:
            residual[b] = terms[0, 1] / (scale if scale > 0 else 1.0)
            primal[b] = terms[0, 2]
            dual[b] = terms[0, 3]
            complementarity[b] = terms[0, 4]


def box_certificate(x, hxq, q, d, lo, hi):
    """(residual, state, primal, dual, complementarity) of a batch x (batch, n) in the box
    [lo, hi] (n,), with hxq = H x + q and d = H's diagonal, per sample:

    * residual ‖x − Π(x − w)‖∞ / max(‖x‖∞, ‖q/d‖∞) (1 where both vanish), w = (Hx + q)/d;
    * state −1 at the lower bound (priority), +1 at the upper, 0 between (`ACTIVE_TOLERANCE`);
    * primal max(lo − x, x − hi, 0); dual the largest wrong-sign current over d (any current of a
      free node); complementarity max |w|·dist(x, nearest bound) over nodes with a bound."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    hxq, q = (np.ascontiguousarray(a if np.shape(a) == x.shape else np.broadcast_to(a, x.shape), dtype=np.float64)
              for a in (hxq, q))
    d, lo, hi = (np.ascontiguousarray(a, dtype=np.float64) for a in (d, lo, hi))
    batch = x.shape[0]
    residual, primal, dual, complementarity = (np.empty(batch) for _ in range(4))
    state = np.empty(x.shape, dtype=np.int8)
    if x.shape[1] == 0:  # no nodes: nothing to violate
        return np.zeros(batch), state, np.zeros(batch), np.zeros(batch), np.zeros(batch)
    _certify_rows(x, hxq, q, 1.0 / d, lo, hi, residual, state, primal, dual, complementarity)
    return residual, state, primal, dual, complementarity


SAMPLES_PER_BLOCK = 32  # systems eliminated side by side (their (k, k, 32) block stays in L1)


@njit(cache=True, nogil=True, fastmath={"contract"})
def _eliminate_blocks(A, rhs, out, ok):
    batch, k, _ = A.shape
    a = np.empty((k, k, SAMPLES_PER_BLOCK))
    y = np.empty((k, SAMPLES_PER_BLOCK))
    for first in range(0, batch, SAMPLES_PER_BLOCK):
        m = min(SAMPLES_PER_BLOCK, batch - first)
        for s in range(m):  # the block with the sample index innermost: every update is a vector op
            ok[first + s] = True
            for i in range(k):
                y[i, s] = rhs[first + s, i]
                for j in range(k):
                    a[i, j, s] = A[first + s, i, j]
        for col in range(k):
            for s in range(m):
                pivot = a[col, col, s]
                if not pivot > 0.0:  # not a monotone system's pivot (or NaN): LAPACK redoes it
                    ok[first + s] = False
                    pivot = 1.0
                a[col, col, s] = 1.0 / pivot  # kept for the back substitution
            for r in range(col + 1, k):
                for s in range(m):
                    a[r, col, s] *= a[col, col, s]
                for j in range(col + 1, k):
                    for s in range(m):
                        a[r, j, s] -= a[r, col, s] * a[col, j, s]
                for s in range(m):
                    y[r, s] -= a[r, col, s] * y[col, s]
        for r in range(k - 1, -1, -1):
            for j in range(r + 1, k):
                for s in range(m):
                    y[r, s] -= a[r, j, s] * y[j, s]
            for s in range(m):
                y[r, s] *= a[r, r, s]
        for s in range(m):
            for i in range(k):
                out[first + s, i] = y[i, s]


def solve_small(A, rhs):
    """x with A[b] x[b] = rhs[b] for a batch of small dense systems A (batch, k, k), rhs (batch, k).

    Gaussian elimination without pivoting, 32 systems side by side: the systems here (Schur
    complements of a monotone kernel, and those with identity rows for held nodes) have a
    positive definite symmetric part, so every pivot is positive.  A sample whose pivot is not
    (a system of another kind) is solved again by LAPACK with partial pivoting, which raises
    numpy.linalg.LinAlgError if it is singular."""
    A = np.ascontiguousarray(A, dtype=np.float64)
    rhs = np.ascontiguousarray(rhs, dtype=np.float64)
    out = np.empty(rhs.shape)
    ok = np.empty(len(rhs), dtype=np.bool_)
    _eliminate_blocks(A, rhs, out, ok)
    if not ok.all():
        redo = np.flatnonzero(~ok)
        out[redo] = np.linalg.solve(A[redo], rhs[redo][:, :, None])[:, :, 0]
    return out


@njit(cache=True, nogil=True)
def _diode_rows(y, inv_d, d, x, current, column):
    batch, n = y.shape
    for b in range(batch):
        yb, xb = y[b], x[b]
        for i in range(n):
            v = -yb[i] * inv_d[i]
            xb[column + i] = v if v > 0.0 else 0.0
        if current.shape[0]:
            cb = current[b]
            for i in range(n):
                cb[column + i] = xb[column + i] * d[i] + yb[i]


def diode_nodes(y, inv_d, d, x, current=None, column=0):
    """Nodes coupled only to nodes of known voltage, each with an ideal diode to ground (the hidden
    layer of a layered network given its neighbours): with y = (coupling inflow) + q per node
    (batch, n), x = max(−y/d, 0) (the diode conducts and holds the node at 0 where the Jacobi
    value −y/d is negative), written into columns column … column + n − 1 of x (C-ordered, e.g.
    every node of the network); and, if `current` is given, the residual current H x + q = d·x + y
    into the same columns of it (0 where the diode blocks, up to rounding: computed, not
    assumed).  Returns x's block."""
    none = np.empty((0, 0))
    _diode_rows(y, inv_d, d, x, none if current is None else current, column)
    return x[:, column:column + y.shape[1]]


@njit(cache=True, nogil=True)
def _diode_state_rows(y, q, inv_d, before, free, w, qw, changed):
    batch, n = y.shape
    for b in range(batch):
        yb, qb, fb, wb, qwb = y[b], q[b], free[b], w[b], qw[b]
        for i in range(n):
            v = yb[i] + qb[i]
            yb[i] = v
            f = v < 0.0
            fb[i] = f
            wi = inv_d[i] if f else 0.0
            wb[i] = wi
            qwb[i] = qb[i] * wi
        if before.shape[0]:
            bb = before[b]
            moved = False
            for i in range(n):
                moved |= fb[i] != bb[i]
            changed[b] = moved


def diode_states(y, q, inv_d, before=None):
    """The states of nodes each alone with an ideal diode to ground, given their inflow: y ← y + q
    in place (y = H_LS x_S + q_L, minus the Jacobi value times d), then per node free = (y < 0)
    (the Jacobi value is positive: the diode blocks), the elimination weight w = free/d and q·w;
    with `before` (the previous states), which rows changed.  Returns (free, w, q·w, changed or
    None), as `bipartite.reduced_newton` uses them."""
    free = np.empty(y.shape, dtype=np.bool_)
    w, qw = np.empty(y.shape), np.empty(y.shape)
    changed = np.zeros(len(y), dtype=np.bool_)
    none = np.empty((0, 0), dtype=np.bool_)
    _diode_state_rows(y, np.ascontiguousarray(q), inv_d, none if before is None else np.ascontiguousarray(before),
                      free, w, qw, changed)
    return free, w, qw, (None if before is None else changed)


@njit(cache=True, nogil=True)
def _largest_abs_rows(a, scale, buf, bits, out):
    """out[r] = max_i |a[r, i]|·scale[r] (scale empty: 1); returns the largest of them."""
    largest = 0.0
    for r in range(a.shape[0]):
        ar = a[r]
        for i in range(a.shape[1]):
            buf[i] = abs(ar[i])
        bits[0] = _largest_bits(bits)
        v = buf[0] * scale[r] if scale.shape[0] else buf[0] * 1.0
        if out.shape[0]:
            out[r] = v
        largest = v if (v > largest or v != v) else largest
    return largest


def _row_buffers(a):
    buf = np.zeros(max(a.shape[1], 1), dtype=a.dtype)  # zeros: a row of no entries has largest 0
    return buf, buf.view(np.int32 if a.dtype == np.float32 else np.int64)


_NONE = np.empty(0)


def largest_abs(a, scale=None):
    """max |a| over a batch a (batch, n) (float32 or float64), each row's entries times scale[row]
    when given (batch,): a step measured against each sample's own size.  NaN if a holds one."""
    a = np.ascontiguousarray(a)
    s = _NONE if scale is None else np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)
    return float(_largest_abs_rows(a, s, *_row_buffers(a), _NONE))


def row_largest_abs(a, scale=None):
    """max_i |a[r, i]·scale[i]| per row r (batch,) — e.g. each sample's ‖q/d‖∞."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    if scale is not None:
        a = a * scale
    out = np.empty(len(a))
    _largest_abs_rows(a, _NONE, *_row_buffers(a), out)
    return out


@njit(cache=True, nogil=True)
def _resolvent_rows(z, w, q, inv_ad, inv_d, lo, hi, normalized, buf, bits):
    largest = 0.0
    for r in range(z.shape[0]):
        zr, wr, qr = z[r], w[r], q[r]
        for i in range(z.shape[1]):
            y = 0.5 * (zr[i] + wr[i])
            t = y - (wr[i] - y) * inv_ad[i]  # y − (H y + q)/d
            t = t if t > lo[i] else lo[i]
            t = t if t < hi[i] else hi[i]
            buf[i] = abs(y - t)
        bits[0] = _largest_bits(bits)
        v = buf[0]
        if not normalized:  # relative to max(‖y‖∞, ‖q/d‖∞)
            for i in range(z.shape[1]):
                ay, aq = abs(0.5 * (zr[i] + wr[i])), abs(qr[i] * inv_d[i])
                buf[i] = ay if ay > aq else aq
            bits[0] = _largest_bits(bits)
            v = v / (buf[0] if buf[0] > 0 else 1.0)
        largest = v if (v > largest or v != v) else largest
    return largest


def resolvent_residual(z, w, q, d, lo, hi, alpha, normalized):
    """Largest relative natural residual of a batch at y = (z + w)/2, the output of
    Peaceman–Rachford's linear resolvent when z = M w − c: there H y + q = (w − y)/α, so the
    residual y − Π(y − (H y + q)/d) needs no product (`splitting.dense_peaceman_rachford`).
    normalized: every row of q has ‖q/d‖∞ = 1 (or 0), so the absolute residual is the relative."""
    d = np.asarray(d, dtype=np.float64)
    lo, hi = (np.ascontiguousarray(np.broadcast_to(b, d.shape), dtype=np.float64) for b in (lo, hi))
    z, w, q = (np.ascontiguousarray(a, dtype=np.float64) for a in (z, w, q))
    buf, bits = _row_buffers(z)
    return float(_resolvent_rows(z, w, q, 1.0 / (alpha * d), 1.0 / d, lo, hi, bool(normalized), buf, bits))


@njit(cache=True, nogil=True)
def _step_of_rows(x, prev, scale, buf, bits, copy):
    """max over rows of max_i |x − prev|·scale[row] (scale empty: 1); prev ← x if copy.  Its own
    pass after the update's: LLVM vectorises the two loops apart, not fused (2× slower)."""
    largest = 0.0
    for r in range(x.shape[0]):
        xr, pr = x[r], prev[r]
        for i in range(x.shape[1]):
            buf[i] = abs(xr[i] - pr[i])
        if copy:
            for i in range(x.shape[1]):
                pr[i] = xr[i]
        bits[0] = _largest_bits(bits)
        v = buf[0] * scale[r] if scale.shape[0] else buf[0] * 1.0
        largest = v if (v > largest or v != v) else largest
    return largest


@njit(cache=True, nogil=True, inline="always")
def _reflection(v, lo, hi):
    """2Π(v) − v through [lo, hi]: |v| for an ideal diode (bounds 0, +inf), exactly (written
    p + p: 2·p would widen float32 to float64 and halve the speed)."""
    p = v if v > lo else lo
    p = p if p < hi else hi
    return p + p - v


@njit(cache=True, nogil=True)
def _reflect_rows(z, c, lo, hi, w, prev, scale, buf, bits):
    for r in range(z.shape[0]):
        zr, cr, wr = z[r], c[r], w[r]
        for i in range(z.shape[1]):
            v = zr[i] - cr[i]
            zr[i] = v
            wr[i] = _reflection(v, lo[i], hi[i])
    return _step_of_rows(z, prev, scale, buf, bits, True) if prev.shape[0] else 0.0


@njit(cache=True, nogil=True)
def _reflect_only_rows(z, lo, hi, w):
    for r in range(z.shape[0]):
        zr, wr = z[r], w[r]
        for i in range(z.shape[1]):
            wr[i] = _reflection(zr[i], lo[i], hi[i])


def reflect(z, lo, hi, out):
    """out ← 2Π(z) − z, the reflection through the box [lo, hi] (|z| for ideal diodes), for a
    batch z (batch, n); lo, hi (n,) of z's float type.  Returns out."""
    _reflect_only_rows(z, lo, hi, out)
    return out


def reflect_after_product(z, c, lo, hi, w, prev=None, scale=None, scratch=None):
    """One Peaceman–Rachford iteration's elementwise part, in place, after the product z = M w:
    z ← z − c, then w ← 2Π(z) − z, the reflection through the box [lo, hi] that the next product
    takes.  prev given: returns the step max |z − prev| (each row's times scale[row] when given)
    and stores z into prev; otherwise 0.  Arrays (batch, n) of one float type; lo, hi (n,).
    scratch: `row_scratch(z)`, kept by a caller that calls this every iteration."""
    return float(_reflect_rows(z, c, lo, hi, w, _EMPTY[z.dtype] if prev is None else prev, _scale_of(scale),
                               *(scratch or row_scratch(z))))


def row_scratch(a):
    """The per-row buffer (and its integer view) the steps' largest entries are taken in."""
    return _row_buffers(a)


def _scale_of(scale):
    if scale is None:
        return _NONE
    if isinstance(scale, np.ndarray) and scale.dtype == np.float64 and scale.flags.c_contiguous:
        return scale.reshape(-1)
    return np.ascontiguousarray(scale, dtype=np.float64).reshape(-1)


_EMPTY = {np.dtype(t): np.empty((0, 0), dtype=t) for t in (np.float32, np.float64)}


@njit(cache=True, nogil=True)
def _linear_rows(delta, rho, signs, t, prev, scale, buf, bits):
    for r in range(delta.shape[0]):
        dr, rr, sr, tr = delta[r], rho[r], signs[r], t[r]
        for i in range(delta.shape[1]):
            v = dr[i] + rr[i]
            dr[i] = v
            tr[i] = v * sr[i]
    return _step_of_rows(delta, prev, scale, buf, bits, False) if prev.shape[0] else 0.0


def linear_after_product(delta, rho, signs, t, prev=None, scale=None, scratch=None):
    """The fixed-state correction's elementwise part, in place, after the product δ = M t:
    δ ← δ + ρ, then t ← S δ (S = ±1 per node) for the next product.  prev given (the previous
    δ): returns the step max |δ − prev| (each row's times scale[row] when given); otherwise 0.
    scratch: as for `reflect_after_product`."""
    return float(_linear_rows(delta, rho, signs, t, _EMPTY[delta.dtype] if prev is None else prev, _scale_of(scale),
                              *(scratch or row_scratch(delta))))
