"""Fuzzing `diodenet solve` against ngspice: random valid resistor–diode–source netlists in
every syntax ngspice reads (both modes agree with ngspice's `op`), and random invalid ones (a
clear error, exit status 2, no traceback).

Fixed seeds and a small budget by default; a developer sets DIODENET_FUZZ_CASES=N (e.g. 2000)
for a longer run.
"""

import math
import os

import numpy as np
import pytest

from diodenet.host import diode_model as dm
from diodenet.host.operating_point import CircuitError, solve_ideal, solve_shockley
from diodenet.host.cli import main
from diodenet.host.netlist_reader import NetlistError, parse_netlist

from netlist_gen import INVALID_MUTATIONS, fuzz_netlist

CASES = int(os.environ.get("DIODENET_FUZZ_CASES", "60"))
TIGHT = ".options reltol=1e-12 abstol=1e-18 vntol=1e-15"


def _with_card(text, card):
    return text.replace("\n.op\n", f"\n{card}\n.op\n")


def _ngspice_volts(eng, text):
    """ngspice's node voltages keyed by lowercase name (numeric names come back as v(..))."""
    ref = eng.operating_point(text)
    return {(k[2:-1] if k.startswith("v(") else k): v for k, v in ref.items()}


@pytest.mark.spice
def test_fuzz_valid_netlists_agree_with_ngspice_in_both_modes():
    from diodenet.analog.ngspice_engine import SpiceError, get_engine

    eng = get_engine()
    rng = np.random.default_rng(20260)
    kinds = set()
    compared = {"shockley": 0, "ideal": 0}
    worst = {"shockley": 0.0, "ideal": 0.0}
    for case in range(CASES):
        gen = fuzz_netlist(rng)
        kinds.update(gen.placements)
        text = _with_card(gen.text, TIGHT)
        circuit = parse_netlist(text)
        assert {k.lower() for k in circuit.nodes} == {k.lower() for k in gen.nodes}, text
        # Shockley diodes: ngspice's own model, to its tight tolerances.
        try:
            ref = _ngspice_volts(eng, text)
        except SpiceError:
            ref = None     # ngspice did not converge: nothing to compare
        op = solve_shockley(circuit)
        if ref is not None:
            assert set(ref) == {k.lower() for k in op.node_voltages}, text
            scale = max(max(abs(v) for v in ref.values()), 1e-6)
            err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items()) / scale
            assert err <= 1e-6, (err, text)
            worst["shockley"] = max(worst["shockley"], err)
            compared["shockley"] += 1
        # Ideal diodes: ngspice with near-ideal diodes (N = 0.001) is within the drop bound.
        cards = "\n".join(f".model {name} D(IS=1e-14 N=0.001)" for name in gen.models)
        near = _with_card(text.replace("\n.model", "\n*.model"), cards)
        try:
            ref = _ngspice_volts(eng, near)
        except SpiceError:
            continue
        op = solve_ideal(parse_netlist(near))
        assert op.certificate.ok(1e-9)
        bound = 2 * max(len(gen.diodes), 1) * 0.001 * dm.thermal_voltage() * math.log(1e3 / 1e-14)
        err = max(abs(ref[k.lower()] - v) for k, v in op.node_voltages.items())
        assert err <= bound, (err, bound, near)
        worst["ideal"] = max(worst["ideal"], err)
        compared["ideal"] += 1
    print(f"fuzz: {CASES} valid netlists, compared with ngspice {compared}, worst {worst}")
    assert compared["shockley"] >= 0.9 * CASES and compared["ideal"] >= 0.9 * CASES
    assert {"node-node", "anode-ground", "cathode-ground", "node-source"} <= kinds
    if CASES >= 20:
        assert "series-chain" in kinds


def test_fuzz_invalid_netlists_give_a_clear_error(tmp_path, capsys):
    rng = np.random.default_rng(31337)
    counts = {name: 0 for name, _ in INVALID_MUTATIONS}
    path = tmp_path / "bad.cir"
    for case in range(max(CASES, len(INVALID_MUTATIONS))):
        gen = fuzz_netlist(rng)
        name, mutate = INVALID_MUTATIONS[case % len(INVALID_MUTATIONS)]
        text = mutate(rng, gen.text)
        path.write_text(text, encoding="utf-8")
        code = main(["solve", str(path), "--quiet"])
        out = capsys.readouterr()
        assert code == 2, (name, text, out.out)
        assert out.err.startswith("diodenet solve: error: "), (name, out.err)
        assert "Traceback" not in out.err and str(path) in out.err
        assert len(out.err.strip().splitlines()) == 1, out.err
        counts[name] += 1
        # The library raises the kit's own errors (both ValueErrors), never anything else.
        with pytest.raises((NetlistError, CircuitError)):
            solve_ideal(parse_netlist(text))
    print(f"fuzz: invalid netlists per kind {counts}")
    assert all(counts.values())
