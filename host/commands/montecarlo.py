"""`diodenet montecarlo MODEL --runs N`: the yield of a trained front-end model over built boards.

Each run draws a board's part deviations from the tolerance table (`boards.tolerances`, overridable
with --tolerances FILE), simulates the model's test split on it in ngspice and scores it; runs are
Dask tasks on a local cluster (--workers) or an existing scheduler (--scheduler).  Writes
montecarlo.json (every run, the distribution, the sensitivity ranking, the table used) and
histogram.png to DIR (docs/montecarlo.md).
"""

import json
import os
import time

from ..cli import nonnegative_int, positive_float, positive_int, unit_interval


def register(sub):
    p = sub.add_parser("montecarlo", help="accuracy of a trained model over built boards (Monte Carlo in ngspice)",
                       description="Draw part deviations of built boards from the front-end's tolerance "
                                   "table, simulate the model's test set on each in ngspice (runs sharded "
                                   "over Dask workers), and report the accuracy distribution, a histogram "
                                   "and which parts' spread costs the most accuracy.")
    p.add_argument("model", metavar="MODEL", help="trained front-end model (.npz from diodenet train)")
    p.add_argument("--runs", type=positive_int, default=200, help="built boards to simulate (default 200)")
    p.add_argument("--tolerances", default=None, metavar="FILE",
                   help='JSON overrides of the default table, e.g. {"pot_r_ab": 0.1, "pot_r_w": [100, 200]}')
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="an existing Dask scheduler (e.g. tcp://10.0.0.1:8786); default: a local cluster")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local cluster: worker processes, one ngspice each (default: one per CPU core)")
    p.add_argument("--sensitivity-runs", type=nonnegative_int, default=10, metavar="K",
                   help="runs per part kind with only that part spreading, for the ranking (default 10; 0: none)")
    p.add_argument("--threshold", type=unit_interval, default=None,
                   help="accuracy a board must reach to count towards the yield (default: nominal - 0.02)")
    p.add_argument("--dataset", default=None, help="dataset (default: inferred from the feature count)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="run r draws its board with seed [SEED, r]")
    p.add_argument("--connect-timeout", type=positive_float, default=5.0, metavar="S",
                   help="seconds to wait for --scheduler to answer (default 5)")
    p.add_argument("-o", "--output", default="out/montecarlo", help="output directory (default out/montecarlo)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line last")
    p.set_defaults(func=run)


def load_inputs(model, tolerances, dataset=None):
    """(network, AFE, data, table) of a montecarlo study; ValueError naming a bad input."""
    from ...analog.verify import dataset_for
    from ...boards.tolerances import Tolerances
    from ...boards.frontend import afe_of_network
    from ..modelio import load_model
    from ..network import ResistorDiodeNetwork
    net = load_model(model)
    if not isinstance(net, ResistorDiodeNetwork):
        raise ValueError(f"{model}: montecarlo takes one front-end network, not a {type(net).__name__}")
    try:
        afe = afe_of_network(net)
    except ValueError as exc:
        raise ValueError(f"{model}: {exc}") from None
    table = Tolerances.load(tolerances) if tolerances else Tolerances()
    return net, afe, dataset_for(net, dataset), table


def run(args):
    from ...analog import montecarlo as mc
    from ..cli import UserError
    if args.runs < 1 or args.sensitivity_runs < 0:
        raise UserError("--runs must be >= 1 and --sensitivity-runs >= 0")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UserError(f"--threshold is an accuracy in [0, 1], got {args.threshold}")
    if args.workers is None:
        args.workers = os.cpu_count() or 1
    client = cluster = None
    try:
        if args.scheduler:           # an address that does not answer: said before any other work
            client, cluster = mc.connect(args.scheduler, args.workers, args.connect_timeout)
        net, afe, data, table = load_inputs(args.model, args.tolerances, args.dataset)
        tasks = mc.tasks_for(args.runs, args.seed, table, args.sensitivity_runs)
        if client is None:
            client, cluster = mc.connect(None, args.workers)
        if args.scheduler:
            try:
                client.wait_for_workers(1, timeout=args.connect_timeout)
            except (TimeoutError, OSError):
                raise UserError(f"the Dask scheduler at {args.scheduler} has no workers (waited "
                                f"{args.connect_timeout:g} s); start some with `dask worker "
                                f"{args.scheduler}`") from None
        n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
        t0 = time.perf_counter()
        results = mc.run_tasks(client, tasks, net, data.x_test, data.y_test, table, progress=not args.quiet)
        wall = time.perf_counter() - t0
    except mc.SchedulerUnreachable as exc:
        raise UserError(str(exc)) from None
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    summary = mc.summarize(results, args.threshold)
    summary.update(model=args.model, dataset=data.name, test_samples=int(len(data.y_test)),
                   workers=n_workers, scheduler=args.scheduler or "local", seed=args.seed,
                   wall_time=wall, tasks=len(tasks),
                   run_seconds_mean=float(sum(r["seconds"] for r in results) / len(results)))
    write_outputs(args.output, summary, results, table, afe)
    print_summary(summary, args.output)
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "sensitivity"}
                         | {"sensitivity": [[s["part"], round(s["accuracy_cost"], 5)] for s in summary["sensitivity"]]}))


def write_outputs(out_dir, summary, results, table, afe):
    from pathlib import Path
    from ..fileio import atomic_write_text
    out = Path(out_dir)
    doc = {"summary": summary, "tolerances": table.to_dict(),
           "table": [dict(zip(("part", "spread", "per", "source"), row)) for row in table.table()],
           "frontend": afe.to_dict(), "runs": results}
    atomic_write_text(out / "montecarlo.json", json.dumps(doc, indent=1))
    plot_histogram(summary, [r["accuracy"] for r in results if r["group"] == "all"], out / "histogram.png")


def plot_histogram(summary, acc, path):
    import numpy as np
    from ..plots import plt, save_figure
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    acc = np.asarray(acc)
    # bins on whole numbers of test samples (an accuracy moves in steps of 1/n)
    q = 1.0 / max(int(summary.get("test_samples", 0)), 1)
    k = max(1, int(np.ceil((acc.max() - acc.min()) / 40 / q))) if acc.size else 1
    edges = (np.arange(np.rint(acc.min() / q) - 0.5, np.rint(acc.max() / q) + k, k) * q
             if acc.size else 10)                    # edges halfway between accuracy values
    ax.hist(acc * 100, bins=np.asarray(edges) * 100, color="tab:blue", alpha=0.8)
    for value, label, style in ((summary["nominal_accuracy"], "nominal board", "-"),
                                (summary.get("mean"), "mean", "--"), (summary.get("p5"), "5th percentile", ":"),
                                (summary["threshold"], "threshold", "-.")):
        if value is not None:
            ax.axvline(value * 100, color="k", linestyle=style, label=f"{label} {value * 100:.1f} %")
    ax.set_xlabel("test accuracy (%)")
    ax.set_ylabel("built boards")
    ax.set_title(f"{summary['runs']} built boards: yield {summary.get('yield', 0) * 100:.0f} % "
                 f"at >= {summary['threshold'] * 100:.1f} %")
    ax.legend(fontsize=8)
    ax = axes[1]
    ranking = summary["sensitivity"]
    if ranking:
        names = [s["part"] for s in ranking][::-1]
        cost = [s["accuracy_cost"] * 100 for s in ranking][::-1]
        ax.barh(names, cost, color="tab:red")
        ax.set_xlabel("accuracy lost when only this part spreads (points)")
        ax.set_title("sensitivity")
    else:
        ax.axis("off")
    save_figure(fig, path)


def print_summary(s, out_dir):
    print(f"{s['runs']} built boards of {s['model']} on {s['dataset']} ({s['test_samples']} test samples each), "
          f"{s['workers']} workers, {s['wall_time']:.1f} s")
    print(f"  nominal board   {s['nominal_accuracy']:.4f}")
    for key in ("mean", "std", "p5", "min", "max"):
        print(f"  {key:15s} {s[key]:.4f}")
    print(f"  yield           {s['yield']:.3f} (accuracy >= {s['threshold']:.4f})")
    if s["sensitivity"]:
        print("  accuracy lost when only one kind of part spreads:")
        for r in s["sensitivity"]:
            print(f"    {r['part']:12s} {r['accuracy_cost'] * 100:+.2f} points (worst {r['worst']:.4f})")
    print(f"  wrote {out_dir}/montecarlo.json, histogram.png")
