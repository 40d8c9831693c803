"""The exact DC operating point of a resistor–diode netlist (a parsed `netlist.Circuit`).

Modified nodal analysis: unknowns x = (node voltages, voltage-source branch currents), K x = b.
A voltage source's branch current flows from n+ through the source to n- (ngspice's convention);
b holds current-source injections and source voltages.

Ideal mode (`solve_ideal`): every diode is ideal (v_anode − v_cathode ≤ 0, current i ≥ 0,
complementary).  With N the incidence of the diodes (column = e_cathode − e_anode, i.e. diode
current injected into its cathode), K x = b + N i and the reverse voltages are
w = Nᵀx = M i + q with M = Nᵀ K⁻¹ N (symmetric PSD) and q = Nᵀ K⁻¹ b: an LCP solved exactly by
`lemke.solve_lcp`.  The node voltages are then recomputed from the conducting set on the MNA
system itself, and a `Certificate` reports the complementarity and feasibility residuals.

Shockley mode (`solve_shockley`): each diode is ngspice's DC junction model (`diode_model`) with
GMIN in parallel and RS on an internal node.  The circuit equations are the stationarity
conditions of a strictly convex function (the co-content), so damped Newton with SPICE-style
junction-voltage limiting and a line search on that function converges from any start; it starts
from the ideal solution and iterates to full double precision.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from . import diode_model as dm
from .lemke import LCPInfeasible, solve_lcp
from .netlist import Circuit, Diode, node_key

__all__ = ["CircuitError", "Certificate", "OperatingPoint", "MNASystem", "build_mna",
           "solve_ideal", "solve_shockley", "solve"]


class CircuitError(ValueError):
    """The circuit has no unique operating point, or the solver cannot find it."""


@dataclass
class Certificate:
    """Residuals of an ideal-diode solution (all zero for an exact one, up to rounding)."""
    complementarity: float        # max |i_k · w_k| over diodes, in watts
    current_infeasibility: float  # max(0, −i_k), amperes
    voltage_infeasibility: float  # max(0, −w_k) = max forward voltage across a diode, volts
    kcl_residual: float           # max |K x − b − N i|, amperes
    relative: float               # the worst of the above made relative to the circuit's scales

    def ok(self, rtol: float = 1e-9) -> bool:
        return self.relative <= rtol


@dataclass
class OperatingPoint:
    mode: str                                    # "ideal" or "shockley"
    node_voltages: dict[str, float]              # netlist node name (as first written) -> V
    diode_currents: dict[str, float]             # diode name -> A, anode to cathode
    diode_voltages: dict[str, float]             # diode name -> v_anode − v_cathode (terminals)
    source_currents: dict[str, float]            # V source -> A, from n+ through it to n-
    conducting: dict[str, bool] = field(default_factory=dict)  # ideal mode: diode states
    certificate: Certificate | None = None
    iterations: int = 0
    method: str = ""


@dataclass
class MNASystem:
    """The linear part of a circuit: K x = b (+ N i for diode currents in ideal mode)."""
    K: np.ndarray
    b: np.ndarray
    N: np.ndarray                  # (size, m) diode incidence, column = e_cathode − e_anode
    node_names: list[str]          # index -> name as first written
    node_index: dict[str, int]     # lowercase name -> index
    n_nodes: int
    vsource_names: list[str]

    @property
    def size(self) -> int:
        return self.K.shape[0]


# --------------------------------------------------------------------------------------------
# structure checks and assembly


class _UnionFind:
    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, a):
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[ra] = rb
        return True


def _index_nodes(circuit: Circuit):
    names = list(circuit.nodes)
    index = {name.lower(): i for i, name in enumerate(names)}
    return names, index


def _idx(index, name):
    key = node_key(name)
    return -1 if key is None else index[key]


def _check_structure(circuit: Circuit, names, index):
    """Raise CircuitError for floating nodes and loops of voltage sources (K singular)."""
    n = len(names)
    ground = n
    def gi(name):
        i = _idx(index, name)
        return ground if i < 0 else i
    # Loops of voltage sources: a source whose terminals are already joined by sources.
    vs_uf = _UnionFind(n + 1)
    adjacency: dict[int, list[tuple[int, str]]] = {}
    for v in circuit.vsources:
        a, b = gi(v.npos), gi(v.nneg)
        if not vs_uf.union(a, b):
            path = _source_path(adjacency, a, b)
            loop = ", ".join([v.name] + path)
            raise CircuitError(
                f"line {v.line}: voltage sources {loop} form a loop (K is singular): the "
                "operating point is not defined; break the loop with a resistor")
        adjacency.setdefault(a, []).append((b, v.name))
        adjacency.setdefault(b, []).append((a, v.name))
    uf = _UnionFind(n + 1)
    for r in circuit.resistors:
        uf.union(gi(r.n1), gi(r.n2))
    for v in circuit.vsources:
        uf.union(gi(v.npos), gi(v.nneg))
    g = uf.find(ground)
    floating = [names[i] for i in range(n) if uf.find(i) != g]
    if floating:
        shown = ", ".join(repr(x) for x in floating[:20])
        more = f" and {len(floating) - 20} more" if len(floating) > 20 else ""
        raise CircuitError(
            f"node(s) {shown}{more} have no resistive or source path to ground: K is singular "
            "and the operating point is not unique")


def _source_path(adjacency, a, b):
    """Names of voltage sources on a path from a to b (breadth-first)."""
    prev = {a: None}
    queue = [a]
    while queue:
        u = queue.pop(0)
        if u == b:
            break
        for v, name in adjacency.get(u, []):
            if v not in prev:
                prev[v] = (u, name)
                queue.append(v)
    out = []
    u = b
    while prev.get(u) is not None:
        u, name = prev[u]
        out.append(name)
    return out


def build_mna(circuit: Circuit, extra_conductances=()) -> MNASystem:
    """Assemble K, b and the diode incidence N of a circuit (after structural checks)."""
    names, index = _index_nodes(circuit)
    _check_structure(circuit, names, index)
    n = len(names)
    nv = len(circuit.vsources)
    size = n + nv
    K = np.zeros((size, size))
    b = np.zeros(size)

    def stamp_g(a, c, g):
        if a >= 0:
            K[a, a] += g
        if c >= 0:
            K[c, c] += g
        if a >= 0 and c >= 0:
            K[a, c] -= g
            K[c, a] -= g

    for r in circuit.resistors:
        stamp_g(_idx(index, r.n1), _idx(index, r.n2), 1.0 / r.value)
    for a, c, g in extra_conductances:
        stamp_g(a, c, g)
    for k, v in enumerate(circuit.vsources):
        row = n + k
        p, m = _idx(index, v.npos), _idx(index, v.nneg)
        if p >= 0:
            K[p, row] += 1.0
            K[row, p] += 1.0
        if m >= 0:
            K[m, row] -= 1.0
            K[row, m] -= 1.0
        b[row] = v.value
    for s in circuit.isources:
        p, m = _idx(index, s.npos), _idx(index, s.nneg)
        if p >= 0:
            b[p] -= s.value
        if m >= 0:
            b[m] += s.value
    N = np.zeros((size, len(circuit.diodes)))
    for k, d in enumerate(circuit.diodes):
        a, c = _idx(index, d.anode), _idx(index, d.cathode)
        if c >= 0:
            N[c, k] += 1.0
        if a >= 0:
            N[a, k] -= 1.0
    return MNASystem(K, b, N, names, index, n, [v.name for v in circuit.vsources])


def _lu(A, what="the circuit matrix"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # judged below
        lu = scipy.linalg.lu_factor(A, check_finite=True)
    piv_diag = np.abs(np.diag(lu[0]))
    if piv_diag.size and piv_diag.min() <= 1e-15 * max(piv_diag.max(), 1e-300):
        raise np.linalg.LinAlgError(f"{what} is singular")
    return lu


def _solve_refined(A, lu, r, steps=2):
    """LU solve plus iterative refinement with residuals in extended precision."""
    x = scipy.linalg.lu_solve(lu, r)
    Al = A.astype(np.longdouble)
    rl = np.asarray(r, dtype=np.longdouble)
    for _ in range(steps):
        res = rl - Al @ x.astype(np.longdouble)
        x = x + scipy.linalg.lu_solve(lu, res.astype(float))
    return x


# --------------------------------------------------------------------------------------------
# ideal diodes


def solve_ideal(circuit: Circuit, *, rtol: float = 1e-11) -> OperatingPoint:
    """Exact operating point with every diode ideal (see the module notes)."""
    mna = build_mna(circuit)
    K, b, N = mna.K, mna.b, mna.N
    m = N.shape[1]
    try:
        lu = _lu(K)
    except np.linalg.LinAlgError:
        raise CircuitError("the circuit matrix is singular: the operating point is not "
                           "unique") from None
    x0 = _solve_refined(K, lu, b)
    if m == 0:
        i = np.zeros(0)
        x = x0
        method, its = "linear", 0
    else:
        KinvN = scipy.linalg.lu_solve(lu, N)
        M = N.T @ KinvN
        M = 0.5 * (M + M.T)
        q = N.T @ x0
        try:
            res = solve_lcp(M, q, rtol=rtol)
        except LCPInfeasible as exc:
            who = ", ".join(circuit.diodes[k].name for k in exc.indices) or "some diode"
            raise CircuitError(
                "no operating point with ideal diodes: the sources force current forward "
                f"through {who} around a path with no resistance (e.g. a diode directly across "
                "a voltage source)") from None
        i = res.z
        method, its = res.method, res.iterations
        x = x0 + KinvN @ i
        x, i = _polish_ideal(K, b, N, x, i, _open_scale(x0, mna.n_nodes))
        limits = [0.9 * circuit.model_for(d).get("BV", math.inf) for d in circuit.diodes]
        _check_breakdown(circuit, N.T @ x, np.array(limits))
    return _ideal_result(circuit, mna, x, i, method, its, _open_scale(x0, mna.n_nodes))


def _check_breakdown(circuit: Circuit, reverse_voltages, limits) -> None:
    """Raise if a diode with BV on its card is reverse-biased beyond its limit."""
    for k, d in enumerate(circuit.diodes):
        if reverse_voltages[k] > limits[k]:
            bv = circuit.model_for(d).get("BV")
            raise CircuitError(
                f"line {d.line}: diode {d.name} is reverse-biased by {reverse_voltages[k]:.6g} V,"
                f" beyond 0.9·BV = {0.9 * bv:.6g} V (or the model's breakdown knee): breakdown "
                "is not modelled")


def _open_scale(x0, n):
    """Voltage scale of the circuit with every diode open (node voltages and source values)."""
    return float(np.max(np.abs(x0[:n]), initial=0.0))


def _polish_ideal(K, b, N, x, i, vopen):
    """Recompute the solution from the conducting set on the augmented MNA system.

    Unknowns (x, i_S): K x − N_S i_S = b and N_Sᵀ x = 0 (conducting diodes have zero voltage).
    Accepted only if it stays consistent (i_S ≥ 0, w ≥ 0 within rounding); with dependent
    conducting diodes (loops, parallel pairs) the LCP solution is kept.
    """
    S = np.flatnonzero(i > 0)
    if S.size == 0:
        return x, i
    size = K.shape[0]
    NS = N[:, S]
    A = np.block([[K, -NS], [-NS.T, np.zeros((S.size, S.size))]])
    r = np.concatenate([b, np.zeros(S.size)])
    try:
        lu = _lu(A, "the conducting-diode system")
    except (np.linalg.LinAlgError, ValueError):
        return x, i
    y = _solve_refined(A, lu, r)
    x_new, iS = y[:size], y[size:]
    w_new = N.T @ x_new
    # Rounding scales: the intermediate quantities are as large as the open-diode solution.
    vscale = max(float(np.max(np.abs(x_new), initial=0.0)), vopen, 1e-300)
    iscale = max(float(np.max(np.abs(i))), float(np.max(np.abs(iS), initial=0.0)), 1e-300)
    if np.min(iS) < -1e-9 * iscale or np.min(w_new, initial=0.0) < -1e-9 * vscale:
        return x, i
    i_new = np.zeros_like(i)
    i_new[S] = np.maximum(iS, 0.0)
    return x_new, i_new


def _ideal_result(circuit, mna, x, i, method, its, vopen=0.0) -> OperatingPoint:
    K, b, N, n = mna.K, mna.b, mna.N, mna.n_nodes
    w = N.T @ x
    kcl = K @ x - b - N @ i
    # Voltage scale: the largest node voltage or source value; if the diodes clamp everything
    # to zero, the open-diode voltages instead.
    vmax = max(float(np.max(np.abs(x[:n]), initial=0.0)),
               float(np.max(np.abs(b[n:]), initial=0.0)))
    if vmax == 0.0 or vmax < 1e-9 * vopen:
        vmax = vopen
    vmax = max(vmax, 1e-300)
    # Current scale: the largest current any element carries.
    cur = [abs(v) for v in x[n:]] + [abs(s.value) for s in circuit.isources] + list(np.abs(i))
    v_of = lambda name: 0.0 if _idx(mna.node_index, name) < 0 else x[_idx(mna.node_index, name)]
    for r in circuit.resistors:
        cur.append(abs(v_of(r.n1) - v_of(r.n2)) / r.value)
    imax = max(max(cur, default=0.0), 1e-300)
    comp = float(np.max(np.abs(i * w), initial=0.0))
    cinf = float(max(0.0, -np.min(i, initial=0.0)))
    vinf = float(max(0.0, -np.min(w, initial=0.0)))
    kres = float(np.max(np.abs(kcl), initial=0.0)) if kcl.size else 0.0
    kres_nodes = float(np.max(np.abs(kcl[:n]), initial=0.0)) if n else 0.0
    kres_src = float(np.max(np.abs(kcl[n:]), initial=0.0)) if kcl.size > n else 0.0
    rel = max(comp / vmax / imax, cinf / imax, vinf / vmax, kres_nodes / imax,
              kres_src / vmax)
    cert = Certificate(comp, cinf, vinf, kres, float(rel))
    op = _result(circuit, mna, x, i, "ideal", its, method)
    op.conducting = {d.name: bool(i[k] > 0) for k, d in enumerate(circuit.diodes)}
    op.certificate = cert
    return op


def _result(circuit, mna, x, i, mode, its, method) -> OperatingPoint:
    n = mna.n_nodes
    volts = {name: float(x[k]) for k, name in enumerate(mna.node_names)}
    def v_of(name):
        k = _idx(mna.node_index, name)
        return 0.0 if k < 0 else float(x[k])
    return OperatingPoint(
        mode=mode,
        node_voltages=volts,
        diode_currents={d.name: float(i[k]) for k, d in enumerate(circuit.diodes)},
        diode_voltages={d.name: v_of(d.anode) - v_of(d.cathode) for d in circuit.diodes},
        source_currents={name: float(x[n + k]) for k, name in enumerate(mna.vsource_names)},
        iterations=its,
        method=method,
    )


# --------------------------------------------------------------------------------------------
# Shockley diodes


@dataclass
class _DiodeData:
    p: np.ndarray       # junction anode index (internal node if RS > 0), −1 for ground
    c: np.ndarray       # cathode index, −1 for ground
    is_: np.ndarray     # saturation current at temperature, area-scaled
    n: np.ndarray       # emission coefficient
    rev_limit: np.ndarray  # largest allowed reverse voltage (inf without BV)


def _diode_parameters(circuit: Circuit, d: Diode):
    card = circuit.model_for(d)
    tnom = card.get("TNOM", circuit.tnom)
    temp = circuit.temp
    n = card.get("N", dm.DEFAULT_N)
    is_ = dm.saturation_current(card.get("IS", dm.DEFAULT_IS), n, temp, tnom,
                                card.get("EG", dm.DEFAULT_EG), card.get("XTI", dm.DEFAULT_XTI),
                                d.area, circuit.epsmin)
    rs = dm.series_resistance(card.get("RS", 0.0), temp, tnom, card.get("TRS1", 0.0),
                              card.get("TRS2", 0.0), d.area)
    if not (rs >= 0.0 and math.isfinite(rs)):
        raise CircuitError(f"line {d.line}: diode {d.name}: series resistance at {temp} °C is "
                           f"{rs!r} (check TRS1/TRS2)")
    bv = card.get("BV")
    if bv is not None:
        tcv = card.get("TCV", 0.0)
        bv_t = bv - tcv * (temp - tnom)
        bv_eff = dm.breakdown_voltage_estimate(bv_t, card.get("IBV", dm.DEFAULT_IBV), is_,
                                               card.get("NBV", n), temp)
        limit = min(0.9 * bv, bv_eff)
    else:
        limit = math.inf
    return is_, n, rs, limit


def solve_shockley(circuit: Circuit, *, start: OperatingPoint | None = None,
                   max_iter: int = 500) -> OperatingPoint:
    """Operating point with ngspice's DC diode model, to full double precision."""
    base = build_mna(circuit)  # checks the structure first
    names, index = base.node_names, base.node_index
    n_ext = len(names)
    m = len(circuit.diodes)
    params = [_diode_parameters(circuit, d) for d in circuit.diodes]
    # Internal junction nodes for diodes with series resistance.
    extra = []
    p_idx = np.empty(m, dtype=int)
    c_idx = np.empty(m, dtype=int)
    n_int = 0
    for k, d in enumerate(circuit.diodes):
        a, c = _idx(index, d.anode), _idx(index, d.cathode)
        rs = params[k][2]
        if rs > 0.0:
            node = n_ext + n_int
            n_int += 1
            extra.append((a, node, 1.0 / rs))
            p_idx[k] = node
        else:
            p_idx[k] = a
        c_idx[k] = c
    # Assemble MNA with internal nodes placed after the external ones and before the sources.
    nv = len(circuit.vsources)
    n_all = n_ext + n_int
    size = n_all + nv

    def remap(i):
        return i if i < n_ext else i + n_int  # source rows move down by n_int

    K = np.zeros((size, size))
    b = np.zeros(size)
    old = np.array([remap(i) for i in range(base.size)], dtype=int)
    K[np.ix_(old, old)] = base.K
    b[old] = base.b
    for a, node, g in extra:
        K[node, node] += g
        if a >= 0:
            K[a, a] += g
            K[a, node] -= g
            K[node, a] -= g
    dd = _DiodeData(p_idx, c_idx, np.array([p[0] for p in params], dtype=float),
                    np.array([p[1] for p in params], dtype=float),
                    np.array([p[3] for p in params], dtype=float))
    gmin = circuit.gmin
    temp = circuit.temp

    # Starting junction voltages from the ideal solution: a conducting diode starts where the
    # junction carries its ideal current, a blocking one at its ideal reverse voltage.  Without
    # an ideal solution (a diode forward-biased across a source) every junction starts at
    # vcrit, as ngspice does.
    vcrit = dd.n * dm.thermal_voltage(temp) * np.log(dd.n * dm.thermal_voltage(temp)
                                                      / (math.sqrt(2.0) * dd.is_))
    if start is None:
        try:
            start = solve_ideal(circuit)
        except CircuitError:
            start = None
    if start is None:
        v0 = vcrit.copy()
    else:
        v0 = np.empty(m)
        for k, d in enumerate(circuit.diodes):
            i_k = start.diode_currents[d.name]
            if i_k > 0:
                v0[k] = min(dd.n[k] * dm.thermal_voltage(temp) * math.log1p(i_k / dd.is_[k]),
                            vcrit[k])
            else:
                v0[k] = start.diode_voltages[d.name]

    x, its = _newton(K, b, v0, n_all, dd, gmin, temp, max_iter)

    # Report: external node voltages, diode currents (junction current incl. GMIN).
    vd = _junction_voltages(x, dd)
    i_d, _ = dm.junction_current(vd, dd.is_, dd.n, temp, gmin)
    i_d = np.atleast_1d(i_d)
    _check_breakdown(circuit, -vd, dd.rev_limit)
    x_rep = np.concatenate([x[:n_ext], x[n_all:]])
    mna_view = MNASystem(base.K, base.b, base.N, names, index, n_ext, base.vsource_names)
    op = _result(circuit, mna_view, x_rep, i_d, "shockley", its, "newton")
    return op


def _junction_voltages(x, dd):
    vp = np.where(dd.p >= 0, x[np.maximum(dd.p, 0)], 0.0)
    vc = np.where(dd.c >= 0, x[np.maximum(dd.c, 0)], 0.0)
    return vp - vc


def _newton(K, b, v0, n_all, dd, gmin, temp, max_iter):
    """SPICE-style Newton–Raphson: linearize each junction at its (limited) voltage, solve.

    Each iteration stamps every junction's companion model (conductance g and current
    i − g·v at the linearization voltage) into K and solves the linear system exactly, so every
    iterate satisfies the source constraints.  The new junction voltages are limited with pnjlim
    before the next linearization (junction-voltage limiting damps the step).  Once no junction
    is limited this is plain Newton, continued until the update stops shrinking (rounding).
    """
    m = dd.p.size
    D = np.zeros((n_all, m))
    for k in range(m):
        if dd.p[k] >= 0:
            D[dd.p[k], k] += 1.0
        if dd.c[k] >= 0:
            D[dd.c[k], k] -= 1.0
    vte_min = float(np.min(dd.n)) * dm.thermal_voltage(temp) if m else 1.0
    vlin = np.asarray(v0, dtype=float).copy()
    x_old = None
    prev = math.inf
    small = 0
    for it in range(1, max_iter + 1):
        i, g = dm.junction_current(vlin, dd.is_, dd.n, temp, gmin)
        i, g = np.atleast_1d(i), np.atleast_1d(g)
        J = K.copy()
        J[:n_all, :n_all] += (D * g) @ D.T
        rhs = b.copy()
        rhs[:n_all] -= D @ (i - g * vlin)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
                x = scipy.linalg.solve(J, rhs, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):
            raise CircuitError("Newton iteration met a singular Jacobian") from None
        if not np.all(np.isfinite(x)):
            raise CircuitError("Newton iteration diverged (non-finite iterate)")
        vd = D.T @ x[:n_all]
        vlim, hit = dm.limit_junction_voltage(vd, vlin, dd.n, dd.is_, temp)
        vlim, hit = np.atleast_1d(vlim), np.atleast_1d(hit)
        if x_old is not None and not np.any(hit):
            step = float(np.max(np.abs(x[:n_all] - x_old[:n_all]), initial=0.0))
            step = max(step, float(np.max(np.abs(vd - vlin), initial=0.0)))
            scale = max(float(np.max(np.abs(x[:n_all]), initial=0.0)), vte_min)
            # Converged when the update is at rounding level, or when it has stopped
            # shrinking at a small size (the rounding floor of an ill-conditioned system;
            # Newton's quadratic convergence would otherwise still shrink it).
            if step <= 4.0 * np.finfo(float).eps * scale:
                return x, it
            if _balance_error(K, b, D, x, vd, dd, gmin, temp, n_all) <= 1e-14:
                return x, it
            if step <= 1e-8 * scale:
                small += 1
                if step >= 0.5 * prev or small >= 6:
                    return x, it
            prev = step
        else:
            prev = math.inf
        x_old = x
        vlin = vlim
    raise CircuitError(f"Newton iteration did not converge in {max_iter} iterations")


def _balance_error(K, b, D, x, vd, dd, gmin, temp, n_all):
    """Worst relative current imbalance at a node: |Σ currents| / Σ |currents|."""
    i, _ = dm.junction_current(vd, dd.is_, dd.n, temp, gmin)
    i = np.atleast_1d(i)
    terms = np.abs(K[:n_all] * x[None, :]).sum(axis=1) + np.abs(D) @ np.abs(i) + np.abs(b[:n_all])
    f = K[:n_all] @ x + D @ i - b[:n_all]
    return float(np.max(np.abs(f) / np.maximum(terms, 1e-300), initial=0.0))


def solve(circuit: Circuit, mode: str = "ideal") -> OperatingPoint:
    """Operating point in `mode` "ideal" or "shockley"."""
    if mode == "ideal":
        return solve_ideal(circuit)
    if mode == "shockley":
        return solve_shockley(circuit)
    raise ValueError(f"unknown mode {mode!r} (use 'ideal' or 'shockley')")
