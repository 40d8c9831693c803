"""Modified nodal analysis of a `circuit.Circuit`: the sparse linear system every solver shares.

Unknowns x = (node voltages, branch currents of the V then E sources), K x = b + N i with i the
diode currents (anode → cathode) and N their incidence (column = e_cathode − e_junction: the
diode current is injected into its cathode).  A branch current flows from n+ through the
source to n- (ngspice's convention); b holds current-source injections and source voltages.
Controlled sources stamp as in SPICE: an E source is a branch row v(n+) − v(n-) −
gain·(v(c+) − v(c-)) = 0, a G source a transconductance block, an F source the gain times its
sensing V source's branch current.  A diode with a series resistance RS (`series`) gets an
internal junction node after the external ones, joined to its anode by RS (as ngspice does).

`build_mna` checks the structure first and names what is wrong: a loop of voltage sources, or
nodes with no resistive or source path to ground (K would be singular).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from .circuit import (CCCS, GROUND_NAMES, VCCS, VCVS, Circuit, CircuitError,
                      resistor_conductances)

__all__ = ["MNASystem", "build_mna", "factor", "solve_refined", "forest_edges"]


@dataclass
class MNASystem:
    """The linear part of a circuit: K x = b (+ N i for the diode currents)."""
    K: sp.csc_matrix
    b: np.ndarray
    N: sp.csc_matrix              # (size, m) diode incidence, column = e_cathode − e_junction
    node_names: list[str]          # external node index -> name as first written
    node_index: dict[str, int]     # lowercase name -> index
    n_nodes: int                   # external and internal nodes (rows before the branches)
    n_external: int
    vsource_names: list[str]       # the first branch rows
    anode: np.ndarray              # diode anode terminal index, −1 for ground
    cathode: np.ndarray            # diode cathode index, −1 for ground
    junction: np.ndarray           # the junction's anode side: internal node if RS, else anode
    r_a: np.ndarray                # resistor terminals and conductances (for the certificate)
    r_c: np.ndarray
    r_g: np.ndarray
    branch_p: np.ndarray           # V and E branch terminals (−1 for ground)
    branch_m: np.ndarray
    isource_p: np.ndarray          # current-source terminals (−1 for ground)
    isource_m: np.ndarray

    @property
    def size(self) -> int:
        return self.K.shape[0]

    def source_matrix(self) -> sp.csc_matrix:
        """S with b = S u, u = the V then the I sources' values (in circuit order)."""
        n, nv, ni = self.n_nodes, len(self.vsource_names), self.isource_p.size
        g = self.size
        rows = np.concatenate([n + np.arange(nv), np.where(self.isource_p < 0, g, self.isource_p),
                               np.where(self.isource_m < 0, g, self.isource_m)])
        cols = np.concatenate([np.arange(nv), nv + np.arange(ni), nv + np.arange(ni)])
        vals = np.concatenate([np.ones(nv), -np.ones(ni), np.ones(ni)])
        return sp.coo_matrix((vals, (rows, cols)), shape=(g + 1, nv + ni)).tocsr()[:g].tocsc()


def _indices(index: dict[str, int], names) -> np.ndarray:
    """Node indices of node names (−1 for ground)."""
    return np.fromiter(map(index.__getitem__, map(str.lower, names)), dtype=np.int64,
                       count=len(names))


def forest_edges(a, b, n: int) -> np.ndarray:
    """Which edges (a[j], b[j]) over vertices 0..n, taken in order, join two different trees of
    a spanning forest (True); an edge that closes a loop with the edges before it is False."""
    parent = list(range(n + 1))

    def find(v):
        root = v
        while parent[root] != root:
            root = parent[root]
        while parent[v] != root:
            parent[v], v = root, parent[v]
        return root

    keep = np.zeros(len(a), dtype=bool)
    for j, (u, v) in enumerate(zip(a.tolist(), b.tolist())):
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[ru] = rv
            keep[j] = True
    return keep


def _check_vsource_loops(sources, vp, vm, n: int) -> None:
    """Raise CircuitError for a loop of voltage sources (K singular), naming its sources."""
    a, b = np.where(vp < 0, n, vp), np.where(vm < 0, n, vm)
    keep = forest_edges(a, b, n)
    if keep.all():
        return
    j = int(np.argmin(keep))
    adjacency: dict[int, list[tuple[int, str]]] = {}
    for v, p, q in zip(sources[:j], a[:j].tolist(), b[:j].tolist()):
        adjacency.setdefault(p, []).append((q, v.name))
        adjacency.setdefault(q, []).append((p, v.name))
    v = sources[j]
    loop = ", ".join([v.name] + _source_path(adjacency, int(a[j]), int(b[j])))
    where = f"line {v.line}: " if v.line else ""
    raise CircuitError(
        f"{where}voltage sources {loop} form a loop (K is singular): the "
        "operating point is not defined; break the loop with a resistor")


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


def _stamp(rows, cols, vals, r, c, v):
    rows.append(r)
    cols.append(c)
    vals.append(v)


def build_mna(circuit: Circuit, *, diodes_connect: bool = False, series=None) -> MNASystem:
    """Assemble K, b and the diode incidence N of a circuit (after structural checks).

    `diodes_connect`: count diodes as paths to ground (true for Shockley diodes, which always
    conduct a little); otherwise a node reached only through diodes is an error.  `series`: one
    series resistance per diode (Ω, 0 for none), each on an internal junction node.
    """
    names = list(circuit.nodes)
    index = {name.lower(): i for i, name in enumerate(names)}
    n_ext = len(names)
    lookup = dict(index, **{g: -1 for g in GROUND_NAMES})
    nodes_of = lambda els, attr: _indices(lookup, [getattr(e, attr) for e in els])  # noqa: E731
    res = circuit.resistors
    r_a, r_c = nodes_of(res, "n1"), nodes_of(res, "n2")
    r_g = resistor_conductances(circuit)
    keep = r_g != 0.0   # m=0 instances are open
    r_a, r_c, r_g = r_a[keep], r_c[keep], r_g[keep]
    dio = circuit.diodes
    m = len(dio)
    d_a, d_c = nodes_of(dio, "anode"), nodes_of(dio, "cathode")
    junction = d_a.copy()
    rs = np.zeros(m) if series is None else np.asarray(series, dtype=float)
    has_rs = rs > 0.0
    n_int = int(np.count_nonzero(has_rs))
    n = n_ext + n_int
    internal = n_ext + np.arange(n_int)
    junction[has_rs] = internal
    r_a = np.concatenate([r_a, d_a[has_rs]])
    r_c = np.concatenate([r_c, internal])
    r_g = np.concatenate([r_g, 1.0 / rs[has_rs]])
    if circuit.rshunt is not None:   # option rshunt: a resistor from every node to ground
        r_a = np.concatenate([r_a, np.arange(n)])
        r_c = np.concatenate([r_c, -np.ones(n, dtype=np.int64)])
        r_g = np.concatenate([r_g, np.full(n, 1.0 / circuit.rshunt)])
    ctrl = circuit.controlled
    vcvs = [e for e in ctrl if isinstance(e, VCVS)]
    vccs = [e for e in ctrl if isinstance(e, VCCS)]
    cccs = [e for e in ctrl if isinstance(e, CCCS)]
    branches = circuit.vsources + vcvs
    b_p, b_m = nodes_of(branches, "npos"), nodes_of(branches, "nneg")
    cs = circuit.isources
    i_p, i_m = nodes_of(cs, "npos"), nodes_of(cs, "nneg")
    i_val = np.array([s.value for s in cs], dtype=float)
    g_p, g_m = nodes_of(vccs, "npos"), nodes_of(vccs, "nneg")
    f_p, f_m = nodes_of(cccs, "npos"), nodes_of(cccs, "nneg")

    _check_vsource_loops(branches, b_p, b_m, n)
    linear = [(r_a, r_c), (b_p, b_m), (g_p, g_m), (f_p, f_m)]
    bad = _unreached(n, linear)
    if bad.size:
        all_names = names + [f"{d.name}#junction" for d, s in zip(dio, has_rs) if s]
        with_diodes = _unreached(n, linear + [(junction, d_c)])
        if diodes_connect:
            _check_floating(all_names, with_diodes)
        else:
            _check_floating(all_names, bad, np.setdiff1d(bad, with_diodes))

    nv, nb = len(circuit.vsources), len(branches)
    size = n + nb
    gi = size  # a dummy row/column for ground, dropped below
    at = lambda idx: np.where(idx < 0, gi, idx)  # noqa: E731
    ra, rc = at(r_a), at(r_c)
    br = n + np.arange(nb)
    bp, bm = at(b_p), at(b_m)
    one = np.ones(nb)
    rows = [ra, rc, ra, rc, bp, br, bm, br]
    cols = [ra, rc, rc, ra, br, bp, br, bm]
    vals = [r_g, r_g, -r_g, -r_g, one, one, -one, -one]
    if ctrl:
        extra_r, extra_c, extra_v = [], [], []
        for k, e in enumerate(vcvs):
            row = n + nv + k
            _stamp(extra_r, extra_c, extra_v, row, lookup[e.cpos.lower()], -e.gain)
            _stamp(extra_r, extra_c, extra_v, row, lookup[e.cneg.lower()], e.gain)
        for e, p, q in zip(vccs, g_p.tolist(), g_m.tolist()):
            cp, cm = lookup[e.cpos.lower()], lookup[e.cneg.lower()]
            for r, c, v in ((p, cp, e.gm), (p, cm, -e.gm), (q, cp, -e.gm), (q, cm, e.gm)):
                _stamp(extra_r, extra_c, extra_v, r, c, v)
        vrow = {v.name.lower(): n + k for k, v in enumerate(circuit.vsources)}
        for e, p, q in zip(cccs, f_p.tolist(), f_m.tolist()):
            row = vrow.get(e.vsense.lower())
            if row is None:
                raise CircuitError(f"{e.name}: its controlling voltage source {e.vsense} is not "
                                   "in the circuit")
            _stamp(extra_r, extra_c, extra_v, p, row, e.gain)
            _stamp(extra_r, extra_c, extra_v, q, row, -e.gain)
        rows.append(at(np.array(extra_r, dtype=np.int64)))
        cols.append(at(np.array(extra_c, dtype=np.int64)))
        vals.append(np.array(extra_v, dtype=float))
    K = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(size + 1, size + 1)).tocsc()[:size, :size]
    b = np.zeros(size + 1)
    np.add.at(b, at(i_p), -i_val)
    np.add.at(b, at(i_m), i_val)
    b = b[:size]
    b[n:n + nv] = [v.value for v in circuit.vsources]
    k = np.arange(m)
    N = sp.coo_matrix((np.concatenate([np.ones(m), -np.ones(m)]),
                       (np.concatenate([at(d_c), at(junction)]), np.concatenate([k, k]))),
                      shape=(size + 1, m)).tocsr()[:size].tocsc()
    return MNASystem(K.tocsc(), b, N, names, index, n, n_ext,
                     [v.name for v in circuit.vsources], d_a, d_c, junction, r_a, r_c, r_g,
                     b_p, b_m, i_p, i_m)


def factor(A, what="the circuit matrix"):
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


def solve_refined(A, lu, r, steps=2):
    """LU solve plus iterative refinement with residuals in extended precision."""
    x = lu.solve(r)
    Al = A.astype(np.longdouble)
    rl = np.asarray(r, dtype=np.longdouble)
    for _ in range(steps):
        res = rl - Al @ x.astype(np.longdouble)
        x = x + lu.solve(res.astype(float))
    return x
