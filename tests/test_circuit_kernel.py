"""The kernel map (host.circuit_kernel) against the operating-point solver: the LCP of the kernel
equation, solved independently, gives the same diode voltages and source currents."""

import numpy as np

from diodenet.host.circuit import Circuit, DiodeModelCard
from diodenet.host.circuit_kernel import circuit_kernel
from diodenet.host.lcp import solve_lcp
from diodenet.host.operating_point import solve_ideal

CARD = DiodeModelCard("DM", {"IS": 1e-14})


def random_circuit(rng, n=6):
    c = Circuit("random")
    nodes = [f"n{k}" for k in range(n)]
    for k, nd in enumerate(nodes):
        c.R(f"g{k}", nd, "0", 10 ** rng.uniform(2, 4))
    for k in range(2 * n):
        a, b = rng.choice(n, 2, replace=False)
        c.R(f"x{k}", nodes[a], nodes[b], 10 ** rng.uniform(2, 4))
    c.V("1", "s", "0", rng.uniform(-2, 2))
    c.R("s", "s", nodes[0], 1e3)
    c.I("1", "0", nodes[1], rng.uniform(-1e-3, 1e-3))
    for k in range(n):
        anode, cathode = ("0", nodes[k]) if k % 2 else (nodes[k], nodes[(k + 1) % n])
        c.D(f"{k}", anode, cathode, CARD)
    return c


def test_kernel_lcp_matches_the_operating_point():
    rng = np.random.default_rng(1)
    for _ in range(20):
        c = random_circuit(rng)
        ker = circuit_kernel(c, series=False)
        assert np.abs(ker.H - ker.H.T).max() <= 1e-9 * np.abs(ker.H).max()   # reciprocal
        assert ker.sources == ["V1", "I1"] and ker.ports == [d.name for d in c.diodes]
        # ideal diodes: x ≥ 0 (reverse voltage), i = H x + B u ≥ 0, x·i = 0
        res = solve_lcp(ker.H, ker.B @ ker.u)
        op = solve_ideal(c)
        v = dict(op.node_voltages, **{"0": 0.0})
        reverse = np.array([v[d.cathode] - v[d.anode] for d in c.diodes])
        scale = max(np.abs(reverse).max(), 1e-3)
        assert np.abs(res.z - reverse).max() <= 1e-9 * scale
        # the kernel equation itself: H x + B u are the diode currents the solver found
        i = np.array([op.diode_currents[d.name] for d in c.diodes])
        iscale = max(np.abs(i).max(), 1e-9)
        assert np.abs(ker.H @ reverse + ker.B @ ker.u - i).max() <= 1e-9 * iscale
        y = -ker.C @ res.z - ker.D @ ker.u
        assert abs(y[0] - op.source_currents["V1"]) <= 1e-9 * max(abs(y[0]), 1e-6)
