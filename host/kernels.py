"""Small shared helpers of the solvers: batches, diagonals, products, bounds."""

import contextlib

import numpy as np
import scipy.sparse as sp

__all__ = ["as_batch", "diagonal", "matmul", "bounds", "one_blas_thread"]

_CONTROLLER = None


def one_blas_thread(size=None):
    """A context running BLAS on one thread: products with a dimension of ~10 (a layered network's
    outputs) are too small to share, and a second BLAS thread waiting for a core another process
    holds turns a 0.1 ms product into tens of milliseconds.  size: the products' larger operand
    (elements); below ~10⁵ BLAS does not thread anyway and the switch (~0.5 ms) is skipped."""
    global _CONTROLLER
    if size is not None and size < 100_000:
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def as_batch(q):
    q = np.asarray(q, dtype=float)
    single = q.ndim == 1
    return np.atleast_2d(q), single


def diagonal(H):
    """H's diagonal; refuses a node with no conductance to anything."""
    d = np.asarray(H.diagonal(), dtype=float)
    if np.any(~np.isfinite(d)) or np.any(d <= 0):
        bad = np.flatnonzero(~(d > 0))
        raise ValueError(
            f"kernel matrix has a non-positive diagonal at node(s) {bad[:10].tolist()}: such a node has "
            "no conductance to anything; connect it (a leak to ground or an input)"
        )
    return d


def matmul(H, X):
    """Rows of X times Hᵀ: (batch, n) → (batch, n)."""
    return np.asarray((H @ X.T).T) if sp.issparse(H) else X @ H.T


def bounds(element, n):
    lo = np.broadcast_to(np.asarray(element.lower, dtype=float), (n,))
    hi = np.broadcast_to(np.asarray(element.upper, dtype=float), (n,))
    return lo, hi
