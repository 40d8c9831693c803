"""monDEQ ↔ RTGD circuit (docs/science.md §1.2).

A well-posed ReLU monDEQ z = ReLU(W z + U x + b) (signed, non-symmetric W; sym(I − W) ⪰ m·I with
m > 0) has the kernel K = I − W.  With c the conductance per unit (default 1 mS) the circuit
realizes c·K between its diode nodes z0 … z{n−1}:

* sym(K) = ℓ·I + AᵀA, ℓ = λ_min(sym K) > 0 (the leak) and the rows a_k of A from the
  eigen-decomposition sym(K) − ℓI = Σ_k (λ_k − ℓ) q_k q_kᵀ, a_k = √(λ_k − ℓ)·q_k:
  - a leak resistor 1/(c·ℓ) from every z_j to ground;
  - for every row k a unit resistor (1/c) seen through ideal transformers: node z_j's
    transformer has its primary across (z_j, ground) and, for each row k, a secondary of turns
    a_kj in series loop k.  Loop k's secondaries sum to (A z)_k across the unit resistor, whose
    current c·(A z)_k reflects back into z_j as c·a_kj·(A z)_k, i.e. c·AᵀA z in all.  In SPICE a
    secondary is an E source (v = a_kj·v(z_j)); the loop current is sensed once by a 0 V source
    and reflected into each primary by an F source (the ampere-turn balance).
* skew(K) = (Wᵀ − W)/2 as gyrators of conductance c·skew(K)_jk between (z_j, 0) and (z_k, 0).
* inputs: one ideal voltage source per feature holding x_i (node x{i}) and a 1 V bias rail
  (node bias); neuron j is coupled to them by gyrators of conductance −c·U_ji and −c·b_j, which
  inject c·(U x + b)_j into z_j and load only the ideal sources.
* a diode at every z_j, anode at ground, cathode at z_j: an ideal-diode approximation or a real
  card (`devices`).

KCL at z_j is then c·(K z − U x − b)_j = i_j ≥ 0 with z ≥ 0 and z·i = 0 for ideal diodes: the
node voltages are the monDEQ's fixed point, in volts.  `kernel_of` is the reverse map (the
circuit's kernel matrices back to W, U, b), computed from the circuit itself
(`host.circuit_kernel`), not from the numbers the compiler put in.

A symmetric W with nonnegative couplings needs neither transformers nor gyrators:
`compile_mondeq(..., topology="resistor")` uses `diodenet.host.conversions.network_from_mondeq`
(resistors, differential inputs, node gains) and `network_circuit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..host.circuit import GROUND, Circuit
from .devices import diode_card
from .netlist_writer import (DEFAULT_OPTIONS, cccs_line, diode_line, model_line, options_line,
                             resistor_line, source_line, vccs_line, vcvs_line)

__all__ = ["CompiledCircuit", "compile_mondeq", "write_mondeq_netlist", "kernel_of", "network_circuit",
           "NotWellPosedError"]


class NotWellPosedError(ValueError):
    """sym(I − W) is not positive definite: the monDEQ (and any circuit of it) is not well posed."""


@dataclass
class CompiledCircuit:
    circuit: Circuit
    scale: float                      # siemens per unit of I − W
    n: int
    d: int
    leak: float                       # ℓ (per unit)
    A: np.ndarray                     # (K, n) transformer turns
    node_names: list = field(default_factory=list)
    input_sources: list = field(default_factory=list)   # V-source names (x0 …, then bias)
    node_gain: np.ndarray | None = None  # z = node_gain · v (resistor topology only)

    def set_input(self, x):
        """Change the input sources' values in the description (the netlist must be re-written
        or the engine `alter`ed with the same values)."""
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.size != self.d:
            raise ValueError(f"input needs {self.d} values, got {x.size}")
        for name, val in zip(self.input_sources, x):
            self.circuit.set_value(name, val)

    def equilibrium(self, volts):
        """z from a {node: voltage} dict (ngspice's or the host's)."""
        v = np.array([volts[nm.lower()] if nm.lower() in volts else volts[nm] for nm in self.node_names])
        return v if self.node_gain is None else v * self.node_gain


def _check_model(W, U, b, x):
    W = np.asarray(W, dtype=float)
    U = np.asarray(U, dtype=float)
    b = np.asarray(b, dtype=float).reshape(-1)
    n = b.size
    if W.shape != (n, n) or U.ndim != 2 or U.shape[0] != n:
        raise ValueError(f"monDEQ needs W (n×n), U (n×d), b (n); got W {W.shape}, U {U.shape}, b ({n},)")
    for nm, arr in (("W", W), ("U", U), ("b", b)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{nm} contains NaN or infinite values")
    x = np.asarray(x, dtype=float).reshape(-1)
    if x.size != U.shape[1]:
        raise ValueError(f"input has {x.size} values but U has {U.shape[1]} columns")
    if not np.all(np.isfinite(x)):
        raise ValueError("input contains NaN or infinite values")
    return W, U, b, x


def _inputs(model, x, diode, scale):
    """The checked (W, U, b, x), the diode card and the conductance scale of a compile call."""
    W, U, b = (model.W, model.U, model.b) if hasattr(model, "W") else model
    W, U, b, x = _check_model(W, U, b, x)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"conductance scale must be > 0 siemens, got {scale!r}")
    return W, U, b, x, diode_card(diode), float(scale)


def compile_mondeq(model, x, *, diode="ideal", scale=1e-3, topology="rtgd", title=None, rtol=1e-12):
    """Compile a ReLU monDEQ (a `MonDEQ` or a (W, U, b) tuple) driven by input x into a circuit.

    diode: "ideal" (the kit's SPICE approximation), "1n4148", "bat54" or a `DiodeCard`.
    scale: conductance per unit of I − W (siemens).  topology: "rtgd" (any well-posed W) or
    "resistor" (symmetric W with nonnegative couplings only).  Returns a `CompiledCircuit`."""
    W, U, b, x, card, c = _inputs(model, x, diode, scale)
    n, d = U.shape
    if topology == "resistor":
        return _compile_resistor(W, U, b, x, card, scale, title)
    if topology != "rtgd":
        raise ValueError(f"unknown topology {topology!r}; use 'rtgd' or 'resistor'")
    leak, A, Kk, drop, skew_tol = _rtgd_parts(W, rtol)
    circ = Circuit(title or f"diodenet monDEQ n={n} d={d} ({card.name} diodes)")
    z = [f"z{j}" for j in range(n)]
    for j in range(n):
        circ.R(f"leak{j}", z[j], GROUND, 1.0 / (c * leak))
    for k in range(A.shape[0]):
        prev = GROUND
        for j in range(n):
            a = A[k, j]
            if abs(a) <= drop:
                continue
            nxt = f"t{k}_{j}"
            # Secondary of node j's transformer in loop k: v(nxt) − v(prev) = a·v(z_j).
            circ.E(f"t{k}_{j}", nxt, prev, z[j], GROUND, a)
            prev = nxt
        if prev == GROUND:
            continue
        circ.V(f"loop{k}", prev, f"r{k}")           # senses the loop current c·(A z)_k
        circ.R(f"unit{k}", f"r{k}", GROUND, 1.0 / c)
        for j in range(n):
            a = A[k, j]
            if abs(a) > drop:
                # Primary of node j's transformer: draws a·i_loop from z_j (ampere-turn balance).
                circ.F(f"t{k}_{j}", z[j], GROUND, f"Vloop{k}", a)
    for j in range(n):
        for k in range(j + 1, n):
            g = c * Kk[j, k]
            if g != 0.0 and abs(Kk[j, k]) > skew_tol:
                circ.gyrator(f"s{j}_{k}", (z[j], GROUND), (z[k], GROUND), g)
    names = []
    for i in range(d):
        circ.V(f"x{i}", f"x{i}", GROUND, x[i])
        names.append(f"Vx{i}")
    circ.V("bias", "bias", GROUND, 1.0)
    for j in range(n):
        for i in range(d):
            if U[j, i] != 0.0:
                circ.gyrator(f"u{j}_{i}", (z[j], GROUND), (f"x{i}", GROUND), -c * U[j, i])
        if b[j] != 0.0:
            circ.gyrator(f"b{j}", (z[j], GROUND), ("bias", GROUND), -c * b[j])
    for j in range(n):
        circ.D(f"z{j}", GROUND, z[j], card)
    return CompiledCircuit(circ, c, n, d, leak, A, z, names)


def _rtgd_parts(W, rtol):
    """The RTGD decomposition of K = I − W (module docstring): leak ℓ, transformer turns A (rows
    kept above rtol), skew part, and the magnitudes below which a turn or a gyrator is left out."""
    n = W.shape[0]
    K = np.eye(n) - W
    Ks = (K + K.T) / 2
    Kk = (K - K.T) / 2
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):     # one thread: a threaded eigh on a busy
        lam, Q = np.linalg.eigh(Ks)                 # machine ran 60x slower (6 s at n = 500)
    leak = float(lam[0])
    if not leak > 0:
        raise NotWellPosedError(
            f"sym(I − W) has smallest eigenvalue {leak:.3g} ≤ 0: the monDEQ is not well posed "
            "(no unique fixed point for every input), so no passive circuit realizes it")
    keep = lam - leak > rtol * max(lam[-1], 1.0)
    A = (np.sqrt(lam[keep] - leak)[:, None] * Q[:, keep].T)
    drop = rtol * max(np.abs(A).max(initial=0.0), 1.0)
    skew_tol = rtol * max(np.abs(Kk).max(), 1.0)
    return leak, A, Kk, drop, skew_tol


def write_mondeq_netlist(path, model, x, *, diode="ideal", scale=1e-3, title=None, comments=(),
                         rtol=1e-12, progress=None):
    """`compile_mondeq(...)` written straight to an ngspice netlist at `path` -- the same text as
    `netlist_writer.write_netlist(path, compile_mondeq(...).circuit)`, byte for byte, through
    the same line formatters -- streamed one transformer loop / neuron at a time without
    element objects, so time and memory grow with
    the netlist's size only (n = 2,000 is ~12 million lines).  Written atomically.
    progress: a tqdm-like bar or None (its total is set and it is advanced per row).
    Returns a summary: n, d, elements, leak, transformer_rows."""
    from ..host.fileio import atomic_write_bytes
    W, U, b, x, card, c = _inputs(model, x, diode, scale)
    n, d = U.shape
    leak, A, Kk, drop, skew_tol = _rtgd_parts(W, rtol)
    r_leak = 1.0 / (c * leak)
    r_unit = 1.0 / c
    count = {"elements": 0}
    if progress is not None:
        progress.total = A.shape[0] + 2 * n + 1
        progress.refresh()

    def chunk(lines, step=1):
        count["elements"] += len(lines)
        if progress is not None and step:
            progress.update(step)
        return ("\n".join(lines) + "\n").encode() if lines else b""

    def text():
        head = [f".title {title or f'diodenet monDEQ n={n} d={d} ({card.name} diodes)'}"]
        head += [f"* {line}" for line in comments]
        head.append(options_line(DEFAULT_OPTIONS))
        yield ("\n".join(head) + "\n").encode()
        yield chunk([resistor_line(f"Rleak{j}", f"z{j}", GROUND, r_leak) for j in range(n)], 0)
        for k in range(A.shape[0]):
            js = np.flatnonzero(np.abs(A[k]) > drop)
            if not js.size:
                yield chunk([])
                continue
            turns = list(map(repr, A[k, js].tolist()))   # each written twice (E and F)
            nodes = [f"t{k}_{j}" for j in js.tolist()]
            prev = [GROUND] + nodes[:-1]
            lines = [vcvs_line(f"E{nm}", nm, p, f"z{j}", GROUND, a)
                     for nm, p, j, a in zip(nodes, prev, js.tolist(), turns)]
            lines += [source_line(f"Vloop{k}", nodes[-1], f"r{k}", 0.0),
                      resistor_line(f"Runit{k}", f"r{k}", GROUND, r_unit)]
            lines += [cccs_line(f"F{nm}", f"z{j}", GROUND, f"Vloop{k}", a)
                      for nm, j, a in zip(nodes, js.tolist(), turns)]
            yield chunk(lines)
        for j in range(n):
            row = Kk[j, j + 1:]
            ks = (np.flatnonzero((row != 0.0) & (np.abs(row) > skew_tol)) + j + 1).tolist()
            lines = []
            for k, gk in zip(ks, (c * Kk[j, ks]).tolist()):
                lines += _gyrator_lines(f"Gs{j}_{k}", f"z{j}", f"z{k}", gk)
            yield chunk(lines)
        lines = [source_line(f"Vx{i}", f"x{i}", GROUND, v) for i, v in enumerate(x.tolist())]
        yield chunk(lines + [source_line("Vbias", "bias", GROUND, 1.0)])
        for j in range(n):
            lines = []
            for i in np.flatnonzero(U[j] != 0.0).tolist():
                lines += _gyrator_lines(f"Gu{j}_{i}", f"z{j}", f"x{i}", float(-c * U[j, i]))
            if b[j] != 0.0:
                lines += _gyrator_lines(f"Gb{j}", f"z{j}", "bias", float(-c * b[j]))
            yield chunk(lines)
        yield chunk([diode_line(f"Dz{j}", GROUND, f"z{j}", card.model_name) for j in range(n)], 0)
        yield f"{model_line(card)}\n.op\n.end\n".encode()

    atomic_write_bytes(path, text())
    return {"n": n, "d": d, "elements": count["elements"], "leak": leak,
            "transformer_rows": int(A.shape[0])}


def _gyrator_lines(name, z, other, g):
    """The two G lines of `Circuit.gyrator(name[1:], (z, 0), (other, 0), g)`."""
    return [vccs_line(f"{name}a", z, GROUND, other, GROUND, g),
            vccs_line(f"{name}b", other, GROUND, z, GROUND, -g)]


def _compile_resistor(W, U, b, x, card, scale, title):
    from ..host.conversions import network_from_mondeq
    from ..host.mondeq import MonDEQ
    real = network_from_mondeq(MonDEQ(W, U, b), conductance_scale=scale)
    net = real.network
    circ, _ = network_circuit(net, diode=card, title=title)
    u = net.source_voltages(x)
    for p, val in enumerate(u):
        circ.set_value(f"Vs{p}", val)
    z = [f"n{j}" for j in range(net.n_neurons)]
    return CompiledCircuit(circ, scale, net.n_neurons, len(x), float("nan"), np.zeros((0, net.n_neurons)),
                           z, [], real.node_gain)


def network_circuit(net, *, diode="ideal", conductance=None, title=None, inject=True):
    """The circuit of a `ResistorDiodeNetwork`: neuron nodes n{j}, source nodes s{p} held by
    V sources Vs{p}, one resistor R{e} per edge (conductance: `conductance`, default the
    network's), a diode D{j} (anode at ground) at every neuron with a diode, and a 0 A current
    source Ip{j} into every neuron (the perturbation port).

    diode: one card for every diode, or a sequence of cards, one per neuron (a built board's
    diodes differ: `analog.built_board`; entries of neurons without a diode are ignored).

    Returns (circuit, element names of the edges)."""
    cards = list(diode) if isinstance(diode, (list, tuple)) else None
    card = diode_card(diode if cards is None else next(c for c in cards if c is not None))
    g = net.conductance if conductance is None else np.asarray(conductance, dtype=float)
    n = net.n_neurons
    circ = Circuit(title or f"diodenet resistor-diode network n={n} ({card.name} diodes)")

    def term(t):
        if t < 0:
            return GROUND
        return f"n{t}" if t < n else f"s{t - n}"

    for p in range(net.n_sources):
        circ.V(f"s{p}", f"s{p}", GROUND, 0.0)
    names = []
    for e, (a, bb) in enumerate(net.edges):
        # An open edge: a resistor far above every other one keeps the element in the netlist
        # (so it can be altered later) at a conductance of 1e-15 S.
        circ.R(f"{e}", term(a), term(bb), 1.0 / g[e] if g[e] > 0 else 1e15)
        names.append(f"r{e}")
    for j in range(n):
        if net.diodes[j]:
            circ.D(f"{j}", GROUND, f"n{j}", card if cards is None else diode_card(cards[j]))
        if inject:
            circ.I(f"p{j}", GROUND, f"n{j}", 0.0)
    return circ, names


def kernel_of(compiled):
    """The reverse map: (I − W, U, b) of a compiled circuit, read off its kernel matrices.

    H/c = I − W; the input columns of B give U = −B_x/c and the bias rail's column (1 V) b = −B_bias/c."""
    from ..host.circuit_kernel import circuit_kernel   # scipy.sparse: not for the writer's import
    ker = circuit_kernel(compiled.circuit, series=False)
    c = compiled.scale
    cols = {s.lower(): k for k, s in enumerate(ker.sources)}
    Bx = np.column_stack([ker.B[:, cols[nm.lower()]] for nm in compiled.input_sources]) \
        if compiled.input_sources else np.zeros((compiled.n, 0))
    bias = ker.B[:, cols["vbias"]] if "vbias" in cols else np.zeros(compiled.n)
    return ker.H / c, -Bx / c, -bias / c
