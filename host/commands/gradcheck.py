"""`diodenet gradcheck`: the measured hardware-linearization gradient against a reference."""

import json

import numpy as np
from tqdm.auto import tqdm

from ..backends import BACKENDS, open_backend
from ..cli import nonnegative_int, positive_float, positive_int
from ..gradcheck import measured_vs_reference_gradient, random_network


def register(sub):
    from ...analog.devices import DIODE_NAMES   # the diode cards spice knows
    p = sub.add_parser("gradcheck", help="check the measured gradient of a random network",
                       description="Hardware-linearization gradient (forward + perturbed measurement) of a "
                       "random network vs the exact implicit gradient (ideal backend) or central finite "
                       "differences of the same circuit (other backends).")
    p.add_argument("--backend", default="ideal", help=f"{', '.join(BACKENDS)} (default ideal)")
    p.add_argument("--diode", default=None, choices=DIODE_NAMES, help="spice backend: diode card")
    p.add_argument("--neurons", type=positive_int, default=32, help="neurons in the random network (default 32)")
    p.add_argument("--samples", type=positive_int, default=4, help="samples in the batch (default 4)")
    p.add_argument("--reference", choices=["implicit", "fd"], default=None,
                   help="default: implicit on the ideal backend, fd otherwise")
    p.add_argument("--epsilon", type=positive_float, default=None,
                   help="relative output perturbation (default: 1e-3, or ~100 ADC steps behind a converter)")
    p.add_argument("--one-sided", action="store_true", help="one-sided instead of centered perturbation")
    p.add_argument("--edges", type=positive_int, default=None, help="check only this many edges (largest first)")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--plot", default=None, metavar="OUT.png|DIR",
                   help="draw the agreement scatter into this file (or gradcheck.png in this folder)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def plot_agreement(result, path, title):
    from ..plots import save_figure
    import matplotlib.pyplot as plt
    ref, got = result["reference"], result["measured"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(ref, got, s=6, alpha=0.6)
    lim = np.abs(np.concatenate([ref, got])).max() * 1.05
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set_xlabel("reference ∂ℓ/∂g")
    ax.set_ylabel("measured ∂ℓ/∂g (hardware linearization)")
    ax.set_title(f"{title}\ncosine {result['cosine']:.6f}, max rel. error {result['rel_error']:.2e}", fontsize=9)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def run(args):
    from ..plots import plot_path
    if args.plot:
        args.plot = plot_path(args.plot, "gradcheck.png")
    reference = args.reference or ("implicit" if args.backend == "ideal" else "fd")
    net = random_network(args.neurons, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    x = rng.uniform(0, 1, (args.samples, net.encoding.n_features))
    y = rng.integers(0, len(net.outputs), args.samples)
    options = {"diode": args.diode} if args.diode else {}
    with open_backend(args.backend, net, **options) as backend:
        edges = None
        if args.edges:
            from ..gradients import implicit_gradient
            from ..losses import network_loss
            eq = net.solve(x)
            _, dl, _ = network_loss(net, eq.x, y)
            edges = np.argsort(-np.abs(implicit_gradient(net, dl, x, equilibrium=eq).conductance))[:args.edges]
        total = len(edges) if edges is not None else net.n_edges
        bar = tqdm(total=total, desc="finite differences", disable=reference != "fd")
        result = measured_vs_reference_gradient(backend, x, y, reference=reference, epsilon=args.epsilon,
                                centered=not args.one_sided, edges=edges, progress=bar)
        bar.close()
    summary = {"backend": args.backend, "diode": args.diode, "reference": reference, "neurons": net.n_neurons,
               "edges_checked": int(len(result["edges"])), "cosine": result["cosine"],
               "rel_error": result["rel_error"], "epsilon": args.epsilon}
    print(f"{args.backend} backend, {net.n_neurons} neurons, {summary['edges_checked']} conductances: "
          f"measured vs {reference}: cosine {result['cosine']:.9f}, max relative error {result['rel_error']:.2e}")
    if args.plot:
        plot_agreement(result, args.plot, f"{args.backend}: measured vs {reference}")
        print(f"wrote {args.plot}")
    if args.json:
        print(json.dumps(summary))
