"""The ngspice engine: one instance, honest error detection, hot-loop API, clean-up."""

import math

import pytest

from diodenet.analog.ngspice_engine import Engine, SpiceError, get_engine, is_real_error
from diodenet.host import diode_model as dm
from diodenet.host.netlist_reader import parse_number

pytestmark = pytest.mark.spice

DIVIDER = """divider with a diode
V1 In 0 DC 5
R1 In Mid 1k
R2 Mid 0 1k
D1 Mid 0 dm
.model dm D(IS=1e-14 N=1)
.options reltol=1e-12 abstol=1e-18 vntol=1e-15
.end
"""


@pytest.fixture(scope="module")
def eng():
    return get_engine()


def test_one_lazy_instance(eng):
    assert get_engine() is eng
    assert isinstance(eng, Engine)


def test_operating_point_values_and_names(eng):
    volts = eng.operating_point(DIVIDER)
    assert set(volts) == {"in", "mid"}  # lowercased, no internal or branch vectors
    assert volts["in"] == 5.0
    v = volts["mid"]
    # KCL at Mid with ngspice's diode (Shockley + GMIN), at ngspice's tight tolerance.
    i_d = 1e-14 * math.expm1(v / dm.thermal_voltage()) + dm.DEFAULT_GMIN * v
    assert (5.0 - v) / 1e3 - v / 1e3 - i_d == pytest.approx(0.0, abs=1e-15)


def test_ngspice_uses_the_kits_constants(eng):
    # A fixed diode current gives v = N·Vt·ln(1 + I/IS): this pins ngspice's k/q to ours.
    text = """vt probe
I1 0 a 1m
R1 a 0 1e15
D1 a 0 dm
.model dm D(IS=1e-12 N=1)
.options reltol=1e-12 abstol=1e-18 vntol=1e-15 gmin=0
.end
"""
    v = eng.operating_point(text)["a"]
    assert v == pytest.approx(dm.thermal_voltage() * math.log1p(1e-3 / 1e-12), rel=1e-13)
    # The CODATA-1986 constants of older SPICEs would be off by 1.4e-5 relative.
    old_vt = 1.3806226e-23 / 1.6021918e-19 * 300.15
    assert abs(v / (old_vt * math.log1p(1e9)) - 1) > 1e-5


def test_convergence_notes_do_not_raise(eng):
    # noopiter skips the plain Newton attempt, so ngspice goes straight to gmin stepping and
    # prints "Note: ..." lines on stderr; PySpice's own check would call that a failure.
    text = """gmin stepping
I1 0 a 1m
R1 a 0 1meg
D1 a 0 dm
.model dm D(IS=1e-20 N=0.05)
.options noopiter
.end
"""
    volts = eng.operating_point(text)
    notes = [m for m in eng.last_messages if "gmin" in m.lower()]
    assert notes and not any(is_real_error(m) for m in eng.last_messages)
    assert not all(m.startswith("Warning:") for m in notes)  # what PySpice would flag
    v = volts["a"]
    i_d = 1e-20 * math.expm1(v / (0.05 * dm.thermal_voltage())) + dm.DEFAULT_GMIN * v
    assert 1e-3 - v / 1e6 - i_d == pytest.approx(0.0, abs=1e-9)


def test_real_failure_raises_naming_the_circuit(eng):
    text = """two sources fighting
V1 a 0 DC 1
V2 a 0 DC 2
R1 a 0 1k
.end
"""
    with pytest.raises(SpiceError) as info:
        eng.operating_point(text)
    msg = str(info.value)
    assert "two sources fighting" in msg and "op" in msg
    assert any(is_real_error(m) for m in eng.last_messages)
    assert not [p for p in eng.plot_names if p.startswith("op")]  # nothing left behind
    # The engine is still usable afterwards.
    assert eng.operating_point(DIVIDER)["in"] == 5.0


def test_load_error_raises(eng):
    with pytest.raises(SpiceError, match="bad model name"):
        eng.operating_point("bad model name\nV1 a 0 1\nD1 a 0 nosuch\n.end\n")
    assert eng.operating_point(DIVIDER)["in"] == 5.0


def test_hot_loop_alter_matches_fresh_loads(eng):
    values = [100.0, 1e3, 4.7e3, 1e5]
    fresh = [eng.operating_point(DIVIDER.replace("R1 In Mid 1k", f"R1 In Mid {r!r}"))["mid"]
             for r in values]
    eng.load(DIVIDER)
    try:
        looped = []
        for r in values:
            eng.alter("R1", r)
            out = eng.run_op()
            assert eng.node_voltages() == out
            looped.append(out["mid"])
        eng.alter("v1", 2.5)
        assert eng.run_op()["in"] == 2.5
        # Plots are destroyed after each op: the list does not grow.
        n_plots = len(eng.plot_names)
        for _ in range(20):
            eng.run_op()
        assert len(eng.plot_names) == n_plots
    finally:
        eng.unload()
    assert looped == pytest.approx(fresh, rel=1e-12, abs=0)
    assert len(set(looped)) == len(values)
    with pytest.raises(SpiceError, match="no circuit loaded"):
        eng.run_op()


@pytest.mark.parametrize("token", ["1.5kOhm", "10u", "1M", "1MEG", "2.5e-1meg", "3mil",
                                   "1milli", "1kk", "1a", "1Ohm", "7n", ".5k", "1e3k"])
def test_parser_numbers_agree_with_ngspice(eng, token):
    text = f"number probe\nI1 0 a 1\nR1 a 0 {token}\n.end\n"
    assert eng.operating_point(text)["a"] == pytest.approx(parse_number(token), rel=1e-14)
