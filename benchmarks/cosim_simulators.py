"""One xor training epoch on the co-simulated board, Icarus against Verilator, in one run.

The same board (`SimConfig()`: `SMALL_AFE`, 12 MHz controller clock, nominal parts, the BAT54
card -- what `diodenet cosim --serve` starts) is simulated by each Verilog simulator in turn, and
`diodenet train --dataset xor --hidden 3 --backend board --port URL --epochs N --json` trains
through it (same seed, so the same model and data).  Prints per simulator the build time (cached
builds are reused: "cached"), the start time, the wall time of the train command (with its
start-up) and of its epochs (its own `wall_time`), the simulator's CPU seconds,
the test accuracy and loss, and the speed ratio; the accuracies must agree (the gateware, the
part models and the array are the same, only the simulator differs).

    python benchmarks/cosim_simulators.py [--epochs 1] [--simulators icarus,verilator] [--json]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from diodenet.sim import CosimBoard, SimConfig
from diodenet.sim.runner import SIMULATORS


def _cpu_seconds(pid):
    """User + system CPU seconds of `pid` and its children so far, from /proc (Linux)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for t in os.listdir(f"/proc/{p}/task"):
                stack += [int(c) for c in open(f"/proc/{p}/task/{t}/children").read().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def epoch(simulator, epochs):
    t0 = time.monotonic()
    board = CosimBoard(SimConfig(), timeout=3600, simulator=simulator)
    board.start()
    try:
        started = time.monotonic() - t0
        with tempfile.TemporaryDirectory(prefix="diodenet-bench-") as out:
            cpu0 = _cpu_seconds(board.proc.pid)
            t1 = time.monotonic()
            run = subprocess.run([sys.executable, "-m", "diodenet.host", "train", "--dataset", "xor",
                                  "--hidden", "3", "--backend", "board", "--port", board.url,
                                  "--epochs", str(epochs), "--json", "--quiet", "-o", out],
                                 capture_output=True, text=True, timeout=3600)
            wall = time.monotonic() - t1
            cpu = _cpu_seconds(board.proc.pid) - cpu0
        if run.returncode != 0:
            raise SystemExit(f"training on the {simulator} board failed:\n{run.stderr[-3000:]}")
        res = json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        board.close()
    return {"simulator": simulator, "build_s": board.build_time, "start_s": started,
            "epochs": epochs, "train_wall_s": wall, "epoch_wall_s": res["wall_time"] / epochs,
            "simulator_cpu_s": cpu,
            "test_accuracy": res["test_accuracy"], "test_loss": res["test_loss"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--simulators", default=",".join(SIMULATORS),
                    help=f"comma-separated, of {', '.join(SIMULATORS)} (default: both)")
    ap.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = ap.parse_args(argv)
    sims = [s for s in args.simulators.split(",") if s]
    bad = [s for s in sims if s not in SIMULATORS]
    if bad or args.epochs < 1:
        ap.error(f"unknown simulator(s) {bad}" if bad else "--epochs must be >= 1")
    rows = [epoch(s, args.epochs) for s in sims]
    print(f"{'simulator':10} {'build s':>8} {'start s':>8} {'train s':>8} {'epoch s':>8} "
          f"{'sim CPU s':>9} {'accuracy':>8} {'loss':>8}")
    for r in rows:
        build = "cached" if r["build_s"] < 1 else f"{r['build_s']:.1f}"
        print(f"{r['simulator']:10} {build:>8} {r['start_s']:8.1f} {r['train_wall_s']:8.1f} "
              f"{r['epoch_wall_s']:8.1f} {r['simulator_cpu_s']:9.1f} {r['test_accuracy']:8.4f} "
              f"{r['test_loss']:8.4f}")
    out = {"rows": rows}
    if len(rows) > 1:
        base = rows[0]
        for r in rows[1:]:
            ratio = base["train_wall_s"] / r["train_wall_s"]
            same = abs(r["test_accuracy"] - base["test_accuracy"]) < 1e-9
            print(f"{r['simulator']} vs {base['simulator']}: {ratio:.2f}x faster per "
                  f"{args.epochs} epoch(s); test accuracy {'the same' if same else 'DIFFERS'}")
            out[f"speedup_{r['simulator']}"] = ratio
            out[f"same_accuracy_{r['simulator']}"] = same
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
