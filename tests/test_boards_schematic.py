"""The AFE board netlist (boards/schematic.py) against the AFE definition it is generated from."""

import csv

import pytest

from diodenet.boards.afe import AFE, SMALL_AFE
from diodenet.boards.platforms import AFE_SIGNALS, BOARDS
from diodenet.boards import schematic as S

AFES = {"full": AFE(), "small": SMALL_AFE}


@pytest.fixture(scope="module", params=[("full", "icebreaker"), ("small", "icebreaker"),
                                        ("full", "hx8k"), ("small", "hx8k")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def board(request):
    name, fpga = request.param
    afe = AFES[name]
    return afe, S.board_netlist(afe, board=fpga)


def test_every_pin_connected_or_deliberately_open(board):
    _, nl = board
    assert S.check_netlist(nl) == []
    for (ref, pin), reason in nl.no_connect.items():
        assert reason.strip(), (ref, pin)
    # every pin is on exactly one net or in the no-connect list
    pn = nl.pin_net()
    for ref, comp in nl.components.items():
        for pin in comp.pins:
            assert ((ref, pin) in pn) != ((ref, pin) in nl.no_connect), (ref, pin)


def test_no_single_pin_net(board):
    _, nl = board
    for name, nodes in nl.nets.items():
        assert len(nodes) >= 2, name
        assert len(set(nodes)) == len(nodes), name


def test_rheostat_edges_between_neuron_and_line(board):
    afe, nl = board
    pn = nl.pin_net()
    for e, (a, b) in enumerate(afe.edges()):
        chip, wiper = afe.pot_location(e)
        ref = nl.roles[f"pot{chip}"]
        assert nl.components[ref].mpn.startswith("MCP4351")
        w = nl.pin_by_name(ref, f"P{wiper}W")
        bb = nl.pin_by_name(ref, f"P{wiper}B")
        aa = nl.pin_by_name(ref, f"P{wiper}A")
        assert pn[(ref, w)] == a          # wiper to the neuron
        assert pn[(ref, bb)] == b         # B to the line or the other neuron
        assert (ref, aa) in nl.no_connect  # A open, documented


def test_every_line_is_buffered_and_every_neuron_reaches_the_adc(board):
    afe, nl = board
    pn = nl.pin_net()
    for line in afe.input_lines + [S.pert_net(y) for y in afe.neurons[afe.n_hidden:]]:
        nodes = nl.nets[line]
        riso = [r for r, p in nodes if nl.roles.get(f"riso:{line}") == r]
        assert len(riso) == 1, line       # the line is driven through its buffer's R_ISO only
        assert not any(nl.components[r].mpn.startswith("AD5628") for r, _ in nodes), line
    adc = nl.roles["adc"]
    for ch, node in enumerate(afe.neurons):
        vin = nl.pin_by_name(adc, f"VIN{ch}")
        assert pn[(adc, vin)] == f"ADC_VIN{ch}"
        buf = nl.roles[f"buf:adc{ch}"]
        u, c = buf[:-1], buf[-1]
        out, minus, plus = S.OPAMP_CHANNELS[c]
        assert pn[(u, nl.pin_by_name(u, plus))] == node
        assert pn[(u, nl.pin_by_name(u, out))] == f"ADC_VIN{ch}"
        assert pn[(u, nl.pin_by_name(u, minus))] == f"ADC_VIN{ch}"
    for ch in range(afe.n_neurons, afe.adc.channels):
        assert pn[(adc, nl.pin_by_name(adc, f"VIN{ch}"))] == "GND"


def test_diodes_leaks_and_injection(board):
    afe, nl = board
    pn = nl.pin_net()
    diodes = [r for r, c in nl.components.items() if c.mpn.startswith("BAT54")]
    assert len(diodes) == len(afe.diode_nodes)
    for h in afe.diode_nodes:
        d = nl.roles[f"diode:{h}"]
        assert pn[(d, nl.pin_by_name(d, "A"))] == "V_MID"
        assert pn[(d, nl.pin_by_name(d, "K"))] == h
    for j in afe.neurons:
        r = nl.roles[f"leak:{j}"]
        assert {pn[(r, "1")], pn[(r, "2")]} == {j, "V_MID"}
        assert nl.components[r].value.startswith(S._fmt_ohms(afe.r_leak))
    for y in afe.neurons[afe.n_hidden:]:
        r = nl.roles[f"inject:{y}"]
        assert {pn[(r, "1")], pn[(r, "2")]} == {y, S.pert_net(y)}
        assert nl.components[r].value.startswith(S._fmt_ohms(afe.r_inject))


def test_pot_chip_count_and_chip_selects(board):
    afe, nl = board
    pots = [r for r, c in nl.components.items() if c.mpn.startswith("MCP4351")]
    assert len(pots) == afe.n_pot_chips
    # the ordered resistance option is the front-end's (100 kOhm: "-104")
    assert all(nl.components[r].mpn == "MCP4351-104E/ST" for r in pots) and afe.pot_r_ab == 100e3
    for c in range(afe.n_pot_chips):
        nodes = nl.nets[f"POT_CS{c}_N"]
        on_pots = [(r, p) for r, p in nodes if nl.components[r].mpn.startswith("MCP4351")]
        assert on_pots == [(nl.roles[f"pot{c}"], nl.pin_by_name(nl.roles[f"pot{c}"], "CS_N"))]
        # driven by decoder c // 16, output Y(c % 16)
        dec = nl.roles[f"decoder{c // 16}"]
        assert (dec, nl.pin_by_name(dec, f"Y{c % 16}")) in nodes
        assert len(nodes) == 2


def test_converters_reference_and_control_pins(board):
    afe, nl = board
    pn = nl.pin_net()
    for k in range(2):
        d = nl.roles[f"dac{k}"]
        assert pn[(d, nl.pin_by_name(d, "VREFIN"))] == "VREF_2V5"
        assert pn[(d, nl.pin_by_name(d, "CLR_N"))] == "+3V3"
        assert pn[(d, nl.pin_by_name(d, "LDAC_N"))] == "dac_ldac_n"
        assert pn[(d, nl.pin_by_name(d, "SYNC_N"))] == f"dac_sync{k}_n"
    adc = nl.roles["adc"]
    assert pn[(adc, nl.pin_by_name(adc, "REFIN"))] == "VREF_2V5"
    # V_MID is the reference through two equal precision resistors
    top, bot = nl.roles["vmid_div_top"], nl.roles["vmid_div_bot"]
    assert nl.components[top].value == nl.components[bot].value == "10k 0.1%"
    # every MCP4351 SDO on the one CIPO line
    for c in range(afe.n_pot_chips):
        p = nl.roles[f"pot{c}"]
        assert pn[(p, nl.pin_by_name(p, "SDO"))] == "pot_cipo"


def test_connector_carries_every_controller_signal(board):
    _, nl = board
    pin_map = BOARDS[nl.board].pins
    conns = {r for role, r in nl.roles.items() if role.startswith("conn:")}
    for sig in AFE_SIGNALS:
        assert any(r in conns for r, _ in nl.nets[sig]), sig
    assert len(pin_map) == len(AFE_SIGNALS)


def test_kicad_netlist_parses(board):
    _, nl = board
    text = S.kicad_netlist(nl)
    assert text.count("(") == text.count(")")
    tree = S.parse_sexpr(text)
    assert len(tree) == 1 and tree[0][0] == "export"
    export = tree[0]
    assert ["version", "E"] in export
    comps = next(x for x in export if isinstance(x, list) and x[0] == "components")
    nets = next(x for x in export if isinstance(x, list) and x[0] == "nets")
    refs = set()
    for comp in comps[1:]:
        assert comp[0] == "comp"
        refs.add(next(f[1] for f in comp[1:] if f[0] == "ref"))
    assert refs == set(nl.components)
    n_nodes = 0
    for net in nets[1:]:
        assert net[0] == "net"
        nodes = [f for f in net[1:] if f[0] == "node"]
        assert len(nodes) >= 2
        for node in nodes:
            ref = next(f[1] for f in node[1:] if f[0] == "ref")
            pin = next(f[1] for f in node[1:] if f[0] == "pin")
            assert ref in refs and pin in nl.components[ref].pins
            n_nodes += 1
    assert n_nodes == sum(len(v) for v in nl.nets.values())


def test_parse_sexpr_rejects_unbalanced():
    with pytest.raises(ValueError):
        S.parse_sexpr('(export (a "1")')
    with pytest.raises(ValueError):
        S.parse_sexpr('(a))')


def test_bom_adds_up(board, tmp_path):
    _, nl = board
    rows = S.bom(nl)
    assert sum(r["qty"] for r in rows) == len(nl.components)
    assert sorted(ref for r in rows for ref in r["refs"].split()) == sorted(nl.components)
    for r in rows:
        assert r["mpn"] and r["footprint"] and r["qty"] == len(r["refs"].split())
    path = tmp_path / "bom.csv"
    S.write_bom_csv(rows, path)
    with open(path) as f:
        back = list(csv.DictReader(f))
    assert sum(int(r["qty"]) for r in back) == len(nl.components)


@pytest.mark.parametrize("name", ["full", "small"])
def test_power_budget(name):
    afe = AFES[name]
    pb = S.power_budget(afe)
    a = pb["array"]
    # the worst-case array current never exceeds every rheostat at its current limit
    bound = afe.n_pots * afe.g_max * afe.v_span_max + afe.n_neurons * afe.v_ref / afe.r_leak \
        + afe.n_outputs * afe.v_ref / afe.r_inject
    assert 0 < a["rail_a"] <= bound
    assert pb["rails"]["+3V3"] == pytest.approx(pb["quiescent_a"] + a["rail_a"])
    # each line buffer stays within the MCP6024's +-30 mA absolute maximum
    assert max(a["line_max_a"].values()) < 30e-3
    assert "Assumptions" in S.format_power_budget(pb)


def test_drawing(tmp_path):
    for suffix in ("png", "svg"):
        p = tmp_path / f"s.{suffix}"
        S.draw_schematic(SMALL_AFE, p)
        assert p.stat().st_size > 10_000


def test_cli_writes_outputs(tmp_path, capsys):
    from diodenet.host.cli import main
    assert main(["schematic", "--afe", "small", "-o", str(tmp_path)]) == 0
    for f in ("board.net", "bom.csv", "schematic.png", "schematic.svg"):
        assert (tmp_path / f).stat().st_size > 0
    assert "+3V3" in capsys.readouterr().out
