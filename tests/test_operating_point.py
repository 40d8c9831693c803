"""Operating points of resistor–diode netlists (host.operating_point): ideal diodes against brute
force, Shockley diodes against ngspice, and the error cases."""

import math

import numpy as np
import pytest

from diodenet.host import diode_model as dm
from diodenet.host.netlist_reader import parse_netlist
from diodenet.host.operating_point import CircuitError, solve_ideal, solve_shockley

from netlist_gen import PLACEMENTS, Generated, brute_force_ideal, random_netlist, voltage_scale

TIGHT = ".options reltol=1e-12 abstol=1e-18 vntol=1e-15"


def _random_case(rng, **overrides):
    kw = dict(n_nodes=int(rng.integers(2, 9)), n_diodes=int(rng.integers(1, 8)),
              n_vsources=int(rng.integers(0, 3)), n_isources=int(rng.integers(0, 3)),
              floating_vsource=bool(rng.random() < 0.3), rs=bool(rng.random() < 0.5))
    kw.update(overrides)
    return random_netlist(rng, **kw)


def _vector(op, gen):
    return np.array([op.node_voltages[name] for name in gen.nodes])


# ---------------------------------------------------------------------------------------------
# ideal diodes


def test_ideal_matches_brute_force_on_random_netlists():
    rng = np.random.default_rng(2024)
    placements = set()
    worst = 0.0
    checked = 0
    for _ in range(200):
        gen = _random_case(rng)
        placements.update(gen.placements)
        states = brute_force_ideal(gen)
        op = solve_ideal(parse_netlist(gen.text))
        v = _vector(op, gen)
        assert states, "brute force found no consistent diode state"
        scale = voltage_scale(gen, states[0])
        # Uniqueness: every consistent state gives the same node voltages.
        for other in states[1:]:
            assert np.max(np.abs(other - states[0])) <= 1e-9 * scale
        err = np.max(np.abs(v - states[0])) / scale
        worst = max(worst, err)
        assert err <= 1e-9, gen.text
        assert op.certificate.ok(1e-9)
        # Complementarity in the reported quantities.
        for d in parse_netlist(gen.text).diodes:
            i, vd = op.diode_currents[d.name], op.diode_voltages[d.name]
            assert i >= 0.0 and vd <= 1e-9 * scale
            assert abs(i * vd) <= 1e-9 * scale * max(abs(i), 1e-15)
        checked += 1
    assert placements == set(PLACEMENTS)
    assert checked == 200


def test_ideal_parallel_and_antiparallel_diodes_use_the_exact_fallback():
    # Two identical diodes in parallel make M singular: the principal pivots meet a singular
    # block and Lemke's algorithm takes over; the voltages must still be exact.
    text = """parallel diodes
V1 in 0 DC 3
R1 in a 1k
D1 a b dm
D2 a b dm
D3 b a dm
R2 b 0 2k
I1 0 b 1m
.model dm D(IS=1e-14)
.end
"""
    op = solve_ideal(parse_netlist(text))
    # Conducting a→b: a = b, and (3 − a)/1k + 1 mA = a/2k  →  a = 8/3 V.
    assert op.node_voltages["a"] == pytest.approx(8.0 / 3.0, rel=1e-12)
    assert op.node_voltages["b"] == pytest.approx(8.0 / 3.0, rel=1e-12)
    total = op.diode_currents["D1"] + op.diode_currents["D2"]
    assert total == pytest.approx((3 - 8.0 / 3.0) / 1e3, rel=1e-9)
    assert op.diode_currents["D3"] == 0.0
    assert op.certificate.ok(1e-12)


def test_ideal_diode_loops_match_brute_force():
    # A loop of diodes (a→b→c→a) plus a parallel copy: M is singular and the LCP degenerate
    # (at the solution several diodes have zero current and zero voltage).
    rng = np.random.default_rng(17)
    methods = set()
    for _ in range(60):
        r = lambda: float(10 ** rng.uniform(0, 6))
        gen = Generated(text="", nodes=["a", "b", "c", "d"])
        gen.resistors = [("R1", "a", "0", r()), ("R2", "b", "0", r()), ("R3", "c", "0", r()),
                         ("R4", "d", "a", r())]
        gen.vsources = [("V1", "d", "0", float(rng.uniform(-5, 5)))]
        gen.isources = [("I1", "0", str(rng.choice(["a", "b", "c"])),
                         float(rng.uniform(-1e-3, 1e-3)))]
        gen.diodes = [("D1", "a", "b", "dm"), ("D2", "b", "c", "dm"), ("D3", "c", "a", "dm"),
                      ("D4", "b", "c", "dm")]
        lines = ["diode loop"]
        lines += [f"{n} {a} {b} {v!r}" for n, a, b, v in
                  gen.resistors + gen.vsources + gen.isources]
        lines += [f"{n} {a} {c} {m}" for n, a, c, m in gen.diodes]
        gen.text = "\n".join(lines + [".model dm D(IS=1e-14)", ".end"]) + "\n"
        states = brute_force_ideal(gen)
        scale = voltage_scale(gen, states[0])
        # The sparse active set (loops of conducting diodes kept at zero current), and the
        # dense LCP fallback it uses when it does not settle (forced here with max_iter=0).
        for max_iter in (200, 0):
            op = solve_ideal(parse_netlist(gen.text), max_iter=max_iter)
            methods.add(op.method)
            assert np.max(np.abs(_vector(op, gen) - states[0])) <= 1e-9 * scale, gen.text
            assert op.certificate.ok(1e-9)
    assert {"active-set", "lemke"} <= methods


def test_ideal_with_no_solution_names_the_diodes():
    # A diode forward-biased directly across a voltage source: no ideal operating point.
    text = """short
V1 a 0 DC 1
R1 a 0 1k
D1 a 0 dm
.model dm D(IS=1e-14)
.end
"""
    with pytest.raises(CircuitError, match="D1"):
        solve_ideal(parse_netlist(text))
    # Reverse-biased it is fine.
    op = solve_ideal(parse_netlist(text.replace("DC 1", "DC -1")))
    assert op.node_voltages["a"] == -1.0 and op.diode_currents["D1"] == 0.0


def test_no_solution_circuit_agrees_with_brute_force():
    rng = np.random.default_rng(7)
    gen = random_netlist(rng, n_nodes=3, n_diodes=1, n_vsources=1, n_isources=0)
    # Put a diode straight across the driven node and ground, forward-biased.
    name, a, c, v = gen.vsources[0]
    driven = a if c == "0" else c
    sign = 1.0 if a == driven else -1.0  # V(driven) = sign * v
    anode, cathode = (driven, "0") if sign * v > 0 else ("0", driven)
    gen.diodes.append(("D9", anode, cathode, "dmod1"))
    gen.text = gen.text.replace(".op", f"D9 {anode} {cathode} dmod1\n.op")
    assert brute_force_ideal(gen) == []
    with pytest.raises(CircuitError, match="no operating point"):
        solve_ideal(parse_netlist(gen.text))


# ---------------------------------------------------------------------------------------------
# structural errors


def test_floating_node_is_named():
    text = """floating
V1 a 0 DC 1
R1 a 0 1k
D1 a Mid dm
D2 Mid 0 dm
R2 x y 1k
.model dm D(IS=1e-14)
.end
"""
    with pytest.raises(CircuitError) as info:
        solve_ideal(parse_netlist(text))
    msg = str(info.value)
    assert "'Mid'" in msg and "'x'" in msg and "'y'" in msg and "'a'" not in msg
    assert "not unique" in msg and "'Mid' connect only through diodes" in msg
    # Real diodes always conduct a little: only x and y float.
    with pytest.raises(CircuitError) as info:
        solve_shockley(parse_netlist(text))
    msg = str(info.value)
    assert "'x'" in msg and "'y'" in msg and "'Mid'" not in msg and "not unique" in msg


def test_voltage_source_loop_is_named():
    text = """loop
V1 a 0 DC 1
V2 b a DC 2
V3 b 0 DC 3
R1 a b 1k
.end
"""
    with pytest.raises(CircuitError) as info:
        solve_ideal(parse_netlist(text))
    msg = str(info.value)
    assert "line 4" in msg and all(v in msg for v in ("V1", "V2", "V3"))


def test_floating_voltage_source_between_nodes():
    text = """floating source
V1 in 0 DC 2
R1 in a 1k
Vf a b DC 0.5
R2 b 0 1k
D1 0 b dm
.model dm D(IS=1e-14)
.end
"""
    op = solve_ideal(parse_netlist(text))
    # (2 − a)/1k = b/1k with a − b = 0.5  →  b = 0.75 (diode reverse-biased).
    assert op.node_voltages["b"] == pytest.approx(0.75, rel=1e-14)
    assert op.source_currents["Vf"] == pytest.approx(0.75e-3, rel=1e-12)  # a → b inside Vf
    assert op.diode_currents["D1"] == 0.0
    # Turned around, the diode conducts and clamps b to ground: a = 0.5 V.
    op = solve_ideal(parse_netlist(text.replace("D1 0 b", "D1 b 0")))
    assert op.node_voltages["b"] == 0.0
    assert op.node_voltages["a"] == pytest.approx(0.5, rel=1e-14)
    assert op.diode_currents["D1"] == pytest.approx(1.5e-3, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Shockley diodes


def _single_diode(is_, n, current, r=1e6, extra=""):
    return f"""single diode
I1 0 a {current!r}
R1 a 0 {r!r}
D1 a 0 dm
.model dm D(IS={is_!r} N={n!r}{extra})
.end
"""


def test_shockley_single_diode_solves_its_scalar_equation():
    for is_, n, cur in ((1e-14, 1.0, 1e-3), (3e-9, 1.7, 2e-5), (1e-16, 0.9, 0.5)):
        op = solve_shockley(parse_netlist(_single_diode(is_, n, cur)))
        v = op.node_voltages["a"]
        i_d = is_ * math.expm1(v / (n * dm.thermal_voltage())) + dm.DEFAULT_GMIN * v
        # KCL at the node, to rounding.
        assert abs(cur - v / 1e6 - i_d) <= 1e-14 * cur
        # The same equation solved for v: v = N·Vt·ln(1 + i_diode/IS).
        i_j = cur - v / 1e6 - dm.DEFAULT_GMIN * v
        assert v == pytest.approx(n * dm.thermal_voltage() * math.log1p(i_j / is_), rel=1e-12)


def test_shockley_series_resistance_and_area():
    cur, rs, area = 2e-3, 50.0, 4.0
    text = _single_diode(1e-14, 1.2, cur, extra=f" RS={rs}").replace("D1 a 0 dm",
                                                                    f"D1 a 0 dm area={area}")
    op = solve_shockley(parse_netlist(text))
    v = op.node_voltages["a"]
    i_d = op.diode_currents["D1"]
    vj = v - i_d * rs / area  # junction voltage behind the (area-scaled) series resistance
    assert i_d == pytest.approx(area * 1e-14 * math.expm1(vj / (1.2 * dm.thermal_voltage()))
                                + dm.DEFAULT_GMIN * vj, rel=1e-12)
    assert cur - v / 1e6 - i_d == pytest.approx(0.0, abs=1e-15)


def test_shockley_beyond_breakdown_raises():
    text = """zener
V1 in 0 DC -20
R1 in a 1k
D1 0 a dz
R2 a 0 1meg
.model dz D(IS=1e-14 BV=5 IBV=1m)
.end
"""
    # D1's anode is ground and its cathode at about −20 V: forward!  Flip it to reverse-bias.
    text = text.replace("D1 0 a dz", "D1 a 0 dz")
    for solver in (solve_shockley, solve_ideal):
        with pytest.raises(CircuitError, match=r"line 4.*D1.*0\.9·BV = 4\.5 V"):
            solver(parse_netlist(text))
    assert solve_ideal(parse_netlist(text.replace("BV=5", "BV=50"))).diode_currents["D1"] == 0
    ok = solve_shockley(parse_netlist(text.replace("BV=5", "BV=50")))
    assert ok.node_voltages["a"] == pytest.approx(-20 * 1e6 / (1e6 + 1e3), rel=1e-6)


def test_shockley_without_ideal_solution_still_converges():
    # An ideal diode would short the source; a real one carries a large but finite current.
    text = """diode across a source
V1 a 0 DC 0.75
R1 a 0 1k
D1 a 0 dm
.model dm D(IS=1e-14)
.end
"""
    op = solve_shockley(parse_netlist(text))
    expected = 1e-14 * math.expm1(0.75 / dm.thermal_voltage()) + dm.DEFAULT_GMIN * 0.75
    assert op.diode_currents["D1"] == pytest.approx(expected, rel=1e-12)
    assert op.source_currents["V1"] == pytest.approx(-(expected + 0.75e-3), rel=1e-12)


@pytest.mark.spice
def test_shockley_matches_ngspice_on_random_netlists():
    from diodenet.analog.ngspice_engine import get_engine

    eng = get_engine()
    rng = np.random.default_rng(99)
    worst = 0.0
    with_rs = 0
    for _ in range(120):
        gen = _random_case(rng)
        with_rs += "RS=" in gen.text
        op = solve_shockley(parse_netlist(gen.text))
        ref = eng.operating_point(gen.with_options(TIGHT))
        scale = max(max(abs(v) for v in ref.values()), 1e-6)
        err = max(abs(ref[name.lower()] - v) for name, v in op.node_voltages.items()) / scale
        assert set(ref) == {name.lower() for name in op.node_voltages}
        assert err <= 1e-6, gen.text
        worst = max(worst, err)
    assert with_rs >= 30


@pytest.mark.spice
def test_shockley_matches_ngspice_with_temperature_and_options():
    from diodenet.analog.ngspice_engine import get_engine

    eng = get_engine()
    rng = np.random.default_rng(5)
    variants = [
        (".temp 75", {"IS": "1e-13", "N": "1.3"}),
        (".options tnom=40 gmin=1e-9", {"IS": "1e-12", "N": "1.1"}),
        (".temp -20", {"IS": "2e-14", "N": "1.5", "EG": "0.69", "XTI": "2"}),
        (".temp 60", {"IS": "1e-13", "TNOM": "10", "RS": "20", "TRS1": "0.01", "TRS2": "1e-4"}),
        ("", {"IS": "1e-13", "BV": "50", "IBV": "1e-5", "CJO": "2p", "TT": "1n", "M": "0.4"}),
        (".options epsmin=1e-25", {"IS": "1e-30", "N": "1"}),
    ]
    for card, params in variants:
        for _ in range(4):
            gen = random_netlist(rng, n_nodes=5, n_diodes=5, n_vsources=2)
            gen.text = gen.with_models(params)
            gen.text = gen.with_options(TIGHT)
            if card:
                gen.text = gen.with_options(card)
            lines = [ln + " area=2.5" if ln.startswith("D2 ") else ln
                     for ln in gen.text.splitlines()]
            text = "\n".join(lines) + "\n"
            op = solve_shockley(parse_netlist(text))
            ref = eng.operating_point(text)
            scale = max(max(abs(v) for v in ref.values()), 1e-6)
            err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items()) / scale
            assert err <= 1e-6, (card, params, text)


@pytest.mark.spice
def test_ideal_is_close_to_ngspice_with_near_ideal_diodes():
    from diodenet.analog.ngspice_engine import get_engine

    eng = get_engine()
    rng = np.random.default_rng(3)
    n_emission, is_ = 0.001, 1e-14
    for _ in range(25):
        gen = _random_case(rng, n_vsources=int(rng.integers(1, 3)), rs=False)
        gen.text = gen.with_options(TIGHT)
        text = gen.with_models({"IS": repr(is_), "N": repr(n_emission)})
        op = solve_ideal(parse_netlist(text))
        ref = eng.operating_point(text)
        # Each conducting near-ideal diode drops at most N·Vt·ln(10 A / IS) ≈ 0.9 mV.
        bound = 2 * max(len(gen.diodes), 1) * n_emission * dm.thermal_voltage() \
            * math.log(10.0 / is_)
        err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items())
        assert err <= bound, text


# ---------------------------------------------------------------------------------------------
# scale, and what ngspice reads beyond plain R/D/V/I


def test_ideal_ladder_active_set_matches_the_dense_lcp():
    # A ladder of a few hundred diodes: the sparse active set against the dense LCP
    # (principal pivoting / Lemke on M = Nᵀ K⁻¹ N), two different algorithms.
    from netlist_gen import ladder_netlist, random_sparse_netlist

    for gen in (ladder_netlist, random_sparse_netlist):
        circuit = parse_netlist(gen(np.random.default_rng(4), 1200))
        fast = solve_ideal(circuit)
        dense = solve_ideal(circuit, max_iter=0)
        assert fast.method == "active-set" and dense.method != "active-set"
        v1 = np.array(list(fast.node_voltages.values()))
        v2 = np.array(list(dense.node_voltages.values()))
        assert np.max(np.abs(v1 - v2)) <= 1e-9 * np.max(np.abs(v2))
        assert fast.certificate.ok(1e-12)
        on = sum(fast.conducting.values())
        assert 0 < on < len(circuit.diodes)      # both states occur along the network


@pytest.mark.spice
def test_ladder_shockley_matches_ngspice():
    from diodenet.analog.ngspice_engine import get_engine

    from netlist_gen import ladder_netlist, random_sparse_netlist

    for gen, rs in ((ladder_netlist, False), (random_sparse_netlist, True)):
        text = gen(np.random.default_rng(6), 3000, rs=rs).replace("\n.op\n", f"\n{TIGHT}\n.op\n")
        op = solve_shockley(parse_netlist(text))
        ref = get_engine().operating_point(text)
        scale = max(abs(v) for v in ref.values())
        err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items()) / scale
        assert err <= 1e-6


@pytest.mark.spice
def test_instance_parameters_and_options_match_ngspice():
    from diodenet.analog.ngspice_engine import get_engine

    text = """instance parameters and options ngspice reads
V1 in 0 DC 3
R1 in a 1k tc1=2e-3 tc2=1e-5 dtemp=15
R2 a b r=2k scale=1.5 m=2
R3 b 0 10k tce=0.5 temp=80
R4 a 0 5k
D1 a 0 dm temp=60
D2 b 0 dm dtemp=-30 m=3 area=0.5
D3 in b dz
I1 0 b -0.2m
.model dm D(IS=1e-14 N=1.1 RS=3 EG=1.11 XTI=3)
.model dz D(IS=1e-12 N=1.5 IKF=0)
.options rshunt=1meg gmin=1e-11
.temp 45
""" + TIGHT + "\n.op\n.end\n"
    op = solve_shockley(parse_netlist(text))
    ref = get_engine().operating_point(text)
    assert set(ref) == {k.lower() for k in op.node_voltages}
    err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items())
    assert err <= 1e-9


def test_shockley_refuses_dc_parameters_it_does_not_model():
    text = """ikf
V1 a 0 DC 1
R1 a b 1k
D1 b 0 dk
.model dk D(IS=1e-14 IKF=1m ISR=1e-10)
.end
"""
    with pytest.raises(CircuitError, match=r"line 4.*D1: IKF, ISR not modelled"):
        solve_shockley(parse_netlist(text))
    # Ideal diodes do not use the card.
    assert solve_ideal(parse_netlist(text)).node_voltages["b"] == 0.0


@pytest.mark.spice
def test_resistor_models_and_source_forms_match_ngspice():
    from diodenet.analog.ngspice_engine import get_engine

    text = """resistor models and source forms
V1 in 0 PULSE(2 0 1u)
V2 s 0 SIN(0.5 1 1k 0 0 30)
V3 p 0 PWL(-1m 0 1m 2)
R1 in a 1k rmod
R2 a b rres m=2
R3 b 0 rsh l=20u w=2u
R4 a s 3k rmod tc1=0
R5 s p 500 tce=2 dtemp=40
R6 p 0
+ 2.2k
D1 b a dm
D2 0 b dm area=3
.model rmod R(tc1=0.01 tc2=1e-4 tnom=0)
.model rres R(res=3k)
.model rsh R(rsh=100 narrow=0.5u short=1u)
.model dm D(IS=1e-14 N=1.2)
.model dm D(IS=1e-9)
""" + TIGHT + "\n.op\n.end\n"
    op = solve_shockley(parse_netlist(text))
    ref = get_engine().operating_point(text)
    assert set(ref) == {k.lower() for k in op.node_voltages}
    err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items())
    assert err <= 1e-9
