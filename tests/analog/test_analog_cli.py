"""diodenet verify / netlist and netlist_and_verify on a small model (random conductances, digits shape)."""

import hashlib
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from diodenet.host.cli import main
from diodenet.host.modelio import save_model
from diodenet.host.network import ResistorDiodeNetwork

pytestmark = pytest.mark.spice


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "model.npz"
    net = ResistorDiodeNetwork.layered(64, 6, 10, rng=2)
    save_model(path, net)
    return path


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_verify_json_and_plot(model_file, tmp_path, capsys):
    before = _digest(model_file)
    plot = tmp_path / "v.png"
    assert main(["verify", str(model_file), "--samples", "12", "--diode", "ideal", "--part", "none",
                 "--plot", str(plot), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["samples"] == 12 and r["failed"] == 0
    assert r["max_rel_error"] < 1e-5  # ideal-diode approximation, exact conductances
    assert r["accuracy_spice"] == r["accuracy_reference"]
    assert plot.stat().st_size > 1000
    assert main(["verify", str(model_file), "--samples", "12", "--json", "--plot", str(plot)]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["diode"] == "1n4148" and r["part"] == "MCP4351" and r["max_rel_error"] > 1e-3
    assert {"max_rel_error", "accuracy_reference", "accuracy_spice"} <= set(r)
    assert _digest(model_file) == before


def test_verify_and_netlist_errors(model_file, tmp_path, capsys):
    assert main(["verify", str(tmp_path / "none.npz")]) == 2
    assert main(["verify", str(model_file), "--part", "XYZ"]) == 2
    assert main(["netlist", str(model_file), "--part", "XYZ", "-o", str(tmp_path / "x.cir")]) == 2
    assert not (tmp_path / "x.cir").exists()
    assert "unknown part" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice executable not installed")
def test_netlist_runs_in_ngspice_and_matches_the_backend(model_file, tmp_path):
    from diodenet.analog.devices import Potentiometer
    from diodenet.analog.spice_backend import SpiceBackend, fit_to_part
    from diodenet.boards.parts import MCP4351
    from diodenet.host.modelio import load_model
    x = np.linspace(0, 1, 64)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "m.cir"
    assert main(["netlist", str(model_file), "-o", str(out), "--input", str(tmp_path / "x.npy")]) == 0
    res = subprocess.run(["ngspice", "-b", str(out)], capture_output=True, text=True, timeout=60)
    volts = dict(re.findall(r"^\s+(n\d+)\s+(\S+)\s*$", res.stdout, flags=re.M))
    net = load_model(model_file)
    v = np.array([float(volts[f"n{j}"]) for j in range(net.n_neurons)])
    pot = Potentiometer(MCP4351)
    s, fitted, _ = fit_to_part(net, pot)
    with SpiceBackend(fitted, diode="1n4148", part=pot, conductance_scale=s) as sb:
        m = sb.measure(net.source_voltages(x))
    assert np.abs(v - m.v[0]).max() <= 1e-5 * np.abs(v).max()  # ngspice -b prints 7 digits


def test_netlist_and_verify(model_file, tmp_path):
    from diodenet.analog.verify import netlist_and_verify
    r = netlist_and_verify(model_file, tmp_path / "analog", samples=8)
    assert (tmp_path / "analog" / "model.cir").exists() and (tmp_path / "analog" / "verify.png").exists()
    assert json.loads((tmp_path / "analog" / "verify.json").read_text())["samples"] == 8
    assert 0 <= r["accuracy_spice"] <= 1
