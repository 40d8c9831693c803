"""Operating points per second: the spice backend vs PySpice's high-level `operating_point()`.

One 64-neuron array (the kit's layered topology: 16 differential features + bias rails = 34
sources, 54 hidden and 10 output neurons, hidden–output couplings, 1N4148 diodes), the same
random input samples for both, measured in this one run:

* PySpice high-level: the circuit as a PySpice `Circuit`; per sample set the source values and
  call `circuit.simulator(...).operating_point()` (PySpice formats and loads the whole netlist,
  runs op and builds an analysis object every time);
* spice backend: netlist loaded once; per sample `alter` the sources that changed, `op`, read
  the node voltages.

Both answers are compared (they must agree to 1e-9 V).  On a loaded 2-core machine timings are
noisy; the ratio is what counts.

    python benchmarks/spice_speed.py [--samples 200] [--json]
"""

import argparse
import json
import time

import numpy as np

from diodenet.analog.compiler import network_circuit
from diodenet.analog.netlist_writer import to_pyspice
from diodenet.analog.ngspice_engine import get_engine
from diodenet.analog.spice_backend import SpiceBackend
from diodenet.host.network import ResistorDiodeNetwork


def make_array(seed=0):
    return ResistorDiodeNetwork.layered(16, 54, 10, rng=seed, output_diodes=True)


def pyspice_high_level(net, u, diode):
    eng = get_engine()
    circ, _ = network_circuit(net, diode=diode)
    pc = to_pyspice(circ)
    names = [f"n{j}" for j in range(net.n_neurons)]
    out = np.empty((len(u), net.n_neurons))
    t0 = time.perf_counter()
    for s in range(len(u)):
        for p in range(net.n_sources):
            pc[f"Vs{p}"].dc_value = float(u[s, p])
        analysis = pc.simulator(simulator="ngspice-shared", ngspice_shared=eng).operating_point()
        out[s] = [float(analysis.nodes[nm][0]) for nm in names]
    dt = time.perf_counter() - t0
    # PySpice loaded its own circuit behind the engine's back: clear it so nothing mistakes it
    # for the engine's loaded circuit.
    eng.exec_command("destroy all")
    eng.exec_command("remcirc")
    eng._loaded = False
    eng._title = None
    return out, dt


def spice_backend(net, u, diode):
    with SpiceBackend(net, diode=diode) as sb:
        sb.measure(u[:1])  # warm-up (first op)
        t0 = time.perf_counter()
        m = sb.measure(u)
        dt = time.perf_counter() - t0
    if not m.ok.all():
        raise RuntimeError(f"{np.count_nonzero(~m.ok)} samples failed")
    return m.v, dt


def run(samples=200, diode="1n4148", seed=0):
    net = make_array(seed)
    rng = np.random.default_rng(seed)
    u = net.source_voltages(rng.uniform(0, 1, size=(samples, net.encoding.n_features)))
    n_hl = max(10, samples // 5)  # the slow path needs fewer samples for a stable rate
    v_hl, t_hl = pyspice_high_level(net, u[:n_hl], diode)
    v_sb, t_sb = spice_backend(net, u, diode)
    err = float(np.abs(v_hl - v_sb[:n_hl]).max())
    rate_hl, rate_sb = n_hl / t_hl, samples / t_sb
    return {"neurons": net.n_neurons, "edges": net.n_edges, "sources": net.n_sources, "diode": diode,
            "pyspice_op_per_s": rate_hl, "backend_op_per_s": rate_sb, "speedup": rate_sb / rate_hl,
            "max_abs_difference": err, "samples_pyspice": n_hl, "samples_backend": samples}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--diode", default="1n4148")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = run(args.samples, args.diode)
    print(f"{r['neurons']}-neuron array, {r['edges']} resistors, {r['sources']} sources, {r['diode']} diodes")
    print(f"  PySpice operating_point(): {r['pyspice_op_per_s']:8.1f} op/s ({r['samples_pyspice']} samples)")
    print(f"  spice backend:             {r['backend_op_per_s']:8.1f} op/s ({r['samples_backend']} samples)")
    print(f"  speed-up {r['speedup']:.1f}x; answers agree to {r['max_abs_difference']:.1e} V")
    if r["max_abs_difference"] > 1e-9:
        raise SystemExit("the two paths disagree")
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
