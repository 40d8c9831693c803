"""`diodenet train`: train a resistor–diode network on a built-in dataset."""

import json

import numpy as np

from ...analog.devices import DIODE_NAMES
from ..backends import BACKENDS, is_board_url, open_backend
from ..cli import UserError
from ..datasets import DATASETS, load_dataset
from ..network import ResistorDiodeNetwork
from ..train import METHODS, TrainConfig, train


def register(sub):
    p = sub.add_parser("train", help="train a resistor-diode network on a built-in dataset",
                       description="Train the conductances of a resistor-diode network (ideal diodes, "
                       "differential inputs) and write model.npz, metrics.json, training.png to DIR.")
    p.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="built-in dataset (no download)")
    p.add_argument("--hidden", type=int, default=32, help="hidden neurons (default 32)")
    p.add_argument("--cascade", default=None, metavar="N1[,N2…]",
                   help="train a feedforward cascade of stages joined by buffers instead, with these "
                        "hidden layer sizes (e.g. 16 for a two-stage cascade)")
    p.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate on g/g_max (default 0.01; 0.005 for a cascade)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--backend", default="ideal", metavar="BACKEND",
                   help=f"where the network is measured: {', '.join(BACKENDS)}, board (with --port), or a board's "
                        "serial URL (default ideal)")
    p.add_argument("--port", default=None, metavar="URL",
                   help="--backend board: the board's pyserial URL (a serial port such as /dev/ttyUSB1, or "
                        "socket://127.0.0.1:PORT for the co-simulated board of `diodenet cosim --serve`)")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="gradient: implicit (reference solver), linearization (measured: forward + "
                        "perturbed settle), eqprop (finite nudge); default implicit on ideal, else linearization")
    p.add_argument("--epsilon", type=float, default=None,
                   help="relative output perturbation / nudge (default: 1e-3, or ~100 ADC steps behind a converter)")
    p.add_argument("--centered", action="store_true", help="centered ±epsilon perturbation")
    p.add_argument("--diode", default="1n4148", choices=DIODE_NAMES, help="spice backend: diode card (default 1n4148)")
    p.add_argument("--no-parts", action="store_true",
                   help="spice backend: exact conductances and readings (no potentiometer codes, DAC or ADC)")
    p.add_argument("--gain", type=float, default=30.0, help="readout gain, logits per volt (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="out/train", help="output directory (default out/train)")
    p.add_argument("--no-resume", action="store_true", help="ignore a checkpoint in the output directory")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print final metrics as one JSON line last")
    p.set_defaults(func=run)


def hardware_setup(backend, diode="1n4148", parts=True):
    """(conductance range, backend options) of the kit's reference hardware for a backend name.

    ideal: the host model's default range, no options.  spice: the digital potentiometer's
    realizable range (MCP4351, 8-bit rheostat: codes ↔ conductance through boards.parts.Rheostat),
    the AD5628 12-bit DAC on the inputs and the AD7928 12-bit ADC on the node voltages, both over
    ±2.5 V after the front-end's level shifters (see docs/analog.md), and a real diode card."""
    if backend != "spice":
        return (1e-6, 1e-3), {}
    if not parts:
        return (1e-6, 1e-3), {"diode": diode}
    from ...analog.devices import Potentiometer, adc_quantizer, dac_quantizer
    pot = Potentiometer()
    return (pot.g_min, pot.g_max), {"diode": diode, "part": pot, "dac": dac_quantizer(-2.5, 2.5),
                                    "adc": adc_quantizer(-2.5, 2.5)}


def board_setup(data, hidden, seed, r_inject=10e3):
    """(network, dataset) for a board: the network its analog front-end realizes (hidden neurons,
    one output per class, one line pair per feature; `host.board.afe_network`) and the dataset
    with each feature as a complementary pair for the unipolar DACs."""
    from dataclasses import replace

    from ...boards.afe import AFE
    from ..board import afe_network
    from ..encoding import complementary_pairs
    afe = AFE(n_hidden=hidden, n_outputs=data.n_outputs, n_inputs=data.n_features, r_inject=r_inject)
    net = afe_network(afe, rng=seed)
    scale = max(float(np.abs(data.x_train).max()), 1e-12)  # features into [−1, 1]
    coded = replace(data, name=f"{data.name} (complementary)",
                    x_train=complementary_pairs(data.x_train / scale), x_test=complementary_pairs(data.x_test / scale))
    return net, coded


def parse_cascade(text):
    try:
        sizes = [int(t) for t in str(text).split(",")]
    except ValueError:
        raise UserError(f"--cascade takes comma-separated layer sizes like 16 or 32,16; got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise UserError(f"--cascade layer sizes must be ≥ 1; got {text!r}")
    return sizes


def train_cascade_from_args(data, sizes, epochs, output, backend, config, g_range, options, gain, seed,
                            resume, progress):
    from ..cascade import Cascade
    g_min, g_max = g_range
    model = Cascade.feedforward([data.n_features, *sizes, data.n_outputs], g_min=g_min, g_max=g_max,
                                readout_gain=gain, rng=seed)
    backends = [open_backend(backend, net, **options) for net in model.stages]
    try:
        return train(model, data, config, output, backend=backends, resume=resume, progress=progress)
    finally:
        for b in backends:
            b.close()


def train_from_args(dataset, hidden, epochs, output, *, backend="ideal", method=None, epsilon=None,
                    centered=False, batch_size=32, lr=None, optimizer="adam", gain=30.0, seed=0,
                    diode="1n4148", parts=True, cascade=None, resume=True, progress=True):
    """Build the default network (or cascade) for `dataset`, train it through `backend`,
    return (result, data)."""
    if hidden < 1 or epochs < 0:
        raise UserError("--hidden must be ≥ 1 and --epochs ≥ 0")
    method = method or ("implicit" if backend == "ideal" else "linearization")
    lr = lr or (0.005 if cascade is not None else 0.01)
    data = load_dataset(dataset, seed=seed)
    (g_min, g_max), options = hardware_setup(backend, diode, parts)
    if is_board_url(backend):
        if cascade is not None:
            raise UserError("--cascade runs on the ideal and spice backends; a board holds one array")
        net, data = board_setup(data, hidden, seed)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                             method=method, epsilon=epsilon, centered=centered, seed=seed)
        with open_backend(backend, net) as array:
            return train(array.network, data, config, output, backend=array, resume=resume,
                         progress=progress), data
    if cascade is not None:
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                             method=method, epsilon=epsilon, centered=centered, seed=seed)
        return train_cascade_from_args(data, parse_cascade(cascade), epochs, output, backend, config,
                                       (g_min, g_max), options, gain, seed, resume, progress), data
    net = ResistorDiodeNetwork.layered(data.n_features, hidden, data.n_outputs, readout_gain=gain,
                                       g_min=g_min, g_max=g_max, rng=seed)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                         method=method, epsilon=epsilon, centered=centered, seed=seed)
    with open_backend(backend, net, **options) as array:
        return train(net, data, config, output, backend=array, resume=resume, progress=progress), data


def summary(result, output, backend="ideal", method="implicit"):
    final = dict(result.final)
    final.pop("train_loss_running", None)
    model = result.network
    stages = getattr(model, "stages", [model])
    final.update({"backend": backend, "method": method, "epochs": len(result.history),
                  "neurons": int(sum(s.n_neurons for s in stages)),
                  "conductances": int(sum(s.n_edges for s in stages)), "model": f"{output}/model.npz"})
    if len(stages) > 1:
        final["stages"] = len(stages)
    return final


def run(args):
    if args.backend == "board":
        if not args.port:
            raise UserError("--backend board needs --port URL (e.g. socket://127.0.0.1:PORT from `diodenet cosim --serve`)")
        args.backend = args.port
    elif args.port:
        raise UserError("--port is for --backend board")
    result, data = train_from_args(args.dataset, args.hidden, args.epochs, args.output,
                                   backend=args.backend, method=args.method, epsilon=args.epsilon,
                                   centered=args.centered, batch_size=args.batch_size, lr=args.lr,
                                   optimizer=args.optimizer, gain=args.gain, seed=args.seed,
                                   diode=args.diode, parts=not args.no_parts, cascade=args.cascade,
                                   resume=not args.no_resume, progress=not args.quiet)
    method = args.method or ("implicit" if args.backend == "ideal" else "linearization")
    final = summary(result, args.output, args.backend, method)
    print(f"dataset {data.name} on the {args.backend} backend ({method} gradients): {final['neurons']} neurons, "
          f"{final['conductances']} conductances, {final['epochs']} epochs in {final.get('wall_time', 0):.1f} s")
    for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
        if key in final:
            print(f"  {key:15s} {final[key]:.4f}")
    print(f"  wrote {args.output}/model.npz, metrics.json, training.png")
    if args.json:
        print(json.dumps(final))
