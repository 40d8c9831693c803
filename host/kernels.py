"""Small shared helpers of the solvers: batches, diagonals, products, bounds."""

import contextlib

import numpy as np
import scipy.sparse as sp

from .compiled import row_largest_abs

__all__ = ["as_batch", "diagonal", "matmul", "bounds", "one_blas_thread", "in_blocks", "as_index", "step_scale",
           "uniform", "part_of", "clip"]

_CONTROLLER = None
BLOCK = 1 << 16  # elements per block (512 kB per float64 array; measured on the optimizer step)


def in_blocks(work, size, block=BLOCK):
    """Run work(slice) over consecutive cache-sized slices of range(size).

    A chain of elementwise passes over a large vector (an optimizer step over 1.6 M conductances)
    then streams each array through memory once instead of once per pass, with temporaries no
    larger than a block; the results are bit-identical to one call over the whole range.  (Worker
    threads gained nothing measurable here: after a product, BLAS's own threads keep the cores.)"""
    for start in range(0, size, block):
        work(slice(start, min(start + block, size)))


def uniform(a):
    """a's single value as a float when every entry holds it, else a itself.  A scalar operand
    streams nothing from memory: per-conductance limits that are all equal (a layered network's
    g_min, g_max) then cost no pass over 1.6 M entries; results are bit-identical."""
    a = np.asarray(a)
    if a.ndim and a.size and a.flat[0] == a.flat[-1] and np.all(a == a.flat[0]):
        return float(a.flat[0])
    return a


def part_of(a, part):
    """a[part], or a itself when `uniform` made it a scalar."""
    return a if np.ndim(a) == 0 else a[part]


def clip(x, lo, hi, out=None):
    """min(max(x, lo), hi) elementwise (NaN stays NaN): `np.clip`'s fast path when both bounds are
    scalars (~8× faster than maximum/minimum over 1.6 M entries), maximum/minimum with array
    bounds (there `np.clip` costs twice as much)."""
    if np.ndim(lo) == 0 and np.ndim(hi) == 0:
        return np.clip(x, lo, hi, out=out)
    out = np.maximum(x, lo, out=out)
    return np.minimum(out, hi, out=out)


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
    if not (d.size == 0 or (d.min() > 0 and np.isfinite(d.max()))):  # a NaN fails the first test
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
    """(lo, hi) of a box element as (n,) float arrays (views of the element's own when it has
    per-node bounds: no copy)."""
    return _per_node(element.lower, n), _per_node(element.upper, n)


def _per_node(bound, n):
    if isinstance(bound, np.ndarray) and bound.shape == (n,) and bound.dtype == np.float64:
        return bound
    if np.ndim(bound) == 0:
        return np.full(n, float(bound))  # ~5× faster than broadcasting a scalar
    return np.broadcast_to(np.asarray(bound, dtype=float), (n,))


def as_index(idx):
    """A slice when the indices are one contiguous range (views, no gathers), else the array."""
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        return slice(int(idx[0]), int(idx[0]) + len(idx))
    return idx


def step_scale(q, d, lo, hi):
    """(batch, 1): the size an iterative solver's step is measured against — each sample's
    largest |q/d| (its open-circuit voltage scale), and at least the box's largest finite bound,
    so a sample with no drive on a shifted box still has a scale (not 0)."""
    finite = np.abs(np.concatenate([lo[np.isfinite(lo)], hi[np.isfinite(hi)], [0.0]]))
    return np.maximum(row_largest_abs(q, 1.0 / d)[:, None], max(float(finite.max()), 1e-300))
