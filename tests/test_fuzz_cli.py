"""Fuzzing the `diodenet` command: random invalid argument lists, numeric option values, model
files, monDEQ files, datasets and checkpoints fed to every command.  Every case must end in the
one error format (``diodenet CMD: error: …``, exit status 2, no traceback, not the catch-all for
unexpected failures) or -- for a mutated file that is still valid -- succeed.

A fixed seed and a small budget by default; ``DIODENET_FUZZ_LONG=1`` runs 25× as many cases
(``DIODENET_FUZZ_SEED`` picks another seed).  Counts per command print with ``pytest -s``."""

import json
import math
import os
import re

import numpy as np
import pytest

from diodenet.host import cli
from diodenet.host.cli import main

LONG = os.environ.get("DIODENET_FUZZ_LONG", "") not in ("", "0")
SEED = int(os.environ.get("DIODENET_FUZZ_SEED", "0"))
SCALE = 25 if LONG else 1
ERROR = re.compile(r"^diodenet [a-z]+: error: \S", re.M)
COUNTS = {}


def budget(n):
    return n * SCALE


def record(command, kind, n):
    COUNTS[(command, kind)] = COUNTS.get((command, kind), 0) + n
    print(f"fuzz {command:12s} {kind:22s} {n:5d} cases, all holding")


def run(capsys, argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code, err, argv):
    assert code == 2, (argv, code, err[-2000:])
    assert ERROR.search(err), (argv, err[-2000:])
    assert "Traceback" not in err, (argv, err[-2000:])
    assert "unexpected" not in err, (argv, err[-2000:])


def assert_answered(code, err, argv):
    """Success, or a refusal in the one error format."""
    if code != 0:
        assert_refused(code, err, argv)


# --- argument lists --------------------------------------------------------------------------------

PARSER = cli.build_parser()
SUBPARSERS = next(a for a in PARSER._actions if a.__class__.__name__ == "_SubParsersAction").choices
COMMANDS = sorted(SUBPARSERS)


def minimal_argv(command):
    """The command with placeholder values for what it requires (parsing only: never run)."""
    p = SUBPARSERS[command]
    argv = [command]
    grouped = set()
    for group in p._mutually_exclusive_groups:
        if group.required:
            argv.append(group._group_actions[0].option_strings[0])
        grouped.update(id(a) for a in group._group_actions)
    for a in p._actions:
        if id(a) in grouped or not a.required and a.option_strings:
            continue
        value = a.choices[0] if a.choices else "placeholder"
        argv += ([a.option_strings[0]] if a.option_strings else []) + [str(value)]
    return argv


KINDS = {cli.positive_int: ("int", lambda v: v >= 1), cli.nonnegative_int: ("int", lambda v: v >= 0),
         cli.positive_float: ("float", lambda v: v > 0), cli.nonnegative_float: ("float", lambda v: v >= 0),
         cli.fraction: ("float", lambda v: 0 <= v < 1), cli.unit_interval: ("float", lambda v: 0 <= v <= 1)}


def numeric_options(command):
    """(option, (kind, valid-range test)) of the command's numeric options; a custom type's
    range is read from its name/help only for the TCP port."""
    out = []
    for a in SUBPARSERS[command]._actions:
        if a.type in KINDS:
            out.append((a.option_strings[0], KINDS[a.type]))
        elif getattr(a.type, "__name__", "") == "_tcp_port":
            out.append((a.option_strings[0], ("int", lambda v: 0 <= v <= 65535)))
    return out


def valid_number(text, kind, ok):
    """Independent reading of a number as a user means it."""
    try:
        v = int(text) if kind == "int" else float(text)
    except ValueError:
        return False
    return (kind == "int" or math.isfinite(v)) and ok(v)


def bad_value(rng, kind, ok):
    pool = ["0", "-1", "-0.5", "nan", "inf", "-inf", "1e999", "", "abc", "1,5", "0x10", "1e-400", " ",
            "½", "--", "1.5", "-1e300", "4294967296e999", "NaN", "+-1"]
    for _ in range(100):
        r = rng.random()
        if r < 0.4:
            text = str(pool[rng.integers(len(pool))])
        elif r < 0.7:
            text = str(int(rng.integers(-10**6, 1)))
        else:
            text = repr(float(-abs(rng.standard_normal()) * 10.0 ** int(rng.integers(-5, 6))))
        if not valid_number(text, kind, ok):
            return text
    return "-1"


@pytest.mark.parametrize("command", COMMANDS)
def test_fuzz_numeric_options(command, capsys):
    rng = np.random.default_rng([SEED, COMMANDS.index(command), 1])
    options = numeric_options(command)
    if not options:
        pytest.skip(f"{command} has no numeric options")
    n = budget(12)
    for _ in range(n):
        option, (kind, ok) = options[rng.integers(len(options))]
        value = bad_value(rng, kind, ok)
        argv = minimal_argv(command) + [f"{option}={value}"]
        code, _, err = run(capsys, argv)
        assert_refused(code, err, argv)
        assert f"argument {option}" in err, (argv, err)
    record(command, "numeric options", n)


JUNK = ["--fuzz", "-Z", "--json=3", "%s", "$(true)", "\x00"[:0] + "nul", "é", "-", "--=", "---", "-o"]


@pytest.mark.parametrize("command", COMMANDS)
def test_fuzz_argument_lists(command, capsys):
    """Random lists of the command's own options and values with one unknown option among them."""
    rng = np.random.default_rng([SEED, COMMANDS.index(command), 2])
    p = SUBPARSERS[command]
    opts = [s for a in p._actions for s in a.option_strings if s not in ("-h", "--help")]
    n = budget(15)
    for _ in range(n):
        argv = minimal_argv(command)
        for _ in range(rng.integers(0, 6)):
            r = rng.random()
            tok = (opts[rng.integers(len(opts))] if r < 0.5 and opts else JUNK[rng.integers(len(JUNK))]
                   if r < 0.8 else str(rng.standard_normal()))
            argv.insert(int(rng.integers(1, len(argv) + 1)), tok)
        argv.insert(int(rng.integers(1, len(argv) + 1)), f"--no-such-option-{rng.integers(1000)}")
        code, _, err = run(capsys, argv)
        assert_refused(code, err, argv)
    record(command, "argument lists", n)


# --- files ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzzrun")
    assert main(["train", "--dataset", "xor", "--hidden", "3", "--epochs", "1", "-o", str(out), "--quiet"]) == 0
    return out


def mutate_bytes(rng, raw):
    r = rng.random()
    if r < 0.3:
        return raw[:int(rng.integers(0, len(raw)))]
    if r < 0.6:
        b = bytearray(raw)
        for _ in range(int(rng.integers(1, 8))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        return bytes(b)
    if r < 0.8:
        i = int(rng.integers(len(raw)))
        return raw[:i] + rng.bytes(int(rng.integers(1, 64))) + raw[i:]
    return rng.bytes(int(rng.integers(0, 2000)))


def mutate_arrays(rng, arrays):
    """A structurally damaged copy of a dict of arrays."""
    arrays = dict(arrays)
    names = sorted(arrays)
    name = names[rng.integers(len(names))]
    a = arrays[name]
    r = rng.random()
    if r < 0.15:
        del arrays[name]
    elif r < 0.3:
        arrays[name] = a.astype(complex) if a.dtype.kind in "biuf" else np.array(1 + 2j)
    elif r < 0.45:
        arrays[name] = np.zeros((0,) + a.shape[1:], a.dtype if a.dtype.kind in "biuf" else float)
    elif r < 0.6:
        arrays[name] = np.full(a.shape, np.nan) if a.dtype.kind in "f" else np.asarray(-7)
    elif r < 0.75:
        arrays[name] = a.reshape(-1)[: max(0, a.size - 1)] if a.size else np.ones(3)
    elif r < 0.85:
        arrays[name] = np.array(["text"] * max(1, a.size))
    else:
        arrays[name] = rng.standard_normal(tuple(int(v) for v in rng.integers(1, 5, rng.integers(1, 4))))
    return arrays


def load_arrays(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("command", ["netlist", "verify", "train --init"])
def test_fuzz_model_files(command, capsys, run_dir, tmp_path):
    rng = np.random.default_rng([SEED, 7, len(command)])
    raw = (run_dir / "model.npz").read_bytes()
    arrays = load_arrays(run_dir / "model.npz")
    n = budget(12 if command != "verify" else 6)
    for i in range(n):
        path = tmp_path / f"m{i}.npz"
        if rng.random() < 0.5:
            path.write_bytes(mutate_bytes(rng, raw))
        else:
            np.savez(path, **mutate_arrays(rng, arrays))
        if command == "netlist":
            argv = ["netlist", path, "-o", tmp_path / f"o{i}.cir", "--part", "none"]
        elif command == "verify":
            argv = ["verify", path, "--dataset", "xor", "--samples", "2", "--part", "none",
                    "--plot", tmp_path / f"v{i}.png"]
        else:
            argv = ["train", "--dataset", "xor", "--hidden", "3", "--epochs", "1", "--init", path,
                    "-o", tmp_path / f"t{i}", "--quiet"]
        code, _, err = run(capsys, argv)
        assert_answered(code, err, argv)
        if code == 2:
            assert str(path) in err or "--init" in err, (argv, err)
    record(command, "model files", n)


def test_fuzz_mondeq_files(capsys, tmp_path):
    rng = np.random.default_rng([SEED, 8])
    n0 = 4
    W = 0.3 * rng.standard_normal((n0, n0))
    good = {"W": W, "U": rng.standard_normal((n0, 2)), "b": rng.standard_normal(n0)}
    np.savez(tmp_path / "good.npz", **good)
    np.save(tmp_path / "x.npy", np.ones(2))
    raw = (tmp_path / "good.npz").read_bytes()
    n = budget(20)
    for i in range(n):
        path = tmp_path / f"m{i}.npz"
        if rng.random() < 0.4:
            path.write_bytes(mutate_bytes(rng, raw))
        else:
            np.savez(path, **mutate_arrays(rng, good))
        x = tmp_path / "x.npy"
        if rng.random() < 0.2:
            x = tmp_path / f"x{i}.npy"
            x.write_bytes(mutate_bytes(rng, (tmp_path / "x.npy").read_bytes()))
        argv = ["compile", path, "--input", x, "-o", tmp_path / f"o{i}.cir", "--quiet"]
        code, _, err = run(capsys, argv)
        assert_answered(code, err, argv)
        assert (code == 0) == (tmp_path / f"o{i}.cir").exists()
    record("compile", "monDEQ / input files", n)


def test_fuzz_checkpoints(capsys, run_dir, tmp_path):
    """A damaged checkpoint: resumed exactly when still intact, else refused naming --no-resume."""
    rng = np.random.default_rng([SEED, 9])
    raw = (run_dir / "checkpoint.npz").read_bytes()
    arrays = load_arrays(run_dir / "checkpoint.npz")
    n = budget(10)
    for i in range(n):
        d = tmp_path / f"r{i}"
        d.mkdir()
        r = rng.random()
        if r < 0.45:
            (d / "checkpoint.npz").write_bytes(mutate_bytes(rng, raw))
        elif r < 0.8:
            np.savez(d / "checkpoint.npz", **mutate_arrays(rng, arrays))
        else:
            state = json.loads(str(arrays["state"]))
            key = sorted(state)[rng.integers(len(state))]
            state[key] = [None, "x", -1, {}][rng.integers(4)]
            np.savez(d / "checkpoint.npz", **{**arrays, "state": np.array(json.dumps(state))})
        argv = ["train", "--dataset", "xor", "--hidden", "3", "--epochs", "2", "-o", d, "--quiet"]
        code, _, err = run(capsys, argv)
        assert_answered(code, err, argv)
        if code == 2:
            assert "--no-resume" in err and "checkpoint.npz" in err, err
        else:
            assert len(json.loads((d / "metrics.json").read_text())["history"]) == 2
    record("train", "checkpoints", n)


def test_fuzz_dataset_files(capsys, tmp_path):
    rng = np.random.default_rng([SEED, 10])
    x = rng.uniform(-1, 1, (40, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    good = {"x_train": x[:30], "y_train": y[:30], "x_test": x[30:], "y_test": y[30:]}
    np.savez(tmp_path / "good.npz", **good)
    raw = (tmp_path / "good.npz").read_bytes()
    n = budget(15)
    for i in range(n):
        path = tmp_path / f"d{i}.npz"
        if rng.random() < 0.3:
            path.write_bytes(mutate_bytes(rng, raw))
        else:
            np.savez(path, **mutate_arrays(rng, good))
        argv = ["train", "--dataset", path, "--hidden", "3", "--epochs", "1", "-o", tmp_path / f"o{i}", "--quiet"]
        code, _, err = run(capsys, argv)
        assert_answered(code, err, argv)
        if code == 2:
            assert str(path) in err, err
    record("train", "dataset files", n)
