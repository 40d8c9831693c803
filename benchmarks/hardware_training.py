"""Training in simulated hardware vs training with exact gradients, and where the time goes.

The same digits network -- the kit's analog front-end (boards/afe.py) in its "simulation" kind:
the board's array, parts and mid-rail reference, without one board's channel limits (64 features,
`--hidden` hidden neurons, 10 outputs) -- is trained twice for the same epochs, batch and seed:
  exact     the front-end's diode as a Shockley element (the card's I_S and N) on the host's
            reference solver, implicit-differentiation gradients, exact conductances;
  hardware  every forward pass and every gradient measured on the ngspice circuit through the
            spice backend with the front-end's parts: BAT54 diodes, 8-bit MCP4351 codes, 12-bit DAC
            inputs and 12-bit ADC readings around V_MID, hardware linearization (one forward and one
            perturbed settle per sample).
Prints both test accuracies, wall times, training samples per second on the spice backend, and a
profile of one hardware epoch split into ngspice (batch DC sweeps, `op`, `alter`, loading), netlist
text, potentiometer quantization and the rest (Python).

    python benchmarks/hardware_training.py [--hidden 16] [--epochs 5] [--json]
"""

import argparse
import cProfile
import json
import pstats
import time

from diodenet.analog.devices import diode_card
from diodenet.analog.spice_backend import SpiceBackend
from diodenet.host.elements import ShockleyDiode
from diodenet.boards.afe import AFE
from diodenet.host.datasets import load_dataset
from diodenet.boards.frontend import frontend_network
from diodenet.host.datasets import feature_scale
from diodenet.host.train import TrainConfig, train


def profile_split(stats):
    """Seconds spent in ngspice (batch DC sweeps, single `op`s, `alter`s, loading the batch
    netlist), writing the netlist text, quantizing to part codes, and in total."""
    total = stats.total_tt
    where = {("ngspice_engine.py", "run_sweep"): "ngspice_dc_sweep", ("ngspice_engine.py", "run_op"): "ngspice_op",
             ("ngspice_engine.py", "alter"): "ngspice_alter", ("ngspice_engine.py", "load"): "ngspice_load",
             ("spice_backend.py", "_text"): "netlist_text", ("devices.py", "codes"): "quantize"}
    parts = dict.fromkeys(where.values(), 0.0)
    for (filename, _, name), (_, _, _, cumtime, _) in stats.stats.items():
        for (file_end, func), key in where.items():
            if filename.endswith(file_end) and name == func:
                parts[key] += cumtime
    parts["python_other"] = total - sum(parts.values())
    parts["total"] = total
    return parts


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = load_dataset("digits", seed=args.seed)
    afe = AFE(n_hidden=args.hidden, n_outputs=data.n_outputs, n_inputs=data.n_features, kind="simulation")
    card = diode_card(afe.diode)
    net = frontend_network(afe, x_scale=feature_scale(data.x_train), rng=args.seed,
                           element=ShockleyDiode(saturation_current=card.IS, emission=card.N))
    config = TrainConfig(epochs=args.epochs, seed=args.seed, lr=args.lr, batch_size=args.batch,
                         lr_schedule="cosine")

    t = time.perf_counter()
    exact = train(net, data, config, progress=False)
    t_exact = time.perf_counter() - t
    print(f"front-end: {afe.n_pots} rheostats, {afe.n_neurons} neurons, {afe.pot_r_ab / 1e3:g} kOhm parts")
    print(f"exact gradients : test accuracy {100 * exact.final['test_accuracy']:.2f} % after {args.epochs} epochs, "
          f"{t_exact:.1f} s")

    backend = SpiceBackend(net)
    t = time.perf_counter()
    hw = train(backend.network, data, TrainConfig(epochs=args.epochs, seed=args.seed, lr=args.lr,
                                                  batch_size=args.batch, lr_schedule="cosine",
                                                  method="linearization"), backend=backend, progress=True)
    t_hw = time.perf_counter() - t
    print(f"spice hardware  : test accuracy {100 * hw.final['test_accuracy']:.2f} % after {args.epochs} epochs, "
          f"{t_hw:.1f} s (failed measurements: {backend.failures})")

    # one more epoch under the profiler (training samples only, no evaluation)
    prof = cProfile.Profile()
    one = TrainConfig(epochs=1, seed=args.seed + 1, lr=args.lr, batch_size=args.batch, method="linearization")
    small = type(data)(data.name, data.x_train, data.y_train, data.x_test[:1], data.y_test[:1], data.task,
                       data.n_outputs)
    prof.enable()
    t = time.perf_counter()
    train(hw.network, small, one, backend=backend, progress=False)
    t_epoch = time.perf_counter() - t
    prof.disable()
    split = profile_split(pstats.Stats(prof))
    n = len(data.x_train)
    rate = n / t_epoch
    print(f"spice backend: {rate:.1f} training samples/s ({n} samples, 2 settles each, in {t_epoch:.1f} s)")
    for k, v in split.items():
        if k != "total":
            print(f"  {k:14s} {v:7.2f} s  {100 * v / split['total']:5.1f} %")
    backend.close()
    summary = {"hidden": args.hidden, "epochs": args.epochs, "accuracy_exact": exact.final["test_accuracy"],
               "accuracy_hardware": hw.final["test_accuracy"], "wall_exact_s": t_exact, "wall_hardware_s": t_hw,
               "samples_per_s": rate, "profile_s": split}
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
