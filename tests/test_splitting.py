"""The dense splitting path: block-recursive resolvent inverse and reflected Peaceman–Rachford."""

import numpy as np
import pytest

from diodenet.host.active_set import active_set
from diodenet.host.elements import Clip, IdealDiode
from diodenet.host.mondeq import MonDEQ
from diodenet.host.splitting import (ReflectedResolvent, block_inverse, dense_peaceman_rachford,
                                     resolvent_inverse)


@pytest.mark.parametrize("n", [5, 64, 65, 200])
def test_block_inverse_matches_lapack(rng, n):
    H = MonDEQ.random(n, 3, m=0.2, rng=int(n)).kernel()
    A = np.eye(n) + 0.7 * H
    K = block_inverse(A, leaf=16)
    assert np.abs(K @ A - np.eye(n)).max() <= 1e-12
    assert np.abs(K - np.linalg.inv(A)).max() <= 1e-12 * np.abs(K).max()


def test_resolvent_inverse_falls_back_to_pivoting():
    """A matrix whose leading block is singular: the unpivoted halving breaks, the probe sees it."""
    n = 130
    perm = np.roll(np.eye(n), 1, axis=1)  # a cyclic shift: every leading block is singular
    H = (perm - np.eye(n)) / 0.5  # I + 0.5 H = perm
    K = resolvent_inverse(H, 0.5)
    assert np.abs(K @ perm - np.eye(n)).max() <= 1e-12


def test_reflected_resolvent_is_two_k_minus_identity(rng):
    H = MonDEQ.random(40, 3, m=0.3, rng=1).kernel()
    R = ReflectedResolvent(H)
    K = np.linalg.inv(np.eye(40) + R.alpha * H)
    assert np.abs(R.Mt.T - (2 * K - np.eye(40))).max() <= 1e-12
    assert R.Mt32.dtype == np.float32 and np.abs(R.Mt32 - R.Mt).max() <= 1e-6


@pytest.mark.parametrize("element", [IdealDiode(), Clip(-0.2, 0.3)], ids=["cone", "box"])
def test_both_modes_reach_the_active_set_solution(rng, element):
    """Ideal diodes take the scaled (cone) path, a clip the general box path; each matches the
    exact active-set solution: to the tolerance, and to rounding in exact mode."""
    md = MonDEQ.random(150, 4, m=0.2, rng=7)
    H = md.kernel()
    q = md.drive(rng.normal(size=(12, 4)))
    ref, _, pending = active_set(H, q, element, 200)
    assert pending.size == 0
    for exact, close in ((False, 1e-7), (True, 1e-12)):
        x, iterations, z, _ = dense_peaceman_rachford(H, q, element.lower, element.upper, tol=1e-9, exact=exact)
        assert np.abs(x - ref).max() <= close * max(np.abs(ref).max(), np.abs(q).max()), (exact, iterations)
    # a warm start from the splitting state needs no float32 phase and few iterations
    _, again, _, _ = dense_peaceman_rachford(H, q, element.lower, element.upper, tol=1e-9, exact=True, z0=z)
    assert again < iterations / 4


def test_a_sample_with_no_drive_converges_on_a_shifted_box(rng):
    """A zero drive with bounds away from 0: the step is measured against the bounds, not against
    a drive of zero (which asked for an exactly zero step and ran to max_iter)."""
    from diodenet.host.elements import ShiftedDiode
    from diodenet.host.solvers import solve_exact
    md = MonDEQ.random(100, 3, m=0.3, rng=1)
    q = md.drive(rng.normal(size=(3, 3)))
    q[1] = 0.0
    for element in (ShiftedDiode(0.3), Clip(0.1, 0.5)):
        ref = solve_exact(md.kernel(), q, element, method="active-set")
        for tol in (1e-9, None):
            eq = solve_exact(md.kernel(), q, element, tol=tol)
            assert eq.method == "peaceman-rachford" and eq.iterations < 1000
            assert np.abs(eq.x - ref.x).max() <= 1e-8 * np.abs(ref.x).max()


def test_linear_correction_solves_the_fixed_state_system(rng):
    """Phase 2's correction: δ = M S δ + ρ (states fixed), against a direct solve in float64."""
    from diodenet.host.splitting import _correction
    n, batch = 40, 3
    H = MonDEQ.random(n, 4, m=0.2, rng=3).kernel()
    R = ReflectedResolvent(H)
    signs = np.where(rng.random((batch, n)) < 0.5, -1.0, 1.0).astype(np.float32)
    rho = (1e-3 * rng.normal(size=(batch, n))).astype(np.float32)
    work = tuple(np.empty((batch, n), np.float32) for _ in range(3))
    delta, iterations = _correction(rho, signs, R.Mt32, 1e-9, 1000, work, None)
    M = R.Mt.T
    for b in range(batch):
        exact = np.linalg.solve(np.eye(n) - M * signs[b].astype(float)[None, :], rho[b].astype(float))
        assert np.abs(delta[b] - exact).max() <= 1e-5 * np.abs(exact).max()
    assert 2 <= iterations < 1000


def test_state_change_test_sees_one_node_cross(rng):
    from diodenet.host.splitting import _states_changed
    z = rng.normal(size=(4, 9))
    z[np.abs(z) < 0.1] = 0.5
    work = (np.empty(z.shape, np.float32), np.empty(z.shape, np.float32), np.empty_like(z))
    lo, hi = np.zeros(9), np.full(9, np.inf)
    assert not _states_changed(z, z * 1.01, lo, hi, True, work)
    crossed = z.copy()
    crossed[2, 5] = -crossed[2, 5]
    assert _states_changed(z, crossed, lo, hi, True, work)
    box_lo, box_hi = np.full(9, -0.5), np.full(9, 0.5)
    inside = np.clip(z, -0.4, 0.4)
    assert not _states_changed(inside, inside * 0.9, box_lo, box_hi, False, work)
    out = inside.copy()
    out[1, 3] = 0.7
    assert _states_changed(inside, out, box_lo, box_hi, False, work)
