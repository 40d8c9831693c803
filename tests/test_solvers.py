import numpy as np
import pytest
import scipy.sparse as sp

from diodenet.host.elements import Clip, IdealDiode, ShiftedDiode, ShockleyDiode
from diodenet.host.solvers import (ConvergenceError, forward_backward, monotonicity_bounds,
                                   natural_residual, peaceman_rachford, solve_exact)
from lcp_brute_force import brute_force_lcp


def random_m_matrix(rng, n, density=0.6, leak=0.05):
    """Kernel of a random resistor network: weighted Laplacian + leak/input diagonal."""
    G = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < density)
    G = np.triu(G, 1)
    G = G + G.T
    return np.diag(G.sum(1) + rng.uniform(leak, 1.0, n)) - G


def random_monotone(rng, n, m=0.2):
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    S = rng.normal(size=(n, n)) / np.sqrt(n)
    return m * np.eye(n) + A.T @ A + S - S.T


@pytest.mark.parametrize("kind", ["resistor", "monotone"])
def test_exact_matches_brute_force(rng, kind):
    for trial in range(15):
        n = int(rng.integers(2, 8))
        H = random_m_matrix(rng, n) if kind == "resistor" else random_monotone(rng, n)
        q = rng.normal(size=n)
        eq = solve_exact(H, q)
        (ref,) = brute_force_lcp(H, q)
        assert np.abs(eq.x[0] - ref).max() <= 1e-10 * max(1, np.abs(ref).max())
        assert eq.max_residual < 1e-12
        assert np.array_equal(eq.state[0] == -1, ref <= 0)


def test_batched_dense_and_sparse_agree_and_certify(rng):
    n, batch = 40, 25
    H = random_m_matrix(rng, n, density=0.15)
    q = rng.normal(size=(batch, n))
    dense = solve_exact(H, q)
    sparse = solve_exact(sp.csr_matrix(H), q)
    assert np.abs(dense.x - sparse.x).max() < 1e-12
    w = dense.x @ H.T + q
    assert dense.x.min() >= 0 and w.min() > -1e-12
    assert np.abs(dense.x * w).max() < 1e-12
    assert dense.primal.max() == 0 and dense.dual.max() < 1e-12 and dense.complementarity.max() < 1e-12
    # states: clamped nodes are exactly at 0 and carry the diode current
    assert np.all(dense.x[dense.state == -1] == 0)


@pytest.mark.parametrize("solver", [forward_backward, peaceman_rachford])
def test_splitting_methods_reach_the_exact_solution(rng, solver):
    n = 30
    for H in (random_m_matrix(rng, n), random_monotone(rng, n)):
        q = rng.normal(size=(6, n))
        exact = solve_exact(H, q).x
        approx = solver(H, q, tol=1e-11)
        assert approx.max_residual <= 1e-11
        assert np.abs(approx.x - exact).max() < 1e-8 * np.abs(exact).max()


def test_box_elements_match_splitting(rng):
    n = 20
    H = random_m_matrix(rng, n)
    q = rng.normal(size=(5, n))
    for element in (Clip(-0.2, 0.3), ShiftedDiode(-0.1)):
        exact = solve_exact(H, q, element)
        assert np.all(exact.x >= element.lower - 1e-15) and np.all(exact.x <= element.upper + 1e-15)
        ref = peaceman_rachford(H, q, element, tol=1e-12)
        assert np.abs(exact.x - ref.x).max() < 1e-9
    clip = solve_exact(H, q, Clip(-0.2, 0.3))
    assert np.any(clip.state == 1) and np.any(clip.state == -1)


def test_smooth_element_newton_matches_splitting(rng):
    n = 15
    H = random_m_matrix(rng, n) * 1e-3  # siemens
    q = rng.normal(size=(4, n)) * 1e-3
    diode = ShockleyDiode(saturation_current=1e-12, emission=1.5)
    newton = solve_exact(H, q, diode)
    assert newton.max_residual < 1e-12
    pr = peaceman_rachford(H, q, diode, tol=1e-12, max_iter=200000)
    assert np.abs(newton.x - pr.x).max() < 1e-8
    # a conducting real diode holds its node about one forward voltage below ground
    assert -1.0 < newton.x.min() < -0.3


def test_natural_residual_is_zero_only_at_the_solution(rng):
    H = random_m_matrix(rng, 10)
    q = rng.normal(size=10)
    x = solve_exact(H, q).x
    assert natural_residual(H, q, x)[0] < 1e-14
    assert natural_residual(H, q, x + 1e-3)[0] > 1e-5


def test_errors_are_clear(rng):
    H = random_m_matrix(rng, 5)
    H[2, :] = 0
    H[:, 2] = 0
    with pytest.raises(ValueError, match="node\\(s\\) \\[2\\]"):
        solve_exact(H, rng.normal(size=5))
    with pytest.raises(ValueError, match="shape"):
        solve_exact(random_m_matrix(rng, 5), rng.normal(size=4))
    with pytest.raises(ValueError, match="NaN"):
        solve_exact(random_m_matrix(rng, 3), np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="not strongly monotone"):
        monotonicity_bounds(np.array([[1.0, 0.0], [0.0, -1.0]]))
    with pytest.raises(ConvergenceError, match="residual"):
        forward_backward(random_m_matrix(rng, 10), rng.normal(size=10), max_iter=10, every=10)
