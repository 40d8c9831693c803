"""Tolerance-aware training against plain training of the same epochs, on digits (docs/montecarlo.md).

    python benchmarks/tolerance_study.py [--variants plain mean4 ...] [--seeds 0 1 2] [--epochs 30]
                                         [--runs 200] [-o DIR]

Every variant trains the simulation front-end (6 BAT54 hidden neurons, 10 outputs, 886 rheostats,
as `diodenet train --dataset digits --backend spice` builds it) from the same initial network per
seed, with the same optimizer, schedule and epochs; only the step's gradient differs:

* plain: the nominal board;
* meanK / worstK / splitK: `analog.tolerance_training.ToleranceAware` with K boards per step and
  that objective.

Training runs on the reference solver with the diodes modelled as the front-end's diode card
exactly as ngspice evaluates it (`analog.devices.reference_network`) and the conductances
programmed through the rheostats' codes, as the spice backend realizes them -- implicit gradients,
tens of times faster than ngspice.  Each model is then scored on the same `runs` built boards as
`diodenet montecarlo MODEL --runs N` (board r drawn with seed [0, r] from the default table), each
solved by the reference solver through the board's own maps (`analog.built_board.BuiltBoard`:
codes, R_AB, R_W, fixed resistors, converters, V_MID, each diode's shifted card).  Prints nominal,
mean, 5th percentile and worst board per model, and per variant the mean over seeds and the
paired difference of the 5th percentile against plain training of the same seed.  With -o DIR the
models are written there (DIR/VARIANT_sSEED.npz) for `diodenet montecarlo` to score in ngspice.
"""

import argparse
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def coded_backend(network):
    """The reference solver programmed through the rheostats' codes (the nominal parts)."""
    from diodenet.analog.built_board import BuiltBoard
    from diodenet.boards.frontend import afe_of_network
    from diodenet.boards.tolerances import Tolerances
    from diodenet.host.seam import IdealBackend

    class Coded(IdealBackend):
        def __init__(self, net):
            super().__init__(net)
            self.board = BuiltBoard(net, Tolerances().only().sample(afe_of_network(net), [0, 0]))

        def program(self, g):
            return self.board.conductance(g, quantize=True)

    return Coded(network)


def board_accuracy(network, x, y, dev):
    """Accuracy of a front-end model on the built board `dev`, solved by the reference solver with
    the board's diode cards (what `analog.montecarlo.evaluate_board` simulates in ngspice)."""
    from diodenet.analog.built_board import BuiltBoard
    from diodenet.host.metrics import readout_metrics
    board = BuiltBoard(network, dev)
    built = board.network_of(network.conductance)
    built.element = board.reference_element(board.afe.diode)
    u = board.sources(network.source_voltages(x))
    v = board.readings(built.solve(u=u, inject=board.injection(None, len(x))).x)
    ok = np.isfinite(v).all(axis=1)
    return readout_metrics(network, np.where(np.isfinite(v), v, 0.0), ok, y, "cross_entropy")["accuracy"]


def score(network, data, runs, seed=0):
    from diodenet.boards.frontend import afe_of_network
    from diodenet.boards.tolerances import Tolerances
    afe, table = afe_of_network(network), Tolerances()
    nominal = board_accuracy(network, data.x_test, data.y_test, table.only().sample(afe, [seed, 0]))
    acc = np.array([board_accuracy(network, data.x_test, data.y_test, table.sample(afe, [seed, r]))
                    for r in range(runs)])
    return {"nominal": nominal, "mean": acc.mean(), "p5": np.percentile(acc, 5), "min": acc.min()}


def train_variant(variant, data, seed, epochs, lr):
    from diodenet.analog.devices import reference_network
    from diodenet.analog.tolerance_training import ToleranceAware
    from diodenet.host.commands.train import frontend_setup
    from diodenet.host.train import TrainConfig, train
    net, _ = frontend_setup(data, 6, seed, "simulation")
    ref = reference_network(net, net.frontend["diode"])
    model = ref
    m = re.fullmatch(r"(mean|worst|split)(\d+)", variant)
    if m:
        model = ToleranceAware(ref, {}, int(m.group(2)), m.group(1))
    elif variant != "plain":
        raise SystemExit(f"unknown variant {variant!r}: plain, meanK, worstK or splitK")
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=16, lr_schedule="cosine", method="implicit", seed=seed)
    result = train(model, data, cfg, backend=coded_backend(ref), progress=False)
    return net.with_realized(result.network.conductance)   # as the spice backend saves it


def main(argv=None):
    from diodenet.host.datasets import load_dataset
    from diodenet.host.modelio import save_model
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", nargs="+", default=["plain", "mean4"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    data = load_dataset("digits", seed=0)
    rows = {}
    print(f"{'model':18s} {'train s':>7s} {'nominal':>8s} {'mean':>6s} {'5th pct':>7s} {'worst':>6s}")
    for variant in args.variants:
        for seed in args.seeds:
            t0 = time.perf_counter()
            net = train_variant(variant, data, seed, args.epochs, args.lr)
            t = time.perf_counter() - t0
            if args.output:
                os.makedirs(args.output, exist_ok=True)
                save_model(os.path.join(args.output, f"{variant}_s{seed}.npz"), net)
            r = rows[variant, seed] = score(net, data, args.runs)
            print(f"{variant + '_s' + str(seed):18s} {t:7.0f} {100 * r['nominal']:7.1f}% {100 * r['mean']:5.1f}% "
                  f"{100 * r['p5']:6.1f}% {100 * r['min']:5.1f}%", flush=True)
    print(f"\nper variant, mean over seeds {args.seeds} ({args.epochs} epochs, {args.runs} boards):")
    for variant in args.variants:
        rs = [rows[variant, s] for s in args.seeds]
        line = "  ".join(f"{k} {100 * np.mean([r[k] for r in rs]):.2f}%" for k in ("nominal", "mean", "p5", "min"))
        if variant != "plain" and "plain" in args.variants:
            d = [100 * (rows[variant, s]["p5"] - rows["plain", s]["p5"]) for s in args.seeds]
            line += f"  5th pct vs plain: {np.mean(d):+.2f} points (per seed {', '.join(f'{x:+.1f}' for x in d)})"
        print(f"  {variant:8s} {line}")


if __name__ == "__main__":
    main()
