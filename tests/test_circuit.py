"""The circuit model (host.circuit): builders, names, nodes, cards and resistor values."""

import pytest

from diodenet.host.circuit import (CCCS, VCVS, Circuit, CircuitError, DiodeModelCard,
                                   VoltageSource)


class PartCard:
    """A part's card as analog.devices writes one: model_name and parameters()."""
    model_name = "DPART"

    def parameters(self):
        return {"IS": 2e-9, "N": 1.7}


def test_builders_name_elements_and_register_nodes_in_order():
    c = Circuit("t")
    c.V("s", "In", "0", 1.0)
    c.R("1", "In", "mid", 1e3)
    c.D("1", "0", "mid", PartCard())
    c.I("p", "gnd", "mid", 2e-6)
    assert [e.name for e in c.elements] == ["Vs", "R1", "D1", "Ip"]
    assert c.nodes == ["In", "mid"]                      # ground (0, gnd) is not a node
    assert [len(c.resistors), len(c.diodes), len(c.vsources), len(c.isources)] == [1, 1, 1, 1]
    assert c.model_for(c.diodes[0]) == DiodeModelCard("DPART", {"IS": 2e-9, "N": 1.7})
    assert c.element("vs") is c.vsources[0] and c.reciprocal
    c.set_value("R1", 2e3)
    c.set_value("VS", -0.5)
    assert c.resistors[0].value == 2e3 and c.vsources[0].value == -0.5
    with pytest.raises(ValueError, match="cannot set the value of D1"):
        c.set_value("D1", 1.0)
    with pytest.raises(KeyError, match="no element 'R9'"):
        c.element("R9")


def test_bad_builds_are_clear_errors():
    c = Circuit("t")
    c.R("1", "a", "0", 1e3)
    with pytest.raises(CircuitError, match="duplicate element name R1"):
        c.R("1", "b", "0", 1e3)
    with pytest.raises(ValueError, match="resistance must be finite and > 0"):
        c.R("2", "a", "0", 0.0)
    c.D("1", "a", "0", DiodeModelCard("DM", {"IS": 1e-14}))
    with pytest.raises(CircuitError, match="(?i)two different diode cards are named dm"):
        c.D("2", "a", "0", DiodeModelCard("dm", {"IS": 2e-14}))
    with pytest.raises(ValueError, match="needs ≥ 2 windings"):
        c.transformer("T", [("a", "0")], [1.0])


def test_transformer_and_gyrator_expand_to_controlled_sources():
    c = Circuit("t")
    c.transformer("T", [("p", "0"), ("s", "q")], [2.0, -1.0])
    c.gyrator("Y", ("p", "0"), ("g", "0"), 1e-3)
    kinds = [(type(e).__name__, e.name) for e in c.elements]
    assert kinds == [("VCVS", "ET_1"), ("VoltageSource", "VT_s1"), ("CCCS", "FT_1"),
                     ("VCCS", "GYa"), ("VCCS", "GYb")]
    e, v, f = c.elements[:3]
    assert isinstance(e, VCVS) and e.gain == -0.5 and (e.npos, e.nneg) == ("s", "T_w1")
    assert isinstance(v, VoltageSource) and (v.npos, v.nneg) == ("T_w1", "q")
    assert isinstance(f, CCCS) and f.vsense == "VT_s1" and f.gain == 0.5
    assert c.elements[3].gm == 1e-3 and c.elements[4].gm == -1e-3 and not c.reciprocal
