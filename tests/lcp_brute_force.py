"""Independent reference for small LCPs: enumerate every active set (2ⁿ) and keep the consistent one."""

import itertools

import numpy as np


def brute_force_lcp(H, q, lo=0.0):
    """All x with x ≥ lo, w = Hx + q ≥ 0, (x − lo)·w = 0 (one for a P-matrix)."""
    n = len(q)
    lo = np.broadcast_to(lo, (n,))
    found = []
    for free_bits in itertools.product([False, True], repeat=n):
        free = np.array(free_bits)
        x = lo.copy().astype(float)
        if free.any():
            rhs = -q[free] - H[np.ix_(free, ~free)] @ lo[~free]
            x[free] = np.linalg.solve(H[np.ix_(free, free)], rhs)
        w = H @ x + q
        tol = 1e-10 * (1 + np.abs(q).max())
        if np.all(x[free] >= lo[free] - tol) and np.all(w[~free] >= -tol):
            found.append(x)
    return found
