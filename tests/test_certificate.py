"""The certificate against a direct, per-node transcription of its definitions
(docs/science.md §1.3: natural residual, bound violation, wrong-sign current, complementarity)."""

import numpy as np
import pytest

from diodenet.host.certificate import certify
from diodenet.host.elements import Clip, IdealDiode, PerNode, ShiftedDiode


def reference_certificate(H, q, x, lo, hi):
    """Loop over samples and nodes; no vectorised tricks."""
    d = np.diag(H)
    out = {k: [] for k in ("residual", "state", "primal", "dual", "complementarity")}
    for xs, qs in zip(x, q):
        w = (H @ xs + qs) / d
        r = xs - np.clip(xs - w, lo, hi)
        scale = max(np.abs(xs).max(), np.abs(qs / d).max()) or 1.0
        state, primal, dual, comp = [], 0.0, 0.0, 0.0
        for i in range(len(xs)):
            at_lo = np.isfinite(lo[i]) and abs(xs[i] - lo[i]) <= 1e-12 * (1 + abs(lo[i]))
            at_hi = not at_lo and np.isfinite(hi[i]) and abs(xs[i] - hi[i]) <= 1e-12 * (1 + abs(hi[i]))
            state.append(-1 if at_lo else (1 if at_hi else 0))
            primal = max(primal, lo[i] - xs[i], xs[i] - hi[i], 0.0)
            wrong = max(-w[i], 0.0) if at_lo else (max(w[i], 0.0) if at_hi else abs(w[i]))
            dual = max(dual, wrong)
            if np.isfinite(lo[i]) or np.isfinite(hi[i]):
                comp = max(comp, abs(w[i]) * min(abs(xs[i] - lo[i]), abs(hi[i] - xs[i])))
        out["residual"].append(np.abs(r).max() / scale)
        out["state"].append(state)
        out["primal"].append(primal)
        out["dual"].append(dual)
        out["complementarity"].append(comp)
    return {k: np.array(v) for k, v in out.items()}


def perturbed_points(rng, lo, hi, batch, n):
    """Points on the bounds, inside, and a few outside them (a certificate must see violations)."""
    x = rng.normal(size=(batch, n))
    on_lo = rng.random((batch, n)) < 0.4
    x = np.where(on_lo & np.isfinite(lo), lo, x)
    on_hi = rng.random((batch, n)) < 0.2
    x = np.where(on_hi & np.isfinite(hi) & ~on_lo, hi, x)
    x[0, 0] = lo[0] - 0.5 if np.isfinite(lo[0]) else x[0, 0]
    return x


@pytest.mark.parametrize("element", [
    IdealDiode(),
    ShiftedDiode(0.3),
    Clip(-0.5, 0.7),
    "per-node-diodes",
], ids=["ideal", "shifted", "clamp", "per-node"])
def test_certificate_matches_its_definition(rng, element):
    n, batch = 23, 17
    if element == "per-node-diodes":
        mask = rng.random(n) < 0.7
        mask[0] = True
        element = PerNode(IdealDiode(), mask)
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    H = A @ A.T + np.eye(n) + (A - A.T) / 3
    q = rng.normal(size=(batch, n))
    lo = np.broadcast_to(np.asarray(element.lower, dtype=float), (n,))
    hi = np.broadcast_to(np.asarray(element.upper, dtype=float), (n,))
    x = perturbed_points(rng, lo, hi, batch, n)
    eq = certify(H, q, x, element)
    ref = reference_certificate(H, q, x, lo, hi)
    np.testing.assert_allclose(eq.residual, ref["residual"], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(eq.state, ref["state"])
    np.testing.assert_allclose(eq.primal, ref["primal"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(eq.dual, ref["dual"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(eq.complementarity, ref["complementarity"], rtol=1e-12, atol=1e-15)
    assert eq.primal[0] > 0.4 and eq.dual.min() > 0  # the violation and the random currents are seen


def test_certificate_of_an_exact_solution_is_clean(rng):
    """Linear nodes between diodes: the certificate's zeros at a solution come from the solver."""
    from diodenet.host.solvers import solve_exact
    n = 30
    A = rng.normal(size=(n, n)) / np.sqrt(n)
    H = A @ A.T + np.eye(n)
    mask = np.arange(n) < 20
    eq = solve_exact(H, rng.normal(size=(5, n)), PerNode(IdealDiode(), mask))
    assert eq.max_residual < 1e-14 and eq.primal.max() == 0
    assert eq.dual.max() < 1e-13 and eq.complementarity.max() < 1e-13
    assert np.all(eq.state[:, ~mask] == 0)
