"""The exact DC operating point of a resistor–diode netlist (a parsed `netlist.Circuit`).

Everything is sparse, so memory and time grow with the netlist's size (docs/science.md: the
circuit is a monotone operator; its operating point is a complementarity problem).

Modified nodal analysis: unknowns x = (node voltages, voltage-source branch currents), K x = b.
A voltage source's branch current flows from n+ through the source to n- (ngspice's convention);
b holds current-source injections and source voltages.

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
to the dense LCP M = Nᵀ K⁻¹ N solved by `lemke.solve_lcp` (which also proves infeasibility).

Shockley mode (`solve_shockley`): each diode is ngspice's DC junction model (`diode_model`) with
GMIN in parallel and RS on an internal node.  The circuit equations are the stationarity
conditions of a strictly convex function (the co-content), so Newton with SPICE's junction-voltage
limiting converges; it starts from the ideal solution and iterates to full double precision, one
sparse LU per iteration.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from . import diode_model as dm
from .lemke import LCPInfeasible, solve_lcp
from .netlist import GROUND_NAMES, Circuit, diode_instance_values, resistor_conductances

__all__ = ["CircuitError", "Certificate", "OperatingPoint", "MNASystem", "build_mna",
           "solve_ideal", "solve_shockley", "solve"]

Progress = Callable[[str], None] | None

# Largest dense LCP fallback: (MNA size) × (diodes) entries.
_DENSE_LIMIT = 4_000_000


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
    K: sp.csc_matrix
    b: np.ndarray
    N: sp.csc_matrix              # (size, m) diode incidence, column = e_cathode − e_anode
    node_names: list[str]          # index -> name as first written
    node_index: dict[str, int]     # lowercase name -> index
    n_nodes: int
    vsource_names: list[str]
    anode: np.ndarray              # diode anode index, −1 for ground
    cathode: np.ndarray            # diode cathode index, −1 for ground
    r_a: np.ndarray                # resistor terminals and conductances (for the certificate)
    r_c: np.ndarray
    r_g: np.ndarray

    @property
    def size(self) -> int:
        return self.K.shape[0]


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


# --------------------------------------------------------------------------------------------
# structure checks and assembly


def _indices(index: dict[str, int], names) -> np.ndarray:
    """Node indices of netlist node names (−1 for ground)."""
    return np.fromiter(map(index.__getitem__, map(str.lower, names)), dtype=np.int64,
                       count=len(names))


def _check_vsource_loops(circuit: Circuit, vp, vm, n: int) -> None:
    """Raise CircuitError for a loop of voltage sources (K singular), naming its sources."""
    parent = list(range(n + 1))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    adjacency: dict[int, list[tuple[int, str]]] = {}
    for v, a, b in zip(circuit.vsources, np.where(vp < 0, n, vp), np.where(vm < 0, n, vm)):
        ra, rb = find(int(a)), find(int(b))
        if ra == rb:
            loop = ", ".join([v.name] + _source_path(adjacency, int(a), int(b)))
            raise CircuitError(
                f"line {v.line}: voltage sources {loop} form a loop (K is singular): the "
                "operating point is not defined; break the loop with a resistor")
        parent[ra] = rb
        adjacency.setdefault(int(a), []).append((int(b), v.name))
        adjacency.setdefault(int(b), []).append((int(a), v.name))


def _source_path(adjacency, a, b):
    """Names of voltage sources on a path from a to b (breadth-first)."""
    prev = {a: None}
    queue = [a]
    head = 0
    while head < len(queue):
        u = queue[head]
        head += 1
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


def _unreached(n: int, pairs) -> np.ndarray:
    """Nodes (0..n-1; ground is n) with no path to ground over the given edge arrays."""
    a = np.concatenate([p[0] for p in pairs] + [np.zeros(0, np.int64)])
    c = np.concatenate([p[1] for p in pairs] + [np.zeros(0, np.int64)])
    a = np.where(a < 0, n, a)
    c = np.where(c < 0, n, c)
    graph = sp.coo_matrix((np.ones(a.size), (a, c)), shape=(n + 1, n + 1))
    _, labels = connected_components(graph, directed=False)
    return np.flatnonzero(labels[:n] != labels[n])


def _check_floating(names, bad, via_diodes=None) -> None:
    """Raise CircuitError naming the nodes with no path to ground (K singular)."""
    if bad.size == 0:
        return
    def listing(idx):
        shown = ", ".join(repr(names[i]) for i in idx[:20])
        return shown + (f" and {idx.size - 20} more" if idx.size > 20 else "")
    if via_diodes is not None and via_diodes.size == bad.size:
        raise CircuitError(
            f"node(s) {listing(bad)} connect to ground only through diodes: the ideal-diode "
            "solver needs a resistive or source path from every node to ground (K must be "
            "nonsingular) and does not model this; solve with --shockley (ngspice's diode "
            "model) or add a resistive path")
    note = ""
    if via_diodes is not None and via_diodes.size:
        note = (f" (with ideal diodes; {listing(via_diodes)} connect only through diodes: "
                "--shockley, ngspice's diode model, solves them)")
    raise CircuitError(
        f"node(s) {listing(bad)} have no resistive or source path to ground: K is singular "
        f"and the operating point is not unique{note}")


def build_mna(circuit: Circuit, *, diodes_connect: bool = False,
              extra_conductances=()) -> MNASystem:
    """Assemble K, b and the diode incidence N of a circuit (after structural checks).

    `diodes_connect`: count diodes as paths to ground (true for Shockley diodes, which always
    conduct a little); otherwise a node reached only through diodes is an error.
    """
    names = list(circuit.nodes)
    index = {name.lower(): i for i, name in enumerate(names)}
    n = len(names)
    lookup = dict(index, **{g: -1 for g in GROUND_NAMES})
    res = circuit.resistors
    r_a = _indices(lookup, [r.n1 for r in res])
    r_c = _indices(lookup, [r.n2 for r in res])
    r_g = resistor_conductances(circuit)
    keep = r_g != 0.0   # m=0 instances are open
    r_a, r_c, r_g = r_a[keep], r_c[keep], r_g[keep]
    if circuit.rshunt is not None:   # option rshunt: a resistor from every node to ground
        r_a = np.concatenate([r_a, np.arange(n)])
        r_c = np.concatenate([r_c, -np.ones(n, dtype=np.int64)])
        r_g = np.concatenate([r_g, np.full(n, 1.0 / circuit.rshunt)])
    vs = circuit.vsources
    v_p = _indices(lookup, [v.npos for v in vs])
    v_m = _indices(lookup, [v.nneg for v in vs])
    v_val = np.array([v.value for v in vs], dtype=float)
    cs = circuit.isources
    i_p = _indices(lookup, [s.npos for s in cs])
    i_m = _indices(lookup, [s.nneg for s in cs])
    i_val = np.array([s.value for s in cs], dtype=float)
    d_a = _indices(lookup, [d.anode for d in circuit.diodes])
    d_c = _indices(lookup, [d.cathode for d in circuit.diodes])

    _check_vsource_loops(circuit, v_p, v_m, n)
    linear = [(r_a, r_c), (v_p, v_m)]
    bad = _unreached(n, linear)
    if bad.size:
        with_diodes = _unreached(n, linear + [(d_a, d_c)])
        if diodes_connect:
            _check_floating(names, with_diodes)
        else:
            _check_floating(names, bad, np.setdiff1d(bad, with_diodes))

    nv = len(vs)
    size = n + nv
    g_idx = size  # a dummy row/column for ground, dropped below
    ra = np.where(r_a < 0, g_idx, r_a)
    rc = np.where(r_c < 0, g_idx, r_c)
    rows = [ra, rc, ra, rc]
    cols = [ra, rc, rc, ra]
    vals = [r_g, r_g, -r_g, -r_g]
    for a, c, g in extra_conductances:
        a, c = (g_idx if a < 0 else a), (g_idx if c < 0 else c)
        rows += [np.array([a, c, a, c])]
        cols += [np.array([a, c, c, a])]
        vals += [np.array([g, g, -g, -g])]
    br = n + np.arange(nv)
    vp = np.where(v_p < 0, g_idx, v_p)
    vm = np.where(v_m < 0, g_idx, v_m)
    one = np.ones(nv)
    rows += [vp, br, vm, br]
    cols += [br, vp, br, vm]
    vals += [one, one, -one, -one]
    K = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(size + 1, size + 1)).tocsc()[:size, :size]
    b = np.zeros(size + 1)
    np.add.at(b, np.where(i_p < 0, g_idx, i_p), -i_val)
    np.add.at(b, np.where(i_m < 0, g_idx, i_m), i_val)
    b = b[:size]
    b[n:] = v_val
    m = len(circuit.diodes)
    k = np.arange(m)
    N = sp.coo_matrix((np.concatenate([np.ones(m), -np.ones(m)]),
                       (np.concatenate([np.where(d_c < 0, g_idx, d_c),
                                        np.where(d_a < 0, g_idx, d_a)]),
                        np.concatenate([k, k]))), shape=(size + 1, m)).tocsr()[:size].tocsc()
    return MNASystem(K.tocsc(), b, N, names, index, n, [v.name for v in vs], d_a, d_c,
                     r_a, r_c, r_g)


def _factor(A, what="the circuit matrix"):
    """Sparse LU of A (CSC); LinAlgError if singular."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lu = spla.splu(sp.csc_matrix(A), permc_spec="COLAMD")
    except RuntimeError as exc:   # "Factor is exactly singular"
        raise np.linalg.LinAlgError(f"{what} is singular") from exc
    diag = np.abs(lu.U.diagonal())
    if diag.size and diag.min() <= 1e-15 * max(diag.max(), 1e-300):
        raise np.linalg.LinAlgError(f"{what} is singular")
    return lu


def _solve_refined(A, lu, r, steps=2):
    """LU solve plus iterative refinement with residuals in extended precision."""
    x = lu.solve(r)
    Al = A.astype(np.longdouble)
    rl = np.asarray(r, dtype=np.longdouble)
    for _ in range(steps):
        res = rl - Al @ x.astype(np.longdouble)
        x = x + lu.solve(res.astype(float))
    return x


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
        lu = _factor(K)
    except np.linalg.LinAlgError:
        raise CircuitError("the circuit matrix is singular in double precision: the "
                           "operating point is not unique, or the conductances span more "
                           "decades than double precision holds") from None
    x0 = _solve_refined(K, lu, b)
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
    parent = list(range(n + 1))

    def find(a):
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return root

    nv = mna.K.shape[0] - n
    an = np.where(mna.anode < 0, n, mna.anode)
    ca = np.where(mna.cathode < 0, n, mna.cathode)
    # Fast path: sources and conducting diodes together form a forest (no loop at all).
    src = mna.K[:n, n:].tocoo()
    ends = np.full((2, nv), n)
    order = np.argsort(src.col, kind="stable")
    rows, cols = src.row[order], src.col[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = cols[1:] != cols[:-1]
    ends[0, cols[first]] = rows[first]
    ends[1, cols[~first]] = rows[~first]
    ea = np.concatenate([ends[0], an[S]])
    eb = np.concatenate([ends[1], ca[S]])
    graph = sp.coo_matrix((np.ones(ea.size), (ea, eb)), shape=(n + 1, n + 1))
    n_comp, _ = connected_components(graph, directed=False)
    if ea.size == (n + 1) - n_comp and not np.any(ea == eb):
        return S, S[:0]
    # Otherwise a union–find: sources first, then the conducting diodes in order.
    keep = np.zeros(ea.size, dtype=bool)
    for j, (a, b) in enumerate(zip(ea.tolist(), eb.tolist())):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
            keep[j] = True
    keep = keep[nv:]
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
    an = np.where(mna.anode[F] < 0, n, mna.anode[F])
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
    lu = _factor(Kr)
    y = _solve_refined(Kr, lu, P.T @ b)
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
    iF = _factor(A, "the conducting-diode forest").solve(r[rows_kcl])
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
    best, chances = m + 1, 3
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
        if bad.size < best:
            best, chances = bad.size, 3
            on[bad] = ~on[bad]
        elif chances > 0:
            chances -= 1
            on[bad] = ~on[bad]
        else:  # Murty's rule: flip only the largest infeasible index
            j = bad[-1]
            on[j] = ~on[j]
    return None


def _dense_lcp(circuit, mna, lu, x0, rtol):
    """The reduced dense LCP w = M i + q, M = Nᵀ K⁻¹ N, solved by `lemke.solve_lcp`."""
    N = mna.N
    KinvN = lu.solve(N.toarray())
    M = np.asarray(N.T @ KinvN)
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
            f"line {d.line}: diode {d.name} is reverse-biased by {reverse_voltages[k]:.6g} V,"
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
            f"line {d.line}: diode {d.name}: {', '.join(unmodelled)} not modelled (they change "
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
    return is_, n, rs, limit, temp, circuit.gmin


def solve_shockley(circuit: Circuit, *, start: OperatingPoint | None = None,
                   max_iter: int = 500, progress: Progress = None) -> OperatingPoint:
    """Operating point with ngspice's DC diode model, to full double precision."""
    base = build_mna(circuit, diodes_connect=True)  # checks the structure first
    n_ext, m = base.n_nodes, len(circuit.diodes)
    params = []
    memo: dict[tuple, tuple] = {}   # diodes sharing a card and instance values share parameters
    for k in range(m):
        d = circuit.diodes[k]
        key = (d.model.lower(), d.area, tuple(sorted((d.params or {}).items())), d.unmodelled)
        if key in memo:
            params.append(memo[key])
            continue
        try:
            params.append(memo.setdefault(key, _diode_parameters(circuit, k)))
        except (OverflowError, ValueError, ZeroDivisionError) as exc:
            if isinstance(exc, CircuitError):
                raise
            d = circuit.diodes[k]
            raise CircuitError(f"line {d.line}: diode {d.name}: its model parameters give no "
                               f"finite DC characteristic at {circuit.temp:g} °C ({exc})") from None
    col = lambda j: np.array([p[j] for p in params], dtype=float) if m else np.zeros(0)
    rs, temp = col(2), col(4)
    # Internal junction nodes (after the external ones, before the source rows) for RS > 0.
    has_rs = rs > 0.0
    n_int = int(np.count_nonzero(has_rs))
    nv = len(circuit.vsources)
    n_all = n_ext + n_int
    size = n_all + nv
    p_idx = base.anode.copy()
    internal = n_ext + np.arange(n_int)
    p_idx[has_rs] = internal
    # Move the source rows down by n_int, then stamp the series resistances.
    perm = np.concatenate([np.arange(n_ext), n_all + np.arange(nv)])
    K0 = base.K.tocoo()
    K = sp.coo_matrix((K0.data, (perm[K0.row], perm[K0.col])), shape=(size, size))
    ra, g = base.anode[has_rs], 1.0 / rs[has_rs]
    gi = size  # ground dummy index
    ra_ = np.where(ra < 0, gi, ra)
    R = sp.coo_matrix((np.concatenate([g, g, -g, -g]),
                       (np.concatenate([internal, ra_, internal, ra_]),
                        np.concatenate([internal, ra_, ra_, internal]))),
                      shape=(size + 1, size + 1)).tocsc()[:size, :size]
    K = (K.tocsc() + R).tocsc()
    if circuit.rshunt is not None and n_int:   # ngspice shunts internal nodes too
        shunt = np.zeros(size)
        shunt[internal] = 1.0 / circuit.rshunt
        K = (K + sp.diags(shunt)).tocsc()
    b = np.zeros(size)
    b[perm] = base.b
    dd = _DiodeData(p_idx, base.cathode.copy(), col(0), col(1), temp, col(5), col(3))

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
        x, its = _newton(K, b, v0, n_all, dd, max_iter, progress)

    vd = _junction_voltages(x, dd)
    i_d, _ = dm.junction_current(vd, dd.is_, dd.n, dd.temp, dd.gmin)
    i_d = np.atleast_1d(i_d)
    _check_breakdown(circuit, -vd, dd.rev_limit)
    x_rep = np.concatenate([x[:n_ext], x[n_all:]])
    return _result(circuit, base, x_rep, i_d, "shockley", its, "newton")


def _junction_voltages(x, dd):
    vp = np.where(dd.p >= 0, x[np.maximum(dd.p, 0)], 0.0)
    vc = np.where(dd.c >= 0, x[np.maximum(dd.c, 0)], 0.0)
    return vp - vc


def _newton(K, b, v0, n_all, dd, max_iter, progress=None):
    """SPICE-style Newton–Raphson: linearize each junction at its (limited) voltage, solve.

    Each iteration stamps every junction's companion model (conductance g and current
    i − g·v at the linearization voltage) into K and solves the linear system exactly (sparse
    LU), so every iterate satisfies the source constraints.  The new junction voltages are
    limited with pnjlim before the next linearization (junction-voltage limiting damps the
    step).  Once no junction is limited this is plain Newton, continued until the update stops
    shrinking (rounding).
    """
    m = dd.p.size
    size = K.shape[0]
    k = np.arange(m)
    gi = size
    D = sp.coo_matrix((np.concatenate([np.ones(m), -np.ones(m)]),
                       (np.concatenate([np.where(dd.p < 0, gi, dd.p),
                                        np.where(dd.c < 0, gi, dd.c)]),
                        np.concatenate([k, k]))), shape=(size + 1, m)).tocsr()[:size].tocsc()
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
            x = _factor(J, "the Newton Jacobian").solve(rhs)
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
