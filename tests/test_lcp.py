"""The LCP solvers (host.lcp) against enumeration of every complementary support."""

import itertools

import numpy as np
import pytest

from diodenet.host.lcp import LCPInfeasible, lemke, principal_pivoting, solve_lcp



def _lcp_enumerate(M, q):
    """All w = Mz + q over complementary supports with a nonsingular principal block."""
    n = q.size
    out = []
    for mask in itertools.product((False, True), repeat=n):
        S = np.flatnonzero(mask)
        z = np.zeros(n)
        if S.size:
            sub = M[np.ix_(S, S)]
            if np.linalg.matrix_rank(sub) < S.size:
                continue
            z[S] = np.linalg.solve(sub, -q[S])
        w = M @ z + q
        if z.min() >= -1e-9 * max(1.0, np.abs(z).max()) and w.min() >= -1e-9:
            out.append(w)
    return out


def test_lcp_solvers_on_random_psd_problems():
    rng = np.random.default_rng(11)
    by_method = {}
    infeasible = 0
    for _ in range(300):
        n = int(rng.integers(1, 7))
        r = int(rng.integers(1, n + 1))
        A = rng.normal(size=(n, r))
        M = A @ A.T + (np.diag(rng.uniform(0.0, 1.0, n)) if rng.random() < 0.3 else 0.0)
        q = rng.normal(size=n)
        ws = _lcp_enumerate(M, q)
        try:
            res = solve_lcp(M, q)
        except LCPInfeasible:
            infeasible += 1
            assert ws == []
            continue
        assert ws, "solver found a solution that enumeration did not"
        # w is unique for PSD M.
        assert np.max(np.abs(res.w - ws[0])) <= 1e-7 * max(1.0, np.abs(ws[0]).max())
        assert res.z.min() >= 0.0 and res.w.min() >= -1e-9
        assert np.max(np.abs(res.z * res.w)) <= 1e-8 * max(1.0, np.abs(res.z).max())
        by_method[res.method] = by_method.get(res.method, 0) + 1
    assert infeasible > 0
    assert by_method.get("principal-pivoting", 0) > 0 and by_method.get("lemke", 0) > 0


def test_lemke_alone_and_principal_pivoting_agree_on_pd_problems():
    rng = np.random.default_rng(4)
    for _ in range(100):
        n = int(rng.integers(1, 9))
        A = rng.normal(size=(n, n))
        M = A @ A.T + 0.5 * np.eye(n)
        q = rng.normal(size=n)
        a = lemke(M, q)
        b = principal_pivoting(M, q)
        assert b is not None
        assert np.allclose(a.z, b.z, atol=1e-9, rtol=1e-9)
        assert b.residual <= 1e-12 * max(1.0, np.abs(b.z).max())


def test_lemke_reports_infeasibility():
    M = np.array([[1.0, -1.0], [-1.0, 1.0]])
    q = np.array([1.0, -2.0])  # w1 + w2 = q1 + q2 = −1 < 0 for every z: no solution
    with pytest.raises(LCPInfeasible):
        lemke(M, q)
    with pytest.raises(LCPInfeasible):
        solve_lcp(M, q)
