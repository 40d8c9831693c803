"""A circuit description for DC work: R, D, V, I, E (VCVS), F (CCCS), G (VCCS), digital
potentiometers, and the composite ideal elements built from them — the multi-winding ideal
transformer and the gyrator (docs/science.md §1.2: RTGD networks, in SPICE from E/F/G sources).

Nodes are strings; ``"0"`` is ground.  Sign conventions are SPICE's: a V, E or F source's branch
current and an I, F or G source's current flow from its + node through the element to its − node.

`Circuit.kernel()` is the reverse map circuit → kernel equation (Chaffey 2025): with every diode a
port whose variable is x_k = v(cathode) − v(anode) (≥ 0 when an ideal diode blocks; the node
voltage for the kit's node diodes with the anode at ground) and i_k its anode→cathode current,
the linear rest of the circuit gives

    H x + B u = i,        y = −C x − D u,

u = the values of the independent sources (V sources then I sources, in insertion order), y the
currents into the V sources' + terminals from the network (their SPICE branch currents).  A diode
with series resistance RS is split into RS (anode side, as ngspice does) and its junction, and
the port is the junction.  `Circuit.solve_reference()` solves the same circuit on the host: ideal
diodes exactly, or every card as ngspice evaluates it at DC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..host.elements import IdealDiode
from ..host.solvers import solve_exact
from .devices import DiodeCard, NgspiceJunction, Potentiometer, diode_card

__all__ = [
    "Circuit", "Resistor", "Diode", "VoltageSource", "CurrentSource", "VCVS", "VCCS", "CCCS",
    "PotentiometerElement", "Kernel", "GROUND", "CircuitStructureError",
]

GROUND = "0"


class CircuitStructureError(ValueError):
    """The circuit is malformed (duplicate names, unknown controlling source, singular)."""


@dataclass
class Resistor:
    name: str
    a: str
    b: str
    resistance: float
    prefix = "R"


@dataclass
class Diode:
    name: str
    anode: str
    cathode: str
    card: DiodeCard
    prefix = "D"


@dataclass
class VoltageSource:
    name: str
    plus: str
    minus: str
    dc: float
    prefix = "V"


@dataclass
class CurrentSource:
    name: str
    plus: str
    minus: str
    dc: float
    prefix = "I"


@dataclass
class VCVS:
    """E: v(plus, minus) = gain · v(cplus, cminus)."""
    name: str
    plus: str
    minus: str
    cplus: str
    cminus: str
    gain: float
    prefix = "E"


@dataclass
class VCCS:
    """G: current gm · v(cplus, cminus) flows from plus through the element to minus."""
    name: str
    plus: str
    minus: str
    cplus: str
    cminus: str
    gm: float
    prefix = "G"


@dataclass
class CCCS:
    """F: current gain · I(vsense) flows from plus through the element to minus."""
    name: str
    plus: str
    minus: str
    vsense: str  # name of a V source (without its prefix)
    gain: float
    prefix = "F"


@dataclass
class PotentiometerElement:
    """A digital potentiometer in rheostat mode between a and b, set to `code`."""
    name: str
    a: str
    b: str
    code: int
    part: Potentiometer
    prefix = "R"

    @property
    def resistance(self):
        return float(self.part.resistance(self.code))


@dataclass
class Kernel:
    """H x + B u = i (diode ports), y = −C x − D u (V-source currents); see the module doc."""
    H: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    ports: list           # diode names, one per port
    sources: list         # independent source names (V then I), one per column of B
    u: np.ndarray         # the sources' present values


@dataclass
class Circuit:
    title: str = "diodenet circuit"
    elements: list = field(default_factory=list)
    temp: float = 27.0
    options: dict = field(default_factory=dict)  # extra `.options` (ngspice names → values)

    def __post_init__(self):
        self._names = {}

    # --- primitives ---------------------------------------------------------------------------
    def _add(self, el):
        key = (el.prefix + el.name).lower()
        if key in self._names:
            raise CircuitStructureError(f"duplicate element name {el.prefix}{el.name}")
        self._names[key] = el
        self.elements.append(el)
        return el

    def element(self, spice_name):
        """An element by its SPICE name (prefix + name, case-insensitive)."""
        return self._names[spice_name.lower()]

    def R(self, name, a, b, resistance):
        r = float(resistance)
        if not (np.isfinite(r) and r > 0):
            raise ValueError(f"resistor R{name}: resistance must be finite and > 0 ohm, got {resistance!r}")
        return self._add(Resistor(str(name), str(a), str(b), r))

    def D(self, name, anode, cathode, card="ideal"):
        return self._add(Diode(str(name), str(anode), str(cathode), diode_card(card)))

    def V(self, name, plus, minus, dc=0.0):
        return self._add(VoltageSource(str(name), str(plus), str(minus), float(dc)))

    def I(self, name, plus, minus, dc=0.0):  # noqa: E743 (SPICE letter)
        return self._add(CurrentSource(str(name), str(plus), str(minus), float(dc)))

    def E(self, name, plus, minus, cplus, cminus, gain):
        return self._add(VCVS(str(name), str(plus), str(minus), str(cplus), str(cminus), float(gain)))

    def G(self, name, plus, minus, cplus, cminus, gm):
        return self._add(VCCS(str(name), str(plus), str(minus), str(cplus), str(cminus), float(gm)))

    def F(self, name, plus, minus, vsense, gain):
        return self._add(CCCS(str(name), str(plus), str(minus), str(vsense), float(gain)))

    def potentiometer(self, name, a, b, code, part=None):
        part = part or Potentiometer()
        code = int(code)
        if not 0 <= code <= part.rheostat.code_max:
            raise ValueError(f"potentiometer {name}: code {code} outside 0…{part.rheostat.code_max}")
        return self._add(PotentiometerElement(str(name), str(a), str(b), code, part))

    # --- composite ideal elements -------------------------------------------------------------
    def buffer(self, name, out, inp, gain=1.0, ref=GROUND):
        """A unidirectional VCVS buffer (an op-amp follower / inverting amplifier): v(out) = gain·v(inp)."""
        return self.E(name, out, ref, inp, ref, gain)

    def transformer(self, name, windings, turns):
        """Ideal multi-winding transformer: windings [(plus, minus), …] with turns [N0, N1, …].

        Enforces v_k = (N_k/N0)·v_0 for every winding and Σ N_k·i_k = 0 (ampere-turns, i_k the
        current entering winding k at its + end).  Winding 0 is the reference; every other
        winding k is an E source (its voltage) in series with a 0 V sense source (its current),
        and an F source at winding 0 carries −(N_k/N0)·i_k.  Turns may be negative (inverting)."""
        if len(windings) != len(turns) or len(windings) < 2:
            raise ValueError("a transformer needs ≥ 2 windings, one turns number each")
        n0 = float(turns[0])
        if n0 == 0:
            raise ValueError("the reference winding (first) needs nonzero turns")
        p0, m0 = windings[0]
        for k, ((p, m), nk) in enumerate(zip(windings[1:], turns[1:]), start=1):
            ratio = float(nk) / n0
            mid = f"{name}_w{k}"
            self.E(f"{name}_{k}", p, mid, p0, m0, ratio)
            self.V(f"{name}_s{k}", mid, m)
            self.F(f"{name}_{k}", p0, m0, f"{name}_s{k}", -ratio)

    def gyrator(self, name, port1, port2, g):
        """Ideal gyrator of conductance g: i1 = g·v2, i2 = −g·v1 (i_k entering port k at its + end).
        Two G sources; it is not reciprocal (the adjoint network holds the reversed gyrator)."""
        (a, b), (c, d) = port1, port2
        self.G(f"{name}a", a, b, c, d, g)
        self.G(f"{name}b", c, d, a, b, -g)

    # --- queries ------------------------------------------------------------------------------
    def of_type(self, cls):
        return [e for e in self.elements if isinstance(e, cls)]

    @property
    def diodes(self):
        return self.of_type(Diode)

    @property
    def nodes(self):
        """Non-ground nodes in order of first use."""
        seen = {}
        for e in self.elements:
            for attr in ("a", "b", "anode", "cathode", "plus", "minus", "cplus", "cminus"):
                n = getattr(e, attr, None)
                if n is not None and n != GROUND and n not in seen:
                    seen[n] = None
        return list(seen)

    def set_value(self, spice_name, value):
        """Change a source's DC value or a resistor's resistance (as ngspice's `alter` does)."""
        el = self.element(spice_name)
        if isinstance(el, (VoltageSource, CurrentSource)):
            el.dc = float(value)
        elif isinstance(el, Resistor):
            el.resistance = float(value)
        else:
            raise ValueError(f"cannot set the value of {spice_name}")

    # --- linear algebra -----------------------------------------------------------------------
    def _mna(self, expand_rs=True):
        """MNA of the linear part: M X = S u + P i (diode currents i as port injections)."""
        nodes = self.nodes
        internal = []
        junction_anode = []
        for d in self.diodes:
            if expand_rs and d.card.RS > 0:
                nm = f"{d.name}#junction"
                internal.append(nm)
                junction_anode.append(nm)
            else:
                junction_anode.append(d.anode)
        all_nodes = nodes + internal
        idx = {n: k for k, n in enumerate(all_nodes)}
        idx[GROUND] = -1
        branches = [e for e in self.elements if isinstance(e, (VoltageSource, VCVS))]
        bidx = {(e.prefix + e.name).lower(): len(all_nodes) + k for k, e in enumerate(branches)}
        size = len(all_nodes) + len(branches)
        rows, cols, vals = [], [], []
        vsrc = self.of_type(VoltageSource)
        isrc = self.of_type(CurrentSource)
        sources = vsrc + isrc
        src_col = {id(s): k for k, s in enumerate(sources)}
        S = np.zeros((size, len(sources)))

        def add(i, j, v):
            if i >= 0 and j >= 0:
                rows.append(i)
                cols.append(j)
                vals.append(v)

        def stamp_g(a, b, g):
            add(a, a, g)
            add(b, b, g)
            add(a, b, -g)
            add(b, a, -g)

        def stamp_vccs(p, m, cp, cm, g):
            add(p, cp, g)
            add(p, cm, -g)
            add(m, cp, -g)
            add(m, cm, g)

        def stamp_branch(p, m, row):
            # branch current flows from p through the element to m
            add(p, row, 1.0)
            add(row, p, 1.0)
            add(m, row, -1.0)
            add(row, m, -1.0)

        def node(n):
            if n not in idx:
                raise CircuitStructureError(f"unknown node {n!r}")
            return idx[n]

        d_index = 0
        for e in self.elements:
            if isinstance(e, (Resistor, PotentiometerElement)):
                stamp_g(node(e.a), node(e.b), 1.0 / e.resistance)
            elif isinstance(e, Diode):
                if expand_rs and e.card.RS > 0:
                    stamp_g(node(e.anode), node(junction_anode[d_index]), 1.0 / e.card.RS)
                d_index += 1
            elif isinstance(e, VoltageSource):
                row = bidx[("v" + e.name).lower()]
                stamp_branch(node(e.plus), node(e.minus), row)
                S[row, src_col[id(e)]] = 1.0
            elif isinstance(e, VCVS):
                row = bidx[("e" + e.name).lower()]
                stamp_branch(node(e.plus), node(e.minus), row)
                add(row, node(e.cplus), -e.gain)
                add(row, node(e.cminus), e.gain)
            elif isinstance(e, CurrentSource):
                col = src_col[id(e)]
                # current leaves node plus, enters node minus
                if node(e.plus) >= 0:
                    S[node(e.plus), col] -= 1.0
                if node(e.minus) >= 0:
                    S[node(e.minus), col] += 1.0
            elif isinstance(e, VCCS):
                stamp_vccs(node(e.plus), node(e.minus), node(e.cplus), node(e.cminus), e.gm)
            elif isinstance(e, CCCS):
                key = ("v" + e.vsense).lower()
                if key not in bidx:
                    raise CircuitStructureError(f"F{e.name}: controlling source V{e.vsense} does not exist")
                col = bidx[key]
                add(node(e.plus), col, e.gain)
                add(node(e.minus), col, -e.gain)
            else:
                raise CircuitStructureError(f"unsupported element {type(e).__name__}")
        P = np.zeros((size, len(self.diodes)))
        for k, d in enumerate(self.diodes):
            a, c = idx[junction_anode[k]], node(d.cathode)
            if c >= 0:
                P[c, k] += 1.0
            if a >= 0:
                P[a, k] -= 1.0
        Q = np.zeros((len(vsrc), size))
        for k, e in enumerate(vsrc):
            Q[k, bidx[("v" + e.name).lower()]] = 1.0
        import scipy.sparse as sp
        M = sp.csc_matrix((vals, (rows, cols)), shape=(size, size))
        u = np.array([s.dc for s in sources])
        names = [(s.prefix + s.name) for s in sources]
        return M, S, P, Q, u, names, all_nodes

    def _factor(self, M):
        import scipy.sparse.linalg as spla
        try:
            lu = spla.splu(M)
        except RuntimeError as exc:
            raise CircuitStructureError(
                "the circuit with every diode open has no unique operating point (a floating node, "
                f"or a loop of voltage sources): add a leak resistor to ground ({exc})") from None
        d = np.abs(lu.U.diagonal())
        if d.size and d.min() < 1e-13 * d.max():
            raise CircuitStructureError(
                "the circuit with every diode open has (nearly) no unique operating point: a floating "
                "node or a loop of voltage sources; add a leak resistor to ground")
        return lu

    def _reduced(self, expand_rs=True):
        M, S, P, Q, u, names, all_nodes = self._mna(expand_rs)
        lu = self._factor(M)
        MP = lu.solve(P) if P.shape[1] else np.zeros((M.shape[0], 0))
        MS = lu.solve(S) if S.shape[1] else np.zeros((M.shape[0], 0))
        return MP, MS, P, Q, u, names, all_nodes

    def kernel(self, expand_rs=True):
        """The kernel-equation matrices at the diode ports (`Kernel`); expand_rs=False takes the
        diodes' terminals as the ports (series resistances ignored)."""
        MP, MS, P, Q, u, names, _ = self._reduced(expand_rs)
        Z = P.T @ MP
        T = P.T @ MS
        H = np.linalg.inv(Z)
        B = -H @ T
        C = -Q @ MP @ H
        D = -Q @ (MS + MP @ B)
        return Kernel(H, B, C, D, [d.name for d in self.diodes], names, u)

    def solve_reference(self, diodes="ideal", u=None):
        """The operating point on the host: {node: voltage}.

        diodes="ideal": every diode ideal (exact active-set solve); "cards": every diode as its
        card at DC exactly as ngspice evaluates it (RS, reverse tail, GMIN)."""
        MP, MS, P, Q, u0, names, all_nodes = self._reduced()
        u = u0 if u is None else np.asarray(u, dtype=float)
        H = np.linalg.inv(P.T @ MP)
        B = -H @ (P.T @ MS)
        q = B @ u
        if diodes == "ideal":
            element = IdealDiode()
        elif diodes == "cards":
            cards = [d.card for d in self.diodes]
            element = NgspiceJunction(np.array([c.saturation_current(self.temp) for c in cards]),
                                      np.array([c.N for c in cards]), self.temp)
        else:
            raise ValueError(f"diodes must be 'ideal' or 'cards', got {diodes!r}")
        x = solve_exact(H, q, element).x[0] if len(self.diodes) else np.zeros(0)
        i = H @ x + q
        X = MS @ u + MP @ i
        return {n: float(X[k]) for k, n in enumerate(all_nodes) if "#" not in n}
