"""Monte Carlo on Dask: speed-up of 2 workers over 1 on this machine, the per-run cost, the
scheduler's overhead per task, and the speed-up predicted for a real cluster (docs/montecarlo.md).

    python benchmarks/montecarlo_scaling.py MODEL [--runs 60] [--dataset digits]

Measured in one run of this script:
* T1, T2: wall time of the same `runs` Monte Carlo tasks on a local cluster of 1 and of 2 worker
  processes (cluster start-up excluded, each worker warmed up by one task first); the results must
  be identical;
* c: per-run cost = the mean of the tasks' own compute seconds on 1 worker;
* o: scheduler overhead per task = wall time per task of `runs`·10 empty tasks on 1 worker (submit,
  schedule, run nothing, return: what the scheduler and the transport cost a task).
Prediction for W workers on N runs (every run independent, the scheduler serial):
T(W) = N·c/W + N·o, so speed-up S(W) = (c + o) / (c/W + o), at most (c + o)/o.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _noop(i):
    return i


def timed_runs(workers, tasks, net, data, table):
    from diodenet.analog.montecarlo import connect, run_task, run_tasks
    client, cluster = connect(None, workers)
    try:
        # warm every worker (imports, ngspice's shared library) with one run each
        warm = [client.submit(run_task, tasks[0], net, data.x_test, data.y_test, table.to_dict(),
                              pure=False, workers=[w]) for w in client.scheduler_info(n_workers=-1)["workers"]]
        client.gather(warm)
        t0 = time.perf_counter()
        results = run_tasks(client, tasks, net, data.x_test, data.y_test, table, progress=False)
        wall = time.perf_counter() - t0
        overhead = None
        if workers == 1:
            n = 10 * len(tasks)
            t0 = time.perf_counter()
            client.gather(client.map(_noop, range(n), pure=False))
            overhead = (time.perf_counter() - t0) / n
    finally:
        client.close()
        cluster.close()
    return wall, results, overhead


def main():
    from diodenet.analog.montecarlo import ALL, MonteCarloTask
    from diodenet.host.commands.montecarlo import load_inputs
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--runs", type=int, default=60)
    p.add_argument("--dataset", default=None)
    args = p.parse_args()
    net, _, data, table = load_inputs(args.model, None, args.dataset)
    tasks = [MonteCarloTask(ALL, r, 0) for r in range(args.runs)]
    t1, r1, o = timed_runs(1, tasks, net, data, table)
    t2, r2, _ = timed_runs(2, tasks, net, data, table)
    same = [a["accuracy"] for a in r1] == [b["accuracy"] for b in r2]
    c = float(np.mean([r["seconds"] for r in r1]))
    print(f"{args.runs} runs of {args.model} ({len(data.y_test)} test samples each)")
    print(f"  1 worker: {t1:.1f} s   2 workers: {t2:.1f} s   speed-up {t1 / t2:.2f}x   "
          f"identical results: {same}")
    print(f"  per-run cost c = {c:.3f} s   scheduler overhead per task o = {o * 1e3:.2f} ms")
    for w in (2, 8, 64):
        print(f"  predicted speed-up at {w:3d} workers: {(c + o) / (c / w + o):.1f}x")
    print(f"  limit (c + o)/o = {(c + o) / o:.0f}x")


if __name__ == "__main__":
    main()
