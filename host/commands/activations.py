"""`diodenet activations --plot OUT.png`: each element's activation (its resolvent) against an
ngspice DC sweep of the same element."""

import json


def register(sub):
    p = sub.add_parser("activations", help="element activations vs ngspice DC sweeps, with a plot")
    p.add_argument("--plot", default="activations.png", metavar="OUT.png|DIR",
                   help="plot file, or a folder to write activations.png into (default ./activations.png)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args):
    from diodenet.analog.activations import ELEMENTS, check_all, plot_activations
    from ..plots import plot_path
    args.plot = plot_path(args.plot, "activations.png")
    res = check_all()
    plot_activations(res, args.plot)
    for name, (_, _, _, err) in res.items():
        print(f"{ELEMENTS[name][1]:48s} max |host − ngspice| = {err:.2e} V")
    print(f"plot: {args.plot}")
    if args.json:
        print(json.dumps({name: r[3] for name, r in res.items()}))
