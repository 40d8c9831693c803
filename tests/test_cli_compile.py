"""`diodenet compile` writes the netlist text straight from the arrays (analog.compiler.
write_mondeq_netlist): the same bytes as the element-by-element circuit written through PySpice,
on random monDEQs of every shape the compiler meets (dense, symmetric -- no gyrators --,
diagonal -- no transformer loops --, zero inputs and biases), every diode card."""

import numpy as np
import pytest

from diodenet.analog.compiler import compile_mondeq, write_mondeq_netlist
from diodenet.analog.netlist_writer import netlist_text
from diodenet.host.cli import main
from diodenet.host.mondeq import MonDEQ


def random_mondeq(rng, n, d, kind):
    A = rng.standard_normal((n, n)) * 10.0 ** rng.uniform(-3, 1)
    S = rng.standard_normal((n, n)) * (0 if kind == "symmetric" else 10.0 ** rng.uniform(-3, 1))
    U = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.7)
    b = rng.standard_normal(n) * (rng.random(n) < 0.7)
    if kind == "diagonal":
        return MonDEQ(np.diag(rng.uniform(-2, 0.9, n)), U, b)
    return MonDEQ.winston_kolter(A, S, float(rng.uniform(0.05, 1.0)), U, b)


@pytest.mark.parametrize("seed", range(12))
def test_streamed_text_is_the_element_writers(seed, tmp_path):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 30)), int(rng.integers(1, 5))
    kind = ["dense", "symmetric", "diagonal"][seed % 3]
    diode = ["ideal", "1n4148", "bat54"][seed % 3 if seed < 6 else (seed // 3) % 3]
    model = random_mondeq(rng, n, d, kind)
    x = rng.standard_normal(d) * 10.0 ** rng.uniform(-2, 2)
    scale = float(10.0 ** rng.uniform(-6, -2))
    comments = ["from a test", f"seed {seed}"]
    reference = netlist_text(compile_mondeq(model, x, diode=diode, scale=scale).circuit, comments=comments)
    summary = write_mondeq_netlist(tmp_path / "o.cir", model, x, diode=diode, scale=scale, comments=comments)
    assert (tmp_path / "o.cir").read_text() == reference
    assert summary["elements"] == len(compile_mondeq(model, x, diode=diode, scale=scale).circuit.elements)


def test_compile_progress_and_quiet(tmp_path, capsys):
    rng = np.random.default_rng(3)
    m = random_mondeq(rng, 12, 2, "dense")
    np.savez(tmp_path / "m.npz", W=m.W, U=m.U, b=m.b)
    np.save(tmp_path / "x.npy", rng.standard_normal(2))
    argv = ["compile", str(tmp_path / "m.npz"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.cir")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "compile" in err and "row" in err and "wrote" in out
    assert main(argv + ["--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
