"""`diodenet solve` against ngspice on large netlists: time, memory and agreement in one run.

Netlists (tests/netlist_gen.py, fixed seed): resistor–diode ladders (a chain of series
resistors with a shunt resistor, a clipping diode to a ±2 V rail and now and then a current
source at every tap) and random sparse lattice networks (resistors on a square lattice, diodes
to neighbours, ground and ±3 V rails, sources scattered).  For each:

* ngspice: ngspice 39 through its shared library (the kit's engine), load + `op`, default
  options (or --tight: reltol=1e-12 abstol=1e-18 vntol=1e-15);
* ours, library: `read_netlist` + `solve_ideal` / `solve_shockley` in this process;
* ours, command: `diodenet solve FILE --quiet --json [--shockley]` as a fresh process (Python
  start-up and printing the whole table included), with its peak resident memory;
* agreement: Shockley mode vs ngspice, max |ΔV| / max |V|; ideal mode: the certificate's
  relative residual (exact to rounding).

Ratios: the library's and the command's time over ngspice's (the command adds ~1.5 s of Python
start-up and imports).  Timings on a shared 2-core machine are noisy.

    python benchmarks/netlist_speed.py [--sizes 10000,30000,100000] [--kinds ladder,random]
                                       [--modes ideal,shockley] [--tight] [--json]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from netlist_gen import ladder_netlist, random_sparse_netlist  # noqa: E402

from diodenet.analog.ngspice_engine import get_engine  # noqa: E402
from diodenet.host.operating_point import solve_ideal, solve_shockley  # noqa: E402
from diodenet.host.netlist_reader import read_netlist  # noqa: E402

GENERATORS = {"ladder": ladder_netlist, "random": random_sparse_netlist}
TIGHT = ".options reltol=1e-12 abstol=1e-18 vntol=1e-15"


# The command in a fresh process, reporting its own peak memory (VmHWM: the high-water mark
# of this process's memory, which -- unlike ru_maxrss -- does not inherit the parent's).
_WRAPPER = """
import sys
from diodenet.host.cli import main
code = main(sys.argv[1:])
with open("/proc/self/status") as fh:
    hwm = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
sys.stderr.write(f"\\nVmHWM {hwm}\\n")
sys.exit(code)
"""


def run_command(path, shockley):
    """Wall time, peak memory (MB) and the JSON voltages of `diodenet solve` in a fresh process."""
    argv = [sys.executable, "-c", _WRAPPER, "solve", str(path), "--quiet", "--json"]
    if shockley:
        argv.append("--shockley")
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"diodenet solve failed ({proc.returncode}): {proc.stderr[-2000:]}")
    hwm = [ln for ln in proc.stderr.splitlines() if ln.startswith("VmHWM ")]
    rss = int(hwm[-1].split()[1]) / 1024.0 if hwm else float("nan")
    volts = json.loads(proc.stdout.strip().splitlines()[-1])
    return wall, rss, volts


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,30000,100000",
                    help="comma-separated element counts (default 10000,30000,100000)")
    ap.add_argument("--kinds", default="ladder,random", help="ladder,random")
    ap.add_argument("--random-max", type=int, default=30000,
                    help="largest random network (ngspice is slow on them; default 30000)")
    ap.add_argument("--modes", default="ideal,shockley", help="ideal,shockley")
    ap.add_argument("--tight", action="store_true", help="ngspice with tight tolerances")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="end with one JSON line of the rows")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.kinds.split(",")
    modes = args.modes.split(",")
    for k in kinds:
        if k not in GENERATORS:
            raise SystemExit(f"unknown kind {k!r}; use {', '.join(GENERATORS)}")
    eng = get_engine()
    rows = []
    print(f"{'network':>8} {'elements':>9} {'mode':>8} {'ngspice':>9} {'library':>9} "
          f"{'command':>9} {'lib/ng':>7} {'cmd/ng':>7} {'peak MB':>8}  agreement")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for size in sizes:
                if kind == "random" and size > args.random_max:
                    continue
                text = GENERATORS[kind](np.random.default_rng(args.seed), size)
                path = Path(tmp) / f"{kind}{size}.cir"
                path.write_text(text)
                ng_text = text.replace("\n.op\n", f"\n{TIGHT}\n.op\n") if args.tight else text
                t0 = time.perf_counter()
                ref = eng.operating_point(ng_text)
                t_ng = time.perf_counter() - t0
                for mode in modes:
                    t0 = time.perf_counter()
                    circuit = read_netlist(path)
                    op = solve_shockley(circuit) if mode == "shockley" else solve_ideal(circuit)
                    t_lib = time.perf_counter() - t0
                    t_cmd, rss, volts = run_command(path, mode == "shockley")
                    assert volts == op.node_voltages, "command and library differ"
                    if mode == "shockley":
                        scale = max(abs(v) for v in ref.values())
                        err = max(abs(ref[k.lower()] - v) for k, v in volts.items()) / scale
                        agree = f"max|dV|/max|V| = {err:.1e} vs ngspice"
                    else:
                        err = op.certificate.relative
                        agree = f"certificate {err:.1e} ({op.iterations} active-set steps)"
                    elements = len(circuit.elements)
                    row = dict(network=kind, elements=elements, mode=mode, ngspice_s=t_ng,
                               library_s=t_lib, command_s=t_cmd,
                               library_ratio=t_lib / t_ng, command_ratio=t_cmd / t_ng,
                               peak_mb=rss, agreement=err, tight=args.tight)
                    rows.append(row)
                    print(f"{kind:>8} {elements:>9} {mode:>8} {t_ng:>8.2f}s {t_lib:>8.2f}s "
                          f"{t_cmd:>8.2f}s {t_lib / t_ng:>7.2f} {t_cmd / t_ng:>7.2f} "
                          f"{rss:>8.0f}  {agree}",
                          flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
