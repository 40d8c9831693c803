"""`diodenet verify MODEL [--json]`: reference solver vs ngspice on N samples of the model's data.

Prints the max and mean node-voltage error, the test accuracy under each, and writes a plot.
With --json the last line of stdout is one JSON object (max_rel_error, accuracy_reference,
accuracy_spice, …).  Nothing is written to the model file.
"""

import json

from ..cli import positive_int


def register(sub):
    from ...analog.devices import DIODE_NAMES   # the diode cards spice knows
    p = sub.add_parser("verify", help="reference solver vs ngspice (device level) for a trained model",
                       description="Run N test samples through the exact reference solver and through the "
                                   "model's device-level circuit in ngspice (real diode cards, potentiometer "
                                   "quantization); report errors and accuracy under each, and plot them.")
    p.add_argument("model", metavar="MODEL", help="trained model (.npz from diodenet train)")
    p.add_argument("--samples", type=positive_int, default=200, help="test samples (default 200)")
    p.add_argument("--dataset", default=None, help="dataset (default: inferred from the feature count)")
    p.add_argument("--diode", default="1n4148", choices=DIODE_NAMES)
    p.add_argument("--part", default="MCP4351", help="potentiometer part, or none for exact conductances")
    p.add_argument("--plot", default=None, metavar="OUT.png|DIR",
                   help="plot file, or a folder to write MODEL_verify.png into (default: beside MODEL)")
    p.add_argument("--backend", default=None, metavar="BACKEND",
                   help="instead: evaluate the model as is on a backend -- spice, or a board's URL "
                        "(e.g. socket://127.0.0.1:PORT of `diodenet cosim --serve`) -- against the "
                        "reference solver, on the test split of --dataset (needs a front-end model)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    p.set_defaults(func=run)


def run_on_backend(args, net):
    """Test accuracy of a model on a backend, without retraining, vs the reference solver."""
    from ..backends import open_backend
    from ..cli import UserError
    from ..datasets import DATASETS, load_dataset
    from ..train import evaluate
    if args.dataset not in DATASETS:
        raise UserError(f"--backend needs --dataset (one of {', '.join(sorted(DATASETS))})")
    data = load_dataset(args.dataset, seed=0)
    if data.n_features != net.encoding.n_features:
        raise UserError(f"{args.model} takes {net.encoding.n_features} features, {args.dataset} has "
                        f"{data.n_features}")
    x, y = data.x_test[:args.samples], data.y_test[:args.samples]
    reference_model = net
    if net.frontend is not None:                # its own diode, as ngspice evaluates the card
        from ...analog.devices import reference_network
        from ...boards.frontend import frontend_of
        reference_model = reference_network(net, frontend_of(net).diode)
    reference = evaluate(reference_model, x, y)
    try:
        with open_backend(args.backend, net) as backend:
            measured = evaluate(backend.network, x, y, backend=backend)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    r = {"backend": args.backend, "samples": len(x), "accuracy_reference": reference.get("accuracy"),
         "accuracy_backend": measured.get("accuracy"), "loss_reference": reference["loss"],
         "loss_backend": measured["loss"], "diode_on_fraction": measured.get("diode_on_fraction"),
         "failed": measured.get("failed", 0)}
    print(f"{r['samples']} test samples of {args.dataset}: accuracy {100 * r['accuracy_backend']:.1f} % on "
          f"{args.backend}, {100 * r['accuracy_reference']:.1f} % on the reference solver (the "
          f"front-end's diode); "
          f"{100 * (r['diode_on_fraction'] or 0):.0f} % of diodes conducting")
    if args.json:
        print(json.dumps(r))


def run(args):
    from pathlib import Path

    from diodenet.boards.parts import PartRangeError
    from diodenet.analog.verify import verify_model
    from diodenet.host.modelio import load_model
    from diodenet.host.network import ResistorDiodeNetwork

    from ..cli import UserError

    if args.samples < 1:
        raise UserError("--samples must be ≥ 1")
    net = load_model(args.model)
    if not isinstance(net, ResistorDiodeNetwork):
        raise UserError(f"{args.model} holds a {type(net).__name__}; verify takes a resistor-diode network "
                        "(use diodenet compile for a monDEQ)")
    if args.backend is not None:
        return run_on_backend(args, net)
    from ..plots import plot_path
    default = Path(args.model).stem + "_verify.png"
    plot = plot_path(args.plot, default) if args.plot else str(Path(args.model).with_suffix("")) + "_verify.png"
    try:
        r = verify_model(net, dataset=args.dataset, samples=args.samples, diode=args.diode,
                         part=args.part, plot=plot)
    except PartRangeError as exc:
        raise UserError(str(exc)) from None
    print(f"{r['samples']} samples ({r['failed']} failed in ngspice), {r['diode']} diodes, {r['part']} "
          f"potentiometers (scale {r['conductance_scale']:.4g}, {r['conductances_raised_to_part_minimum']} "
          "conductances raised to the part's minimum)")
    print(f"  node voltage error: max {r['max_abs_error']:.3g} V ({r['max_rel_error']:.3g} rel), "
          f"mean {r['mean_abs_error']:.3g} V ({r['mean_rel_error']:.3g} rel)")
    print(f"  accuracy: reference {100 * r['accuracy_reference']:.1f} %, ngspice {100 * r['accuracy_spice']:.1f} %"
          f", same prediction on {100 * r.get('prediction_agreement', float('nan')):.1f} %")
    print(f"  plot: {plot}")
    if args.json:
        print(json.dumps(r))
