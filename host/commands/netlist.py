"""`diodenet netlist MODEL --part MCP4351 -o OUT.cir`: a trained network as an ngspice netlist of
real parts (potentiometer taps, diode cards), runnable with `ngspice -b` on its own."""

import json


def register(sub):
    from ...analog.devices import DIODE_NAMES   # the diode cards spice knows
    p = sub.add_parser("netlist", help="write a trained model as an ngspice netlist of real parts",
                       description="Write the model's resistor-diode circuit with each conductance realized "
                                   "by a digital potentiometer tap (or exact with --part none) and real diode "
                                   "cards, as plain ngspice text.")
    p.add_argument("model", metavar="MODEL", help="trained model (.npz)")
    p.add_argument("--part", default="MCP4351", help="potentiometer part (default MCP4351) or none")
    p.add_argument("--diode", default="1n4148", choices=DIODE_NAMES)
    p.add_argument("--input", default=None, metavar="X.npy", help="features held by the sources (default zeros)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.cir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args):
    import numpy as np

    from diodenet.boards.parts import PartRangeError
    from diodenet.analog.verify import netlist_for_model
    from diodenet.host.modelio import load_model
    from diodenet.host.network import ResistorDiodeNetwork

    from ..cli import UserError

    from ..cli import output_file
    output_file(args.output)
    net = load_model(args.model)
    if not isinstance(net, ResistorDiodeNetwork):
        raise UserError(f"{args.model} holds a {type(net).__name__}; use diodenet compile for a monDEQ")
    x = None
    if args.input:
        from .compile import _load_input
        x = _load_input(args.input, net.encoding.n_features)
    try:
        r = netlist_for_model(net, args.output, diode=args.diode, part=args.part, x=x)
    except PartRangeError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {args.output}: {net.n_neurons} neurons, {net.n_edges} conductances"
          + (f" on {args.part} taps (scale {r['scale']:.4g}, {r['raised']} raised to the part's minimum)"
             if r["codes"] is not None else " (exact)"))
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "codes"}))
    del np
