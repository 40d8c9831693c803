"""`diodenet compile MONDEQ.npz --input X.npy [--diode ideal|1n4148|bat54] -o OUT.cir`.

Compiles a ReLU monDEQ (arrays W (n×n), U (n×d), b (n) in an .npz, e.g. trained in PyTorch)
driven by one input vector into a complete ngspice netlist: leak resistors, transformer-coupled
unit resistors (symmetric part), gyrators (skew part), the input and bias sources, and a diode
at every node z0 … z{n−1}, whose operating point is the fixed point z* in volts.
"""

import json
import sys

from ..cli import positive_float


def register(sub):
    from ...analog.devices import DIODE_NAMES   # the diode cards spice knows
    p = sub.add_parser(
        "compile", help="compile a monDEQ (W, U, b) and an input into an ngspice netlist",
        description="Compile a well-posed ReLU monDEQ z = ReLU(Wz + Ux + b) driven by input x into an "
                    "RTGD circuit (resistors, ideal transformers, gyrators, diodes) written as a plain "
                    "ngspice netlist; nodes z0 … z{n-1} settle at the fixed point in volts.")
    p.add_argument("model", metavar="MONDEQ.npz", help="arrays W (n×n), U (n×d), b (n)")
    p.add_argument("--input", required=True, metavar="X.npy", help="input vector of length d (.npy)")
    p.add_argument("--diode", default="ideal", choices=DIODE_NAMES,
                   help="diode model: the kit's ideal-diode approximation (default) or a real part")
    p.add_argument("--scale", type=positive_float, default=1e-3,
                   help="conductance per unit of I - W, siemens (default 1e-3)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.cir", help="netlist to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=run)


def _load_input(path, d):
    import numpy as np
    from ..cli import UserError
    from ..fileio import NPY_ERRORS
    try:
        x = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"no input file at {path}") from None
    except NPY_ERRORS as exc:
        raise UserError(f"{path} is not a NumPy .npy array: {exc or type(exc).__name__}") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise UserError(f"{path} is not a single NumPy array (.npy)")
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: the input must be a real numeric array, got dtype {x.dtype}")
    x = np.asarray(x, dtype=float)
    if x.size != d or x.ndim > 2 or (x.ndim == 2 and 1 not in x.shape):
        raise UserError(f"{path}: the monDEQ takes {d} inputs, the file holds an array of shape {x.shape}")
    return x.reshape(-1)


def run(args):
    from diodenet.analog.compiler import NotWellPosedError, write_mondeq_netlist
    from diodenet.host.mondeq import MonDEQ

    from ..cli import UserError, output_file
    from ..fileio import read_npz

    output_file(args.output)

    arrays = read_npz(args.model, "monDEQ file (.npz)", allow_empty=("U",))
    missing = {"W", "U", "b"} - set(arrays)
    if missing:
        raise UserError(f"{args.model} lacks array(s) {', '.join(sorted(missing))} "
                        "(a monDEQ file holds W (n×n), U (n×d), b (n))")
    W, U, b = arrays["W"], arrays["U"], arrays["b"]
    try:
        model = MonDEQ(W, U, b)
    except ValueError as exc:
        raise UserError(f"{args.model}: {exc}") from None
    x = _load_input(args.input, model.n_features)
    comments = [f"compiled by diodenet from {args.model} with input {args.input}",
                f"nodes z0..z{model.n - 1} settle at z* = ReLU(W z* + U x + b) in volts "
                f"({args.diode} diodes; conductance scale {args.scale:g} S per unit)"]
    from tqdm.auto import tqdm
    bar = tqdm(total=1, desc="compile", unit="row", disable=args.quiet, file=sys.stderr)
    try:
        summary = write_mondeq_netlist(args.output, model, x, diode=args.diode, scale=args.scale,
                                       comments=comments, progress=bar)
    except NotWellPosedError as exc:
        raise UserError(f"{args.model}: {exc}") from None
    finally:
        bar.close()
    summary = {"output": args.output, "diode": args.diode, **summary}
    print(f"compiled monDEQ n={summary['n']}, d={summary['d']} into {summary['elements']} elements "
          f"({summary['transformer_rows']} transformer loops, leak {summary['leak']:.4g}); wrote {args.output}")
    if args.json:
        print(json.dumps(summary))
