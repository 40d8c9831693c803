"""The compiled kernels against plain numpy transcriptions of what they compute.

(`box_certificate` is checked figure by figure against a per-node loop in test_certificate.py.)"""

import numpy as np
import pytest

from diodenet.host.compiled import (box_certificate, diode_nodes, diode_states, largest_abs, linear_after_product,
                                    reflect, reflect_after_product, resolvent_residual, row_largest_abs, solve_small)


def monotone_systems(rng, batch, k):
    """Matrices with a positive definite symmetric part (the Schur complements solve_small gets)."""
    G = rng.normal(size=(batch, k, k))
    skew = rng.normal(size=(batch, k, k))
    return G @ G.transpose(0, 2, 1) + 0.1 * np.eye(k) + (skew - skew.transpose(0, 2, 1))


@pytest.mark.parametrize("batch, k", [(1, 1), (45, 10), (70, 3), (33, 17)])
def test_solve_small_matches_lapack(rng, batch, k):
    A = monotone_systems(rng, batch, k)
    b = rng.normal(size=(batch, k))
    x = solve_small(A, b)
    np.testing.assert_allclose(x, np.linalg.solve(A, b[:, :, None])[:, :, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", A, x), b, rtol=1e-9, atol=1e-10)


def test_solve_small_hands_systems_that_need_pivoting_to_lapack(rng):
    A = monotone_systems(rng, 40, 4)
    A[7] = np.array([[0.0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 2, 1], [0, 0, 1, 3]])  # zero first pivot
    A[39] = -np.eye(4)  # negative pivots
    b = rng.normal(size=(40, 4))
    x = solve_small(A, b)
    np.testing.assert_allclose(np.einsum("bij,bj->bi", A, x), b, rtol=1e-12, atol=1e-12)


def test_solve_small_refuses_a_singular_system(rng):
    A = monotone_systems(rng, 5, 3)
    A[2] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        solve_small(A, rng.normal(size=(5, 3)))


def test_diode_nodes_clamp_and_residual_current(rng):
    y = rng.normal(size=(9, 13))
    d = rng.uniform(0.5, 2.0, 13)
    wide_x, wide_c = np.full((9, 20), 7.0), np.full((9, 20), 7.0)
    x = diode_nodes(y, 1 / d, d, wide_x, wide_c, column=4)  # into a column block
    np.testing.assert_allclose(x, np.maximum(-y / d, 0.0), rtol=1e-15)
    np.testing.assert_allclose(wide_c[:, 4:17], np.maximum(y, 0.0), atol=1e-15)  # 0 where blocking
    assert np.all(wide_x[:, :4] == 7.0) and np.all(wide_x[:, 17:] == 7.0)  # nothing outside the block
    assert np.all(x >= 0) and np.any(x > 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_largest_abs(rng, dtype):
    a = rng.normal(size=(11, 37)).astype(dtype)
    assert largest_abs(a) == float(np.max(np.abs(a)))
    scale = rng.uniform(0.1, 3.0, 11)
    assert largest_abs(a, scale[:, None]) == pytest.approx(float(np.max(np.abs(a) * scale[:, None])), rel=1e-7)
    a[3, 5] = np.nan
    assert np.isnan(largest_abs(a))


def test_row_largest_abs(rng):
    q = rng.normal(size=(6, 21))
    d = rng.uniform(0.5, 2.0, 21)
    np.testing.assert_array_equal(row_largest_abs(q, 1 / d), np.max(np.abs(q * (1 / d)), axis=1))
    np.testing.assert_array_equal(row_largest_abs(q), np.max(np.abs(q), axis=1))


@pytest.mark.parametrize("normalized", [True, False])
def test_resolvent_residual(rng, normalized):
    z, w, q = (rng.normal(size=(8, 15)) for _ in range(3))
    d = rng.uniform(0.5, 2.0, 15)
    lo = np.where(rng.random(15) < 0.7, 0.0, -np.inf)
    hi = np.full(15, np.inf)
    alpha = 0.37
    y = (z + w) / 2
    r = np.abs(y - np.clip(y - (w - y) / (alpha * d), lo, hi))
    per_row = np.max(r, axis=1)
    if not normalized:
        per_row /= np.maximum(np.max(np.abs(y), axis=1), np.max(np.abs(q / d), axis=1))
    assert resolvent_residual(z, w, q, d, lo, hi, alpha, normalized) == pytest.approx(per_row.max(), rel=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_certificate_of_a_non_finite_point_is_nan(rng, bad):
    x = np.abs(rng.normal(size=(4, 6)))
    hxq = rng.normal(size=(4, 6))
    q = rng.normal(size=(4, 6))
    d, lo, hi = np.ones(6), np.zeros(6), np.full(6, np.inf)
    x[2, 3] = bad
    residual, _, primal, dual, complementarity = box_certificate(x, hxq, q, d, lo, hi)
    for figure in (residual, primal, dual, complementarity):
        assert np.isnan(figure[2]) and np.all(np.isfinite(np.delete(figure, 2)))


def test_rows_of_no_nodes_have_nothing_to_measure():
    empty = np.zeros((3, 0))
    residual, state, primal, dual, complementarity = box_certificate(empty, empty, empty, *(np.zeros(0),) * 3)
    assert state.shape == (3, 0)
    for figure in (residual, primal, dual, complementarity):
        np.testing.assert_array_equal(figure, np.zeros(3))
    assert largest_abs(empty) == 0.0 and largest_abs(np.zeros((0, 4))) == 0.0
    np.testing.assert_array_equal(row_largest_abs(empty), np.zeros(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reflect_after_product(rng, dtype):
    z0, c, prev0 = (rng.normal(size=(7, 12)).astype(dtype) for _ in range(3))
    lo = np.where(rng.random(12) < 0.5, 0.0, -0.3).astype(dtype)
    hi = np.where(rng.random(12) < 0.5, np.inf, 0.4).astype(dtype)
    scale = rng.uniform(0.5, 2.0, (7, 1))
    z, w, prev = z0.copy(), np.empty_like(z0), prev0.copy()
    step = reflect_after_product(z, c, lo, hi, w, prev, scale)
    expect = z0 - c
    np.testing.assert_array_equal(z, expect)
    np.testing.assert_array_equal(w, 2 * np.clip(expect, lo, hi) - expect)
    np.testing.assert_array_equal(prev, expect)  # stored for the next look
    assert step == pytest.approx(float(np.max(np.abs(expect - prev0) * scale)), rel=1e-6)
    np.testing.assert_array_equal(reflect(z0, lo, hi, np.empty_like(z0)), 2 * np.clip(z0, lo, hi) - z0)
    z = z0.copy()
    assert reflect_after_product(z, c, np.zeros(12, dtype), np.full(12, np.inf, dtype), w) == 0.0
    np.testing.assert_array_equal(w, np.abs(z0 - c))  # ideal diodes: the reflection is |z|


def test_linear_after_product(rng):
    delta0, rho, prev = (rng.normal(size=(5, 9)).astype(np.float32) for _ in range(3))
    signs = np.where(rng.random((5, 9)) < 0.5, -1.0, 1.0).astype(np.float32)
    delta, t = delta0.copy(), np.empty_like(delta0)
    step = linear_after_product(delta, rho, signs, t, prev)
    np.testing.assert_array_equal(delta, delta0 + rho)
    np.testing.assert_array_equal(t, (delta0 + rho) * signs)
    assert step == float(np.max(np.abs(delta0 + rho - prev)))


def test_diode_states(rng):
    y0, q = rng.normal(size=(6, 11)), rng.normal(size=(6, 11))
    inv_d = rng.uniform(0.5, 2.0, 11)
    y = y0.copy()
    free, w, qw, changed = diode_states(y, q, inv_d)
    np.testing.assert_array_equal(y, y0 + q)
    np.testing.assert_array_equal(free, y0 + q < 0)
    np.testing.assert_array_equal(w, np.where(free, inv_d, 0.0))
    np.testing.assert_array_equal(qw, q * np.where(free, inv_d, 0.0))
    assert changed is None
    before = free.copy()
    before[2, 7] = ~before[2, 7]
    _, _, _, changed = diode_states(y0.copy(), q, inv_d, before)
    np.testing.assert_array_equal(changed, np.arange(6) == 2)
