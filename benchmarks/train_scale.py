"""Training at MNIST's scale: a 784-1024-10 layered resistor–ideal-diode network, implicit gradient.

Builds the kit's layered network (784 differential inputs + bias rails, 1024 hidden neurons with ideal
diodes, 10 linear outputs: 1.63 M conductances) and trains it on `digits28` (the 8×8 digits
upsampled to 28×28 with shifts; no download) with batches of 256.  Prints: training samples per second
over the gradient steps (forward solve, adjoint, gradient, Adam step, programming the conductances;
best and median of --passes epochs timed one by one), the time of a whole epoch with its
evaluation, the solver the structure picked, peak memory, and the test accuracy after the epochs.
Freed memory stays mapped as in the `diodenet` command (`host/allocator.py`; --allocator default
for glibc's own behaviour: ~20 % slower here, from page faults).  Run it on an idle machine.

    python benchmarks/train_scale.py [--hidden 1024] [--batch 256] [--passes 5] [--epochs 1] [--allocator kept|default]
"""

import argparse
import json
import resource
import time

import numpy as np

from diodenet.host.allocator import keep_freed_memory
from diodenet.host.datasets import load_dataset
from diodenet.host.network import ResistorDiodeNetwork
from diodenet.host.train import TrainConfig, train


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--passes", type=int, default=5, help="gradient-step epochs timed (best and median printed)")
    p.add_argument("--allocator", choices=["kept", "default"], default="kept",
                   help="kept: freed memory stays mapped, as in the `diodenet` command (host/allocator.py)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    kept = args.allocator == "kept" and keep_freed_memory()
    data = load_dataset("digits28", seed=0)
    t = time.perf_counter()
    net = ResistorDiodeNetwork.layered(data.n_features, args.hidden, 10, rng=0)
    build = time.perf_counter() - t
    method = net.solve(data.x_train[:2]).method
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch, lr=args.lr, method="implicit", seed=0)
    # gradient steps alone: one epoch with next to no evaluation (eval_train off, a one-sample test split)
    steps_only = type(data)(data.name, data.x_train, data.y_train, data.x_test[:1], data.y_test[:1],
                            data.task, data.n_outputs)
    steps = TrainConfig(epochs=1, batch_size=args.batch, lr=args.lr, method="implicit", eval_train=False)
    train(net, steps_only, steps, progress=False)  # warm-up: plans, caches, BLAS threads
    rates = []
    for _ in range(args.passes):  # epochs timed one by one: on a shared 2-core machine they swing ±20 %
        t = time.perf_counter()
        train(net, steps_only, steps, progress=False)
        rates.append(len(data.x_train) / (time.perf_counter() - t))
    t = time.perf_counter()
    result = train(net, data, config, progress=False)
    epoch_time = (time.perf_counter() - t) / max(args.epochs, 1)
    out = {"network": f"{data.n_features}-{args.hidden}-10", "conductances": int(net.n_edges),
           "solver": method, "allocator": "kept" if kept else "default", "build_s": round(build, 2),
           "train_samples_per_s": round(max(rates)), "train_samples_per_s_median": round(float(np.median(rates))),
           "epoch_s_with_evaluation": round(epoch_time, 2), "peak_memory_mb": round(peak_mb()),
           "test_accuracy": result.final.get("test_accuracy"), "n_train": len(data.x_train)}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"  {k:26s} {v}")
    return out


if __name__ == "__main__":
    main()
