"""`diodenet demo`: the kit's main job on built-in defaults, stage by stage.

Today: train a resistor–diode network (ideal diodes, differential inputs) on the digits data and
report; check the hardware-linearization gradient against implicit differentiation.
"""

import json
import time
from pathlib import Path

import numpy as np


def register(sub):
    p = sub.add_parser("demo", help="run the kit's main job on built-in defaults")
    p.add_argument("-o", "--output", default="out/demo", help="output directory (default out/demo)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=run)


def stage_train(out, epochs, progress):
    from .train import summary, train_from_args
    result, _ = train_from_args("digits", 32, epochs, str(out / "digits"), resume=False, progress=progress)
    return result, summary(result, out / "digits")


def stage_gradient_check(net, n_samples=8):
    """Hardware linearization vs implicit differentiation on a few digits."""
    from ..datasets import load_dataset
    from ..gradients import hardware_linearization_gradient, implicit_gradient
    from ..losses import network_loss
    data = load_dataset("digits")
    x, y = data.x_test[:n_samples], data.y_test[:n_samples]
    eq = net.solve(x)
    _, dl_dv, _ = network_loss(net, eq.x, y)
    exact = implicit_gradient(net, dl_dv, x, equilibrium=eq).conductance
    measured = hardware_linearization_gradient(net, dl_dv, x, method="perturb", centered=True).conductance
    rel = float(np.abs(measured - exact).max() / np.abs(exact).max())
    cos = float(measured @ exact / np.linalg.norm(measured) / np.linalg.norm(exact))
    return {"gradient_rel_error": rel, "gradient_cosine": cos}


def run(args):
    out = Path(args.output)
    t0 = time.perf_counter()
    print("== diodenet demo ==")
    print("[1] training a resistor-diode network on the digits data (ideal diodes, differential inputs)")
    result, train_summary = stage_train(out, args.epochs, not args.quiet)
    print(f"    test accuracy {100 * train_summary['test_accuracy']:.1f} % with {train_summary['neurons']} neurons "
          f"and {train_summary['conductances']} conductances ({train_summary['wall_time']:.1f} s); "
          f"model, metrics and plot in {out / 'digits'}")
    print("[2] hardware-linearization gradient (perturbation measurement) vs implicit differentiation")
    grad = stage_gradient_check(result.network)
    print(f"    cosine {grad['gradient_cosine']:.12f}, max relative error {grad['gradient_rel_error']:.2e}")
    summary = {"test_accuracy": train_summary["test_accuracy"], **grad,
               "wall_time": time.perf_counter() - t0, "output": str(out)}
    print(f"done in {summary['wall_time']:.1f} s")
    if args.json:
        print(json.dumps(summary))
