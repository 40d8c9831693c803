"""The solver and training benchmarks run (small sizes) and report what they claim: the kit's
solutions at the residual the table compares at, the algorithm the structure picked, a trained
network.  Timings are not asserted here (benchmarks print them; see README)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_solver_peers_quick_rows():
    rows = load("solver_peers").main(["--quick", "--repeats", "1", "--batch", "32", "--allocator", "default", "--json"])
    assert {r["row"] for r in rows} == {"monDEQ n=64 m=0.5", "layered 64-100-10"}
    for r in rows:
        assert r["residual"] <= 1e-9 and r["residual_exact"] <= 1e-13, r
        assert r["peer_s"] > 0 and r["kit_s"] > 0
    methods = {r["row"]: r["method"] for r in rows}
    assert methods == {"monDEQ n=64 m=0.5": "peaceman-rachford", "layered 64-100-10": "bipartite-newton"}


@pytest.mark.slow
def test_train_scale_small_network():
    out = load("train_scale").main(["--hidden", "48", "--epochs", "1", "--passes", "2", "--allocator", "default", "--json"])
    assert out["solver"] == "bipartite-newton" and out["network"] == "784-48-10"
    assert out["test_accuracy"] > 0.3  # one epoch on 784 features learns something (chance 0.1)
