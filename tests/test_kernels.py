"""Shared solver helpers: cache-sized blocks and index-or-slice."""

import numpy as np

from diodenet.host.kernels import as_index, in_blocks


def test_blocks_cover_the_range_once_in_order():
    seen = []
    in_blocks(lambda part: seen.append((part.start, part.stop)), 10, block=4)
    assert seen == [(0, 4), (4, 8), (8, 10)]
    seen.clear()
    in_blocks(lambda part: seen.append(part), 0, block=4)
    assert seen == []


def test_blocked_passes_match_one_pass_bit_for_bit(rng):
    a, b = rng.normal(size=1001), rng.uniform(0.5, 2.0, size=1001)
    out = np.empty_like(a)

    def work(part):
        t = np.divide(a[part], b[part])
        np.sqrt(np.abs(t), out=t)
        np.multiply(t, b[part], out=out[part])

    in_blocks(work, a.size, block=64)
    assert np.array_equal(out, np.sqrt(np.abs(a / b)) * b)


def test_contiguous_indices_become_a_slice():
    assert as_index(np.arange(3, 9)) == slice(3, 9)
    idx = np.array([0, 2, 3])
    assert as_index(idx) is idx
    assert len(as_index(np.arange(0))) == 0


def test_uniform_limits_become_scalars_and_others_stay_arrays():
    from diodenet.host.kernels import part_of, uniform

    assert uniform(np.full(5, 2.5)) == 2.5 and np.ndim(uniform(np.full(5, 2.5))) == 0
    varied = np.array([1.0, 2.0, 1.0])
    assert uniform(varied) is not None and np.array_equal(uniform(varied), varied)
    assert np.ndim(uniform(np.array([1.0, 2.0, 3.0, 1.0]))) == 1  # equal ends, different middle
    assert np.ndim(uniform(np.array([np.nan, np.nan]))) == 1  # NaN equals nothing: kept as is
    assert uniform(np.zeros(0)).size == 0
    assert part_of(3.0, slice(0, 2)) == 3.0
    assert np.array_equal(part_of(varied, slice(1, 3)), [2.0, 1.0])


def test_clip_is_the_elementwise_clip_with_scalar_or_array_bounds(rng):
    from diodenet.host.kernels import clip

    x = rng.normal(size=1000)
    x[3] = np.nan
    lo, hi = rng.uniform(-1, 0, 1000), rng.uniform(0, 1, 1000)
    for a, b in ((-0.5, 0.5), (lo, hi), (-0.5, hi), (lo, 0.5)):
        expect = np.array([v if np.isnan(v) else min(max(v, p), r)
                           for v, p, r in zip(x, np.broadcast_to(a, 1000), np.broadcast_to(b, 1000))])
        assert np.array_equal(clip(x, a, b), expect, equal_nan=True)
        out = x.copy()
        assert clip(out, a, b, out=out) is out and np.array_equal(out, expect, equal_nan=True)
