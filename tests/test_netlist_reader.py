"""The netlist parser: syntax, numbers, cards, and every error naming its line."""

import math

import numpy as np
import pytest

from diodenet.host.circuit import ZERO_RESISTANCE, diode_instance_values, resistor_conductances
from diodenet.host.netlist_reader import NetlistError, parse_netlist, parse_number

from netlist_gen import random_netlist


@pytest.mark.parametrize("token, value", [
    ("1", 1.0), ("-2.5", -2.5), (".5k", 500.0), ("1.", 1.0), ("1e3", 1e3), ("2E-3", 2e-3),
    ("1.5kOhm", 1500.0), ("10uA", 10e-6), ("1M", 1e-3), ("1MEG", 1e6), ("2.5e-1meg", 2.5e5),
    ("1megohm", 1e6), ("3mil", 3 * 25.4e-6), ("1milli", 25.4e-6), ("4g", 4e9), ("1T", 1e12),
    ("7n", 7e-9), ("8p", 8e-12), ("9f", 9e-15), ("1F", 1e-15), ("5V", 5.0), ("1Ohm", 1.0),
    ("1a", 1.0), ("1e3k", 1e6), ("1kk", 1e3), ("+3", 3.0),
    # what ngspice 39 reads (checked with its `op`): the rest after the suffix is ignored
    ("1k5", 1e3), ("1e3x5", 1e3), ("2meg5", 2e6), ("1.2.3", 1.2), ("3u3", 3e-6), ("1ohm2", 1.0),
])
def test_numbers(token, value):
    assert parse_number(token) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("token", ["k", "--1", "{r}", "", ".", "e3", "$1"])
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
    (".include other.lib", "included files are not read"),
    (".subckt amp a b", "subcircuits are not modelled"),
    (".param rval=1k", "parameters are not modelled"),
    (".foo 1", "unsupported dot card '.foo'"),
    ("R9 a 0 -5", "negative resistance is not modelled"),
    ("R9 a 0 nan", "unknown model 'nan' (no '.model nan R(...)' card)"),
    ("R9 a 0 1k foo", "unknown model 'foo'"),
    ("R9 a 0 1k 2k", "unexpected field '2k'"),
    ("R9 a 0 1k tc3=0.1", "unknown parameter 'tc3'"),
    ("R9 a 0 {rval}", "parameter expressions are not modelled"),
    ("r1 a 0 1k", "duplicate element name 'r1' (first defined on line 2)"),
    ("D9 a 0 nosuch", "unknown model 'nosuch'"),
    ("D9 a 0 dm 2.5", "unexpected field '2.5' after the model name"),
    ("D9 a 0 dm lm=1", "unknown parameter 'lm'"),
    ("D9 a 0 dm area=-1", "area must be positive"),
    ("D9 a 0", "diode takes"),
    ("V9 a 0 1 2", "unexpected field '2'"),
    ("V9 a 0 AM(1 2 3 4)", "AM function's value at time 0 is not modelled"),
    ("V9 a A 1", "connects node 'a' to itself"),
    (".model dz D(IS=-1e-14)", "IS must be > 0"),
    (".model dz D(IS=1e-14", "unbalanced parentheses"),
    (".model dz D(IS)", "needs a value"),
    (".model q1 NPN(BF=100)", "only diode and resistor models"),
    (".options rshunt=0", "rshunt must be > 0"),
    (".options gmin", "option gmin needs a value"),
    (".temp 27 50", "'.temp' takes one temperature"),
    ("E9 a 0 POLY(1) b 0 0 1", "only the linear form 'E name n+ n- nc+ nc- gain'"),
    ("G9 a 0 value={v(b)}", "only the linear form 'G name n+ n- nc+ nc- gm'"),
    ("F9 a 0 Vnone 2", "controlling source 'Vnone' is not a voltage source"),
    ("F9 a 0 r1 2", "controlling source 'r1' is not a voltage source"),
    ("E9 a A b 0 2", "connects node 'a' to itself"),
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
        assert lineno == 5 and line.split(";")[0].strip() in msg
    else:
        assert lineno == 5 and repr(line) in msg
    assert isinstance(info.value, ValueError)


def test_linear_controlled_sources():
    c = parse_netlist("t\nV1 in 0 1\nR1 in a 1k\nE1 out 0 a gnd 2.5\nG1 a 0 out 0 1m\n"
                      "F1 a 0 v1 -0.5\nR2 out 0 1k\n.end\n")
    e, g, f = c.controlled
    assert (type(e).__name__, e.name, e.npos, e.nneg, e.cpos, e.cneg, e.gain) == \
        ("VCVS", "E1", "out", "0", "a", "gnd", 2.5)
    assert (type(g).__name__, g.cpos, g.gm) == ("VCCS", "out", 1e-3)
    assert (type(f).__name__, f.vsense, f.gain) == ("CCCS", "v1", -0.5)
    assert c.nodes == ["in", "a", "out"] and not c.reciprocal
    assert [el.name for el in c.elements] == ["V1", "R1", "E1", "G1", "F1", "R2"]


def test_unsupported_messages_list_what_is_supported():
    with pytest.raises(NetlistError, match=r"supported: R name n1 n2 value .*\.model NAME D"):
        parse_netlist("t\nL1 a 0 1u\n")


def test_model_parameters_as_ngspice_reads_them():
    c = parse_netlist("t\n.model d1 D(IS=1e-14 IKF=0.1 IKR=0 FOO=2 CJO=1p NS=2 LEVEL=3)\n")
    card = c.models["d1"]
    assert card.params == {"IS": 1e-14}          # LEVEL 3 without geometry is level 1's DC
    assert card.unmodelled == ("IKF",)            # IKR=0 means none, as in ngspice
    assert any("'FOO' ignored" in w for w in c.warnings)
    assert parse_netlist("t\n.model d2 D(LEVEL=2)\n").models["d2"].unmodelled == ("LEVEL=2",)


def test_forms_ngspice_accepts():
    text = """forms ngspice accepts
V1 in gnd dc=2 AC 1 0
R1 in,mid (1k) tc1=0.01 temp=50
R2 mid 00 r = 2k m=2
R3 00 0 {500} scale=2 noisy=0 ac=1
R4 mid 0 0
I1 0 mid
V2 s1 0 SIN(0.5 1 1k 0 0 90)
V3 s2 0 PULSE(0.3 1 1n)
V4 s3 0 PWL(-1 0 1 2)
V5 s4 0 DC 0.7 EXP(0 1)
R5 s1 s2 1k $ an inline comment
R6 s3 s4 1k // another
R7 s4 0 1k
D1 mid 0 dm off area=2 m=3 dtemp=10 ic=0.5 pj=1
.model dm D(IS=1e-14 JSW=1e-12)
.options rshunt=1e9 reltol=1e-4 foo
.tran 1u 1m
.print tran v(mid)
.nodeset v(mid)=0.1
.end
"""
    c = parse_netlist(text)
    assert c.nodes == ["in", "mid", "00", "s1", "s2", "s3", "s4"]  # gnd is ground, 00 is not
    assert [v.value for v in c.vsources] == pytest.approx([2.0, 1.5, 0.3, 1.0, 0.7])
    assert c.isources[0].value == 0.0 and any("I1 has no value" in w for w in c.warnings)
    g = resistor_conductances(c)
    assert g[0] == pytest.approx(1 / (1000 * (1 + 0.01 * 23)), rel=1e-14)
    assert g[1] == pytest.approx(2 / 2000, rel=1e-14)
    assert g[2] == pytest.approx(1 / 1000, rel=1e-14)
    assert g[3] == 1 / ZERO_RESISTANCE and any("R4" in w and "1 mOhm" in w for w in c.warnings)
    d = c.diodes[0]
    assert d.area == 2.0 and diode_instance_values(c, d) == (37.0, 2.0, 3.0)
    assert d.unmodelled == ("sidewall current JSW·PJ",)
    assert c.rshunt == 1e9


def test_resistor_models_and_repeated_model_names():
    text = """resistor models
V1 in 0 1
R1 in a 1k rmod
R2 a b rres
R3 b c rsh l=10u w=2u tc1=0
R4 c 0 rmod 2k
.model rmod R(tc1=0.01 tnom=0)
.model rres R(res=3k)
.model rsh R(rsh=100 narrow=0.5u)
.model rmod R(tc1=0.5)
.end
"""
    c = parse_netlist(text)
    g = resistor_conductances(c)
    assert g[0] == pytest.approx(1 / (1000 * 1.27), rel=1e-14)     # tnom 0, 27 °C
    assert g[1] == pytest.approx(1 / 3000, rel=1e-14)
    assert g[2] == pytest.approx(1 / (100 * 10 / 1.0), rel=1e-14)  # narrow on both edges
    assert g[3] == pytest.approx(1 / (2000 * 1.27), rel=1e-14)
    assert any("duplicate model name 'rmod'" in w and "first definition" in w
               for w in c.warnings)


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
