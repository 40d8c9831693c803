"""`diodenet compile` at scale: the streamed netlist writer vs the element-by-element path.

For random well-posed monDEQs (Winston–Kolter W = (1−m)I − AᵀA + B − Bᵀ, m = 0.5, 10 inputs) of
size n, times in this one run

* stream: `analog.compiler.write_mondeq_netlist` (what `diodenet compile` runs): netlist text
  straight from the arrays, one transformer loop / neuron at a time;
* objects: `compile_mondeq` (one `host.circuit` object per element) + `netlist_writer.write_netlist`
  (the same line formatters) -- only up to --objects-max (it grows ~n² objects);

with the peak resident memory of each in a fresh child process, the netlist's size, and the
ratio.  Both texts are compared where both ran (they must be identical).

    python benchmarks/compile_speed.py [--sizes 100,500,2000] [--objects-max 500] [--json]
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import numpy as np
from diodenet.host.mondeq import MonDEQ
n, mode, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rng = np.random.default_rng(n)
m = MonDEQ.winston_kolter(rng.standard_normal((n, n)) / np.sqrt(n), rng.standard_normal((n, n)) / np.sqrt(n),
                          0.5, rng.standard_normal((n, 10)), rng.standard_normal(n))
x = rng.standard_normal(10)
t0 = time.perf_counter()
if mode == "stream":
    from diodenet.analog.compiler import write_mondeq_netlist
    elements = write_mondeq_netlist(path, m, x)["elements"]
else:
    from diodenet.analog.compiler import compile_mondeq
    from diodenet.analog.netlist_writer import write_netlist
    cc = compile_mondeq(m, x)
    write_netlist(path, cc.circuit)
    elements = len(cc.circuit.elements)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "elements": elements,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(n, mode, path):
    r = subprocess.run([sys.executable, "-c", CHILD, str(n), mode, str(path)], capture_output=True,
                       text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100,500,2000")
    ap.add_argument("--objects-max", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            a, b = Path(tmp) / "stream.cir", Path(tmp) / "objects.cir"
            row = {"n": n, "stream": measure(n, "stream", a), "mb": a.stat().st_size / 1e6}
            if n <= args.objects_max:
                row["objects"] = measure(n, "objects", b)
                row["identical"] = a.read_bytes() == b.read_bytes()
                row["ratio"] = row["objects"]["seconds"] / row["stream"]["seconds"]
            rows.append(row)
            s, o = row["stream"], row.get("objects")
            line = (f"n={n:5d}  {s['elements']:>10,d} elements  {row['mb']:7.1f} MB  stream {s['seconds']:6.2f} s "
                    f"(peak {s['peak_mb']:.0f} MB)")
            if o:
                line += (f"  objects {o['seconds']:6.2f} s (peak {o['peak_mb']:.0f} MB)  {row['ratio']:.1f}x  "
                         f"{'identical' if row['identical'] else 'DIFFERENT'}")
            print(line, flush=True)
            for f in (a, b):
                f.unlink(missing_ok=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
