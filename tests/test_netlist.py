"""The netlist parser: syntax, numbers, cards, and every error naming its line."""

import math

import numpy as np
import pytest

from diodenet.host.netlist import NetlistError, parse_netlist, parse_number

from netlist_gen import random_netlist


@pytest.mark.parametrize("token, value", [
    ("1", 1.0), ("-2.5", -2.5), (".5k", 500.0), ("1.", 1.0), ("1e3", 1e3), ("2E-3", 2e-3),
    ("1.5kOhm", 1500.0), ("10uA", 10e-6), ("1M", 1e-3), ("1MEG", 1e6), ("2.5e-1meg", 2.5e5),
    ("1megohm", 1e6), ("3mil", 3 * 25.4e-6), ("1milli", 25.4e-6), ("4g", 4e9), ("1T", 1e12),
    ("7n", 7e-9), ("8p", 8e-12), ("9f", 9e-15), ("1F", 1e-15), ("5V", 5.0), ("1Ohm", 1.0),
    ("1a", 1.0), ("1e3k", 1e6), ("1kk", 1e3), ("+3", 3.0),
])
def test_numbers(token, value):
    assert parse_number(token) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("token", ["k", "1.2.3", "--1", "1,5", "{r}", "1e3x5", ""])
def test_bad_numbers(token):
    with pytest.raises(ValueError):
        parse_number(token)


def test_full_syntax():
    text = """* this first line is the title, even though it starts with a star
* a comment
R1 In Mid 1.5kOhm ; inline comment
r2 MID gnd
+ 10k $ value on a continuation line
D1 mid 0 DMOD area=2
D2 0 Out dmod
V1 in 0 DC 5V
vb out 0 -1 $ comment
I1 0 MID 10uA
.MODEL dmod D(IS=1e-14 N=1.5 RS=10 CJO=2p M=0.3 TT=1n VJ=0.7 FC=0.5 EG=1.11 XTI=3)
.options reltol=1e-6 gmin=1e-10 TEMP=50 tnom=30 noacct
.temp 45
.op
.control
run
print all
.endc
.title a better title
.end
this line is after .end and is never read
"""
    c = parse_netlist(text)
    assert c.title == "a better title"
    assert c.nodes == ["In", "Mid", "Out"]  # as first written, ground excluded
    assert [r.name for r in c.resistors] == ["R1", "r2"]
    assert c.resistors[0].value == 1500.0 and c.resistors[1].value == 1e4
    assert c.resistors[1].n2 == "gnd" and c.resistors[1].line == 4
    d1, d2 = c.diodes
    assert (d1.anode, d1.cathode, d1.model, d1.area, d1.line) == ("mid", "0", "DMOD", 2.0, 6)
    assert c.model_for(d1) is c.model_for(d2)
    assert c.model_for(d1).params == {"IS": 1e-14, "N": 1.5, "RS": 10.0, "EG": 1.11,
                                      "XTI": 3.0}
    assert [(v.name, v.npos, v.nneg, v.value) for v in c.vsources] == \
        [("V1", "in", "0", 5.0), ("vb", "out", "0", -1.0)]
    assert [(i.npos, i.nneg) for i in c.isources] == [("0", "MID")]
    assert c.isources[0].value == pytest.approx(10e-6, rel=1e-15)
    assert c.gmin == 1e-10 and c.tnom == 30.0
    assert c.temp == 45.0  # .temp comes after .options here and wins


def test_model_card_forms():
    text = """models
R1 a 0 1k
D1 a 0 m1
D2 a 0 m2
D3 a 0 m3
.model m1 D IS=2e-14, N=1.2
.model m2 d (is = 3e-14 n = 1.1)
.model m3 D()
.end
"""
    c = parse_netlist(text)
    assert c.models["m1"].params == {"IS": 2e-14, "N": 1.2}
    assert c.models["m2"].params == {"IS": 3e-14, "N": 1.1}
    assert c.models["m3"].params == {}


def test_generated_netlists_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(20):
        gen = random_netlist(rng, n_nodes=6, n_diodes=6, floating_vsource=True, rs=True)
        c = parse_netlist(gen.text)
        assert sorted(c.nodes) == sorted(gen.nodes)
        assert [(r.name, r.n1, r.n2, r.value) for r in c.resistors] == gen.resistors
        assert [(v.name, v.npos, v.nneg, v.value) for v in c.vsources] == gen.vsources
        assert [(i.name, i.npos, i.nneg, i.value) for i in c.isources] == gen.isources
        assert [(d.name, d.anode, d.cathode, d.model) for d in c.diodes] == gen.diodes
        for name, params in gen.models.items():
            assert c.models[name].params == params


ERRORS = [
    # (line to add, fragment the message must contain)
    ("C1 a 0 1p", "unsupported element type 'C'"),
    ("X1 a b sub", "unsupported element type 'X'"),
    (".tran 1n 1u", "unsupported dot card '.tran'"),
    (".include other.lib", "unsupported dot card"),
    ("R9 a 0 -5", "must be positive"),
    ("R9 a 0 0", "must be positive"),
    ("R9 a 0 nan", "cannot read resistance"),
    ("R9 a 0 1k tc1=0.1", "exactly 'R name n1 n2 value'"),
    ("R9 a 0 {rval}", "cannot read resistance"),
    ("r1 a 0 1k", "duplicate element name 'r1' (first defined on line 2)"),
    ("D9 a 0 nosuch", "unknown model 'nosuch'"),
    ("D9 a 0 dm 2.5", "only 'D name anode cathode model [area=value]'"),
    ("D9 a 0 dm off", "unsupported extra parameters 'off'"),
    ("D9 a 0 dm area=-1", "area must be positive"),
    ("D9 a 0", "diode takes"),
    ("V9 a 0", "source takes"),
    ("V9 a 0 SIN(0 1 1k)", "(DC only)"),
    ("V9 a 0 DC 1 AC 1", "source takes"),
    ("V9 a A 1", "connects node 'a' to itself"),
    (".model dz D(IS=1e-14 IKF=0.1)", "'IKF' is not supported"),
    (".model dz D(IS=1e-14 FOO=1)", "'FOO' is not supported"),
    (".model dz D(IS=-1e-14)", "IS must be > 0"),
    (".model dz D(LEVEL=3)", "LEVEL must be 1"),
    (".model dz D(IS=1e-14", "unbalanced parentheses"),
    (".model dz D(IS)", "needs a value"),
    (".model q1 NPN(BF=100)", "only diode models"),
    (".model dm D(IS=1e-15)", "duplicate model name 'dm'"),
    (".options rshunt=1e9", "unsupported option 'rshunt'"),
    (".options gmin", "option gmin needs a value"),
    (".temp 27 50", "'.temp' takes one temperature"),
    ("+ 1k", None),  # a continuation of the previous line: makes that line wrong
]


@pytest.mark.parametrize("line, fragment", ERRORS)
def test_errors_name_the_line(line, fragment):
    base = """error cases
R1 a 0 1k
D1 a 0 dm
.model dm D(IS=1e-14)
"""
    text = base + line + "\n.end\n"
    with pytest.raises(NetlistError) as info:
        parse_netlist(text)
    msg = str(info.value)
    if fragment is None:  # the continuation joined the .model line
        assert "line 4" in msg and ".model dm" in msg
        return
    assert fragment in msg
    lineno = info.value.lineno
    assert lineno is not None and f"line {lineno}:" in msg
    if "unknown model" in fragment:
        assert lineno == 5 and "D9 a 0 nosuch" in msg
    else:
        assert lineno == 5 and repr(line) in msg
    assert isinstance(info.value, ValueError)


def test_unsupported_messages_list_what_is_supported():
    with pytest.raises(NetlistError, match=r"supported: R name n1 n2 value .*\.model NAME D"):
        parse_netlist("t\nL1 a 0 1u\n")
    with pytest.raises(NetlistError, match="ignored: capacitance"):
        parse_netlist("t\n.model d1 D(NS=2)\n")


def test_unterminated_control_block_and_empty_netlist():
    with pytest.raises(NetlistError, match=".endc"):
        parse_netlist("t\nR1 a 0 1\n.control\nrun\n")
    with pytest.raises(NetlistError, match="empty"):
        parse_netlist("   \n")
    with pytest.raises(NetlistError, match="line 2.*continuation"):
        parse_netlist("t\n+ 1k\n")


def test_ignored_and_read_options():
    c = parse_netlist("t\nR1 a 0 1\n.option reltol=1e-3 abstol = 1e-12 itl1=100 epsmin=1e-26\n")
    assert c.epsmin == 1e-26
    assert c.gmin == 1e-12 and c.temp == 27.0 and c.tnom == 27.0
    assert math.isclose(parse_netlist("t\n.temp -40\n").temp, -40.0)
