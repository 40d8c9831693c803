"""Random resistor–diode netlists for tests.

`random_netlist(rng, ...)` returns a `Generated`: the ngspice text plus the same circuit as plain
element tuples, so that tests can check the kit's parser and solvers against independent code.

Every node gets a resistive path to ground (a random spanning tree of resistors), resistances
span decades, voltage sources drive some nodes against ground (optionally one floating source
between two nodes), current sources connect random nodes, and diodes take every placement:
node–node, node–ground in both orientations, and node–source (one terminal on a driven node).
Diodes are never placed across a source alone (ideal diodes would short it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

GROUND = "0"
PLACEMENTS = ("node-node", "anode-ground", "cathode-ground", "node-source")


@dataclass
class Generated:
    text: str
    nodes: list[str]                                          # non-ground, as written
    resistors: list[tuple[str, str, str, float]] = field(default_factory=list)
    vsources: list[tuple[str, str, str, float]] = field(default_factory=list)
    isources: list[tuple[str, str, str, float]] = field(default_factory=list)
    diodes: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, a, c, model
    models: dict[str, dict[str, float]] = field(default_factory=dict)
    placements: list[str] = field(default_factory=list)

    def with_options(self, line: str) -> str:
        """The netlist text with an extra card inserted before `.end`."""
        body = self.text.rstrip().splitlines()
        assert body[-1].lower() == ".end"
        return "\n".join(body[:-1] + [line, ".end"]) + "\n"

    def with_models(self, params: dict[str, str]) -> str:
        """The netlist text with every `.model` card replaced by D(params)."""
        card = " ".join(f"{k}={v}" for k, v in params.items())
        out = []
        for ln in self.text.splitlines():
            if ln.lower().startswith(".model"):
                name = ln.split()[1]
                ln = f".model {name} D({card})"
            out.append(ln)
        return "\n".join(out) + "\n"


def _node_name(rng, k):
    style = rng.integers(3)
    return (f"n{k}", f"N_{k}", f"Out{k}")[style]


def random_netlist(rng: np.random.Generator, n_nodes: int = 6, n_diodes: int = 5,
                   n_vsources: int = 2, n_isources: int = 1, extra_resistors: int = 3,
                   floating_vsource: bool = False, rs: bool = False, n_models: int = 2,
                   decades: tuple[float, float] = (1.0, 6.0), volts: float = 5.0,
                   title: str = "random resistor-diode netlist") -> Generated:
    nodes = [_node_name(rng, k) for k in range(1, n_nodes + 1)]
    gen = Generated(text="", nodes=nodes)
    all_nodes = nodes + [GROUND]

    def rval():
        return float(np.round(10 ** rng.uniform(*decades), 3))

    # Resistive spanning tree over nodes + ground, then extra resistors.
    order = list(rng.permutation(len(all_nodes)))
    pairs = []
    for k in range(1, len(order)):
        a = all_nodes[order[k]]
        b = all_nodes[order[rng.integers(k)]]
        pairs.append((a, b))
    for _ in range(extra_resistors):
        a, b = rng.choice(len(all_nodes), size=2, replace=False)
        pairs.append((all_nodes[a], all_nodes[b]))
    for k, (a, b) in enumerate(pairs, 1):
        gen.resistors.append((f"R{k}", a, b, rval()))

    # Voltage sources to ground on distinct nodes (ground either terminal).
    driven = list(rng.choice(nodes, size=min(n_vsources, n_nodes - 1), replace=False))
    for k, nd in enumerate(driven, 1):
        val = float(np.round(rng.uniform(-volts, volts), 4))
        if rng.random() < 0.5:
            gen.vsources.append((f"V{k}", nd, GROUND, val))
        else:
            gen.vsources.append((f"V{k}", GROUND, nd, val))
    free = [nd for nd in nodes if nd not in driven]
    if floating_vsource and len(free) >= 2:
        a, b = rng.choice(free, size=2, replace=False)
        gen.vsources.append((f"Vf", str(a), str(b), float(np.round(rng.uniform(-2, 2), 4))))
        driven.append(str(a))
        free.remove(str(a))
    for k in range(1, n_isources + 1):
        a, b = rng.choice(len(all_nodes), size=2, replace=False)
        val = float(np.round(rng.uniform(-1, 1) * 10 ** rng.uniform(-5, -3), 9))
        gen.isources.append((f"I{k}", all_nodes[a], all_nodes[b], val))

    # Diode models.
    for k in range(1, n_models + 1):
        params = {"IS": float(f"{10 ** rng.uniform(-16, -9):.4g}"),
                  "N": float(np.round(rng.uniform(0.8, 2.0), 3))}
        if rs:
            params["RS"] = float(np.round(10 ** rng.uniform(0, 3), 2))
        gen.models[f"dmod{k}"] = params
    model_names = list(gen.models)

    # Diodes: cycle through the placements so that each appears.  A diode must not close a
    # loop made of diodes and voltage sources only (with at least one source): ideal diodes
    # would short the source, and real ones would carry absurd currents.
    hard = [(a, b, "v") for _, a, b, _ in gen.vsources]

    def closes_source_loop(a, c):
        seen = {(a, False)}
        todo = [(a, False)]
        while todo:
            u, used_v = todo.pop()
            if u == c and used_v:
                return True
            for x, y, kind in hard:
                for p, q in ((x, y), (y, x)):
                    if p == u:
                        st = (q, used_v or kind == "v")
                        if st not in seen:
                            seen.add(st)
                            todo.append(st)
        return False

    for k in range(1, n_diodes + 1):
        for attempt in range(50):
            kind = PLACEMENTS[(k - 1) % len(PLACEMENTS)] if k <= len(PLACEMENTS) and \
                attempt < 10 else PLACEMENTS[rng.integers(len(PLACEMENTS))]
            if kind == "node-node":
                a, c = (str(x) for x in rng.choice(nodes, size=2, replace=False))
            elif kind == "node-source" and driven and free:
                s, o = str(rng.choice(driven)), str(rng.choice(free))
                a, c = (s, o) if rng.random() < 0.5 else (o, s)
            elif kind == "cathode-ground":
                a, c = str(rng.choice(nodes)), GROUND
            else:
                kind = "anode-ground"
                a, c = GROUND, str(rng.choice(nodes))
            if not closes_source_loop(a, c):
                break
        else:
            continue
        hard.append((a, c, "d"))
        gen.diodes.append((f"D{k}", a, c, str(rng.choice(model_names))))
        gen.placements.append(kind)

    lines = [title]
    for name, a, b, v in gen.resistors:
        lines.append(f"{name} {a} {b} {v!r}")
    for name, a, b, v in gen.vsources:
        lines.append(f"{name} {a} {b} DC {v!r}")
    for name, a, b, v in gen.isources:
        lines.append(f"{name} {a} {b} {v!r}")
    for name, a, c, mdl in gen.diodes:
        lines.append(f"{name} {a} {c} {mdl}")
    for mname, params in gen.models.items():
        lines.append(f".model {mname} D(" + " ".join(f"{k}={v!r}" for k, v in params.items())
                     + ")")
    lines.append(".op")
    lines.append(".end")
    gen.text = "\n".join(lines) + "\n"
    return gen


# --------------------------------------------------------------------------------------------
# Independent reference computations (they use only the element tuples, not the kit's code).


def reference_mna(gen: Generated):
    """(K, b, N, n_nodes) built directly from the element tuples.

    Unknowns: node voltages (gen.nodes order) then voltage-source branch currents (flowing from
    n+ through the source to n-).  Column k of N is e_cathode − e_anode of diode k.
    """
    index = {name: k for k, name in enumerate(gen.nodes)}
    index[GROUND] = -1
    n, nv = len(gen.nodes), len(gen.vsources)
    K = np.zeros((n + nv, n + nv))
    b = np.zeros(n + nv)
    for _, a, c, r in gen.resistors:
        i, j = index[a], index[c]
        for p, q, s in ((i, i, 1.0), (j, j, 1.0), (i, j, -1.0), (j, i, -1.0)):
            if p >= 0 and q >= 0:
                K[p, q] += s / r
    for k, (_, a, c, v) in enumerate(gen.vsources):
        i, j = index[a], index[c]
        if i >= 0:
            K[i, n + k] += 1.0
            K[n + k, i] += 1.0
        if j >= 0:
            K[j, n + k] -= 1.0
            K[n + k, j] -= 1.0
        b[n + k] = v
    for _, a, c, v in gen.isources:
        i, j = index[a], index[c]
        if i >= 0:
            b[i] -= v
        if j >= 0:
            b[j] += v
    N = np.zeros((n + nv, len(gen.diodes)))
    for k, (_, a, c, _) in enumerate(gen.diodes):
        i, j = index[a], index[c]
        if j >= 0:
            N[j, k] += 1.0
        if i >= 0:
            N[i, k] -= 1.0
    return K, b, N, n


def _refined_lstsq(A, r):
    y = np.linalg.lstsq(A, r, rcond=None)[0]
    for _ in range(2):  # iterative refinement, residual in extended precision
        res = (r.astype(np.longdouble) - A.astype(np.longdouble) @ y.astype(np.longdouble))
        y = y + np.linalg.lstsq(A, res.astype(float), rcond=None)[0]
    return y


def brute_force_ideal(gen: Generated, rtol: float = 1e-9):
    """Node-voltage vectors of every consistent ideal-diode state (all 2^m states tried).

    State S (the conducting diodes): solve K x = b + N_S i_S with N_Sᵀ x = 0; it is consistent
    when i_S ≥ 0 and every other diode's reverse voltage Nᵀx ≥ 0 (within rtol).
    """
    import itertools

    K, b, N, n = reference_mna(gen)
    size = K.shape[0]
    m = N.shape[1]
    found = []
    for state in itertools.product((False, True), repeat=m):
        S = np.flatnonzero(state)
        A = np.block([[K, -N[:, S]], [-N[:, S].T, np.zeros((S.size, S.size))]])
        r = np.concatenate([b, np.zeros(S.size)])
        y = _refined_lstsq(A, r)
        if np.max(np.abs(A @ y - r)) > 1e-8 * max(np.max(np.abs(r)), 1e-12):
            continue  # inconsistent (e.g. conducting diodes in a loop with a source)
        x, i_s = y[:size], y[size:]
        w = N.T @ x
        vs = max(np.max(np.abs(x[:n]), initial=0.0), np.max(np.abs(b[n:]), initial=0.0), 1e-6)
        cs = max(np.max(np.abs(i_s), initial=0.0), 1e-15)
        if np.all(i_s >= -rtol * cs) and np.all(np.delete(w, S) >= -rtol * vs):
            found.append(x[:n])
    return found


def voltage_scale(gen: Generated, volts) -> float:
    """The scale for relative errors: the largest node voltage, or, when the diodes clamp every
    node to (nearly) zero, the largest node voltage with every diode open."""
    K, b, _, n = reference_mna(gen)
    open_scale = max(float(np.max(np.abs(np.linalg.solve(K, b)[:n]), initial=0.0)),
                     float(np.max(np.abs(b[n:]), initial=0.0)))
    vmax = float(np.max(np.abs(volts), initial=0.0))
    return max(vmax if vmax > 1e-9 * open_scale else open_scale, 1e-300)


# --------------------------------------------------------------------------------------------
# Large netlists (benchmarks/netlist_speed.py and the scale tests).


def ladder_netlist(rng: np.random.Generator, elements: int, *, rs: bool = False) -> str:
    """A resistor–diode ladder with about `elements` elements, as ngspice text.

    A 5 V source drives a chain of series resistors (1k–10k) with a shunt resistor (10k–1M)
    at every tap; each tap has a diode clipping it to +2 V (even taps) or −2 V (odd taps) rails,
    and every seventh tap gets a current source (±0.1–1 mA), so diodes conduct and block all
    along the chain.  Three elements per section.
    """
    sections = max(1, (elements - 3) // 3)
    lines = ["resistor-diode ladder", "V1 in 0 DC 5", "Vhi hi 0 DC 2", "Vlo lo 0 DC -2",
             "R0 in n1 1k"]
    rser = 10 ** rng.uniform(3, 4, sections)
    rpar = 10 ** rng.uniform(4, 6, sections)
    cur = rng.uniform(1e-4, 1e-3, sections) * rng.choice([-1.0, 1.0], sections)
    for k in range(1, sections + 1):
        lines.append(f"Rs{k} n{k} n{k + 1} {rser[k - 1]:.4g}")
        lines.append(f"Rp{k} n{k} 0 {rpar[k - 1]:.4g}")
        if k % 2 == 0:
            lines.append(f"D{k} n{k} hi dm")
        else:
            lines.append(f"D{k} lo n{k} dm")
        if k % 7 == 0:
            lines.append(f"I{k} 0 n{k} {cur[k - 1]:.4g}")
    lines.append(f"Rend n{sections + 1} 0 10k")
    card = "IS=1e-14 N=1.05" + (" RS=5" if rs else "")
    lines += [f".model dm D({card})", ".op", ".end"]
    return "\n".join(lines) + "\n"


def random_sparse_netlist(rng: np.random.Generator, elements: int, *, rs: bool = False) -> str:
    """A random sparse resistor–diode network with about `elements` elements, as ngspice text.

    Nodes sit on a square lattice; every row is a chain of resistors and one random vertical
    resistor joins consecutive rows (so every node reaches ground), and each other lattice edge
    carries a resistor with probability 0.7 (100 Ω–1 MΩ, log-uniform).  A diode joins every
    fourth node to a lattice neighbour, ground or one of two ±3 V rails (random orientation);
    voltage sources drive one node in 500 and current sources (±10 µA–1 mA) inject at one
    node in 20.
    """
    n_target = max(4, int(elements / 2.0))
    w = max(2, int(np.sqrt(n_target)))
    h = max(2, n_target // w)
    n = w * h
    name = lambda i: f"n{i}"
    rv = lambda size: 10 ** rng.uniform(2, 6, size)
    lines = ["random sparse resistor-diode network", "Vp rp 0 DC 3", "Vm rm 0 DC -3",
             "Rg n0 0 1k"]
    idx = np.arange(n).reshape(h, w)
    right = np.stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()], 1)
    down = np.stack([idx[:-1, :].ravel(), idx[1:, :].ravel()], 1)
    spine_cols = rng.integers(0, w, h - 1)
    spine = np.stack([idx[np.arange(h - 1), spine_cols], idx[np.arange(1, h), spine_cols]], 1)
    is_spine = np.zeros(down.shape[0], dtype=bool)
    is_spine[np.arange(h - 1) * w + spine_cols] = True
    extra = down[~is_spine & (rng.random(down.shape[0]) < 0.7)]
    edges = np.concatenate([right, spine, extra])
    for k, ((i, j), r) in enumerate(zip(edges, rv(len(edges)))):
        lines.append(f"R{k} {name(i)} {name(j)} {r:.4g}")
    for k in range(0, n, 4):
        kind = rng.integers(4)
        if kind == 0:
            r_, c_ = divmod(k, w)
            dr, dc = ((0, 1), (1, 0), (0, -1), (-1, 0))[rng.integers(4)]
            r2, c2 = min(max(r_ + dr, 0), h - 1), min(max(c_ + dc, 0), w - 1)
            other = name(idx[r2, c2])
        else:
            other = ("0", "rp", "rm")[kind - 1]
        if other == name(k):
            continue
        an, ca = (name(k), other) if rng.random() < 0.5 else (other, name(k))
        lines.append(f"D{k} {an} {ca} dm")
    for k in range(250, n, 500):
        lines.append(f"Vs{k} {name(k)} 0 DC {rng.uniform(-5, 5):.4g}")
    for k in range(3, n, 20):
        lines.append(f"I{k} 0 {name(k)} {rng.uniform(1e-5, 1e-3) * rng.choice([-1, 1]):.4g}")
    card = "IS=1e-14 N=1.05" + (" RS=5" if rs else "")
    lines += [f".model dm D({card})", ".op", ".end"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Fuzzing: random valid netlists in every syntax ngspice reads, and invalid ones.

_SCALES = (("t", 1e12), ("g", 1e9), ("meg", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3),
           ("u", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15))


def spice_number(rng: np.random.Generator, value: float, unit: str = "") -> str:
    """`value` written in a random SPICE form: plain, exponent or engineering suffix
    (random case, optional unit letters), exact to 12 significant digits."""
    style = rng.integers(3)
    if style == 0 or value == 0.0:
        return repr(float(value))
    if style == 1:
        return f"{value:.12e}"
    mag = abs(value)
    fits = [(s, f) for s, f in _SCALES if mag >= f] or [_SCALES[-1]]
    suffix, factor = fits[0]
    if rng.random() < 0.5:
        suffix = suffix.upper() if suffix != "m" else suffix   # M is milli too: keep 'm'
        suffix = "MEG" if suffix == "meg" and rng.random() < 0.5 else suffix
    tail = unit if (unit and suffix != "" and rng.random() < 0.3) else ""
    return f"{value / factor:.12g}{suffix}{tail}"


def fuzz_netlist(rng: np.random.Generator) -> Generated:
    """A random valid resistor–diode–source netlist with random ngspice syntax.

    The circuit: `random_netlist` (diodes in every placement) plus a series chain of diodes
    whose inner nodes have large resistors to ground, resistances over 12 decades, instance
    parameters (resistor m/scale/tc1+temp, diode area/m), sources written with DC, dc=, a bare
    value, AC specs or a transient function only.  The text: engineering suffixes in random
    case, `gnd` for ground, commas, tabs, inline comments and continuation lines.
    `Generated.resistors` holds each resistor's effective resistance (what ngspice uses).
    """
    gen = random_netlist(rng, n_nodes=int(rng.integers(2, 8)), n_diodes=int(rng.integers(1, 7)),
                         n_vsources=int(rng.integers(1, 3)), n_isources=int(rng.integers(0, 3)),
                         floating_vsource=bool(rng.random() < 0.3), rs=bool(rng.random() < 0.4),
                         decades=(-1.0, 7.0))
    # A series chain of diodes from a random node to ground through new nodes.
    # The chain must not close a path of diodes and sources only (an ideal diode would short
    # the source): start it away from every node that diodes join to a source or ground.
    hard = {nd for _, a, b, _ in gen.vsources for nd in (a, b)} | {GROUND}
    grown = True
    while grown:
        grown = False
        for _, a, c, _ in gen.diodes:
            if (a in hard) != (c in hard):
                hard |= {a, c}
                grown = True
    free = [nd for nd in gen.nodes if nd not in hard]
    if free and rng.random() < 0.5:
        start = str(rng.choice(free))
        chain = [f"c{k}" for k in range(1, int(rng.integers(2, 4)))]
        prev = start
        for k, nd in enumerate(chain, 1):
            gen.nodes.append(nd)
            gen.resistors.append((f"Rc{k}", nd, GROUND, float(10 ** rng.uniform(3, 8))))
            gen.diodes.append((f"Dc{k}", prev, nd, str(rng.choice(list(gen.models)))))
            prev = nd
        gen.diodes.append((f"Dc{len(chain) + 1}", prev, GROUND, str(rng.choice(list(gen.models)))))
        gen.placements.append("series-chain")
    ground = lambda nd: ("gnd" if rng.random() < 0.3 else "0") if nd == GROUND else nd
    case = lambda s: s.upper() if rng.random() < 0.2 else s
    sep = lambda: str(rng.choice([" ", "  ", "\t", " , "]))
    lines = [f"fuzz netlist {int(rng.integers(1 << 30))}"]
    effective = []
    for name, a, b, r in gen.resistors:
        fields = [name, ground(a), ground(b)]
        kind = rng.integers(5)
        if kind == 0:       # m: r·m ohms written, m in parallel
            m = float(rng.choice([2.0, 4.0]))
            fields += [spice_number(rng, r * m, "Ohm"), f"m={m:g}"]
        elif kind == 1:     # scale
            fields += [f"r={spice_number(rng, r / 2)}", "scale=2"]
        elif kind == 2:     # temperature coefficient at a device temperature
            tc1 = 1e-3
            fields += [spice_number(rng, r / (1 + tc1 * 23.0)), f"tc1={tc1}", "temp=50"]
        else:
            fields += [spice_number(rng, r, "Ohm")]
        effective.append((name, a, b, r))
        lines.append(sep().join(fields))
    for name, a, b, v in gen.vsources + gen.isources:
        fields = [case(name), ground(a), ground(b)]
        kind = rng.integers(5)
        val = spice_number(rng, v, "V" if name[0] == "V" else "A")
        if kind == 0:
            fields += ["DC", val]
        elif kind == 1:
            fields += [f"dc={val}", "AC", "1"]
        elif kind == 2:
            fields += [f"SIN({val} 1 1k)"]
        elif kind == 3:
            fields += [val, "ac", "1", "0"]
        else:
            fields += [val]
        lines.append(sep().join(fields))
    for name, a, c, mdl in gen.diodes:
        fields = [name, ground(a), ground(c), case(mdl)]
        if rng.random() < 0.2:
            fields.append(f"area={rng.choice(['2', '0.5'])}")
        if rng.random() < 0.1:
            fields.append("m=2")
        # (ngspice 39 misreads commas before a diode's instance parameters)
        lines.append(str(rng.choice([" ", "  ", "\t"])).join(fields))
    for mname, params in gen.models.items():
        card = " ".join(f"{k}={spice_number(rng, v)}" for k, v in params.items())
        extra = " CJO=1p TT=1n" if rng.random() < 0.3 else ""
        lines.append(f".model {mname} D({card}{extra})")
    # Inline comments and continuation lines.
    out = [lines[0]]
    for ln in lines[1:]:
        toks = ln.split()
        if len(toks) > 3 and rng.random() < 0.2 and not ln.startswith(".model"):
            cut = int(rng.integers(2, len(toks)))
            out += [" ".join(toks[:cut]), "+ " + " ".join(toks[cut:])]
        elif rng.random() < 0.15:
            out.append(ln + str(rng.choice([" ; a comment", " $ a comment"])))
        else:
            out.append(ln)
        if rng.random() < 0.05:
            out.append("* a comment line")
    out += [".op", ".end"]
    gen.text = "\n".join(out) + "\n"
    gen.resistors = effective
    return gen


# Mutations that make a valid netlist invalid: (what, function(rng, text) -> text).
def _append(line):
    return lambda rng, text: text.replace("\n.op\n", f"\n{line}\n.op\n")


INVALID_MUTATIONS = (
    ("negative resistance", _append("Rbad n1x 0 -1k\nRbad2 n1x 0 1k")),
    ("unreadable value", _append("Vbad q 0 DC abc\nRbad q 0 1k")),
    ("unknown element", lambda rng, text: text.replace(
        "\n.op\n", f"\n{rng.choice(['C', 'L', 'Q', 'X', 'E', 'B'])}bad 0 n1x 1\n.op\n")),
    ("missing node", _append("Rbad n1x")),
    ("duplicate name", lambda rng, text: text.replace("\n.op\n", "\nR1 0 q 1k\n.op\n")),
    ("unknown model", _append("Dbad 0 nzz nosuchmodel\nRbad nzz 0 1k")),
    ("wrong model type", _append(".model qq NPN(BF=100)")),
    ("unbalanced parentheses", _append(".model qq D(IS=1e-14")),
    ("source to itself", _append("Vbad q q 1\nRbad q 0 1k")),
    ("voltage-source loop", _append("Vbad1 q 0 1\nVbad2 q 0 2\nRbad q 0 1k")),
    ("floating nodes", _append("Rbad fx fy 1k")),
    ("leading continuation", lambda rng, text: text.replace("\n", "\n+ 1k\n", 1)),
    ("subcircuit", _append(".subckt amp a b\n.ends")),
    ("parameter", _append(".param rr=1k")),
    ("include", _append(".include other.lib")),
    ("expression", _append("Rbad q 0 {rr*2}")),
    ("empty", lambda rng, text: "   \n"),
    ("unknown dot card", _append(".frobnicate 1")),
    ("diode shorting a source", _append("Vbad q 0 1\nRbad q 0 1k\nDbad q 0 dmod1")),
    ("diode only connection (ideal)", _append("Dbad1 n1x ny dmod1\nRbad n1x 0 1k")),
    ("unknown instance parameter", _append("Rbad q 0 1k foo=2")),
    ("binary garbage", _append("\x00\x01\xff garbage \x7f")),
)
