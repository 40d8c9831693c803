"""`diodenet solve`: table output, the JSON last line, and errors exiting with status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from diodenet.host.operating_point import solve_ideal, solve_shockley
from diodenet.host.cli import main
from diodenet.host.netlist_reader import parse_netlist

from netlist_gen import random_netlist

CLIPPER = """two-diode clipper
V1 In 0 DC 5
R1 In Out 1.5kOhm ; series resistor
D1 Out 0 dm
D2 0 Out dm
R2 Out 0 10k
.model dm D(IS=1e-14 N=1.05 RS=2 CJO=1p)
.end
"""


def _run(capsys, *argv):
    code = main(["solve", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ideal_json_last_line(tmp_path, capsys):
    path = tmp_path / "clipper.cir"
    path.write_text(CLIPPER)
    code, out, err = _run(capsys, str(path), "--json")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    volts = json.loads(lines[-1])
    assert volts == {"In": 5.0, "Out": 0.0}  # names as written; D1 clamps Out to ground
    assert "two-diode clipper" in out and "D1" in out and " on" in out


def test_shockley_json_matches_the_library(tmp_path, capsys):
    rng = np.random.default_rng(8)
    gen = random_netlist(rng, n_nodes=6, n_diodes=5, n_vsources=2, rs=True)
    path = tmp_path / "random.cir"
    path.write_text(gen.text)
    code, out, _ = _run(capsys, str(path), "--shockley", "--json")
    assert code == 0
    volts = json.loads(out.strip().splitlines()[-1])
    ref = solve_shockley(parse_netlist(gen.text)).node_voltages
    assert volts == ref  # exact: JSON carries every digit
    assert set(volts) == set(gen.nodes)  # no internal RS nodes, no ground
    ideal = solve_ideal(parse_netlist(gen.text)).node_voltages
    assert volts != ideal


def test_table_without_json(tmp_path, capsys):
    path = tmp_path / "clipper.cir"
    path.write_text(CLIPPER)
    code, out, _ = _run(capsys, str(path), "--shockley")
    assert code == 0
    assert not out.strip().splitlines()[-1].startswith("{")
    row = next(ln for ln in out.splitlines() if ln.startswith("Out "))
    assert 0.6 < float(row.split()[1]) < 0.8  # a silicon diode's forward voltage


@pytest.mark.parametrize("body, fragment", [
    ("R1 a 0 -1k\n", "line 2: 'R1 a 0 -1k': resistance of R1 must be positive"),
    ("R1 a 0 1k\nR1 b 0 1k\n", "line 3: 'R1 b 0 1k': duplicate element name 'R1'"),
    ("R1 a 0 1k\nD1 a 0 nomodel\n", "line 3: 'D1 a 0 nomodel': diode D1 uses unknown model"),
    ("R1 a 0 1k\nC1 a 0 1u\n", "unsupported element type 'C'"),
    ("V1 a 0 1\nR1 a 0 1k\nR2 x 0 1k\nD1 a y dm\n.model dm D\n",
     "node(s) 'y' connect to ground only through diodes"),
    ("V1 a 0 1\nR1 a 0 1k\nR2 x y 1k\n", "node(s) 'x', 'y' have no resistive or source path"),
    ("V1 a 0 1\nR1 a 0 1k\nR2 a 0 1k foo\n", "resistor R2 uses unknown model 'foo'"),
    ("V1 a 0 1\nR1 a 0 1k\n.subckt s a b\n", "subcircuits are not modelled"),
])
def test_errors_exit_2(tmp_path, capsys, body, fragment):
    path = tmp_path / "bad.cir"
    path.write_text("bad circuit\n" + body + ".end\n")
    code, out, err = _run(capsys, str(path))
    assert code == 2
    assert err.startswith("diodenet solve: error: ")
    assert fragment in err
    assert "Traceback" not in err


def test_missing_file_and_entry_point(tmp_path):
    missing = tmp_path / "nope.cir"
    proc = subprocess.run([sys.executable, "-m", "diodenet.host", "solve", str(missing)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "diodenet solve: error:" in proc.stderr and "nope.cir" in proc.stderr


def test_progress_on_large_netlists_and_quiet(tmp_path, capsys, monkeypatch):
    from diodenet.host.commands import solve as solve_cmd

    from netlist_gen import ladder_netlist

    path = tmp_path / "ladder.cir"
    path.write_text(ladder_netlist(np.random.default_rng(2), 3000))
    monkeypatch.setattr(solve_cmd, "PROGRESS_ELEMENTS", 100)   # "large" for this test
    for extra in ([], ["--shockley"]):
        code, out, err = _run(capsys, str(path), "--json", *extra)
        assert code == 0
        lines = err.strip().splitlines()
        assert all(ln.startswith("diodenet solve: [") for ln in lines)
        assert any("parsed 3" in ln and "elements" in ln for ln in lines)
        assert any("active-set iteration" in ln for ln in lines)
        if extra:
            assert any("Newton iteration" in ln for ln in lines)
        volts = json.loads(out.strip().splitlines()[-1])
        lib = (solve_shockley if extra else solve_ideal)(parse_netlist(path.read_text()))
        assert volts == lib.node_voltages
        code, out, err = _run(capsys, str(path), "--quiet", *extra)
        assert code == 0 and err == ""


def test_small_netlists_print_no_progress_and_ngspice_warnings(tmp_path, capsys):
    path = tmp_path / "warn.cir"
    path.write_text("warnings\nV1 a 0\nI1 0 a 1m\nR1 a b\nR2 b 0 1k\n"
                    ".model dm D(IS=1e-14 FOO=1)\nD1 b 0 dm\n.end\n")
    code, out, err = _run(capsys, str(path))
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(ln.startswith("diodenet solve: warning: ") for ln in lines)
    assert "V1 has no value, DC 0 assumed" in err and "set to 1 mOhm" in err
    assert "'FOO' ignored" in err
