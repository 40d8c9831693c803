"""Circuit form: a resistor–diode network (docs/science.md §1.2).

n neuron nodes, each with a diode (or another element, `elements`) to ground; p input nodes held
by voltage sources u (`encoding`); and m two-terminal conductances ("edges"), each between two
terminals: a neuron (0 … n−1), a source (n … n+p−1) or ground (−1).  Every conductance is a
trainable physical parameter with its realizable range [g_min, g_max].

Kirchhoff's current law at the neurons, with A_n / A_s the incidence of the edges on neurons /
sources (+1 at terminal a, −1 at terminal b, ground dropped):

    A_n G (A_nᵀ v + A_sᵀ u) = i_d,   i.e.   H v + B u = i_d,   H = A_n G A_nᵀ,  B = A_n G A_sᵀ,

with i_d the diode currents (≥ 0, complementary to v ≥ 0 for ideal diodes).  Port currents into
the sources are y = −C v − D u with C = Bᵀ and D = A_s G A_sᵀ (the kernel-equation form of
Chaffey 2025).  The voltage across edge e from a to b is V_e = (A_nᵀ v + A_sᵀ u)_e.
"""

import copy
from dataclasses import dataclass, field

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .elements import IdealDiode, PerNode, element_from_dict
from .encoding import InputEncoding
from .bipartite import two_coloring
from .kernels import clip, in_blocks, part_of, uniform
from .solvers import PreparedKernel, solve_exact

GROUND = -1

__all__ = ["ResistorDiodeNetwork", "GROUND", "IllPosedNetworkError"]


class IllPosedNetworkError(ValueError):
    """The network has no unique operating point (a neuron floats)."""


@dataclass(eq=False)
class ResistorDiodeNetwork:
    n_neurons: int
    encoding: InputEncoding
    edges: np.ndarray  # (m, 2) int terminals
    conductance: np.ndarray  # (m,) siemens
    g_min: np.ndarray  # (m,)
    g_max: np.ndarray  # (m,)
    outputs: np.ndarray  # (k,) neuron indices read as the network's outputs
    element: object = field(default_factory=IdealDiode)
    readout_gain: float = 30.0  # logits = readout_gain · v_out (1/V), an amplifier after the array
    diodes: np.ndarray | None = None  # (n,) bool: which neurons carry the element (default: all)
    frontend: dict | None = None  # the analog front-end this network is (`boards.afe.AFE.to_dict`)

    def __post_init__(self):
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        m = len(self.edges)
        self.conductance = np.asarray(self.conductance, dtype=float).reshape(-1)
        self.g_min = np.broadcast_to(np.asarray(self.g_min, dtype=float), (m,)).copy()
        self.g_max = np.broadcast_to(np.asarray(self.g_max, dtype=float), (m,)).copy()
        self.outputs = np.asarray(self.outputs, dtype=np.int64).reshape(-1)
        n = self.n_neurons
        self.diodes = np.ones(n, dtype=bool) if self.diodes is None else np.asarray(self.diodes, dtype=bool).reshape(-1)
        if self.diodes.shape != (n,):
            raise ValueError(f"diodes mask must have one entry per neuron ({n}), got {self.diodes.shape}")
        self.validate()

    # --- structure ---------------------------------------------------------------------------
    @property
    def n_sources(self):
        return self.encoding.n_sources

    @property
    def n_edges(self):
        return len(self.edges)

    def validate(self):
        """Check the structure (edges, outputs) and the values (conductances and their ranges)."""
        n, p, m = self.n_neurons, self.n_sources, self.n_edges
        if self.conductance.shape != (m,):
            raise ValueError(f"{m} edges but {self.conductance.size} conductances")
        e = self.edges
        if np.any((e < GROUND) | (e >= n + p)):
            raise ValueError(f"edge terminals must lie in [-1, {n + p - 1}] (ground, neurons, sources)")
        if np.any(e[:, 0] == e[:, 1]):
            raise ValueError(f"edges {np.flatnonzero(e[:, 0] == e[:, 1])[:10].tolist()} join a terminal to itself")
        touches_neuron = ((e >= 0) & (e < n)).any(axis=1)
        if not np.all(touches_neuron):
            raise ValueError(
                f"edges {np.flatnonzero(~touches_neuron)[:10].tolist()} touch no neuron "
                "(source–source or source–ground resistors only load the sources); remove them"
            )
        if self.outputs.size and (self.outputs.min() < 0 or self.outputs.max() >= n):
            raise ValueError(f"output indices must be neurons 0…{n - 1}, got {self.outputs.tolist()}")
        self._validate_values()

    def _limits(self):
        """The checked ranges as `_Limits`, kept while g_min and g_max are the same arrays."""
        limits = self.__dict__.get("_limits_cache")
        if limits is not None and limits.g_min is self.g_min and limits.g_max is self.g_max:
            return limits
        for name, arr in (("g_min", self.g_min), ("g_max", self.g_max)):
            bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
            if bad.size:
                raise ValueError(
                    f"{name} must be finite and ≥ 0 siemens; bad at edges {bad[:10].tolist()} "
                    f"(values {arr[bad[:3]].tolist()})"
                )
        if np.any(self.g_min > self.g_max):
            raise ValueError("g_min exceeds g_max for some edges")
        tol = 1e-12 * np.maximum(self.g_max, 1e-300)
        limits = self.__dict__["_limits_cache"] = _Limits(
            self.g_min, self.g_max, uniform(self.g_min), uniform(self.g_max),
            uniform(self.g_min - tol), uniform(self.g_max + tol))
        return limits

    def _validate_values(self):
        """Conductances finite, ≥ 0 and inside their ranges; no neuron left floating."""
        m = self.n_edges
        if self.conductance.shape != (m,):
            raise ValueError(f"{m} edges but {self.conductance.size} conductances")
        limits = self._limits()
        g = self.conductance
        inside, smallest = _range_check(g, limits.accept_lo, limits.accept_hi)
        if not inside:  # NaN fails it too
            bad = np.flatnonzero(~np.isfinite(g) | (g < 0))
            if bad.size:
                raise ValueError(
                    f"conductance must be finite and ≥ 0 siemens; bad at edges {bad[:10].tolist()} "
                    f"(values {g[bad[:3]].tolist()})"
                )
            out = np.flatnonzero((g < limits.accept_lo) | (g > limits.accept_hi))
            k = out[0]
            raise ValueError(
                f"conductance of edge {k} = {g[k]:.4g} S is outside its realizable range "
                f"[{self.g_min[k]:.4g}, {self.g_max[k]:.4g}] S ({out.size} edges in all); "
                "clip it with network.project(g)"
            )
        if smallest > 0 and self.__dict__.get("_anchored_when_all_positive"):
            return  # the structure alone decides well-posedness when no conductance is zero
        self._check_well_posed()
        if smallest > 0:
            self.__dict__["_anchored_when_all_positive"] = True

    def _check_well_posed(self):
        """Every neuron needs a resistive path to ground or a source."""
        n = self.n_neurons
        e = self.edges[self.conductance > 0]
        is_neuron = (e >= 0) & (e < n)
        anchored = np.zeros(n, dtype=bool)
        for side in (0, 1):
            rows = is_neuron[:, side] & ~is_neuron[:, 1 - side]
            anchored[e[rows, side]] = True
        inner = e[(e[:, 0] >= 0) & (e[:, 0] < n) & (e[:, 1] >= 0) & (e[:, 1] < n)]
        graph = sp.coo_matrix((np.ones(len(inner)), (inner[:, 0], inner[:, 1])), shape=(n, n))
        _, label = sp.csgraph.connected_components(graph, directed=False)
        good_labels = np.unique(label[anchored])
        floating = np.flatnonzero(~np.isin(label, good_labels))
        if floating.size:
            raise IllPosedNetworkError(
                f"neuron(s) {floating[:10].tolist()} have no resistive path to ground or a source, so the "
                "operating point is not unique; add a leak conductance to ground or an input conductance"
            )

    # --- kernel-equation matrices ---------------------------------------------------------------
    def incidence(self):
        """(A_n, A_s): sparse incidence of the edges on neurons (n×m) and sources (p×m)."""
        cache = self.__dict__.get("_incidence")
        if cache is None:
            cache = self.__dict__["_incidence"] = self._build_incidence()
        return cache

    def incidence_dense(self):
        cache = self.__dict__.get("_incidence_dense")
        if cache is None:
            An, As = self.incidence()
            cache = self.__dict__["_incidence_dense"] = (An.toarray(), As.toarray())
        return cache

    def _build_incidence(self):
        n, p, m = self.n_neurons, self.n_sources, self.n_edges
        rows, cols, vals = [], [], []
        for side, sign in ((0, 1.0), (1, -1.0)):
            t = self.edges[:, side]
            keep = t >= 0
            rows.append(t[keep])
            cols.append(np.flatnonzero(keep))
            vals.append(np.full(keep.sum(), sign))
        A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n + p, m))
        return A[:n], A[n:]

    def kernel(self, sparse=False):
        """H, B, C, D of 0 ∈ H v + N₊(v) + B u, y = −C v − D u.

        Dense matrices are stamped straight from the edge list (O(m + n² + n·p)) and kept until
        the conductances change, so repeated solves, gradients and inference with the same
        conductances assemble them once."""
        if sparse:
            An, As = self.incidence()
            G = sp.diags(self.conductance)
            B = An @ G @ As.T
            return An @ G @ An.T, B, B.T, As @ G @ As.T
        values = self._stamped()
        if values["B"] is None:
            values["B"] = self._stamp_B(values)
        if values["D"] is None:
            values["D"] = np.diag(self._source_diagonal(values))
        return values["H"], values["B"], values["B"].T, values["D"]

    def _stamped(self):
        cached = self.__dict__.get("_kernel")
        if cached is None or cached[0] is not self.conductance:
            cached = self.__dict__["_kernel"] = (self.conductance, self._stamp_dense())
        return cached[1]

    def source_block(self):
        """(first neuron, view): when the neuron–source conductances are laid out as a regular
        block (as `layered` builds them), a (k × p) view into `conductance` of neurons
        first…first+k−1 against every source; else None."""
        plan = self._stamp_plan()
        if plan["block"] is None:
            return None
        start, stride, r0, k = plan["block"]
        g = self.conductance
        view = np.lib.stride_tricks.as_strided(g[start:], shape=(k, self.n_sources),
                                               strides=(stride * g.itemsize, g.itemsize), writeable=False)
        return r0, view

    def _stamp_dense(self):
        """Dense H (n×n) and D (p×p) from the edges (B when first asked for): every edge adds g to
        the diagonal of each neuron (and source) it touches and −g between its two terminals
        (ground dropped).  The scatter indices depend on the structure only and are kept; a
        regular neuron–source block is summed in place instead of scattered."""
        n, p = self.n_neurons, self.n_sources
        st = self._stamp_plan()
        g = self.conductance
        diag = np.bincount(st["diag_index"], weights=g[st["diag_edge"]], minlength=n + p)
        block = self.source_block()
        if block is not None:
            r0, view = block
            diag[r0:r0 + len(view)] += view.sum(axis=1)
        if st["nn_unique"]:  # each neuron pair joined once (layered networks): written, not summed
            H = np.zeros(n * n)  # zeroed lazily by the system: only the written pages are touched
            H[st["nn_flat"]] = -g[st["nn_edge"]]
            H = H.reshape(n, n)
        else:
            H = np.bincount(st["nn_flat"], weights=-g[st["nn_edge"]], minlength=n * n).reshape(n, n)
        H[np.arange(n), np.arange(n)] += diag[:n]
        # D (sources × sources, 20 MB at MNIST's scale) only when asked for (`kernel`)
        return {"H": H, "D": None, "source_diagonal": diag[n:], "B": None, "block": block}

    def _source_diagonal(self, values):
        """D's diagonal: the conductance at each source (the block's column sums added late: a
        strided pass over every input conductance that only `kernel` needs)."""
        diag = values["source_diagonal"]
        if values["block"] is not None and not values.get("block_summed"):
            diag = diag + values["block"][1].sum(axis=0)
            values["source_diagonal"], values["block_summed"] = diag, True
        return diag

    def _stamp_B(self, values):
        n, p = self.n_neurons, self.n_sources
        st = self._stamp_plan()
        g = self.conductance
        if values["block"] is not None:
            r0, view = values["block"]
            B = np.zeros((n, p))
            np.negative(view, out=B[r0:r0 + len(view)])
            return B
        if st["ns_unique"]:
            B = np.zeros(n * p)
            B[st["ns_flat"]] = -g[st["ns_edge"]]
            return B.reshape(n, p)
        return np.bincount(st["ns_flat"], weights=-g[st["ns_edge"]], minlength=n * p).astype(float).reshape(n, p)

    def _stamp_plan(self):
        plan = self.__dict__.get("_stamp")
        if plan is not None:
            return plan
        n = self.n_neurons
        a, b = self.edges[:, 0], self.edges[:, 1]
        na, nb = (a >= 0) & (a < n), (b >= 0) & (b < n)
        sa, sb = a >= n, b >= n
        edge = np.arange(self.n_edges)
        nn = na & nb
        ns_a, ns_b = na & sb, nb & sa  # neuron–source edges, neuron on side a / side b
        ns_edge = np.concatenate([edge[ns_a], edge[ns_b]])
        ns_flat = np.concatenate([a[ns_a] * self.n_sources + (b[ns_a] - n), b[ns_b] * self.n_sources + (a[ns_b] - n)])
        block = self._regular_block(ns_edge, ns_flat)
        in_block = np.zeros(self.n_edges, dtype=bool)
        if block is not None:
            in_block[ns_edge] = True
        touched_a, touched_b = (a >= 0) & ~in_block, (b >= 0) & ~in_block  # ground dropped
        plan = {
            "nn_edge": np.concatenate([edge[nn], edge[nn]]),
            "nn_flat": np.concatenate([a[nn] * n + b[nn], b[nn] * n + a[nn]]),
            "ns_edge": ns_edge, "ns_flat": ns_flat,
            "nn_unique": not np.any(np.diff(np.sort(a[nn] * n + b[nn])) == 0)
                         and not np.any(np.isin(a[nn] * n + b[nn], b[nn] * n + a[nn])),
            # parallel source edges must be summed (scatter-add) unless each (neuron, source) pair
            # occurs once; only asked when there is no regular block
            "ns_unique": block is not None or not np.any(np.diff(np.sort(ns_flat)) == 0),
            "block": block,
            "rest": np.flatnonzero(~in_block),  # edges outside the regular block
            "nn_pairs": self._pair_positions(a[nn], b[nn]),
            "diag_edge": np.concatenate([edge[touched_a], edge[touched_b]]),
            "diag_index": np.concatenate([a[touched_a], b[touched_b]]),
        }
        self.__dict__["_stamp"] = plan
        return plan

    @staticmethod
    def _pair_positions(ea, eb):
        """(A, B, i, j): the distinct neurons on each side of the neuron–neuron edges and each
        edge's position in them, so sums over the edges can come from |A|×|B| products."""
        A, i = np.unique(ea, return_inverse=True)
        B, j = np.unique(eb, return_inverse=True)
        return A, B, i.reshape(-1), j.reshape(-1)

    def _regular_block(self, ns_edge, ns_flat):
        """(first edge, row stride, first neuron, rows) when consecutive neurons each see every
        source through edges laid out as the rows of a strided block (as `layered` builds them),
        and no other neuron sees a source; else None."""
        p = self.n_sources
        if len(ns_flat) == 0 or p == 0 or len(ns_flat) % p:
            return None
        order = np.argsort(ns_flat, kind="stable")
        flat = ns_flat[order]
        r0, k = int(flat[0] // p), len(flat) // p
        if not np.array_equal(flat, r0 * p + np.arange(k * p)):
            return None
        E = ns_edge[order].reshape(k, p)
        start = int(E[0, 0])
        stride = int(E[1, 0] - E[0, 0]) if k > 1 else p
        expect = start + stride * np.arange(k)[:, None] + np.arange(p)[None, :]
        return (start, stride, r0, k) if stride >= p and np.array_equal(E, expect) else None

    def terminal_index(self):
        """(a, b): the edges' terminals in the extended index space of `terminal_voltages`
        (neurons 0…n−1, sources n…n+p−1, ground n+p)."""
        cached = self.__dict__.get("_terminals")
        if cached is None:
            ground = self.n_neurons + self.n_sources
            e = np.where(self.edges < 0, ground, self.edges)
            cached = self.__dict__["_terminals"] = (np.ascontiguousarray(e[:, 0]), np.ascontiguousarray(e[:, 1]))
        return cached

    def terminal_voltages(self, v, u):
        """[v, u, 0]: the voltage of every terminal (neurons, sources, ground), (batch, n+p+1)."""
        v, u = np.atleast_2d(v), np.atleast_2d(u)
        return np.concatenate([v, np.broadcast_to(u, (len(v), u.shape[1])), np.zeros((len(v), 1))], axis=1)

    @property
    def node_element(self):
        """The element relation at every node (linear where a neuron has no diode)."""
        return self.element if self.diodes.all() else PerNode(self.element, self.diodes)

    # --- operating point --------------------------------------------------------------------------
    def source_voltages(self, x):
        return self.encoding.encode(x)

    def solve(self, x=None, *, u=None, inject=None, **kwargs):
        """Operating point for features x (or source voltages u): an `Equilibrium` of node voltages.

        inject: optional currents (batch, n) or (n,) injected into the neuron nodes (amperes) —
        the perturbation of hardware linearization.
        """
        if (x is None) == (u is None):
            raise ValueError("give exactly one of features x or source voltages u")
        q = self.drive(x) if x is not None else np.atleast_2d(self._check_u(u)) @ self.kernel()[1].T
        if inject is not None:
            q = q - np.asarray(inject, dtype=float)
        return solve_exact(self.prepared_kernel(), q, self.node_element, **kwargs)

    def drive(self, x):
        """q = B u for features x: through the encoding's affine map, q = x (B E)ᵀ + B e0, a product
        with n_features columns instead of n_sources (half for differential inputs); where a
        front-end clips a line, from the clipped source voltages."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.ndim != 2 or x.shape[1] != self.encoding.n_features or not self.encoding.is_affine_on(x):
            return np.atleast_2d(self.source_voltages(x)) @ self.kernel()[1].T
        if not np.all(np.isfinite(x)):
            self.source_voltages(x)  # the encoding's message
        values = self._stamped()
        if "pulled" not in values:
            block = values["block"]
            if block is not None:  # B E and B e0 straight from the block of conductances
                r0, view = block
                BE = np.zeros((self.n_neurons, self.encoding.n_features))
                BE[r0:r0 + len(view)] = -self.encoding.pull_back(view)
                Be0 = np.zeros(self.n_neurons)
                Be0[r0:r0 + len(view)] = -(view @ self.encoding.offset)
            else:
                B = self.kernel()[1]
                BE, Be0 = self.encoding.pull_back(B), B @ self.encoding.offset
            values["pulled"] = (BE, Be0)
        BE, Be0 = values["pulled"]
        return x @ BE.T + Be0

    def prepared_kernel(self):
        """H as a `solvers.PreparedKernel` (structure and factorizations kept while the
        conductances do not change), with the two-colouring of the neuron couplings known from
        the edges when they form a layered (bipartite) network."""
        cached = self.__dict__.get("_prepared")
        if cached is None or cached[0] is not self.conductance:
            H = self._stamped()["H"]
            cached = self.__dict__["_prepared"] = (self.conductance, PreparedKernel(H, self.colouring()))
        return cached[1]

    def colouring(self):
        """(red, black) neurons of a two-colouring of the neuron–neuron edges, or None."""
        if "_colouring" not in self.__dict__:
            n = self.n_neurons
            e = self.edges
            inner = e[(e[:, 0] >= 0) & (e[:, 0] < n) & (e[:, 1] >= 0) & (e[:, 1] < n)]
            pattern = sp.coo_matrix((np.ones(len(inner)), (inner[:, 0], inner[:, 1])), shape=(n, n)).tocsr()
            pattern = pattern + sp.identity(n, format="csr")
            self.__dict__["_colouring"] = two_coloring(pattern)
        return self.__dict__["_colouring"]

    def _check_u(self, u):
        u = np.asarray(u, dtype=float)
        if u.ndim not in (1, 2) or u.shape[-1] != self.n_sources:
            raise ValueError(f"source voltages must have shape ({self.n_sources},) or (batch, {self.n_sources}); got {u.shape}")
        return np.atleast_2d(u)

    def drops(self, v, u):
        """Voltage across every edge from terminal a to terminal b: (batch, m)."""
        a, b = self.terminal_index()
        t = self.terminal_voltages(v, u)
        return t[:, a] - t[:, b]

    def readout(self, v):
        return np.atleast_2d(v)[:, self.outputs]

    def logits(self, v):
        return self.readout_gain * self.readout(v)

    # --- parameters -------------------------------------------------------------------------------
    def project(self, g):
        """Clip conductances onto their realizable ranges (a new array)."""
        limits = self._limits()
        return clip(g, limits.lo, limits.hi)  # one range for every edge: scalars, clip's fast path

    def with_conductance(self, g, *, copy_values=True):
        """A copy with new conductances (same structure; cached incidence is shared).

        copy_values=False adopts g itself (a fresh float array nobody else holds)."""
        new = copy.copy(self)
        new.conductance = (np.array if copy_values else np.asarray)(g, dtype=float).reshape(self.conductance.shape)
        new._validate_values()
        return new

    def with_realized(self, g):
        """A copy holding conductances a part actually realized: its range is widened to include
        them (a part code may land half a step outside the model's range)."""
        g = np.array(g, dtype=float).reshape(self.conductance.shape)
        if np.all((g >= self.g_min) & (g <= self.g_max)):
            return self.with_conductance(g)
        new = copy.copy(self)
        new.conductance = g
        new.g_min = np.minimum(self.g_min, new.conductance)
        new.g_max = np.maximum(self.g_max, new.conductance)
        new._validate_values()
        return new

    # --- constructors -----------------------------------------------------------------------------
    @classmethod
    def layered(cls, n_features, hidden, n_outputs, *, differential=True, input_scale=1.0, bias=1.0,
                g_min=1e-6, g_max=1e-3, hidden_coupling=False, input_to_outputs=True, leak=True,
                readout_gain=30.0, element=None, output_diodes=False, rng=None):
        """The kit's default topology for classification.

        Neurons 0…hidden−1 are hidden, the last n_outputs are outputs.  Every neuron has a
        conductance to every source (differential inputs and bias rails) and a leak to ground;
        every hidden neuron couples to every output neuron; optional hidden–hidden couplings.
        Output nodes carry no diode unless output_diodes (a linear readout: a clamped output
        would pass no gradient).  Conductances start log-uniform in the lower part of
        [g_min, g_max].
        """
        rng = np.random.default_rng(rng)
        enc = InputEncoding(n_features, differential=differential, scale=input_scale, bias=bias)
        n = hidden + n_outputs
        p = enc.n_sources
        n_src = n if input_to_outputs else hidden  # neurons 0…n_src−1 see every source
        per_neuron = np.concatenate([n + np.arange(p), [GROUND] if leak else []]).astype(np.int64)
        ground_only = np.array([GROUND] * int(leak), dtype=np.int64)
        first = np.concatenate([np.repeat(np.arange(n_src), len(per_neuron)),
                                np.repeat(np.arange(n_src, n), len(ground_only))])
        second = np.concatenate([np.tile(per_neuron, n_src), np.tile(ground_only, n - n_src)])
        blocks = [np.stack([first, second], axis=1),
                  np.stack([np.repeat(np.arange(hidden), n_outputs), np.tile(np.arange(hidden, n), hidden)], axis=1)]
        if hidden_coupling:
            blocks.append(np.stack(np.triu_indices(hidden, 1), axis=1))
        edges = np.concatenate(blocks).astype(np.int64)
        lo, hi = np.log(max(g_min, g_max * 1e-3)), np.log(g_max)
        g = np.exp(rng.uniform(lo, lo + 0.5 * (hi - lo), size=len(edges)))
        diodes = np.ones(n, dtype=bool)
        diodes[hidden:] = output_diodes
        return cls(n, enc, edges, np.clip(g, g_min, g_max), g_min, g_max,
                   np.arange(hidden, n), element or IdealDiode(), readout_gain, diodes)

    # --- plain data ---------------------------------------------------------------------------------
    def to_arrays(self):
        meta = {
            "kind": "resistor_diode_network",
            "n_neurons": int(self.n_neurons),
            "encoding": self.encoding.to_dict(),
            "element": self.element.to_dict(),
            "readout_gain": float(self.readout_gain),
        }
        if self.frontend is not None:
            meta["frontend"] = self.frontend
        arrays = {"edges": self.edges, "conductance": self.conductance, "g_min": self.g_min,
                  "g_max": self.g_max, "outputs": self.outputs, "diodes": self.diodes}
        return meta, arrays

    @classmethod
    def from_arrays(cls, meta, arrays):
        return cls(meta["n_neurons"], InputEncoding.from_dict(meta["encoding"]), arrays["edges"],
                   arrays["conductance"], arrays["g_min"], arrays["g_max"], arrays["outputs"],
                   element_from_dict(meta["element"]), meta["readout_gain"], arrays.get("diodes"),
                   meta.get("frontend"))


class _Limits(NamedTuple):
    """A network's conductance ranges: the arrays they were made from (the cache's key), the same
    as scalars where every edge shares one value (`kernels.uniform`), and the accepted range
    (1e-12 relative slack for rounding)."""

    g_min: np.ndarray
    g_max: np.ndarray
    lo: float | np.ndarray
    hi: float | np.ndarray
    accept_lo: float | np.ndarray
    accept_hi: float | np.ndarray


def _range_check(g, lo, hi):
    """(every g inside [lo, hi] (NaN is not), min g): one pass of cache-sized blocks; lo, hi
    arrays or (`kernels.uniform`) scalars."""
    parts = []
    in_blocks(lambda part: parts.append((bool(np.all((g[part] >= part_of(lo, part)) & (g[part] <= part_of(hi, part)))),
                                         float(g[part].min(initial=np.inf)))), g.size)
    return all(p[0] for p in parts), min((p[1] for p in parts), default=np.inf)
