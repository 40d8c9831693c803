"""The netlist writer against the reader: a circuit read from ngspice text, written back and read
again is the same circuit (the same operating point to the last bit, in both diode modes), for
random netlists in every syntax the reader takes; and ngspice runs the written text to the same
operating point as the original."""

import numpy as np
import pytest

from diodenet.analog.netlist_writer import element_line, model_line, netlist_text
from diodenet.host.circuit import Circuit, CircuitError, DiodeModelCard
from diodenet.host.netlist_reader import parse_netlist
from diodenet.host.operating_point import solve_ideal, solve_shockley

from netlist_gen import fuzz_netlist


def _solve(solver, circuit):
    try:
        return solver(circuit)
    except CircuitError as exc:
        return str(exc).split(":", 1)[-1]   # the reason, without the (changed) line number


@pytest.mark.parametrize("seed", range(40))
def test_read_write_read_is_the_same_circuit(seed):
    first = parse_netlist(fuzz_netlist(np.random.default_rng(seed)).text)
    text = netlist_text(first)
    again = parse_netlist(text)
    assert netlist_text(again) == text
    assert [e.name for e in again.elements] == [e.name for e in first.elements]
    assert again.nodes == first.nodes
    for solver in (solve_ideal, solve_shockley):
        a, b = _solve(solver, first), _solve(solver, again)
        if isinstance(a, str):
            assert a == b
        else:
            assert b.node_voltages == a.node_voltages
            assert b.diode_currents == a.diode_currents


def test_compiled_circuits_read_back_to_the_same_text():
    from diodenet.analog.compiler import compile_mondeq
    from diodenet.host.mondeq import MonDEQ
    for seed in range(3):
        model = MonDEQ.random(9, 3, m=0.2, rng=seed)
        text = netlist_text(compile_mondeq(model, np.ones(3), diode="ideal").circuit)
        assert netlist_text(parse_netlist(text)) == text


def test_every_element_kind_and_card_is_written():
    c = Circuit("kinds")
    c.V("in", "a", "0", 1.5)
    c.R("1", "a", "b", 2e3)
    c.I("p", "0", "b", 1e-6)
    c.D("1", "b", "0", DiodeModelCard("DX", {"IS": 1e-14, "N": 1.5, "RS": 2.0}))
    c.E("1", "e", "0", "b", "0", 2.0)
    c.G("1", "e", "0", "a", "b", 1e-4)
    c.F("1", "b", "0", "Vin", 0.25)
    c.R("2", "e", "0", 1e3)
    lines = [element_line(e) for e in c.elements]
    assert lines == ["Vin a 0 1.5", "R1 a b 2000.0", "Ip 0 b 1e-06", "D1 b 0 DX",
                     "E1 e 0 b 0 2.0", "G1 e 0 a b 0.0001", "F1 b 0 Vin 0.25", "R2 e 0 1000.0"]
    assert model_line(c.models["dx"]) == ".model DX D (IS=1e-14 N=1.5 RS=2.0)"
    text = netlist_text(c, comments=["one of each"])
    assert text.splitlines()[:3] == [".title kinds", "* one of each",
                                     ".options reltol=1e-09 vntol=1e-12 abstol=1e-15"]
    assert text.endswith(".model DX D (IS=1e-14 N=1.5 RS=2.0)\n.op\n.end\n")


@pytest.mark.spice
@pytest.mark.parametrize("seed", range(6))
def test_ngspice_runs_the_written_text_to_the_original_operating_point(seed):
    from diodenet.analog.ngspice_engine import SpiceError, get_engine
    gen = fuzz_netlist(np.random.default_rng(100 + seed))
    eng = get_engine()
    try:
        ref = eng.operating_point(gen.text)
    except SpiceError:
        pytest.skip("ngspice does not solve the original either")
    got = eng.operating_point(netlist_text(parse_netlist(gen.text)))
    scale = max(abs(v) for v in ref.values())
    assert max(abs(got[k] - v) for k, v in ref.items()) <= 1e-6 * scale
