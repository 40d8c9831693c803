"""The `diodenet` command end to end, in a subprocess as a user runs it."""

import json
import os
import subprocess
import sys

import pytest


def diodenet(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "diodenet.host", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_train_digits_reaches_95_percent(tmp_path):
    """Acceptance: a resistor-only network with ideal diodes and differential inputs, default settings."""
    r = diodenet("train", "--dataset", "digits", "-o", str(tmp_path), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout.strip().splitlines()[-1])
    assert final["test_accuracy"] >= 0.95
    assert (tmp_path / "training.png").exists()


def test_missing_and_bad_options_are_clear(tmp_path):
    r = diodenet("train", "--epochs", "1")
    assert r.returncode == 2 and "--dataset" in r.stderr
    r = diodenet("train", "--dataset", "mnist", "-o", str(tmp_path / "m"))
    assert r.returncode == 2 and "unknown dataset 'mnist'" in r.stderr and "Traceback" not in r.stderr
    r = diodenet("train", "--dataset", "xor", "--hidden", "0", "-o", str(tmp_path))
    assert r.returncode == 2 and "--hidden" in r.stderr and "Traceback" not in r.stderr


def test_demo_runs_and_reports(tmp_path):
    r = diodenet("demo", "-o", str(tmp_path), "--epochs", "2", "--hardware-epochs", "0", "--no-bitstream",
                 "--no-cosim", "--quiet", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["test_accuracy"] > 0.8
    assert summary["gradient_cosine"] > 0.999999


def test_gradcheck_ideal_meets_its_target(tmp_path):
    r = diodenet("gradcheck", "--backend", "ideal", "--json", "--plot", str(tmp_path / "g.png"))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["rel_error"] <= 1e-9 and result["cosine"] >= 0.999999
    assert (tmp_path / "g.png").stat().st_size > 10_000


def test_unknown_backend_is_a_clear_error(tmp_path):
    r = diodenet("train", "--dataset", "xor", "--backend", "fpga9000", "-o", str(tmp_path))
    assert r.returncode == 2 and "unknown backend 'fpga9000'" in r.stderr


def test_gradcheck_spice_1n4148_meets_its_target():
    """Acceptance (hardware linearization): 32 neurons, 1N4148 diodes in ngspice, measured gradient
    against central finite differences of the same circuit (the 100 largest conductance gradients)."""
    r = diodenet("gradcheck", "--backend", "spice", "--diode", "1n4148", "--neurons", "32", "--edges", "100", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["cosine"] >= 0.999 and result["edges_checked"] == 100


def test_train_a_two_stage_cascade_by_hardware_linearization(tmp_path):
    r = diodenet("train", "--dataset", "moons", "--cascade", "16", "--epochs", "25", "--method", "linearization",
                 "-o", str(tmp_path), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout.strip().splitlines()[-1])
    assert final["stages"] == 2 and final["test_accuracy"] >= 0.95
    r = diodenet("train", "--dataset", "moons", "--cascade", "16,x", "-o", str(tmp_path / "bad"))
    assert r.returncode == 2 and "--cascade takes comma-separated layer sizes" in r.stderr


@pytest.mark.spice
def test_spice_training_on_the_boards_frontend_runs_as_is_elsewhere(tmp_path):
    """`train --backend spice` trains the board's own front-end (recorded in the model file) and
    `verify --backend` evaluates that model unchanged on another backend."""
    r = diodenet("train", "--dataset", "moons", "--backend", "spice", "--epochs", "3",
                 "-o", str(tmp_path), "--json", "--quiet")
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout.strip().splitlines()[-1])
    assert 0.05 < final["test_diode_on_fraction"] < 0.95
    from diodenet.boards.afe import SMALL_AFE
    from diodenet.boards.frontend import afe_of_network
    from diodenet.host.modelio import load_model
    model = load_model(tmp_path / "model.npz")
    afe = afe_of_network(model)
    assert (afe.n_hidden, afe.n_inputs, afe.n_outputs) == (6, 2, 2) and afe.r_inject == SMALL_AFE.r_inject
    r = diodenet("verify", str(tmp_path / "model.npz"), "--backend", "spice", "--dataset", "moons",
                 "--json")
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout.strip().splitlines()[-1])
    assert v["accuracy_backend"] == pytest.approx(final["test_accuracy"], abs=1e-12)
    r = diodenet("verify", str(tmp_path / "model.npz"), "--backend", "socket://127.0.0.1:1",
                 "--dataset", "moons")
    assert r.returncode == 2 and "cannot open the board" in r.stderr and "Traceback" not in r.stderr
