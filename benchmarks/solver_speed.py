"""Exact active-set solver vs forward–backward vs Peaceman–Rachford at equal accuracy.

Three families of random ideal-diode arrays, batch 256 random input voltages each:
  dense    each neuron coupled to ~8 others and to 16 inputs, conductances log-uniform over the
           kit's realizable range 1 µS–1 mS, leak 1 µS (well conditioned: every node sees many inputs);
  lattice  a √n×√n grid of neurons, 10 µS–1 mS couplings, inputs entering on one edge, leak 1 µS
           (sparse and local, like a crossbar tile: ill conditioned, κ grows with n);
  digits   the kit's layered digits topology (64 differential inputs, n − 10 hidden, 10 outputs)
           with random conductances over the realizable range.
Every method runs to a relative natural residual ≤ 1e-9 (the exact solver ends at rounding
level); a splitting method that has not got there within --max-seconds is reported as a lower
bound (">").  Prints wall times and ratios, all measured in this one run.

    python benchmarks/solver_speed.py [--sizes 64 256 1024] [--families dense lattice digits]
"""

import argparse
import json
import time

import numpy as np

from diodenet.host.network import ResistorDiodeNetwork
from diodenet.host.solvers import forward_backward, peaceman_rachford, solve_exact

G_MIN, G_MAX, LEAK = 1e-6, 1e-3, 1e-6


def log_uniform(rng, lo, hi, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))


def dense_family(n, batch, rng, n_inputs=16, degree=8):
    G = np.zeros((n, n))
    for j in range(n):
        for k in rng.choice(n, degree // 2, replace=False):
            if k != j:
                G[j, k] = G[k, j] = log_uniform(rng, G_MIN, G_MAX)
    G_in = log_uniform(rng, G_MIN, G_MAX, (n, n_inputs))
    H = np.diag(G.sum(1) + G_in.sum(1) + LEAK) - G
    return H, -(rng.uniform(-1, 1, (batch, n_inputs)) @ G_in.T)


def lattice_family(n, batch, rng, n_inputs=16):
    side = int(round(np.sqrt(n)))
    n = side * side
    G = np.zeros((n, n))
    for i in range(side):
        for j in range(side):
            a = i * side + j
            if j + 1 < side:
                G[a, a + 1] = G[a + 1, a] = log_uniform(rng, 1e-5, G_MAX)
            if i + 1 < side:
                G[a, a + side] = G[a + side, a] = log_uniform(rng, 1e-5, G_MAX)
    G_in = np.zeros((n, n_inputs))
    for i in range(side):
        G_in[i * side, rng.choice(n_inputs, 4, replace=False)] = G_MAX
    H = np.diag(G.sum(1) + G_in.sum(1) + LEAK) - G
    return H, -(rng.uniform(-1, 1, (batch, n_inputs)) @ G_in.T)


def digits_family(n, batch, rng):
    net = ResistorDiodeNetwork.layered(64, n - 10, 10, output_diodes=True, rng=rng)
    net = net.with_conductance(log_uniform(rng, G_MIN, G_MAX, net.n_edges))
    H, B, _, _ = net.kernel()
    return H, net.source_voltages(rng.uniform(0, 1, (batch, 64))) @ B.T


FAMILIES = {"dense": dense_family, "lattice": lattice_family, "digits": digits_family}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--tol", type=float, default=1e-9)
    ap.add_argument("--max-seconds", type=float, default=120.0, help="time budget per splitting run")
    ap.add_argument("--json", action="store_true", help="print all rows as one JSON line last")
    args = ap.parse_args()
    rows = []
    print(f"{'family':>8} {'n':>5} {'kappa':>8} {'exact s':>8} {'FB s':>9} {'PR s':>8} "
          f"{'FB/exact':>9} {'PR/exact':>9} {'it FB':>7} {'it PR':>6} {'res exact':>9}")
    for family in args.families:
        for n in args.sizes:
            rng = np.random.default_rng(n)
            H, q = FAMILIES[family](n, args.batch, rng)
            eig = np.linalg.eigvalsh(H)
            t_ex, ex = timed(lambda: solve_exact(H, q))
            t_fb, fb = timed(lambda: forward_backward(H, q, tol=args.tol, max_iter=10**8,
                                                      max_seconds=args.max_seconds, check=False))
            t_pr, pr = timed(lambda: peaceman_rachford(H, q, tol=args.tol, max_iter=10**8,
                                                       max_seconds=args.max_seconds, check=False))
            fb_ok, pr_ok = fb.max_residual <= args.tol, pr.max_residual <= args.tol
            row = {"family": family, "n": H.shape[0], "batch": args.batch, "kappa": float(eig[-1] / eig[0]),
                   "exact_s": t_ex, "fb_s": t_fb, "pr_s": t_pr, "fb_converged": bool(fb_ok),
                   "pr_converged": bool(pr_ok), "fb_over_exact": t_fb / t_ex, "pr_over_exact": t_pr / t_ex,
                   "fb_iterations": fb.iterations, "pr_iterations": pr.iterations,
                   "exact_residual": ex.max_residual}
            rows.append(row)
            mark = lambda ok: " " if ok else ">"
            print(f"{family:>8} {row['n']:>5} {row['kappa']:>8.0f} {t_ex:>8.3f} {mark(fb_ok)}{t_fb:>8.3f} "
                  f"{mark(pr_ok)}{t_pr:>7.3f} {mark(fb_ok)}{t_fb / t_ex:>8.1f} {mark(pr_ok)}{t_pr / t_ex:>8.1f} "
                  f"{fb.iterations:>7} {pr.iterations:>6} {ex.max_residual:>9.1e}", flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
