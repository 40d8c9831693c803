"""The MNA (host.mna) of controlled sources and series resistances, against the circuit's
equations written out by hand."""

import numpy as np
import pytest

from diodenet.host.circuit import Circuit, CircuitError
from diodenet.host.mna import build_mna
from diodenet.host.operating_point import solve_ideal


def test_controlled_sources_obey_their_equations():
    rng = np.random.default_rng(0)
    for _ in range(20):
        v1, r1, r2, gain, gm, beta = rng.uniform(0.5, 2.0, 6) * [1, 1e3, 1e3, 1, 1e-4, 0.3]
        c = Circuit("controlled")
        c.V("1", "a", "0", v1)
        c.R("1", "a", "b", r1)
        c.E("1", "out", "0", "b", "0", gain)       # v(out) = gain·v(b)
        c.R("2", "out", "0", r2)
        c.G("1", "b", "0", "out", "0", gm)         # gm·v(out) leaves b
        c.F("1", "b", "0", "V1", beta)             # beta·I(V1) leaves b
        op = solve_ideal(c)
        vb, vout = op.node_voltages["b"], op.node_voltages["out"]
        # by hand: I(V1) flows from a through V1 to ground, i.e. −(v1 − vb)/r1
        i_v1 = -(v1 - vb) / r1
        A = np.array([[1 / r1 + beta / r1, gm], [-gain, 1.0]])
        rhs = np.array([v1 / r1 + beta * v1 / r1, 0.0])
        assert np.allclose([vb, vout], np.linalg.solve(A, rhs), rtol=1e-12, atol=0)
        assert op.source_currents["V1"] == pytest.approx(i_v1, rel=1e-12)


def test_series_resistance_gets_an_internal_junction_node():
    c = Circuit("rs")
    c.V("1", "a", "0", 1.0)
    c.R("1", "a", "k", 1e3)
    c.D("1", "k", "0", type("Card", (), {"model_name": "D", "parameters": lambda self: {}})())
    mna = build_mna(c, series=[50.0])
    assert (mna.n_external, mna.n_nodes) == (2, 3)
    assert mna.junction.tolist() == [2] and mna.anode.tolist() == [1]
    assert mna.K[2, 2] == pytest.approx(1 / 50.0) and mna.K[1, 2] == pytest.approx(-1 / 50.0)


def test_structure_errors_name_what_is_wrong():
    c = Circuit("loop")
    c.V("1", "a", "0", 1.0)
    c.E("1", "a", "0", "a", "0", 2.0)
    with pytest.raises(CircuitError, match="voltage sources E1, V1 form a loop"):
        build_mna(c)
    c = Circuit("sense")
    c.R("1", "a", "0", 1.0)
    c.F("1", "a", "0", "Vnone", 2.0)
    with pytest.raises(CircuitError, match="controlling voltage source Vnone is not in the circuit"):
        build_mna(c)
