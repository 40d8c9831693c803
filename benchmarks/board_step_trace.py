"""Trace one training step through a board: which of the kit's files it touches and how often
control crosses between them (the house's layering, docs/layers.md), plus the step's time and link
traffic.

    diodenet cosim --serve                       # prints socket://127.0.0.1:PORT
    python benchmarks/board_step_trace.py --port socket://127.0.0.1:PORT [--json]

The step is what `diodenet train --dataset xor --hidden 3 --backend board` does per batch: program
the conductances, then measure the gradient by hardware linearization (one forward batch, one
perturbed batch).  One untraced warm-up step runs first (connection, first programming).
"""
import argparse
import collections
import json
import os
import sys
import time

import numpy as np

from diodenet.host.driver.board_driver import board_frontend
from diodenet.host.backends import open_backend
from diodenet.host.commands.train import frontend_setup
from diodenet.host.datasets import load_dataset
from diodenet.host.train import ArrayTask, TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("host", "analog", "hdl", "sim", "boards")


def _repo_file(path):
    """'host/board.py' for a file of the kit, None for anything else."""
    rel = os.path.relpath(path, ROOT) if path.startswith(ROOT) else None
    return rel if rel and rel.split(os.sep)[0] in PACKAGES else None


def trace(fn):
    """Run fn() under a profiler; (files touched, Counter of (caller file, callee file) calls)."""
    files, crossings = set(), collections.Counter()
    cache = {}

    def name(code):
        f = cache.get(code.co_filename, False)
        if f is False:
            f = cache[code.co_filename] = _repo_file(code.co_filename)
        return f

    def profile(frame, event, arg):
        if event != "call":
            return
        callee = name(frame.f_code)
        if callee is None:
            return
        files.add(callee)
        back = frame.f_back
        while back is not None and name(back.f_code) is None:   # through library frames
            back = back.f_back
        caller = name(back.f_code) if back is not None else None
        if caller is not None and caller != callee:
            crossings[caller, callee] += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return files, crossings


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", required=True, help="the board's URL (socket://… of `diodenet cosim --serve`)")
    ap.add_argument("--batch", type=int, default=16, help="samples per step (the front-end default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    data = load_dataset("xor", seed=0)
    afe = board_frontend(args.port, data.n_outputs)
    net, _ = frontend_setup(data, None, 0, "board", afe)
    config = TrainConfig(epochs=1, batch_size=args.batch, lr=0.05, method="linearization")
    x, y = data.x_train[:args.batch], data.y_train[:args.batch]
    with open_backend(args.port, net) as backend:
        task = ArrayTask(backend)
        g = task.conductance.copy()

        def step(g):
            task.program(g)
            return task.gradient(x, y, "cross_entropy", config)

        step(g)                                            # warm-up: connect, program every rheostat
        g2 = np.clip(g * 1.01, task.g_min, task.g_max)     # a step changes every conductance a little
        link = backend.client
        before = dict(link.stats)
        t0 = time.perf_counter()
        files, crossings = trace(lambda: step(g2))
        traced = time.perf_counter() - t0
        requests = {k: link.stats.get(k, 0) - before.get(k, 0) for k in link.stats}
        g3 = np.clip(g * 0.99, task.g_min, task.g_max)
        t0 = time.perf_counter()
        step(g3)
        untraced = time.perf_counter() - t0

    by_pair = collections.Counter()
    for (a, b), k in crossings.items():
        by_pair[tuple(sorted((a, b)))] += k
    result = {"files": sorted(files), "n_files": len(files),
              "crossings": sum(crossings.values()),
              "top_pairs": [[a, b, k] for (a, b), k in by_pair.most_common(12)],
              "step_seconds": round(untraced, 3), "traced_step_seconds": round(traced, 3),
              "link": requests}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"one board step: {untraced:.2f} s ({traced:.2f} s traced), link {requests}")
    print(f"{len(files)} files, {result['crossings']} calls between files")
    for f in sorted(files):
        print("  ", f)
    print("most crossed pairs:")
    for a, b, k in result["top_pairs"]:
        print(f"   {k:6d}  {a} ⇄ {b}")


if __name__ == "__main__":
    main()
