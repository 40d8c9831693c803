"""Every algorithm `solve_exact` can pick: the pick itself, agreement with brute force and with an
independent solver, the certificate, warm starts, the adjoint and the gradient."""

import numpy as np
import pytest
import scipy.sparse as sp

from diodenet.host.bipartite import two_coloring
from diodenet.host.elements import Clip, IdealDiode, PerNode, ShockleyDiode
from diodenet.host.gradients import hardware_linearization_gradient, implicit_gradient
from diodenet.host.losses import network_loss
from diodenet.host.mondeq import MonDEQ
from diodenet.host.network import ResistorDiodeNetwork
from diodenet.host.solvers import METHODS, PreparedKernel, solve_adjoint, solve_exact
from lcp_brute_force import brute_force_lcp


def layered_kernel(rng, sizes, batch):
    """Kernel and drive of a chain of layers (neighbouring layers fully coupled, the first layer
    fed by inputs), and its colouring."""
    n = sum(sizes)
    off = np.cumsum([0] + list(sizes))
    H = np.zeros((n, n))
    for k in range(len(sizes) - 1):
        a, b = slice(off[k], off[k + 1]), slice(off[k + 1], off[k + 2])
        G = rng.uniform(0, 1, (sizes[k], sizes[k + 1]))
        H[a, b], H[b, a] = -G, -G.T
    g_in = rng.uniform(0.5, 1.5, n)
    g_in[off[1]:] *= 0.01  # deeper layers mostly fed through the layers
    H[np.arange(n), np.arange(n)] = -H.sum(1) + g_in
    q = -rng.normal(size=(batch, n)) * g_in
    return H, q


def test_two_colouring_of_layers_and_an_odd_cycle(rng):
    H, _ = layered_kernel(rng, (4, 6, 3), 1)
    red, black = two_coloring(H)
    assert sorted(np.concatenate([red, black]).tolist()) == list(range(13))
    assert np.all(H[np.ix_(red, red)] == np.diag(np.diag(H)[red]))
    assert np.all(H[np.ix_(black, black)] == np.diag(np.diag(H)[black]))
    triangle = np.array([[2.0, -1, -1], [-1, 2, -1], [-1, -1, 2]])
    assert two_coloring(triangle) is None
    assert two_coloring(sp.csr_matrix(H)) is not None


def test_the_pick_follows_the_structure(rng):
    small_layers, _ = layered_kernel(rng, (30, 5), 1)
    deep, _ = layered_kernel(rng, (150, 150, 10), 1)
    dense = MonDEQ.random(200, 4, m=0.5, rng=1).kernel()
    assert PreparedKernel(small_layers).method_for(IdealDiode()) == "bipartite-newton"
    assert PreparedKernel(deep).method_for(IdealDiode()) == "red-black-sor"
    assert PreparedKernel(dense).method_for(IdealDiode()) == "peaceman-rachford"
    assert PreparedKernel(dense[:20, :20]).method_for(IdealDiode()) == "active-set"
    assert PreparedKernel(sp.csr_matrix(deep)).method_for(IdealDiode()) == "active-set"
    assert PreparedKernel(small_layers).method_for(ShockleyDiode()) == "newton"
    side = 18  # a grid is bipartite too, but its sparse couplings make SOR crawl: the active set
    grid = np.zeros((side * side, side * side))
    for i in range(side * side):
        for j in (i + 1, i + side):
            if j < side * side and (j != i + 1 or (i + 1) % side):
                grid[i, j] = grid[j, i] = -1.0
    grid[np.arange(side * side), np.arange(side * side)] = 4.5
    assert two_coloring(grid) is not None
    assert PreparedKernel(grid).method_for(IdealDiode()) == "active-set"
    net = ResistorDiodeNetwork.layered(5, 12, 3, rng=0)
    assert net.solve(np.zeros(5)).method == "bipartite-newton"


@pytest.mark.parametrize("method", ["bipartite-newton", "red-black-sor", "peaceman-rachford", "active-set"])
def test_every_box_path_matches_brute_force(rng, method):
    for trial in range(8):
        sizes = tuple(int(s) for s in rng.integers(1, 4, size=int(rng.integers(2, 4))))
        H, q = layered_kernel(rng, sizes, 3)
        for k in range(3):
            eq = solve_exact(H, q[k], method=method)
            (ref,) = brute_force_lcp(H, q[k])
            assert np.abs(eq.x[0] - ref).max() <= 1e-10 * max(1, np.abs(ref).max()), (method, sizes)
            assert eq.max_residual <= 1e-12 and eq.method == method
            assert np.array_equal(eq.state[0] == -1, ref <= 0)


@pytest.mark.parametrize("sizes", [(40, 6), (120, 130, 7)])
def test_layered_paths_agree_with_active_set_on_mixed_elements(rng, sizes):
    H, q = layered_kernel(rng, sizes, 32)
    n = H.shape[0]
    linear = np.zeros(n, dtype=bool)
    linear[-sizes[-1]:] = True  # linear outputs, like the kit's readout nodes
    for element in (PerNode(IdealDiode(), ~linear), PerNode(Clip(-0.3, 0.4), ~linear)):
        ref = solve_exact(H, q, element, method="active-set")
        for method in ("bipartite-newton", "red-black-sor"):
            eq = solve_exact(H, q, element, method=method)
            assert np.abs(eq.x - ref.x).max() <= 1e-11 * np.abs(ref.x).max(), method
            assert np.array_equal(eq.state, ref.state)
            loose = solve_exact(H, q, element, method=method, tol=1e-6)
            assert loose.max_residual <= 1e-6


def test_dense_splitting_exact_and_tolerance_modes(rng):
    md = MonDEQ.random(180, 6, m=0.3, rng=3)
    X = rng.normal(size=(16, 6))
    ref = solve_exact(md.kernel(), md.drive(X), method="active-set")
    exact = md.solve(X)
    assert exact.method == "peaceman-rachford"
    assert exact.max_residual <= 1e-13
    assert np.abs(exact.x - ref.x).max() <= 1e-12 * np.abs(ref.x).max()
    assert np.array_equal(exact.state, ref.state)
    loose = md.solve(X, tol=1e-7)
    assert 1e-13 < loose.max_residual <= 1e-7
    assert loose.iterations < exact.iterations
    # a warm start from the splitting state of the same drive needs (almost) nothing more
    again = solve_exact(md.prepared_kernel(), md.drive(X), start=loose, tol=1e-7)
    assert again.iterations <= 4


def test_monotonicity_and_inverse_computed_once_per_weight_change(rng, monkeypatch):
    import diodenet.host.solvers as solvers
    calls = []
    real = solvers.monotonicity_bounds
    monkeypatch.setattr(solvers, "monotonicity_bounds", lambda H: calls.append(1) or real(H))
    md = MonDEQ.random(30, 3, m=0.4, rng=2)
    for _ in range(3):
        md.solve(rng.normal(size=(4, 3)))
    assert len(calls) == 1
    md.W = md.W * 0.9  # new weights: checked again
    md.solve(rng.normal(size=(4, 3)))
    assert len(calls) == 2


@pytest.mark.parametrize("method", ["bipartite-newton", "red-black-sor", "peaceman-rachford", "active-set"])
def test_adjoint_solves_the_linearized_system(rng, method):
    H, q = layered_kernel(rng, (60, 70, 5), 6)
    N = np.triu(rng.normal(size=H.shape) * (H != 0), 1)
    H = H + 0.05 * (N - N.T)  # a skew part on the same pattern: still monotone, and Hᵀ ≠ H
    eq = solve_exact(H, q, method=method)
    g = rng.normal(size=q.shape)
    for transpose in (True, False):
        mu = solve_adjoint(H, g, eq, transpose=transpose)
        A = H.T if transpose else H
        for k in range(len(q)):
            free = eq.state[k] == 0
            ref = np.zeros(len(free))
            ref[free] = np.linalg.solve(A[np.ix_(free, free)], g[k, free])
            assert np.abs(mu[k] - ref).max() <= 1e-8 * np.abs(ref).max(), (method, transpose)


def two_hidden_layers(d, a, b, k, rng):
    """inputs (±x, bias) → a hidden → b hidden → k linear outputs, leaks to ground."""
    from diodenet.host.encoding import InputEncoding
    enc = InputEncoding(d, differential=True)
    n, p = a + b + k, enc.n_sources
    blocks = [np.stack(np.meshgrid(np.arange(a), n + np.arange(p), indexing="ij"), -1).reshape(-1, 2),
              np.stack(np.meshgrid(np.arange(a), a + np.arange(b), indexing="ij"), -1).reshape(-1, 2),
              np.stack(np.meshgrid(a + np.arange(b), a + b + np.arange(k), indexing="ij"), -1).reshape(-1, 2),
              np.stack([np.arange(n), -np.ones(n, dtype=int)], -1)]
    edges = np.concatenate(blocks)
    g = rng.uniform(1e-5, 1e-4, len(edges))
    diodes = np.arange(n) < a + b
    return ResistorDiodeNetwork(n, enc, edges, g, 1e-6, 1e-3, np.arange(a + b, n), IdealDiode(), 30.0, diodes)


def test_gradients_on_a_deep_layered_network_match_finite_differences(rng):
    net = two_hidden_layers(12, 130, 130, 4, rng)
    assert net.prepared_kernel().method_for(net.node_element) == "red-black-sor"
    x = rng.uniform(-1, 1, (24, 12))
    y = rng.integers(0, 4, 24)
    eq = net.solve(x)
    loss, dl_dv, _ = network_loss(net, eq.x, y, "cross_entropy")
    grads = {"implicit": implicit_gradient(net, dl_dv, x, equilibrium=eq).conductance,
             "linearization": hardware_linearization_gradient(net, dl_dv, x, measurement=eq).conductance}
    assert np.abs(grads["implicit"] - grads["linearization"]).max() <= 1e-9 * np.abs(grads["implicit"]).max()
    per_sample_sum = implicit_gradient(net, dl_dv, x, equilibrium=eq).per_sample.sum(axis=0)
    assert np.abs(per_sample_sum - grads["implicit"]).max() <= 1e-9 * np.abs(grads["implicit"]).max()
    h = 1e-9
    for e in rng.choice(net.n_edges, 6, replace=False):
        g = net.conductance.copy()
        g[e] += h
        up = net.with_conductance(g)
        g[e] -= 2 * h
        down = net.with_conductance(g)
        fd = (network_loss(up, up.solve(x).x, y, "cross_entropy")[0]
              - network_loss(down, down.solve(x).x, y, "cross_entropy")[0]) / (2 * h)
        assert abs(fd - grads["implicit"][e]) <= 1e-5 * max(1.0, abs(fd)), e


def test_unknown_method_is_refused(rng):
    H, q = layered_kernel(rng, (3, 2), 1)
    with pytest.raises(ValueError, match="unknown method 'magic'; use one of"):
        solve_exact(H, q, method="magic")
    assert set(METHODS) >= {"bipartite-newton", "red-black-sor", "peaceman-rachford", "active-set", "newton"}


def resistive_layers(rng, sizes, batch):
    """Scellier's deep resistive network (benchmarks/solver_peers.py): conductances U(0, 1)/fan-in
    between neighbouring layers, inputs on ±x line pairs (so the drives nearly cancel)."""
    d, n = sizes[0], sum(sizes[1:])
    fan = [2 * d] + list(sizes[1:-1])
    off = np.cumsum([0] + list(sizes[1:]))
    H, B = np.zeros((n, n)), np.zeros((n, 2 * d))
    B[off[0]:off[1]] = -rng.uniform(0, 1, (sizes[1], 2 * d)) / fan[0]
    for k in range(1, len(sizes) - 1):
        a, b = slice(off[k - 1], off[k]), slice(off[k], off[k + 1])
        G = rng.uniform(0, 1, (sizes[k], sizes[k + 1])) / fan[k]
        H[a, b], H[b, a] = -G, -G.T
    H[np.arange(n), np.arange(n)] = -H.sum(1) - B.sum(1)
    x = rng.uniform(-1, 1, (batch, d))
    return H, np.concatenate([x, -x], axis=1) @ B.T


def test_degenerate_shifted_nodes_and_undriven_samples_settle(rng):
    """A shifted diode far above a weak drive: most nodes sit at their bound with next to no
    current (degenerate), and one sample has no drive at all.  The active set used to flip such
    nodes on rounding noise until max_iter, and the iterative paths measured an undriven sample's
    step against a scale of 0; every path now settles, and they agree with one another and with
    textbook Peaceman-Rachford."""
    from diodenet.host.elements import ShiftedDiode
    from diodenet.host.solvers import peaceman_rachford
    sizes = (20, 100, 100, 10)
    H, q = resistive_layers(rng, sizes, 8)
    q[1] = 0.0
    linear = np.zeros(H.shape[0], dtype=bool)
    linear[-sizes[-1]:] = True
    element = PerNode(ShiftedDiode(0.3), ~linear)
    textbook = peaceman_rachford(H, q, element, tol=1e-12, max_iter=200000, check=False)
    for method in ("active-set", "red-black-sor"):
        eq = solve_exact(H, q, element, method=method)
        assert eq.iterations < 300, method
        assert np.abs(eq.x - textbook.x).max() <= 1e-9, method
