import numpy as np
import pytest

from diodenet.host.encoding import InputEncoding
from diodenet.host.network import GROUND, IllPosedNetworkError, ResistorDiodeNetwork


def small_net(rng, **kw):
    return ResistorDiodeNetwork.layered(5, 4, 3, hidden_coupling=True, rng=rng, **kw)


def test_kernel_matrices_follow_kirchhoff(rng):
    net = small_net(rng, output_diodes=True)
    H, B, C, D = net.kernel()
    n, p = net.n_neurons, net.n_sources
    assert H.shape == (n, n) and B.shape == (n, p) and C.shape == (p, n) and D.shape == (p, p)
    assert np.allclose(H, H.T)
    assert np.all(H - np.diag(np.diag(H)) <= 0)  # M-matrix sign pattern
    assert np.all(B <= 0) and np.allclose(C, B.T) and np.all(np.linalg.eigvalsh(D) >= -1e-18)
    x = rng.uniform(size=(7, 5))
    u = net.source_voltages(x)
    eq = net.solve(x)
    v = eq.x
    # KCL edge by edge: the current leaving each neuron through its conductances is the diode current.
    V = net.drops(v, u)
    current = V * net.conductance
    leaving = np.zeros_like(v)
    for e, (a, b) in enumerate(net.edges):
        if 0 <= a < n:
            leaving[:, a] += current[:, e]
        if 0 <= b < n:
            leaving[:, b] -= current[:, e]
    assert np.allclose(leaving, v @ H.T + u @ B.T, atol=1e-15)
    assert leaving.min() > -1e-15  # diode current ≥ 0
    assert np.abs(leaving * v).max() < 1e-15  # complementary
    # port equation: y = −C v − D u is the current flowing into each source from the network
    into_source = np.zeros_like(u)
    for e, (a, b) in enumerate(net.edges):
        if b >= n:
            into_source[:, b - n] += current[:, e]
    assert np.allclose(-(v @ C.T) - u @ D.T, into_source, atol=1e-15)


def test_linear_output_nodes_are_unclamped(rng):
    net = small_net(rng)
    assert not net.diodes[net.outputs].any()
    x = rng.uniform(size=(50, 5))
    v = net.solve(x).x
    assert v[:, net.outputs].min() < 0  # no diode: free to go below ground
    assert v[:, ~net.diodes].shape[1] == 3 and v[:, net.diodes].min() >= 0


def test_input_encoding():
    enc = InputEncoding(3, differential=True, scale=0.5, bias=2.0)
    u = enc.encode(np.array([1.0, -2.0, 0.0]))
    assert u.tolist() == [0.5, -1.0, 0.0, -0.5, 1.0, -0.0, 2.0, -2.0]
    assert enc.n_sources == 8 and len(enc.source_names) == 8
    single = InputEncoding(2, differential=False)
    assert single.encode(np.array([[1.0, 2.0]])).tolist() == [[1.0, 2.0, 1.0]]
    with pytest.raises(ValueError, match="shape"):
        enc.encode(np.zeros(4))
    with pytest.raises(ValueError, match="scale"):
        InputEncoding(2, scale=-1)


def test_bad_networks_get_clear_errors(rng):
    enc = InputEncoding(1)
    edges = [(0, 2), (1, GROUND)]
    ok = ResistorDiodeNetwork(2, enc, edges, [1e-3, 1e-3], 0, 1e-2, [1])
    assert ok.solve(np.array([0.5])).max_residual == 0
    with pytest.raises(IllPosedNetworkError, match=r"neuron\(s\) \[0, 1\]"):
        ResistorDiodeNetwork(2, enc, [(0, 1)], [1e-3], 0, 1e-2, [1])
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        ResistorDiodeNetwork(2, enc, edges, [-1e-3, 1e-3], -1, 1e-2, [1])
    with pytest.raises(ValueError, match="finite and ≥ 0"):
        ResistorDiodeNetwork(2, enc, edges, [np.nan, 1e-3], 0, 1e-2, [1])
    with pytest.raises(ValueError, match="outside its realizable range"):
        ResistorDiodeNetwork(2, enc, edges, [1.0, 1e-3], 0, 1e-2, [1])
    with pytest.raises(ValueError, match="touch no neuron"):
        ResistorDiodeNetwork(2, enc, edges + [(2, 3)], [1e-3] * 3, 0, 1e-2, [1])
    with pytest.raises(ValueError, match="shape"):
        ok.solve(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="exactly one"):
        ok.solve()


def test_projection_and_with_conductance(rng):
    net = small_net(rng)
    g = net.conductance * 1e6
    projected = net.project(g)
    assert np.all(projected <= net.g_max) and np.all(projected >= net.g_min)
    assert np.array_equal(projected, np.minimum(np.maximum(g, net.g_min), net.g_max))
    other = net.with_conductance(projected)
    assert other is not net and np.array_equal(other.conductance, projected)


@pytest.mark.parametrize("ranges", ["one range", "per edge"])
def test_projection_clips_each_edge_to_its_own_range(rng, ranges):
    """One range for every edge takes clip's scalar path, per-edge ranges the array path: both
    are the elementwise clip, and a conductance outside its range is refused until projected."""
    net = small_net(rng)
    m = net.n_edges
    if ranges == "per edge":
        meta, arrays = net.to_arrays()
        arrays = dict(arrays, g_min=rng.uniform(1e-7, 1e-6, m), g_max=rng.uniform(1e-3, 2e-3, m))
        net = ResistorDiodeNetwork.from_arrays(meta, arrays)
    g = rng.uniform(-1e-3, 4e-3, m)
    g[0] = np.nan
    projected = net.project(g)
    expect = [np.nan if np.isnan(v) else min(max(v, lo), hi) for v, lo, hi in zip(g, net.g_min, net.g_max)]
    assert np.array_equal(projected, expect, equal_nan=True)
    with pytest.raises(ValueError, match="outside its realizable range"):
        net.with_conductance(np.where(np.isnan(g), 1e-4, np.abs(g)))
    fixed = np.nan_to_num(projected, nan=1e-4)
    assert np.array_equal(net.with_conductance(fixed).conductance, fixed)


@pytest.mark.parametrize("layout", [dict(), dict(input_to_outputs=False), dict(hidden_coupling=True),
                                    dict(leak=False, differential=False), "shuffled"])
def test_fast_assembly_matches_the_incidence_matrices(rng, layout):
    """Dense stamping (regular source block or scatter), the drive through the encoding and the
    batch gradient from products agree with the sparse incidence algebra and per-edge sums."""
    from diodenet.host.gradients import implicit_gradient
    from diodenet.host.losses import network_loss
    net = ResistorDiodeNetwork.layered(5, 7, 3, rng=1, **(layout if isinstance(layout, dict) else {}))
    if layout == "shuffled":  # the same network with its edges in random order: no regular block
        order = rng.permutation(net.n_edges)
        net = ResistorDiodeNetwork(net.n_neurons, net.encoding, net.edges[order], net.conductance[order],
                                   net.g_min[order], net.g_max[order], net.outputs, net.element,
                                   net.readout_gain, net.diodes)
        assert net.source_block() is None
    elif layout.get("input_to_outputs", True):
        assert net.source_block() is not None
    dense = net.kernel()
    sparse = net.kernel(sparse=True)
    for a, b in zip(dense, sparse):
        assert np.abs(a - b.toarray()).max() <= 1e-15 * np.abs(b).max()
    x = rng.uniform(-1, 1, (9, 5))
    assert np.abs(net.drive(x) - net.source_voltages(x) @ dense[1].T).max() <= 1e-15
    y = rng.integers(0, 3, 9)
    eq = net.solve(x)
    _, dl_dv, _ = network_loss(net, eq.x, y, "cross_entropy")
    grad = implicit_gradient(net, dl_dv, x, equilibrium=eq)
    by_edge = grad.per_sample.sum(axis=0)
    assert np.abs(grad.conductance - by_edge).max() <= 1e-12 * np.abs(by_edge).max()


def test_parallel_neuron_couplings_are_summed(rng):
    """Two resistors between the same pair of neurons (either orientation) stamp their sum: the
    dense kernel's scatter path, against the sparse incidence algebra."""
    net = ResistorDiodeNetwork.layered(4, 5, 2, rng=3)
    n = net.n_neurons
    inner = np.flatnonzero((net.edges >= 0).all(axis=1) & (net.edges < n).all(axis=1))
    extra = net.edges[inner[:2]][:, ::-1]  # the same neuron pairs, reversed
    parallel = ResistorDiodeNetwork(n, net.encoding, np.vstack([net.edges, extra]),
                                    np.concatenate([net.conductance, net.conductance[inner[:2]]]),
                                    np.concatenate([net.g_min, net.g_min[inner[:2]]]),
                                    np.concatenate([net.g_max, net.g_max[inner[:2]]]),
                                    net.outputs, net.element, net.readout_gain, net.diodes)
    assert not parallel._stamp_plan()["nn_unique"] and net._stamp_plan()["nn_unique"]
    H, H_sparse = parallel.kernel()[0], parallel.kernel(sparse=True)[0].toarray()
    assert np.abs(H - H_sparse).max() <= 1e-15 * np.abs(H_sparse).max()
    a, b = extra[0]
    assert H[a, b] == pytest.approx(2 * net.kernel()[0][a, b], rel=1e-15)
