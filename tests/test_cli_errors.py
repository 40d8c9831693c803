"""The `diodenet` command's one error path, case by case: every kind of bad input the issue
listed ends as ``diodenet CMD: error: …`` on stderr with exit status 2 and no traceback (one with
``--debug``), or is refused before it can give a silently wrong result or lose data.

Run in-process through `cli.main` (what the console script calls); the signal and concurrency
cases that need real processes are in test_cli_runs.py."""

import json
import os
import re
import stat
import subprocess
import sys

import numpy as np
import pytest

from diodenet.host.cli import main

ERROR = re.compile(r"^diodenet [a-z]+: error: \S", re.M)


def run(capsys, *argv):
    """(exit status, stdout, stderr) of `diodenet ARGV` in this process."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:              # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, says=()):
    """Assert the one error format; returns stderr."""
    code, _, err = run(capsys, *argv)
    assert code == 2, (argv, code, err)
    assert ERROR.search(err), err
    assert "Traceback" not in err, err
    for text in ([says] if isinstance(says, str) else says):
        assert text in err, (text, err)
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 1-epoch xor run (model.npz, checkpoint.npz, metrics.json)."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "-o", str(out), "--quiet"]) == 0
    return out


# --- tracebacks instead of messages ---------------------------------------------------------------

def test_unreachable_board_is_one_line(capsys, tmp_path):
    refused(capsys, "train", "--dataset", "xor", "--backend", "board", "--port", "socket://127.0.0.1:1",
            "-o", tmp_path, says="cannot open the board")


@pytest.mark.parametrize("keep", [0, 10, 300, -20])
def test_truncated_model_and_checkpoint(capsys, tmp_path, trained, keep):
    """A truncated model.npz is refused by verify, netlist and train --init; a truncated
    checkpoint.npz by train, naming the file and --no-resume."""
    raw = (trained / "model.npz").read_bytes()
    bad = tmp_path / "model.npz"
    bad.write_bytes(raw[:keep] if keep >= 0 else raw[:keep])
    refused(capsys, "verify", bad, "--samples", "1", says=str(bad))
    refused(capsys, "netlist", bad, "-o", tmp_path / "x.cir", says=str(bad))
    refused(capsys, "train", "--dataset", "xor", "--hidden", "4", "--init", bad, "-o", tmp_path / "i",
            "--quiet", says=str(bad))
    assert not (tmp_path / "x.cir").exists()
    run_dir = tmp_path / "resume"
    run_dir.mkdir()
    ck = (trained / "checkpoint.npz").read_bytes()
    (run_dir / "checkpoint.npz").write_bytes(ck[:keep] if keep >= 0 else ck[:keep])
    refused(capsys, "train", "--dataset", "xor", "--hidden", "4", "--epochs", "2", "-o", run_dir, "--quiet",
            says=("checkpoint.npz", "--no-resume"))
    # and --no-resume starts afresh over it
    code, _, err = run(capsys, "train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "-o", run_dir,
                       "--quiet", "--no-resume")
    assert code == 0, err


def test_model_files_with_complex_empty_or_wrong_arrays(capsys, tmp_path, trained):
    with np.load(trained / "model.npz") as f:
        arrays = {k: f[k] for k in f.files}
    cases = {"complex": {**arrays, "conductance": arrays["conductance"].astype(complex)},
             "empty": {**arrays, "conductance": np.zeros(0)},
             "missing": {k: v for k, v in arrays.items() if k != "edges"},
             "meta": {**arrays, "meta": np.array("{not json")},
             "kind": {**arrays, "meta": np.array(json.dumps({"kind": "toaster"}))}}
    for name, content in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **content)
        refused(capsys, "netlist", path, "-o", tmp_path / "x.cir", says=str(path))
    np.savez(tmp_path / "mondeq.npz", W=np.eye(2, dtype=complex), U=np.ones((2, 1)), b=np.ones(2))
    np.save(tmp_path / "x.npy", np.ones(1))
    refused(capsys, "compile", tmp_path / "mondeq.npz", "--input", tmp_path / "x.npy", "-o", tmp_path / "c.cir",
            says="dtype complex")
    np.savez(tmp_path / "obj.npz", W=np.array([None, 1], dtype=object), U=np.ones((2, 1)), b=np.ones(2))
    refused(capsys, "compile", tmp_path / "obj.npz", "--input", tmp_path / "x.npy", "-o", tmp_path / "c.cir",
            says="obj.npz")


def test_output_file_versus_folder(capsys, tmp_path, trained):
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    refused(capsys, "train", "--dataset", "xor", "-o", a_file, says="is a file")
    refused(capsys, "demo", "-o", a_file, says="is a file")
    refused(capsys, "schematic", "-o", a_file, says="is a file")
    refused(capsys, "build", "-o", a_file, says="is a file")
    refused(capsys, "netlist", trained / "model.npz", "-o", tmp_path, says="is a folder")
    refused(capsys, "gateware", "-o", tmp_path, says="is a folder")
    np.savez(tmp_path / "m.npz", W=np.zeros((2, 2)), U=np.ones((2, 1)), b=np.ones(2))
    np.save(tmp_path / "x.npy", np.ones(1))
    refused(capsys, "compile", tmp_path / "m.npz", "--input", tmp_path / "x.npy", "-o", tmp_path, says="is a folder")
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize("argv, option", [
    (["train", "--dataset", "xor", "--epochs", "-1"], "--epochs"),
    (["train", "--dataset", "xor", "--batch-size", "0"], "--batch-size"),
    (["train", "--dataset", "xor", "--hidden", "0"], "--hidden"),
    (["train", "--dataset", "xor", "--epsilon", "0"], "--epsilon"),
    (["train", "--dataset", "xor", "--gain", "-30"], "--gain"),
    (["train", "--dataset", "xor", "--lr", "nan"], "--lr"),
    (["gradcheck", "--neurons", "0"], "--neurons"),
    (["gradcheck", "--samples", "-2"], "--samples"),
    (["gradcheck", "--edges", "0"], "--edges"),
    (["verify", "m.npz", "--samples", "0"], "--samples"),
    (["compile", "m.npz", "--input", "x.npy", "-o", "o.cir", "--scale", "0"], "--scale"),
    (["cosim", "--check", "--steps", "-1"], "--steps"),
    (["cosim", "--check", "--steps", "0"], "--steps"),
    (["cosim", "--check", "--timeout", "0"], "--timeout"),
    (["cosim", "--check", "--tolerance", "-0.1"], "--tolerance"),
    (["cosim", "--check", "--clock-hz", "0"], "--clock-hz"),
    (["cosim", "--serve", "--port", "70000"], "--port"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--hardware-epochs", "-1"], "--hardware-epochs"),
])
def test_numeric_options_zero_or_negative(capsys, argv, option):
    """Refused at parse time, naming the option (`cosim --check --steps -1` used to train on
    hundreds of samples through the simulator)."""
    refused(capsys, *argv, says=f"argument {option}")


def test_traceback_only_with_debug(capsys, tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 junk")
    err = refused(capsys, "netlist", tmp_path / "junk.npz", "-o", tmp_path / "x.cir")
    code, _, err = run(capsys, "--debug", "netlist", tmp_path / "junk.npz", "-o", tmp_path / "x.cir")
    assert code == 2 and "Traceback" in err and ERROR.search(err)
    code, _, err = run(capsys, "netlist", tmp_path / "junk.npz", "-o", tmp_path / "x.cir", "--debug")
    assert code == 2 and "Traceback" in err


def test_an_unexpected_failure_is_one_line_too(capsys, monkeypatch):
    """A bug (an exception no one expected) still ends in the one format, asking for --debug."""
    import diodenet.host.commands.activations as act

    def broken(args):
        return {}["no such key"]
    monkeypatch.setattr(act, "run", broken)            # register() binds the module's `run`
    err = refused(capsys, "activations", says="unexpected KeyError")
    assert "--debug" in err


# --- silent wrong results -------------------------------------------------------------------------

def test_lr_zero_is_refused_not_replaced(capsys, tmp_path):
    refused(capsys, "train", "--dataset", "xor", "--lr", "0", "-o", tmp_path, says="argument --lr: must be > 0")
    assert not any(tmp_path.iterdir())


def test_resume_with_another_configuration_is_refused(capsys, tmp_path):
    args = ["train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "-o", tmp_path, "--quiet"]
    assert run(capsys, *args)[0] == 0
    before = (tmp_path / "metrics.json").read_bytes()
    err = refused(capsys, *args[:-1], "--lr", "0.02", "--seed", "3", "--epochs", "2", "--quiet",
                  says=("--lr 0.01 → 0.02", "--seed 0 → 3", "--no-resume"))
    err = refused(capsys, *args, "--backend", "spice", says="--backend ideal → spice")
    err = refused(capsys, *args, "--optimizer", "sgd", says="--optimizer adam → sgd")
    assert (tmp_path / "metrics.json").read_bytes() == before
    # the flag starts afresh, and the new run's settings are what metrics.json records
    code, _, err = run(capsys, *args, "--lr", "0.02", "--no-resume")
    assert code == 0, err
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["lr"] == 0.02
    # growing --epochs at a constant rate continues the same run
    code, _, err = run(capsys, "train", "--dataset", "xor", "--hidden", "4", "--epochs", "2", "-o", tmp_path,
                       "--lr", "0.02", "--quiet")
    assert code == 0, err
    assert [h["epoch"] for h in json.loads((tmp_path / "metrics.json").read_text())["history"]] == [1, 2]


def test_rerun_of_a_finished_run_leaves_its_results(capsys, tmp_path):
    args = ["train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "-o", tmp_path, "--quiet"]
    assert run(capsys, *args)[0] == 0
    files = {f: (tmp_path / f).read_bytes() for f in ("metrics.json", "model.npz", "training.png")}
    code, out, _ = run(capsys, *args)
    assert code == 0 and "nothing trained, results unchanged" in out
    assert {f: (tmp_path / f).read_bytes() for f in files} == files
    refused(capsys, *args, "--lr", "0.5", says="--lr 0.01 → 0.5")
    assert {f: (tmp_path / f).read_bytes() for f in files} == files


# --- lost data ------------------------------------------------------------------------------------

def test_plot_into_a_folder_writes_inside_it(capsys, tmp_path):
    folder = tmp_path / "plots"
    folder.mkdir()
    code, _, err = run(capsys, "gradcheck", "--neurons", "6", "--plot", folder)
    assert code == 0, err
    assert (folder / "gradcheck.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"]          # nothing beside it
    code, _, err = run(capsys, "gradcheck", "--neurons", "6", "--plot", tmp_path / "g.svg")
    assert code == 0 and (tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")
    refused(capsys, "gradcheck", "--neurons", "6", "--plot", tmp_path / "noext", says="--plot")
    assert not list(tmp_path.glob("noext*"))


def test_results_follow_the_umask(tmp_path):
    """Written by a child with umask 022 (files 0644) and 027 (0640): never mkstemp's 0600."""
    for mask, mode in ((0o022, 0o644), (0o027, 0o640)):
        out = tmp_path / f"u{mask:o}"
        r = subprocess.run([sys.executable, "-c", f"import os, sys; os.umask({mask}); "
                            "from diodenet.host.cli import main; sys.exit(main(sys.argv[1:]))",
                            "train", "--dataset", "xor", "--hidden", "4", "--epochs", "1", "-o", str(out),
                            "--quiet"], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        for f in ("model.npz", "metrics.json", "training.png", "checkpoint.npz"):
            assert stat.S_IMODE(os.stat(out / f).st_mode) == mode, (f, oct(os.stat(out / f).st_mode))
        assert not list(out.glob(".*"))             # no temporary or lock file left behind


# --- a user's own dataset -------------------------------------------------------------------------

def _xor_arrays(rng, n):
    x = rng.uniform(-1, 1, (n, 2))
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)


def test_train_on_a_users_npz(capsys, tmp_path):
    rng = np.random.default_rng(5)
    xt, yt = _xor_arrays(rng, 300)
    xe, ye = _xor_arrays(rng, 100)
    np.savez(tmp_path / "mine.npz", x_train=xt, y_train=yt, x_test=xe, y_test=ye)
    code, out, err = run(capsys, "train", "--dataset", tmp_path / "mine.npz", "--hidden", "8", "--epochs", "15",
                         "-o", tmp_path / "o", "--quiet", "--json")
    assert code == 0, err
    final = json.loads(out.strip().splitlines()[-1])
    assert final["test_accuracy"] >= 0.85
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["dataset"] == "mine"
    bad = {"missing": dict(x_train=xt, y_train=yt, x_test=xe),
           "samples": dict(x_train=xt, y_train=yt[:-1], x_test=xe, y_test=ye),
           "features": dict(x_train=xt, y_train=yt, x_test=xe[:, :1], y_test=ye),
           "vector": dict(x_train=xt[:, 0], y_train=yt, x_test=xe, y_test=ye),
           "labels": dict(x_train=xt, y_train=yt - 1, x_test=xe, y_test=ye),
           "nan": dict(x_train=np.where(xt > 0.9, np.nan, xt), y_train=yt, x_test=xe, y_test=ye),
           "text": dict(x_train=xt.astype(str), y_train=yt, x_test=xe, y_test=ye)}
    expect = {"missing": "lacks array(s) y_test", "samples": "y_train has 299", "features": "x_test 1",
              "vector": "x_train has shape (300,)", "labels": "class labels", "nan": "x_train contains NaN",
              "text": "x_train has dtype"}
    for name, arrays in bad.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        refused(capsys, "train", "--dataset", tmp_path / f"{name}.npz", "-o", tmp_path / "b", says=expect[name])
    # the same data a changed file: a resume notices
    np.savez(tmp_path / "mine.npz", x_train=xt, y_train=1 - yt, x_test=xe, y_test=ye)
    refused(capsys, "train", "--dataset", tmp_path / "mine.npz", "--hidden", "8", "--epochs", "15",
            "-o", tmp_path / "o", "--quiet", says="--dataset-file")


def _idx(path, a):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    head = bytes([0, 0, codes[a.dtype], a.ndim]) + np.array(a.shape, ">u4").tobytes()
    path.write_bytes(head + a.astype(a.dtype.newbyteorder(">")).tobytes())


def test_idx_folder(tmp_path):
    """MNIST's IDX format (written here from the digits data upsampled to 28×28)."""
    from diodenet.host.datasets import load_dataset
    d = load_dataset("digits")
    up = lambda x: np.kron((x.reshape(-1, 8, 8) * 255).astype(np.uint8), np.ones((3, 3), np.uint8))  # noqa: E731
    pad = lambda x: np.pad(up(x), ((0, 0), (2, 2), (2, 2)))                                          # noqa: E731
    _idx(tmp_path / "train-images-idx3-ubyte", pad(d.x_train))
    _idx(tmp_path / "train-labels-idx1-ubyte", d.y_train.astype(np.uint8))
    _idx(tmp_path / "t10k-images-idx3-ubyte", pad(d.x_test))
    _idx(tmp_path / "t10k-labels-idx1-ubyte", d.y_test.astype(np.uint8))
    got = load_dataset(str(tmp_path))
    assert got.n_features == 784 and got.n_outputs == 10 and got.task == "classification"
    assert np.array_equal(got.y_test, d.y_test)
    ref = pad(d.x_test).reshape(len(d.x_test), -1) / 255.0
    assert np.array_equal(got.x_test, ref) and got.x_test.max() <= 1.0
    raw = (tmp_path / "t10k-labels-idx1-ubyte").read_bytes()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match="truncated"):
        load_dataset(str(tmp_path))
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError, match="no t10k-labels-idx1-ubyte"):
        load_dataset(str(tmp_path))


def test_every_numeric_option_is_checked_at_parse_time():
    """No command takes a bare int/float: each numeric option has a validator from `cli` (or its
    own) so that 0, negative, NaN or infinite values are refused as they are parsed."""
    from diodenet.host import cli
    parser = cli.build_parser()
    bare = [f"{name} {a.option_strings[0]}" for name, sub in parser.commands.items() for a in sub._actions
            if a.type in (int, float)]
    assert not bare, f"options without a range check: {bare}"


def test_stage_progress_on_stderr(capsys):
    """`cli.Stages` (cosim --check, build): each stage named on stderr as it starts; nothing quiet."""
    from diodenet.host.cli import Stages
    with Stages("job", ["first stage", "second stage"]) as stage:
        stage("first stage")
        stage("second stage")
    out, err = capsys.readouterr()
    assert out == "" and "first stage" in err and "second stage" in err and "2/2" in err
    with Stages("job", ["a"], quiet=True) as stage:
        stage("a")
    assert capsys.readouterr() == ("", "")
