"""Choosing ε: converter noise against linearization error, and the bias of equilibrium propagation.

On a random 16-neuron array in ngspice with 1N4148 diodes, the hardware-linearization gradient is
measured with the output perturbation ε (relative: the largest node moves by about ε × the largest
node voltage) through a 12-bit ADC (AD7928 over ±2.5 V: LSB 1.22 mV), one-sided and centered, and
compared with central finite differences of the same circuit read without quantization.  Small ε:
the change drowns in the ADC's quantization; large ε: the perturbation leaves the linear region
(first order one-sided, second order centered).  Equilibrium propagation with nudge β (no ADC) shows
its O(β) bias.  Prints a table and writes a plot (default out/epsilon_tradeoff.png).

    python benchmarks/epsilon_tradeoff.py [--neurons 16] [-o out/epsilon_tradeoff.png]
"""

import argparse
from pathlib import Path

import numpy as np

from diodenet.analog.devices import adc_quantizer
from diodenet.analog.spice_backend import SpiceBackend
from diodenet.host.gradcheck import agreement, finite_difference_gradient, random_network
from diodenet.host.hwlin import measure_gradient


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--neurons", type=int, default=16)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="out/epsilon_tradeoff.png")
    args = ap.parse_args()
    net = random_network(args.neurons, seed=args.seed, input_scale=2.0)
    rng = np.random.default_rng(args.seed + 1)
    x = rng.uniform(0, 1, (args.samples, net.encoding.n_features))
    y = rng.integers(0, len(net.outputs), args.samples)
    u = net.source_voltages(x)
    state = net.solve(u=u).state
    print(f"{args.neurons} neurons, inputs ±2 V: {100 * np.mean(state[:, net.diodes] == -1):.0f} % of the diodes "
          "conducting (in the ideal model)")
    exact_backend = SpiceBackend(net, diode="1n4148")
    ref = finite_difference_gradient(exact_backend, u, y, step=1e-5)
    exact_backend.close()
    eps = np.logspace(-5, -0.5, 10)
    rows = {"one-sided, 12-bit ADC": [], "centered, 12-bit ADC": [], "centered, no ADC": [], "eqprop (β), no ADC": []}
    adc = SpiceBackend(net, diode="1n4148", adc=adc_quantizer(-2.5, 2.5))
    clean = SpiceBackend(net, diode="1n4148")
    for e in eps:
        for key, backend, kw in (("one-sided, 12-bit ADC", adc, {}), ("centered, 12-bit ADC", adc, {"centered": True}),
                                 ("centered, no ADC", clean, {"centered": True}),
                                 ("eqprop (β), no ADC", clean, {"method": "eqprop"})):
            g = measure_gradient(backend, u, y, epsilon=e, **kw)
            rows[key].append(agreement(g.conductance, ref))
    adc.close()
    clean.close()
    print(f"{'epsilon':>9} " + " ".join(f"{k:>24}" for k in rows))
    print(f"{'':>9} " + " ".join(f"{'1-cos / rel.err':>24}" for _ in rows))
    for i, e in enumerate(eps):
        print(f"{e:>9.1e} " + " ".join(f"{1 - rows[k][i][0]:>11.2e} /{rows[k][i][1]:>10.2e}" for k in rows))
    best = {k: eps[int(np.argmin([r[1] for r in v]))] for k, v in rows.items()}
    print("best epsilon by max relative error: " + ", ".join(f"{k}: {b:.1e}" for k, b in best.items()))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, v in rows.items():
        ax.loglog(eps, [max(r[1], 1e-16) for r in v], "o-", label=k)
    ax.set_xlabel("relative perturbation ε (nudge β for eqprop)")
    ax.set_ylabel("max relative gradient error vs finite differences")
    ax.set_title(f"{args.neurons}-neuron array, 1N4148, ngspice", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.output, dpi=110, bbox_inches="tight")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
