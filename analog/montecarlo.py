"""Monte Carlo yield of a trained front-end model: many built boards, each simulated in ngspice
(docs/montecarlo.md).

One run = one built board: its part deviations drawn from the tolerance table
(`boards.tolerances`) with the run's own seed [seed, run], the model programmed onto it as the host
would (`analog.built_board.BuiltBoard`), the whole test split simulated in ngspice by the spice
backend (one DC sweep per chunk of samples) and read through the board's ADC.  The runs'
accuracies give the distribution (mean, 5th percentile, yield above a threshold).

Sensitivity: run r of part kind P draws the same deviations of P as the full run r and keeps every
other part nominal (each table entry has its own random stream), so the accuracy a kind of part
costs alone is nominal accuracy − mean accuracy over those runs; the ranking sorts the kinds by it.

Runs are independent tasks on Dask (`run_tasks`): a local cluster of worker processes, one
ngspice per process (the shared library holds one circuit per process), or an existing scheduler
by address.  A result depends only on (model, data, table, seed, run), never on which worker ran
it or how many there are; a worker lost mid-run is replaced and its tasks run again (the
scheduler's own retry of a lost worker's tasks, plus `retries` for a task that raised).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import numpy as np

__all__ = ["measure_board", "evaluate_board", "MonteCarloTask", "tasks_for", "run_tasks", "summarize",
           "SchedulerUnreachable", "connect", "NOMINAL", "ALL"]

NOMINAL = "nominal"   # the board built exactly to its model
ALL = "all"           # every part spreads


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answers at the given address."""


def measure_board(network, x, dev, *, chunk=512, engine=None, adc=True):
    """What the host reads from the built board `dev` (`Tolerances.sample`) for test samples x,
    simulated in ngspice: (readings around the nominal V_MID, ok per sample).  adc=False: the
    readings before the ADC's quantization."""
    from .built_board import BuiltBoardArray
    vs, oks = [], []
    with BuiltBoardArray(network, dev, engine=engine, adc=adc) as array:
        for s in range(0, len(x), chunk):
            meas = array.measure(network.source_voltages(x[s:s + chunk]))
            vs.append(meas.v)
            oks.append(meas.ok)
    return np.concatenate(vs), np.concatenate(oks)


def evaluate_board(network, x, y, dev, *, chunk=512, engine=None):
    """Accuracy of a front-end model on the built board `dev`: {"accuracy", "loss", "failed"}
    (a sample whose simulation failed counts as wrong)."""
    from ..host.metrics import readout_metrics
    v, ok = measure_board(network, x, dev, chunk=chunk, engine=engine)
    out = readout_metrics(network, np.where(np.isfinite(v), v, 0.0), ok, y, "cross_entropy")
    out.setdefault("failed", 0)
    return out


@dataclass(frozen=True)
class MonteCarloTask:
    """One run: `group` is ALL, NOMINAL or a table entry (the only part kind that spreads)."""
    group: str
    run: int
    seed: int

    @property
    def key(self):
        return f"montecarlo-{self.group}-{self.seed}-{self.run}"


def tasks_for(runs, seed, tolerances, sensitivity_runs=0):
    """The tasks of a study: the nominal board, `runs` full runs, and `sensitivity_runs` runs per
    part kind that spreads in the table."""
    tasks = [MonteCarloTask(NOMINAL, 0, seed)]
    tasks += [MonteCarloTask(ALL, r, seed) for r in range(runs)]
    for name in tolerances.active():
        tasks += [MonteCarloTask(name, r, seed) for r in range(min(sensitivity_runs, runs))]
    return tasks


def run_task(task, network, x, y, table):
    """Worker side: one built board's accuracy (plus the seconds it took)."""
    from ..boards.tolerances import Tolerances
    t0 = time.perf_counter()
    tol = Tolerances.from_dict(table)
    if task.group == NOMINAL:
        tol = tol.only()
    elif task.group != ALL:
        tol = tol.only(task.group)
    afe = _afe(network)
    dev = tol.sample(afe, [task.seed, task.run])
    out = evaluate_board(network, x, y, dev)
    out.update(group=task.group, run=task.run, seconds=time.perf_counter() - t0)
    return out


def _inputs(network, x, y):
    return network, x, y


def _run_shared(task, inputs, table):
    return run_task(task, *inputs, table)


def _afe(network):
    from ..boards.frontend import afe_of_network
    return afe_of_network(network)


def connect(scheduler=None, workers=2, timeout=5.0):
    """(client, cluster): an existing scheduler by address (cluster None), or a new local cluster
    of `workers` processes with one thread each (one ngspice per process)."""
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{timeout}s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(
                f"no Dask scheduler answers at {scheduler} within {timeout:g} s ({exc}); start one "
                "(`dask scheduler`, then `dask worker ADDRESS` on each machine) or drop --scheduler "
                "for a local cluster") from None
    if int(workers) < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=40)
    return Client(cluster), cluster


def run_tasks(client, tasks, network, x, y, tolerances, *, progress=True, retries=2, on_result=None):
    """Run the tasks on the client's workers; results in task order.  A task that raises is
    retried `retries` times; the tasks of a worker that dies are run again elsewhere.
    on_result(k, result): called as each task's result arrives (k = how many so far)."""
    from distributed import as_completed
    from tqdm.auto import tqdm
    table = tolerances.to_dict()
    # the model and the data as a task of their own (not scattered): a lost worker's copy is
    # computed again from the task's arguments, scattered data would be lost with it
    # keys unique to this study: two studies on one scheduler never share a result
    study = uuid.uuid4().hex[:12]
    shared = client.submit(_inputs, network, np.asarray(x), np.asarray(y),
                           key=f"montecarlo-inputs-{study}", pure=False)
    futures = [client.submit(_run_shared, t, shared, table, key=f"{t.key}-{study}", pure=False,
                             retries=retries) for t in tasks]
    index = {f.key: k for k, f in enumerate(futures)}
    results = [None] * len(tasks)
    with tqdm(total=len(tasks), desc="montecarlo", unit="run", disable=not progress) as bar:
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            bar.update()
            if on_result is not None:
                on_result(bar.n, results[index[fut.key]])
    return results


def summarize(results, threshold=None, percentile=5.0):
    """Distribution of the full runs, the nominal board, and the sensitivity ranking.

    threshold: accuracy a board must reach to count towards the yield (default: the nominal
    board's accuracy − 0.02)."""
    nominal = next(r for r in results if r["group"] == NOMINAL)["accuracy"]
    acc = np.array([r["accuracy"] for r in results if r["group"] == ALL])
    if threshold is None:
        threshold = nominal - 0.02
    out = {"nominal_accuracy": nominal, "runs": int(acc.size), "threshold": float(threshold)}
    if acc.size:
        out.update(mean=float(acc.mean()), std=float(acc.std()), min=float(acc.min()),
                   max=float(acc.max()), median=float(np.median(acc)),
                   p5=float(np.percentile(acc, percentile)), percentile=percentile,
                   yield_=float(np.mean(acc >= threshold)))
        out["yield"] = out.pop("yield_")
    groups = sorted({r["group"] for r in results} - {NOMINAL, ALL})
    ranking = []
    for g in groups:
        a = np.array([r["accuracy"] for r in results if r["group"] == g])
        ranking.append({"part": g, "runs": int(a.size), "mean_accuracy": float(a.mean()),
                        "accuracy_cost": float(nominal - a.mean()), "worst": float(a.min())})
    ranking.sort(key=lambda d: -d["accuracy_cost"])
    out["sensitivity"] = ranking
    out["failed_samples"] = int(sum(r.get("failed", 0) for r in results))
    return out
