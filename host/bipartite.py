"""Bipartite (layered) kernels: exact elimination and red–black relaxation.

A layered resistor–diode network couples each neuron only to neurons of the neighbouring layers,
so its kernel H is bipartite: the neurons split into two colours R and B with no coupling inside a
colour, and after ordering them

    H = [[D_R, H_RB], [H_BR, D_B]],   D_R, D_B diagonal.

Given the B voltages every R node is alone with its own diode: its voltage is the clip of its
Jacobi value, x_R = Π((−q_R − H_RB x_B) / D_R) (docs/science.md §1.3).  Two solvers use this:

* `reduced_newton` — when one colour S is small (e.g. the ten outputs of a one-hidden-layer
  network), eliminate the large colour L in closed form.  What is left is a piecewise-linear
  monotone problem on S alone; a semismooth Newton (active-set) step solves it with L's states
  fixed through the Schur complement M = D_S − H_SL diag(f_L/D_L) H_LS (f_L = 1 on free L nodes),
  then the states are updated from the new point.  It stops when no state changes, at the exact
  solution (to rounding).
* `red_black_sor` — both colours large (deeper networks): projected successive over-relaxation,
  alternating closed-form half-sweeps of the two colours, x ← Π((1−ω)x + ω·Jacobi value), with ω
  chosen online from the observed contraction of plain Gauss–Seidel (ω = 2/(1 + √(1 − ρ))), in
  float32 until the update stalls at single precision, then in float64 to the tolerance or to
  rounding.
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from .compiled import diode_nodes, diode_states, solve_small
from .kernels import as_index, step_scale

__all__ = ["two_coloring", "BipartiteKernel", "reduced_newton", "red_black_sor"]

SMALL_SIDE = 64  # largest colour eliminated last by `reduced_newton` (s×s systems per sample)
EXACT_RESIDUAL = 4e-15  # relative natural residual taken as "at rounding" by the iterative paths


def two_coloring(H):
    """(red, black) index arrays of a two-colouring of H's coupling graph, or None if H has a
    coupling inside a colour (an odd cycle: not bipartite)."""
    n = H.shape[0]
    A = sp.csr_matrix(H if sp.issparse(H) else (np.asarray(H) != 0)).astype(bool)
    A.setdiag(False)
    A.eliminate_zeros()
    A = (A + A.T).tocsr()
    _, label = csgraph.connected_components(A, directed=False)
    colour = np.full(n, -1, dtype=np.int8)
    frontier = np.zeros(n, dtype=bool)
    frontier[np.unique(label, return_index=True)[1]] = True
    colour[frontier] = 0
    level = 0
    while frontier.any():
        level += 1
        reach = A[frontier].indices
        new = np.zeros(n, dtype=bool)
        new[reach] = True
        new &= colour < 0
        colour[new] = level % 2
        frontier = new
    rows, cols = A.nonzero()
    if np.any(colour[rows] == colour[cols]):
        return None
    return np.flatnonzero(colour == 0), np.flatnonzero(colour == 1)


class BipartiteKernel:
    """The blocks of a bipartite H, split into a small colour S and a large colour L."""

    def __init__(self, H, red, black):
        small, large = (red, black) if len(red) <= len(black) else (black, red)
        self.small, self.large = small, large
        self.S_ix, self.L_ix = as_index(small), as_index(large)
        Hd = H.toarray() if sp.issparse(H) else np.asarray(H, dtype=float)
        self.d = np.asarray(Hd.diagonal(), dtype=float)
        self.H_SL = np.ascontiguousarray(Hd[self.S_ix][:, self.L_ix])  # slices when the colours are ranges
        self.H_LS = np.ascontiguousarray(Hd[self.L_ix][:, self.S_ix])
        self.d_S, self.d_L = self.d[small], self.d[large]
        self.inv_d_L = 1.0 / self.d_L
        self._f32 = None

    def apply(self, x):
        """H x for a batch (batch, n), through the blocks (2·|S|·|L| per sample, not n²)."""
        S, L = self.S_ix, self.L_ix
        y = x * self.d
        y[:, S] += cols(x, L) @ self.H_SL.T
        y[:, L] += cols(x, S) @ self.H_LS.T
        return y

    def outer(self):
        """O (|L|, |S|²): row l is H_SL[:, l] ⊗ H_LS[l, :], so Σ_l w_l H_SL[:, l] H_LS[l, :] = w @ O."""
        if getattr(self, "_outer", None) is None:
            self._outer = (self.H_SL.T[:, :, None] * self.H_LS[:, None, :]).reshape(len(self.large), -1)
        return self._outer

    def bound_kinds(self, lo, hi):
        """(every L node an ideal diode: bounds 0 and +inf, every S node linear: no bounds), kept
        for read-only bounds (an element's own per-node arrays, `kernels.bounds`), which cannot
        change under the same arrays."""
        kept = getattr(self, "_kinds", None)
        if kept is not None and kept[0] is lo and kept[1] is hi:
            return kept[2]
        loS, hiS, loL, hiL = lo[self.S_ix], hi[self.S_ix], lo[self.L_ix], hi[self.L_ix]
        kinds = (bool(np.all(loL == 0) and np.all(hiL == np.inf)),
                 bool(np.all(loS == -np.inf) and np.all(hiS == np.inf)))
        if not (lo.flags.writeable or hi.flags.writeable):
            self._kinds = (lo, hi, kinds)
        return kinds

    def schur(self, w):
        """M = D_S − H_SL diag(w) H_LS for each row of w (batch, |L|): the small colour's system
        once the large colour is eliminated with weights w (f/d_L: 1/d_L on free nodes, 0 held).
        One product, the diagonal added through a strided view."""
        if getattr(self, "_neg_outer", None) is None:
            self._neg_outer = -self.outer()
        nS = len(self.small)
        M = np.matmul(w, self._neg_outer)
        M[:, ::nS + 1] += self.d_S
        return M.reshape(-1, nS, nS)

    def transpose(self):
        """The kernel of Hᵀ (same colours, blocks exchanged): the adjoint system's."""
        t = object.__new__(BipartiteKernel)
        t.small, t.large, t.d, t.d_S, t.d_L = self.small, self.large, self.d, self.d_S, self.d_L
        t.inv_d_L = self.inv_d_L
        t.S_ix, t.L_ix = self.S_ix, self.L_ix
        t.H_SL, t.H_LS, t._f32 = np.ascontiguousarray(self.H_LS.T), np.ascontiguousarray(self.H_SL.T), None
        t._outer = t._neg_outer = None
        return t

    def float32(self):
        if self._f32 is None:
            self._f32 = (self.H_SL.astype(np.float32), self.H_LS.astype(np.float32),
                         self.d_S.astype(np.float32), self.d_L.astype(np.float32))
        return self._f32


def cols(a, ix):
    """a[..., ix] as a C-contiguous array (a fancy-indexed column gather may come back in
    column-major layout, which makes every later elementwise operation crawl)."""
    return np.ascontiguousarray(a[..., ix])


def _bound_of(state, lo, hi):
    """The bound each node sits at (0 where free), by arithmetic: masked selects are slow."""
    return (state < 0) * np.nan_to_num(lo, posinf=0.0, neginf=0.0) + (state > 0) * np.nan_to_num(hi, posinf=0.0, neginf=0.0)


def _box_state(y, lo, hi):
    """−1 at or below the lower bound (priority), +1 at or above the upper, 0 between."""
    below = y <= lo
    return (~below & (y >= hi)).astype(np.int8) - below


def reduced_newton(K, q, lo, hi, max_iter=100, x0=None):
    """Exact equilibrium of a bipartite box problem by eliminating the large colour.

    K: `BipartiteKernel`; q (batch, n); lo, hi (n,) bounds.  Returns (x, iterations, pending
    sample indices that did not settle, (S-Schur complements, free L masks) of the last step)."""
    S, L = K.S_ix, K.L_ix
    nS = len(K.small)
    batch = len(q)
    if nS == 0:  # no couplings at all: every node alone with its diode
        x = np.clip(-q / K.d, lo, hi)
        return x, 1, np.arange(0), (np.zeros((batch, 0, 0)), np.clip(-q / K.d, lo, hi) == -q / K.d, np.zeros((batch, 0), bool)), None
    qS, qL = cols(q, S), cols(q, L)
    loS, hiS, loL, hiL = lo[S], hi[S], lo[L], hi[L]
    # ideal diodes on L (bounds 0 and +inf): a node is free where its Jacobi value is positive and
    # sits at 0 otherwise, so the states and bounds below need no general box arithmetic
    diodes_L, linear_S = K.bound_kinds(lo, hi)
    if x0 is None:
        # one block sweep from 0: L alone with its elements, then S given L.  Newton from here
        # changes a few states in a few samples (from 0: about two in three samples changed)
        if diodes_L:
            xL = diode_nodes(qL, K.inv_d_L, K.d_L, np.empty_like(qL))
        else:
            xL = np.minimum(np.maximum(qL / -K.d_L, loL), hiL)
        xS = xL @ K.H_SL.T
        xS += qS
        xS /= -K.d_S
        np.minimum(np.maximum(xS, loS, out=xS), hiS, out=xS)
    else:
        xS = np.clip(cols(x0, S), loS, hiS)
    if diodes_L and linear_S:
        return _diodes_then_linear(K, q, qS, qL, xS, max_iter)
    stateL = np.full((batch, len(K.large)), 2, dtype=np.int8)
    stateS = np.full((batch, nS), 2, dtype=np.int8)
    eye = np.eye(nS)
    pending = np.arange(batch)
    M_last = np.zeros((batch, nS, nS))
    for it in range(1, max_iter + 1):
        xs = xS[pending]
        every = len(pending) == batch  # no row gathers while every sample is still moving
        qLp, qSp = (qL, qS) if every else (qL[pending], qS[pending])
        yL = xs @ K.H_LS.T
        yL += qLp  # −(Jacobi value)·d_L
        if diodes_L:
            freeL = yL < 0
            newL = np.negative(~freeL, dtype=np.int8)
        else:
            yL /= -K.d_L
            newL = _box_state(yL, loL, hiL)
            freeL = newL == 0
        # Schur complement on S with L's states fixed: x_L = f(−q_L − H_LS x_S)/d_L + (1−f)·bound
        w = freeL / K.d_L
        M = K.schur(w)
        if diodes_L:
            c = qSp - (qLp * w) @ K.H_SL.T  # bound 0 where L is held
        else:
            c = qSp + (_bound_of(newL, loL, hiL) - qLp * w) @ K.H_SL.T  # w = 0 off the free set, bound 0 on it
        yS = xs - (np.einsum("bij,bj->bi", M, xs) + c) / np.einsum("bii->bi", M)
        newS = _box_state(yS, loS, hiS)
        changed = np.any(newL != stateL[pending], axis=1) | np.any(newS != stateS[pending], axis=1)
        M_last[pending] = M
        if not changed.any():
            pending = pending[:0]
            break
        keep = changed
        pending, M, c, newS, newL = pending[keep], M[keep], c[keep], newS[keep], newL[keep]
        stateL[pending], stateS[pending] = newL, newS
        freeS = newS == 0
        A = np.where(freeS[:, :, None], M, eye[None])
        rhs = np.where(freeS, -c, _bound_of(newS, loS, hiS))
        xS[pending] = solve_small(A, rhs)
    x = np.empty_like(q)
    x[:, S] = xS
    yL = xS @ K.H_LS.T
    yL += qL
    yL /= -K.d_L
    x[:, L] = np.maximum(yL, 0.0) if diodes_L else np.minimum(np.maximum(yL, loL), hiL)
    return x, it, pending, (M_last, stateL == 0, stateS == 0), None


def _diodes_then_linear(K, q, qS, qL, xS, max_iter):
    """`reduced_newton` when L holds ideal diodes and S is linear (a one-hidden-layer network's
    hidden neurons and outputs): a hidden node is free where its Jacobi value is positive, so the
    Newton step needs no box arithmetic on S, and a step whose hidden states did not change for
    any sample ends the solve before its Schur complements are formed again.  The state check's
    products give x_L and H x + q at the end (no product of their own)."""
    batch, nS = xS.shape
    free = M_last = None  # the first step (every sample) sets them
    yL_all = None  # H_LS x_S + q_L of every sample at its current x_S
    pending = np.arange(batch)
    it, settled = 0, False
    for it in range(1, max_iter + 1):
        every = len(pending) == batch  # no row gathers while every sample is still moving
        qLp, qSp = (qL, qS) if every else (qL[pending], qS[pending])
        yL = (xS if every else xS[pending]) @ K.H_LS.T
        before = None if it == 1 else (free if every else free[pending])
        # y_L += q_L (−(Jacobi value)·d_L), free where negative, w = f/d_L, q_L·w, changed rows
        freeL, w, qw, changed = diode_states(yL, qLp, K.inv_d_L, before)
        if every:
            yL_all = yL
        else:
            yL_all[pending] = yL
        if it > 1:
            if not changed.any():
                settled = True
                break
            if not changed.all():
                pending, freeL, w, qw, qSp = pending[changed], freeL[changed], w[changed], qw[changed], qSp[changed]
        # Schur complement with the hidden states fixed: M = D_S − H_SL diag(f/d_L) H_LS
        M = K.schur(w)
        c = qw @ K.H_SL.T
        c -= qSp  # −(q_S − H_SL diag(f/d_L) q_L)
        if len(pending) == batch:  # every sample stepped: kept, not copied (each step makes new arrays)
            free, M_last = freeL, M
            xS = solve_small(M, c)
        else:
            free[pending], M_last[pending] = freeL, M
            xS[pending] = solve_small(M, c)
    if not settled:  # after max_iter steps the samples still moving have moved since their check
        yL_all = xS @ K.H_LS.T
        yL_all += qL
    x = np.empty_like(q)
    x[:, K.S_ix] = xS
    hxq = np.empty_like(q)  # H x + q through the blocks, from the check's y_L = H_LS x_S + q_L
    if isinstance(K.L_ix, slice):  # the hidden block written in place
        xL = diode_nodes(yL_all, K.inv_d_L, K.d_L, x, hxq, column=K.L_ix.start)
    else:
        xL, hL = np.empty_like(yL_all), np.empty_like(yL_all)
        diode_nodes(yL_all, K.inv_d_L, K.d_L, xL, hL)
        x[:, K.L_ix], hxq[:, K.L_ix] = xL, hL
    hS = xL @ K.H_SL.T
    hS += qS
    hS += xS * K.d_S
    hxq[:, K.S_ix] = hS
    still = np.arange(0) if settled else pending  # after max_iter steps: the samples still moving
    return x, it, still, (M_last, free, np.ones((batch, nS), dtype=bool)), hxq


def red_black_sor(K, q, lo, hi, tol=1e-9, max_sweeps=10000, x0=None, residual=None, exact=False):
    """Projected red–black SOR on a bipartite box problem (float32 start, float64 finish).

    residual(x, hx) → per-sample relative natural residual (the certificate's measure) of x with
    H x = hx; it decides when to stop: at tol, or (exact) when the float64 update no longer
    shrinks.  Returns (x, sweeps, pending samples above tol, H x)."""
    S, L = K.S_ix, K.L_ix
    loS, hiS, loL, hiL = cols(lo, S), cols(hi, S), cols(lo, L), cols(hi, L)
    qS, qL = cols(q, S), cols(q, L)
    xS = np.zeros(qS.shape) if x0 is None else np.clip(cols(x0, S), loS, hiS)
    scale = step_scale(q, K.d, np.asarray(lo, dtype=float), np.asarray(hi, dtype=float))
    sweeps = 0
    # phase 1: float32 sweeps, ω from the plain Gauss–Seidel contraction of the first sweeps
    H_SL32, H_LS32, d_S32, d_L32 = K.float32()
    s32 = (xS.astype(np.float32), qS.astype(np.float32), qL.astype(np.float32), np.minimum(1 / scale, 1e30).astype(np.float32))  # a zero-drive sample: finite
    xS32, qS32, qL32, inv32 = s32
    lo32S, hi32S, lo32L, hi32L = (b.astype(np.float32) for b in (loS, hiS, loL, hiL))
    xL32 = np.clip((-qL32 - xS32 @ H_LS32.T) / d_L32, lo32L, hi32L)
    omega, prev, history = 1.0, None, []
    dS32, dL32 = np.empty_like(xS32), np.empty_like(xL32)
    for _ in range(max_sweeps):
        sweeps += 1
        stepS = _relax(xS32, xL32 @ H_SL32.T, qS32, d_S32, lo32S, hi32S, np.float32(omega), inv32, dS32)
        stepL = _relax(xL32, xS32 @ H_LS32.T, qL32, d_L32, lo32L, hi32L, np.float32(omega), inv32, dL32)
        step = max(stepS, stepL)
        if prev is not None and prev > 0:
            history.append(step / prev)
            if omega == 1.0 and len(history) >= 3:
                rho = min(float(np.median(history[-3:])), 0.995)
                omega = 2.0 / (1.0 + np.sqrt(1.0 - rho))
            elif omega > 1.0 and step > prev:
                omega = 1.0 + 0.5 * (omega - 1.0)  # overshooting (states still moving): back off
        prev = step
        if step <= 3e-6:
            break
    xS, xL = xS32.astype(float), xL32.astype(float)
    # phase 2: float64 state; each colour's inflow product (x_other H_oᵀ) kept and updated by
    # float32 increments, re-anchored by a float64 product when the step has fallen 1000-fold
    # (as in `splitting.dense_peaceman_rachford`).  After a sweep both products belong to the
    # current point, so the certificate's residual is checked with no product of its own.
    inv = 1 / scale
    dS, dL = np.empty_like(xS), np.empty_like(xL)
    pS, pL = xL @ K.H_SL.T, None
    anchor, anchor_step = True, np.inf
    best, since, check_at = np.inf, 0, (EXACT_RESIDUAL if exact else tol)
    goal = EXACT_RESIDUAL if exact else tol
    x = np.empty_like(q)
    while sweeps < max_sweeps:
        sweeps += 1
        stepS = _relax(xS, pS, qS, K.d_S, loS, hiS, omega, inv, dS)
        pL = xS @ K.H_LS.T if anchor else np.add(pL, dS.astype(np.float32) @ H_LS32.T, out=pL)
        stepL = _relax(xL, pL, qL, K.d_L, loL, hiL, omega, inv, dL)
        pS = xL @ K.H_SL.T if anchor else np.add(pS, dL.astype(np.float32) @ H_SL32.T, out=pS)
        step = max(stepS, stepL)
        if anchor:
            anchor_step = step
        if exact:  # to rounding: a residual at the floor of double precision, or no more progress
            if step < 0.9 * best:
                best, since = step, 0
            else:
                since += 1
            if (step <= 4e-16 or (since >= 8 and step <= 1e-12)) and anchor:
                break
        if step <= check_at:  # the certificate's residual, when the step says it may be met
            x[:, S], x[:, L] = xS, xL
            r = float(np.max(residual(x, _hx(K, x, pS, pL))))
            if r <= goal and anchor:
                break
            if r > goal:
                check_at = 0.8 * step * goal / r
            anchor = True  # end on float64 products (or their drift is what stalls the check)
            continue
        anchor = step <= 1e-3 * anchor_step or (exact and since >= 4)
    x[:, S], x[:, L] = xS, xL
    if pL is None or not anchor:  # products carried by increments: the point's own, for the certificate
        pS, pL = xL @ K.H_SL.T, xS @ K.H_LS.T
    hx = _hx(K, x, pS, pL)
    pending = np.flatnonzero(residual(x, hx) > (tol if not exact else 1e-9))
    return x, sweeps, pending, hx


def _relax(x, inflow, q, d, lo, hi, omega, inv_scale, delta):
    """One colour's half-sweep in place: x ← Π(x + ω(j − x)) with the Jacobi value
    j = (−q − inflow)/d; delta ← the change; returns the largest change relative to each sample's
    scale.  Worked through in blocks of rows, so its temporaries stay in cache."""
    rows = max(1, (1 << 15) // max(x.shape[1], 1))
    step = 0.0
    for r in range(0, len(x), rows):
        b = slice(r, r + rows)
        j = inflow[b] + q[b]
        j /= -d
        j -= x[b]
        j *= omega
        j += x[b]
        np.maximum(j, lo, out=j)
        np.minimum(j, hi, out=j)
        np.subtract(j, x[b], out=delta[b])
        x[b] = j
        j = np.abs(delta[b], out=j)
        j *= inv_scale[b]
        step = max(step, float(j.max()))
    return step


def _hx(K, x, pS, pL):
    """H x from the two inflow products (x_L H_SLᵀ, x_S H_LSᵀ) of the point x."""
    hx = x * K.d
    hx[:, K.S_ix] += pS
    hx[:, K.L_ix] += pL
    return hx
