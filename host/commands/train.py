"""`diodenet train`: train a resistor–diode network on a built-in dataset or the user's own
(an .npz file with x_train, y_train, x_test, y_test, or a folder of MNIST IDX files)."""

import json

import numpy as np

from ..backends import BACKENDS, is_board_url, open_backend
from ..cli import UserError, nonnegative_int, output_dir, positive_float, positive_int
from ..datasets import DATASETS, load_dataset
from ..network import ResistorDiodeNetwork
from ..train import METHODS, TrainConfig, train


def register(sub):
    from ...analog.devices import DIODE_NAMES   # the diode cards spice knows
    p = sub.add_parser("train", help="train a resistor-diode network on a built-in dataset or your own",
                       description="Train the conductances of a resistor-diode network (ideal diodes, "
                       "differential inputs) and write model.npz, metrics.json, training.png to DIR.")
    p.add_argument("--dataset", required=True, metavar="NAME|FILE.npz|IDX_DIR",
                   help=f"a built-in dataset ({', '.join(sorted(DATASETS))}; no download), an .npz file "
                        "with arrays x_train, y_train, x_test, y_test, or a folder of the four MNIST IDX files")
    p.add_argument("--hidden", type=positive_int, default=None,
                   help="hidden neurons (default 32; 6 on a front-end; a board has its own)")
    p.add_argument("--cascade", default=None, metavar="N1[,N2…]",
                   help="train a feedforward cascade of stages joined by buffers instead, with these "
                        "hidden layer sizes (e.g. 16 for a two-stage cascade)")
    p.add_argument("--epochs", type=nonnegative_int, default=None, help="epochs (default 20; 30 on a front-end)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="samples per step (default 32; 16 on a front-end)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate on g/g_max (default 0.01; 0.05 on a front-end; 0.005 for a cascade)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=None,
                   help="learning rate per epoch (default: cosine decay on a front-end, else constant)")
    p.add_argument("--backend", default="ideal", metavar="BACKEND",
                   help=f"where the network is measured: {', '.join(BACKENDS)}, board (with --port), or a board's "
                        "serial URL (default ideal)")
    p.add_argument("--port", default=None, metavar="URL",
                   help="--backend board: the board's pyserial URL (a serial port such as /dev/ttyUSB1, or "
                        "socket://127.0.0.1:PORT for the co-simulated board of `diodenet cosim --serve`)")
    p.add_argument("--method", choices=METHODS, default=None,
                   help="gradient: implicit (reference solver), linearization (measured: forward + "
                        "perturbed settle), eqprop (finite nudge); default implicit on ideal, else linearization")
    p.add_argument("--epsilon", type=positive_float, default=None,
                   help="relative output perturbation / nudge (default: 1e-3, or ~100 ADC steps behind a converter)")
    p.add_argument("--centered", action="store_true", help="centered ±epsilon perturbation")
    p.add_argument("--diode", default="1n4148", choices=DIODE_NAMES, help="spice backend: diode card (default 1n4148)")
    p.add_argument("--no-parts", action="store_true",
                   help="spice backend: exact conductances and readings (no potentiometer codes, DAC or ADC)")
    p.add_argument("--gain", type=positive_float, default=None,
                   help="readout gain, logits per volt (default 30; a front-end's own, 300)")
    p.add_argument("--frontend", choices=["none", "board", "simulation"], default=None,
                   help="train the network of an analog front-end (boards/afe.py, docs/hardware.md): "
                        "'board' (buildable: the board's parts and limits), 'simulation' (the same "
                        "kind of array without a board's channel limits), 'none' (a free-form "
                        "network); default: the board's on --backend board and spice when the data "
                        "fits one board, else simulation on spice, none on ideal")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from this model file (e.g. fine-tune a spice-trained model on a board)")
    p.add_argument("--tolerance-aware", nargs="?", const="", default=None, metavar="FILE",
                   help="every step on a freshly drawn built board (the front-end's part tolerances, "
                        "boards/tolerances.py; FILE: JSON overrides of the table), so the model's "
                        "Monte Carlo yield rises (docs/montecarlo.md); ideal and spice backends")
    p.add_argument("--tolerance-boards", type=positive_int, default=1, metavar="K",
                   help="--tolerance-aware: boards drawn per step (default 1)")
    from ...analog.tolerance_training import OBJECTIVES
    p.add_argument("--tolerance-objective", default="mean", choices=OBJECTIVES,
                   help="--tolerance-aware: the step's loss over its K boards -- their mean, the worst "
                        "board's, or the batch dealt over them (default mean; docs/montecarlo.md)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("-o", "--output", default="out/train", help="output directory (default out/train)")
    p.add_argument("--no-resume", action="store_true",
                   help="start afresh, overwriting a checkpoint in the output directory (by default a run "
                        "resumes it, and refuses when it was made with other options)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print final metrics as one JSON line last")
    p.set_defaults(func=run)


def hardware_setup(backend, diode="1n4148", parts=True):
    """(conductance range, backend options) of a network without a front-end on a backend.

    ideal: the host model's default range, no options.  spice without parts: exact conductances
    and readings, the given diode card.  (A front-end network -- `--frontend` -- carries its own
    parts: the spice backend takes them from the network, `analog.spice_backend`.)"""
    if backend != "spice":
        return (1e-6, 1e-3), {}
    return (1e-6, 1e-3), {"diode": diode, "parts": False}


def frontend_setup(data, hidden, seed, kind="board", board_afe=None):
    """(network, AFE) for a dataset on an analog front-end (boards/afe.py): `hidden` neurons, one
    output per class, one line pair per feature; features scaled by the training set's largest
    |x| so that they span the lines' ±input_span around V_MID (the scale is recorded in the
    model's encoding).  board_afe: the front-end a board reports (its size must fit the data)."""
    from ...boards.afe import AFE
    from ...boards.frontend import frontend_network
    from ..datasets import feature_scale
    if board_afe is not None:
        afe = board_afe
        if afe.n_inputs != data.n_features or afe.n_outputs != data.n_outputs:
            raise UserError(f"the board's front-end has {afe.n_inputs} inputs and {afe.n_outputs} "
                            f"outputs; {data.name} needs {data.n_features} and {data.n_outputs}")
    else:
        afe = AFE(n_hidden=hidden, n_outputs=data.n_outputs, n_inputs=data.n_features, kind=kind)
        try:
            afe.check()
        except ValueError as exc:
            raise UserError(f"{exc}; --frontend simulation has no board limits") from None
    return frontend_network(afe, x_scale=feature_scale(data.x_train), rng=seed), afe


def parse_cascade(text):
    try:
        sizes = [int(t) for t in str(text).split(",")]
    except ValueError:
        raise UserError(f"--cascade takes comma-separated layer sizes like 16 or 32,16; got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise UserError(f"--cascade layer sizes must be ≥ 1; got {text!r}")
    return sizes


def train_cascade_from_args(data, sizes, epochs, output, backend, config, g_range, options, gain, seed,
                            resume, progress, run_info=None):
    from ..cascade import Cascade
    g_min, g_max = g_range
    model = Cascade.feedforward([data.n_features, *sizes, data.n_outputs], g_min=g_min, g_max=g_max,
                                readout_gain=gain, rng=seed)
    backends = [open_backend(backend, net, **options) for net in model.stages]
    try:
        return train(model, data, config, output, backend=backends, resume=resume, progress=progress,
                     run_info=run_info)
    finally:
        for b in backends:
            b.close()


def _frontend_kind(frontend, backend, data, hidden):
    """The front-end a run trains: 'board' on a board; on spice the board's front-end when the
    data fits one (else the simulation front-end); on ideal none unless asked."""
    if is_board_url(backend):
        if frontend not in (None, "board"):
            raise UserError("--backend board trains the board's own front-end; drop --frontend")
        return "board"
    if frontend is not None:
        return None if frontend == "none" else frontend
    if backend == "spice":
        from ...boards.afe import AFE
        try:                             # the board's own limits decide (AFE.check)
            AFE(n_hidden=hidden or 6, n_outputs=data.n_outputs, n_inputs=data.n_features).check()
        except ValueError:
            return "simulation"
        return "board"
    return None


def train_from_args(dataset, hidden, epochs, output, *, backend="ideal", method=None, epsilon=None,
                    centered=False, batch_size=None, lr=None, optimizer="adam", gain=None, seed=0,
                    diode="1n4148", parts=True, cascade=None, resume=True, progress=True,
                    frontend=None, init=None, lr_schedule=None, tolerance=None, tolerance_boards=1,
                    tolerance_objective="mean"):
    """Build the default network (or cascade) for `dataset` -- on an analog front-end when the
    backend or `frontend` asks for one -- train it through `backend`, return (result, data).
    init: a model file to start from (fine-tuning; its structure must match).  tolerance: None,
    "" (the default tolerance table) or a tolerance file: tolerance-aware training
    (`analog.tolerance_training.ToleranceAware`, K boards per step, their objective)."""
    if hidden is not None and hidden < 1 or epochs is not None and epochs < 0:
        raise UserError("--hidden must be ≥ 1 and --epochs ≥ 0")
    method = method or ("implicit" if backend == "ideal" else "linearization")
    data = load_dataset(dataset, seed=seed)
    # settings beyond TrainConfig that shape the run: a resume must match them (train.train)
    run_info = {"dataset": str(dataset), "dataset_file": _file_digest(dataset),
                "backend": backend if not is_board_url(backend) else "board", "hidden": hidden,
                "gain": gain, "cascade": cascade, "frontend": frontend, "init": _file_digest(init),
                "diode": diode if backend == "spice" and not parts else None,
                "no_parts": (not parts) if backend == "spice" else None}
    if cascade is not None and is_board_url(backend):
        raise UserError("--cascade runs on the ideal and spice backends; a board holds one array")
    kind = None if cascade is not None else _frontend_kind(frontend, backend, data, hidden)
    if lr is None:
        lr = 0.005 if cascade is not None else 0.05 if kind is not None else 0.01
    if lr_schedule is None:
        lr_schedule = "cosine" if kind is not None else "constant"
    if epochs is None:
        epochs = 30 if kind is not None else 20
    if batch_size is None:
        batch_size = 16 if kind is not None else 32
    if tolerance is not None:
        from ...boards.tolerances import Tolerances
        if kind is None:
            raise UserError("--tolerance-aware draws a front-end's parts: add --frontend board or "
                            "simulation (or train on the spice backend)")
        if is_board_url(backend) or not parts:
            raise UserError("--tolerance-aware draws parts on the ideal and spice backends with the "
                            "front-end's parts; drop --no-parts / the board")
        tolerance = Tolerances.load(tolerance).to_dict() if tolerance else {}
    if tolerance_boards < 1 or tolerance_boards > 1 and tolerance is None:
        raise UserError("--tolerance-boards takes K >= 1, with --tolerance-aware")
    if tolerance_objective != "mean" and tolerance is None:
        raise UserError("--tolerance-objective goes with --tolerance-aware")
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                         method=method, epsilon=epsilon, centered=centered, seed=seed,
                         lr_schedule=lr_schedule,
                         # a board measures the training split during its gradient steps anyway
                         eval_train=not is_board_url(backend))
    if kind is not None:
        board_afe = None
        if is_board_url(backend):
            from ..driver.board_driver import board_frontend
            board_afe = board_frontend(backend, data.n_outputs)
        net, _ = frontend_setup(data, hidden or 6 if board_afe is None else None, seed, kind, board_afe)
        if gain is not None:
            net.readout_gain = float(gain)
        net = _initial(net, init)
        options = {} if backend == "ideal" else ({} if parts else {"parts": False, "diode": diode})
        with open_backend(backend, net, **options) as array:
            model = array.network
            if tolerance is not None:        # the training task draws the boards (analog/)
                from ...analog.tolerance_training import ToleranceAware
                model = ToleranceAware(model, tolerance, tolerance_boards, tolerance_objective)
            return train(model, data, config, output, backend=array, resume=resume,
                         progress=progress, run_info=run_info), data
    hidden = hidden or 32
    gain = 30.0 if gain is None else gain
    (g_min, g_max), options = hardware_setup(backend, diode, parts)
    if cascade is not None:
        return train_cascade_from_args(data, parse_cascade(cascade), epochs, output, backend, config,
                                       (g_min, g_max), options, gain, seed, resume, progress,
                                       run_info), data
    net = ResistorDiodeNetwork.layered(data.n_features, hidden, data.n_outputs, readout_gain=gain,
                                       g_min=g_min, g_max=g_max, rng=seed)
    net = _initial(net, init)
    with open_backend(backend, net, **options) as array:
        return train(net, data, config, output, backend=array, resume=resume, progress=progress,
                     run_info=run_info), data


def _file_digest(path):
    """'name sha256-prefix' of a file (a folder: of its files), None for None or a built-in name:
    a resume notices when the data or the starting model behind the same name changed."""
    import hashlib
    from pathlib import Path
    if path is None or str(path) in DATASETS or not Path(path).exists():
        return None
    p = Path(path)
    h = hashlib.sha256()
    for f in sorted(p.iterdir()) if p.is_dir() else [p]:
        if f.is_file():
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return f"{p.name} {h.hexdigest()[:16]}"


def _initial(net, init):
    """The network to start from: `net`, or the model file `init` when it has net's structure."""
    if init is None:
        return net
    from ..modelio import load_model
    try:
        model = load_model(init)
    except (OSError, ValueError) as exc:
        raise UserError(f"--init {init}: {exc}") from None
    if not isinstance(model, ResistorDiodeNetwork) or model.n_neurons != net.n_neurons \
            or model.encoding.to_dict() != net.encoding.to_dict() \
            or any(np.shape(getattr(model, k)) != np.shape(getattr(net, k))
                   or not np.array_equal(getattr(model, k), getattr(net, k)) for k in ("edges", "outputs", "diodes")):
        raise UserError(f"--init {init}: its network is not the one this run trains (different "
                        "front-end or size); train with the same --dataset/--hidden/--frontend")
    if net.frontend is not None and model.frontend is not None:
        from ...boards.afe import AFE
        from ...boards.frontend import check_same_frontend
        try:
            check_same_frontend(AFE.from_dict(model.frontend), AFE.from_dict(net.frontend), "this run")
        except ValueError as exc:
            raise UserError(f"--init {init}: {exc}") from None
    return model


def summary(result, output, backend="ideal", method="implicit"):
    final = dict(result.final)
    if "train_loss" in final:
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
    output_dir(args.output)
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
                                   resume=not args.no_resume, progress=not args.quiet,
                                   frontend=args.frontend, init=args.init,
                                   lr_schedule=args.lr_schedule, tolerance=args.tolerance_aware,
                                   tolerance_boards=args.tolerance_boards,
                                   tolerance_objective=args.tolerance_objective)
    method = args.method or ("implicit" if args.backend == "ideal" else "linearization")
    final = summary(result, args.output, args.backend, method)
    print(f"dataset {data.name} on the {args.backend} backend ({method} gradients): {final['neurons']} neurons, "
          f"{final['conductances']} conductances, {final['epochs']} epochs in {final.get('wall_time', 0):.1f} s")
    for key in ("train_loss", "train_loss_running", "test_loss", "train_accuracy",
                "train_accuracy_running", "test_accuracy", "test_diode_on_fraction"):
        if key in final:
            print(f"  {key:15s} {final[key]:.4f}")
    if result.epochs_run == 0 and final["epochs"] > 0:
        print(f"  {args.output} already holds this run's {final['epochs']} epochs: nothing trained, "
              "results unchanged (--epochs N to continue, --no-resume to start afresh)")
    else:
        print(f"  wrote {args.output}/model.npz, metrics.json, training.png")
    if args.json:
        print(json.dumps(final))
