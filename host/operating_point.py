"""The exact DC operating point of a diode circuit (a `circuit.Circuit`, read or built).

Everything is sparse, so memory and time grow with the netlist's size (docs/science.md: the
circuit is a monotone operator; its operating point is a complementarity problem).  The linear
part is the modified nodal analysis of `mna` (K x = b + N i, K symmetric unless the circuit has
controlled sources).

Ideal mode (`solve_ideal`): every diode is ideal (v_anode − v_cathode ≤ 0, current i ≥ 0,
complementary).  With N the incidence of the diodes (column = e_cathode − e_anode, i.e. diode
current injected into its cathode), K x = b + N i and the reverse voltages are w = Nᵀx.  A guess
S of the conducting diodes gives the saddle-point system

    [ K      −N_S ] [x  ]   [b]
    [ −N_Sᵀ   0   ] [i_S] = [0]          (conducting diodes have zero voltage),

solved by one sparse LU.  The primal–dual active-set method (block principal pivoting, Júdice &
Pires 1994, with Murty's least-index rule against cycling) flips every diode whose current is
negative or whose reverse voltage is negative and repeats; it starts from the diodes forward
biased with every diode open.  Conducting diodes that would close a loop with other conducting
diodes or voltage sources are kept at zero current (their voltage is fixed by the rest), so the
system stays nonsingular with parallel diodes and diode loops.  The answer is exact up to
rounding and carries a `Certificate`.  If the active set does not settle, small circuits fall back
to the dense LCP M = Nᵀ K⁻¹ N solved by `lcp.solve_lcp` (which also proves infeasibility).

Shockley mode (`solve_shockley`): each diode is ngspice's DC junction model (`diode_model`) with
GMIN in parallel and RS on an internal node.  For a reciprocal circuit the equations are the
stationarity conditions of a strictly convex function (the co-content), so Newton with SPICE's
junction-voltage limiting converges; it starts from the ideal solution and iterates to full double precision, one
sparse LU per iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from . import diode_model as dm
from .circuit import Circuit, CircuitError, diode_instance_values
from .lcp import LCPInfeasible, PivotRule, solve_lcp
from .mna import MNASystem, build_mna, factor, forest_edges, solve_refined

__all__ = ["CircuitError", "Certificate", "OperatingPoint", "solve_ideal", "solve_shockley",
           "solve", "diode_series_resistances"]

Progress = Callable[[str], None] | None

# Largest dense LCP fallback: (MNA size) × (diodes) entries.
_DENSE_LIMIT = 4_000_000


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


def _at(element) -> str:
    """Where an element was written ("line N: "), empty for one built in code."""
    return f"line {element.line}: " if element.line else ""


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


# --------------------------------------------------------------------------------------------
# ideal diodes


def solve_ideal(circuit: Circuit, *, rtol: float = 1e-11, progress: Progress = None,
                max_iter: int = 200) -> OperatingPoint:
    """Exact operating point with every diode ideal (see the module notes)."""
    mna = build_mna(circuit)
    K, b, N = mna.K, mna.b, mna.N
    m = N.shape[1]
    _say(progress, f"ideal diodes: {mna.n_nodes} nodes, {len(circuit.vsources)} voltage "
                   f"sources, {m} diodes; factorizing the open-diode circuit")
    try:
        lu = factor(K)
    except np.linalg.LinAlgError:
        raise CircuitError("the circuit matrix is singular in double precision: the "
                           "operating point is not unique, or the conductances span more "
                           "decades than double precision holds") from None
    x0 = solve_refined(K, lu, b)
    vopen = _open_scale(x0, mna.n_nodes)
    if m == 0:
        return _ideal_result(circuit, mna, x0, np.zeros(0), "linear", 0, vopen)
    found = _active_set(mna, x0, vopen, rtol, progress, max_iter)
    if found is not None:
        x, i, its = found
        method = "active-set"
    else:
        if K.shape[0] * m > _DENSE_LIMIT:
            raise CircuitError(
                f"the active-set method did not settle in {max_iter} iterations on {m} diodes "
                "and the circuit is too large for the dense fallback")
        _say(progress, "active set did not settle; dense LCP fallback")
        try:
            x, i, method, its = _dense_lcp(circuit, mna, lu, x0, rtol)
        except RuntimeError as exc:     # Lemke's pivot limit
            raise CircuitError(f"the ideal-diode solve did not finish: {exc}") from None
        x, i = _polish_ideal(mna, x, i, vopen)
    _check_breakdown(circuit, N.T @ x, _breakdown_limits(circuit))
    return _ideal_result(circuit, mna, x, i, method, its, vopen)


def _forest(mna: MNASystem, S: np.ndarray):
    """Split the conducting diodes S into a spanning forest F and the rest.

    Voltage sources join their terminals first: a conducting diode that closes a loop of
    sources and conducting diodes is left out of F (its current stays zero).
    """
    n = mna.n_nodes
    nv = mna.branch_p.size
    an = np.where(mna.junction < 0, n, mna.junction)
    ca = np.where(mna.cathode < 0, n, mna.cathode)
    # Fast path: sources and conducting diodes together form a forest (no loop at all).
    ea = np.concatenate([np.where(mna.branch_p < 0, n, mna.branch_p), an[S]])
    eb = np.concatenate([np.where(mna.branch_m < 0, n, mna.branch_m), ca[S]])
    graph = sp.coo_matrix((np.ones(ea.size), (ea, eb)), shape=(n + 1, n + 1))
    n_comp, _ = connected_components(graph, directed=False)
    if ea.size == (n + 1) - n_comp and not np.any(ea == eb):
        return S, S[:0]
    # Otherwise a spanning forest: sources first, then the conducting diodes in order.
    keep = forest_edges(ea, eb, n)[nv:]
    return S[keep], S[~keep]


def _contracted_solve(mna: MNASystem, F: np.ndarray):
    """(x, i_F) of K x = b + N_F i_F with N_Fᵀ x = 0; LinAlgError if singular.

    The conducting forest F joins nodes into groups at one voltage (a group holding ground is
    at 0 V): with P the node-to-group map, Pᵀ K P y = Pᵀ b is an MNA system of the same kind
    as K (one sparse LU), x = P y, and the forest's currents carry the nodes' KCL residual
    r = K x − b = N_F i_F (a forest: N_F has full column rank).
    """
    K, b, N, n = mna.K, mna.b, mna.N, mna.n_nodes
    size = K.shape[0]
    an = np.where(mna.junction[F] < 0, n, mna.junction[F])
    ca = np.where(mna.cathode[F] < 0, n, mna.cathode[F])
    graph = sp.coo_matrix((np.ones(F.size), (an, ca)), shape=(n + 1, n + 1))
    _, labels = connected_components(graph, directed=False)
    grounded = labels[:n] == labels[n]
    _, group = np.unique(labels[:n], return_inverse=True)
    # Renumber the groups without the ground group.
    used = np.unique(group[~grounded])
    remap = np.full(group.max() + 1 if n else 0, -1)
    remap[used] = np.arange(used.size)
    gidx = np.where(grounded, -1, remap[group] if n else group)
    G = used.size
    rows = np.concatenate([np.flatnonzero(~grounded), n + np.arange(size - n)])
    cols = np.concatenate([gidx[~grounded], G + np.arange(size - n)])
    P = sp.csc_matrix((np.ones(rows.size), (rows, cols)), shape=(size, G + size - n))
    Kr = (P.T @ K @ P).tocsc()
    lu = factor(Kr)
    y = solve_refined(Kr, lu, P.T @ b)
    x = P @ y
    if not np.all(np.isfinite(x)):
        raise np.linalg.LinAlgError("non-finite solution")
    if F.size == 0:
        return x, np.zeros(0)
    r = np.asarray(K.astype(np.longdouble) @ x.astype(np.longdouble)
                   - b.astype(np.longdouble), dtype=float)
    # One KCL row per forest edge: every touched node but one root per ungrounded tree (its
    # row is implied by the group's KCL, which the contracted solve satisfies).
    touched = np.unique(np.concatenate([an, ca]))
    touched = touched[touched < n]
    lab = labels[touched]
    _, first = np.unique(lab, return_index=True)
    roots = first[lab[first] != labels[n]]
    rows_kcl = np.delete(touched, roots)
    A = N[rows_kcl][:, F].tocsc()
    iF = factor(A, "the conducting-diode forest").solve(r[rows_kcl])
    return x, iF


def _active_set(mna: MNASystem, x0, vopen, rtol, progress, max_iter):
    """Primal–dual active set (block principal pivoting); (x, i, iterations) or None."""
    N = mna.N
    m = N.shape[1]
    NT = N.T.tocsr()
    w = NT @ x0
    vscale = max(vopen, float(np.max(np.abs(mna.b[mna.n_nodes:]), initial=0.0)), 1e-300)
    tol_w = rtol * vscale
    on = w < -tol_w
    rule = PivotRule(m)
    for it in range(1, max_iter + 1):
        S = np.flatnonzero(on)
        F, rest = _forest(mna, S)
        try:
            x, iF = _contracted_solve(mna, F)
        except np.linalg.LinAlgError:
            return None
        i = np.zeros(m)
        i[F] = iF
        w = NT @ x
        iscale = max(float(np.max(np.abs(iF), initial=0.0)), _current_scale(mna, x), 1e-300)
        tol_i = rtol * iscale
        in_F = np.zeros(m, dtype=bool)
        in_F[F] = True
        bad_on = np.flatnonzero(in_F & (i < -tol_i))
        bad_off = np.flatnonzero(~in_F & (w < -tol_w))
        # Left-out conducting diodes whose voltage the rest fixes as reverse: simply off.
        on[rest[w[rest] > tol_w]] = False
        bad = np.union1d(bad_on, bad_off)
        _say(progress, f"active-set iteration {it}: {F.size} diodes conducting, "
                       f"{bad.size} to flip")
        if bad.size == 0:
            i[i < 0] = 0.0
            return x, i, it
        rule.flip(on, bad)
    return None


def _dense_lcp(circuit, mna, lu, x0, rtol):
    """The reduced dense LCP w = M i + q, M = Nᵀ K⁻¹ N, solved by `lcp.solve_lcp` (M is
    symmetric for a reciprocal circuit: symmetrized against rounding)."""
    N = mna.N
    KinvN = lu.solve(N.toarray())
    M = np.asarray(N.T @ KinvN)
    if circuit.reciprocal:
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
    return x0 + KinvN @ res.z, res.z, res.method, res.iterations


def _breakdown_limits(circuit: Circuit) -> np.ndarray:
    return np.array([0.9 * circuit.model_for(d).get("BV", math.inf) for d in circuit.diodes])


def _check_breakdown(circuit: Circuit, reverse_voltages, limits) -> None:
    """Raise if a diode with BV on its card is reverse-biased beyond its limit."""
    over = np.flatnonzero(np.asarray(reverse_voltages) > np.asarray(limits))
    if over.size:
        k = int(over[0])
        d = circuit.diodes[k]
        bv = circuit.model_for(d).get("BV")
        raise CircuitError(
            f"{_at(d)}diode {d.name} is reverse-biased by {reverse_voltages[k]:.6g} V,"
            f" beyond 0.9·BV = {0.9 * bv:.6g} V (or the model's breakdown knee): breakdown "
            "is not modelled")


def _open_scale(x0, n):
    """Voltage scale of the circuit with every diode open (node voltages and source values)."""
    return float(np.max(np.abs(x0[:n]), initial=0.0))


def _current_scale(mna: MNASystem, x) -> float:
    """The largest current a resistor or source carries."""
    n = mna.n_nodes
    xv = np.concatenate([x[:n], [0.0]])
    ir = np.abs(xv[mna.r_a] - xv[mna.r_c]) * mna.r_g
    return float(max(np.max(ir, initial=0.0), np.max(np.abs(x[n:]), initial=0.0),
                     np.max(np.abs(mna.b[:n]), initial=0.0)))


def _polish_ideal(mna: MNASystem, x, i, vopen):
    """Recompute the dense fallback's solution from its conducting set (exact to rounding).

    Accepted only if it stays consistent (i_S ≥ 0, w ≥ 0 within rounding).
    """
    S = np.flatnonzero(i > 0)
    if S.size == 0:
        return x, i
    F, _ = _forest(mna, S)
    if F.size != S.size:
        return x, i
    try:
        x_new, iS = _contracted_solve(mna, S)
    except (np.linalg.LinAlgError, ValueError):
        return x, i
    w_new = mna.N.T @ x_new
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
    isrc = np.abs([s.value for s in circuit.isources]) if circuit.isources else np.zeros(0)
    imax = max(_current_scale(mna, x), float(np.max(isrc, initial=0.0)),
               float(np.max(np.abs(i), initial=0.0)), 1e-300)
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
    op.conducting = dict(zip((d.name for d in circuit.diodes), (i > 0).tolist()))
    op.certificate = cert
    return op


def _result(circuit, mna, x, i, mode, its, method) -> OperatingPoint:
    n = mna.n_nodes
    xv = np.concatenate([x[:n], [0.0]])        # index −1 reads ground
    vd = xv[mna.anode] - xv[mna.cathode]
    dnames = [d.name for d in circuit.diodes]
    return OperatingPoint(
        mode=mode,
        node_voltages=dict(zip(mna.node_names, x[:n].tolist())),
        diode_currents=dict(zip(dnames, np.asarray(i, dtype=float).tolist())),
        diode_voltages=dict(zip(dnames, vd.tolist())),
        source_currents=dict(zip(mna.vsource_names, x[n:].tolist())),
        iterations=its,
        method=method,
    )


# --------------------------------------------------------------------------------------------
# Shockley diodes


@dataclass
class _DiodeData:
    p: np.ndarray       # junction anode index (internal node if RS > 0), −1 for ground
    c: np.ndarray       # cathode index, −1 for ground
    is_: np.ndarray     # saturation current at temperature, area- and multiplier-scaled
    n: np.ndarray       # emission coefficient
    temp: np.ndarray    # device temperature, °C
    gmin: np.ndarray    # GMIN in parallel (not scaled by area or m, as in ngspice)
    rev_limit: np.ndarray  # largest allowed reverse voltage (inf without BV)


def _diode_parameters(circuit: Circuit, k: int):
    d = circuit.diodes[k]
    card = circuit.model_for(d)
    unmodelled = sorted(set(card.unmodelled) | set(d.unmodelled))
    if unmodelled:
        raise CircuitError(
            f"{_at(d)}diode {d.name}: {', '.join(unmodelled)} not modelled (they change "
            "the DC current of ngspice's diode); remove them or solve with ideal diodes")
    temp, area, mult = diode_instance_values(circuit, d)
    tnom = card.get("TNOM", circuit.tnom)
    n = card.get("N", dm.DEFAULT_N)
    is_ = dm.saturation_current(card.get("IS", dm.DEFAULT_IS), n, temp, tnom,
                                card.get("EG", dm.DEFAULT_EG), card.get("XTI", dm.DEFAULT_XTI),
                                area * mult, circuit.epsmin)
    rs = dm.series_resistance(card.get("RS", 0.0), temp, tnom, card.get("TRS1", 0.0),
                              card.get("TRS2", 0.0), area * mult)
    if not (rs >= 0.0 and math.isfinite(rs)):
        raise CircuitError(f"{_at(d)}diode {d.name}: series resistance at {temp} °C is "
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
    return is_, n, rs, limit, temp, circuit.gmin


def _diode_table(circuit: Circuit) -> list[tuple]:
    """`_diode_parameters` of every diode (computed once per distinct card and instance)."""
    params = []
    memo: dict[tuple, tuple] = {}   # diodes sharing a card and instance values share parameters
    for k, d in enumerate(circuit.diodes):
        key = (d.model.lower(), d.area, tuple(sorted((d.params or {}).items())), d.unmodelled)
        if key in memo:
            params.append(memo[key])
            continue
        try:
            params.append(memo.setdefault(key, _diode_parameters(circuit, k)))
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            if isinstance(exc, CircuitError):
                raise
            raise CircuitError(f"{_at(d)}diode {d.name}: its model parameters give no "
                               f"finite DC characteristic at {circuit.temp:g} °C ({exc})") from None
    return params


def diode_series_resistances(circuit: Circuit) -> np.ndarray:
    """Each diode's series resistance RS at its temperature, area and m (ngspice's rule)."""
    return np.array([p[2] for p in _diode_table(circuit)], dtype=float)


def solve_shockley(circuit: Circuit, *, start: OperatingPoint | None = None,
                   max_iter: int = 500, progress: Progress = None) -> OperatingPoint:
    """Operating point with ngspice's DC diode model, to full double precision."""
    params = _diode_table(circuit)
    m = len(params)
    col = lambda j: np.array([p[j] for p in params], dtype=float) if m else np.zeros(0)  # noqa: E731
    # RS > 0: the junction on an internal node (`mna`); the structure is checked first.
    mna = build_mna(circuit, diodes_connect=True, series=col(2))
    K, b, n_all = mna.K, mna.b, mna.n_nodes
    dd = _DiodeData(mna.junction, mna.cathode, col(0), col(1), col(4), col(5), col(3))

    if start is None and m:
        _say(progress, "Shockley diodes: ideal solution as the starting point")
        try:
            start = solve_ideal(circuit, progress=progress)
        except CircuitError:
            start = None
    vt = dm.thermal_voltage(dd.temp)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        vcrit = dd.n * vt * np.log(dd.n * vt / (math.sqrt(2.0) * dd.is_)) if m else np.zeros(0)
    if start is None:
        v0 = vcrit.copy()
    else:
        i_k = np.array([start.diode_currents[d.name] for d in circuit.diodes])
        v_k = np.array([start.diode_voltages[d.name] for d in circuit.diodes])
        with np.errstate(invalid="ignore"):
            fwd = np.minimum(dd.n * vt * np.log1p(np.maximum(i_k, 0.0) / dd.is_), vcrit)
        v0 = np.where(i_k > 0, fwd, v_k)

    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        x, its = _newton(K, b, -mna.N, v0, n_all, dd, max_iter, progress)

    vd = _junction_voltages(x, dd)
    i_d, _ = dm.junction_current(vd, dd.is_, dd.n, dd.temp, dd.gmin)
    i_d = np.atleast_1d(i_d)
    _check_breakdown(circuit, -vd, dd.rev_limit)
    return _result(circuit, mna, x, i_d, "shockley", its, "newton")


def _junction_voltages(x, dd):
    vp = np.where(dd.p >= 0, x[np.maximum(dd.p, 0)], 0.0)
    vc = np.where(dd.c >= 0, x[np.maximum(dd.c, 0)], 0.0)
    return vp - vc


def _newton(K, b, D, v0, n_all, dd, max_iter, progress=None):
    """SPICE-style Newton–Raphson: linearize each junction at its (limited) voltage, solve.

    Each iteration stamps every junction's companion model (conductance g and current
    i − g·v at the linearization voltage) into K and solves the linear system exactly (sparse
    LU), so every iterate satisfies the source constraints.  The new junction voltages are
    limited with pnjlim before the next linearization (junction-voltage limiting damps the
    step).  Once no junction is limited this is plain Newton, continued until the update stops
    shrinking (rounding).  D: the junction incidence (column = e_junction − e_cathode, −N).
    """
    m = dd.p.size
    D = D.tocsc()
    DT = D.T.tocsr()
    absK = abs(K).tocsr()
    absD = abs(D).tocsr()
    vte_min = float(np.min(dd.n * dm.thermal_voltage(dd.temp))) if m else 1.0
    vlin = np.asarray(v0, dtype=float).copy()
    x_old = None
    prev = math.inf
    small = 0
    for it in range(1, max_iter + 1):
        i, g = dm.junction_current(vlin, dd.is_, dd.n, dd.temp, dd.gmin)
        i, g = np.atleast_1d(i), np.atleast_1d(g)
        J = (K + (D @ sp.diags(g) @ DT)).tocsc()
        rhs = b - D @ (i - g * vlin)
        try:
            x = factor(J, "the Newton Jacobian").solve(rhs)
        except (np.linalg.LinAlgError, ValueError):
            raise CircuitError("Newton iteration met a singular Jacobian") from None
        if not np.all(np.isfinite(x)):
            raise CircuitError("Newton iteration diverged (non-finite iterate)")
        vd = DT @ x
        vlim, hit = dm.limit_junction_voltage(vd, vlin, dd.n, dd.is_, dd.temp)
        vlim, hit = np.atleast_1d(vlim), np.atleast_1d(hit)
        if progress is not None and (it <= 3 or it % 10 == 0):
            _say(progress, f"Newton iteration {it}: {int(np.count_nonzero(hit))} junctions "
                           "limited")
        if x_old is not None and not np.any(hit):
            step = float(np.max(np.abs(x[:n_all] - x_old[:n_all]), initial=0.0))
            step = max(step, float(np.max(np.abs(vd - vlin), initial=0.0)))
            scale = max(float(np.max(np.abs(x[:n_all]), initial=0.0)), vte_min)
            # Converged when the update is at rounding level, or when it has stopped
            # shrinking at a small size (the rounding floor of an ill-conditioned system;
            # Newton's quadratic convergence would otherwise still shrink it).
            if step <= 4.0 * np.finfo(float).eps * scale:
                return x, it
            if _balance_error(K, absK, b, D, absD, x, vd, dd, n_all) <= 1e-14:
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


def _balance_error(K, absK, b, D, absD, x, vd, dd, n_all):
    """Worst relative current imbalance at a node: |Σ currents| / Σ |currents|."""
    i, _ = dm.junction_current(vd, dd.is_, dd.n, dd.temp, dd.gmin)
    i = np.atleast_1d(i)
    terms = (absK @ np.abs(x))[:n_all] + (absD @ np.abs(i))[:n_all] + np.abs(b[:n_all])
    f = (K @ x)[:n_all] + (D @ i)[:n_all] - b[:n_all]
    return float(np.max(np.abs(f) / np.maximum(terms, 1e-300), initial=0.0))


def solve(circuit: Circuit, mode: str = "ideal", progress: Progress = None) -> OperatingPoint:
    """Operating point in `mode` "ideal" or "shockley"."""
    if mode == "ideal":
        return solve_ideal(circuit, progress=progress)
    if mode == "shockley":
        return solve_shockley(circuit, progress=progress)
    raise ValueError(f"unknown mode {mode!r} (use 'ideal' or 'shockley')")
