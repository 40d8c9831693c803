"""Cascades: feedforward networks of resistor–diode stages joined by buffers (docs/science.md §1.5).

Stage k is a `ResistorDiodeNetwork` whose features are the output node voltages of stage k − 1,
seen through a unidirectional buffer (a VCVS in SPICE, an op-amp follower / inverting amplifier on
a board): the buffer drives stage k's input sources with ±gain·v (differential encoding, gain =
the stage's `encoding.scale`) and draws no current, so stage k never loads stage k − 1.

The gradient runs back stage by stage.  Drive the outputs of the last stage with ∂ℓ/∂v and
measure its adjoint drops λ_e (an output perturbation, `hwlin.measure_adjoint`): every
conductance gets −V_e·λ_e, and the current the linearized stage draws from each input source,
∂ℓ/∂u_p = −Σ_e g_e·λ_e·(A_s)_pe, is the adjoint excitation of the previous stage's outputs
(through the buffer: ∂ℓ/∂v_out = (∂ℓ/∂u)·E).  Every stage applies the same local rule.
"""

import numpy as np

from .gradients import gradient_from_drops, implicit_gradient
from .hwlin import measure_adjoint
from .losses import network_loss
from .metrics import readout_metrics
from .network import ResistorDiodeNetwork
from .seam import IdealBackend

__all__ = ["Cascade", "CascadeTask"]


class Cascade:
    """An ordered list of stages; stage k's `encoding.n_features` = number of stage k−1 outputs."""

    def __init__(self, stages):
        self.stages = list(stages)
        if not self.stages:
            raise ValueError("a cascade needs at least one stage")
        for k in range(1, len(self.stages)):
            want = len(self.stages[k - 1].outputs)
            got = self.stages[k].encoding.n_features
            if want != got:
                raise ValueError(f"stage {k} takes {got} features but stage {k - 1} has {want} outputs")

    @classmethod
    def feedforward(cls, sizes, *, buffer_gain=4.0, g_min=1e-6, g_max=1e-3, readout_gain=30.0, rng=None):
        """Layers sizes[0] → sizes[1] → … : each stage a single layer of neurons with every input
        pair (differential) and a leak; hidden stages' neurons carry diodes (ReLU), the last stage is
        a linear readout.  Buffers between stages amplify by buffer_gain."""
        rng = np.random.default_rng(rng)
        stages = []
        for k in range(len(sizes) - 1):
            last = k == len(sizes) - 2
            net = ResistorDiodeNetwork.layered(sizes[k], 0, sizes[k + 1], output_diodes=not last, g_min=g_min,
                                               g_max=g_max, readout_gain=readout_gain, rng=rng,
                                               input_scale=1.0 if k == 0 else buffer_gain)
            stages.append(net)
        return cls(stages)

    @property
    def n_features(self):
        return self.stages[0].encoding.n_features

    @property
    def last(self):
        return self.stages[-1]

    # --- the reference (ideal) computation ---------------------------------------------------
    def solve(self, x):
        """Node voltages of every stage, list of (batch, n_k) arrays, by the exact solver."""
        vs = []
        features = x
        for net in self.stages:
            v = net.solve(features).x
            vs.append(v)
            features = net.readout(v)
        return vs

    def loss(self, x, y, kind="cross_entropy"):
        return network_loss(self.last, self.solve(x)[-1], y, kind)[0]

    def implicit_gradient(self, x, y, kind="cross_entropy"):
        """Exact ∂ℓ/∂g of every stage (list of arrays), implicit differentiation chained backwards."""
        vs = self.solve(x)
        feats = [x] + [net.readout(v) for net, v in zip(self.stages[:-1], vs[:-1])]
        _, dl_dv, _ = network_loss(self.last, vs[-1], y, kind)
        grads = [None] * len(self.stages)
        for k in range(len(self.stages) - 1, -1, -1):
            net = self.stages[k]
            g = implicit_gradient(net, dl_dv, feats[k])
            grads[k] = g.conductance
            if k:
                prev = self.stages[k - 1]
                dl_dv = np.zeros((len(x), prev.n_neurons))
                dl_dv[:, prev.outputs] = g.features
        return grads

    # --- flat parameter view -------------------------------------------------------------------
    def flat(self, attr):
        return np.concatenate([getattr(net, attr) for net in self.stages])

    def split(self, flat):
        sizes = np.cumsum([net.n_edges for net in self.stages])[:-1]
        return np.split(np.asarray(flat, dtype=float), sizes)

    def with_conductance(self, flat):
        return Cascade([net.with_conductance(g) for net, g in zip(self.stages, self.split(flat))])

    def task(self, backends=None):
        return CascadeTask(self, backends)

    # --- plain data ------------------------------------------------------------------------------
    def to_arrays(self):
        metas, arrays = [], {}
        for k, net in enumerate(self.stages):
            meta, arr = net.to_arrays()
            metas.append(meta)
            arrays.update({f"stage{k}_{name}": a for name, a in arr.items()})
        return {"kind": "cascade", "stages": metas}, arrays

    @classmethod
    def from_arrays(cls, meta, arrays):
        stages = []
        for k, m in enumerate(meta["stages"]):
            prefix = f"stage{k}_"
            stages.append(ResistorDiodeNetwork.from_arrays(
                m, {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}))
        return cls(stages)


class CascadeTask:
    """A cascade on one measurement backend per stage, as the training loop sees it."""

    def __init__(self, cascade, backends=None):
        self.backends = list(backends) if backends else [IdealBackend(net) for net in cascade.stages]
        if len(self.backends) != len(cascade.stages):
            raise ValueError(f"{len(cascade.stages)} stages but {len(self.backends)} backends")
        self.measured = None if all(isinstance(b, IdealBackend) for b in self.backends) else self.backends

    @property
    def model(self):
        return Cascade([b.network for b in self.backends])

    @property
    def conductance(self):
        return self.model.flat("conductance")

    @property
    def g_min(self):
        return self.model.flat("g_min")

    @property
    def g_max(self):
        return self.model.flat("g_max")

    @property
    def n_features(self):
        return self.backends[0].network.encoding.n_features

    def restore(self, cascade):
        for b, net in zip(self.backends, cascade.stages):
            b.network = net

    def program(self, flat):
        for b, g in zip(self.backends, self.model.split(flat)):
            b.network = b.network.with_conductance(b.program(g))
        return self.conductance

    def forward(self, x):
        """Measure every stage in turn; returns (measurements, sources, ok)."""
        meas, sources = [], []
        features = x
        ok = np.ones(len(x), dtype=bool)
        for b in self.backends:
            u = b.network.source_voltages(np.nan_to_num(features))
            m = b.measure(u)
            ok &= m.ok
            meas.append(m)
            sources.append(m.u)
            features = b.network.readout(m.v)
        return meas, sources, ok

    def gradient(self, x, y, loss_kind, config):
        """Stage-wise hardware linearization (config.method 'linearization'), or the chained
        implicit gradient ('implicit', ideal stages only)."""
        if config.method == "implicit":
            return (self.model.loss(x, y, loss_kind),
                    np.concatenate(self.model.implicit_gradient(x, y, loss_kind)), 0)
        if config.method != "linearization":
            raise ValueError(f"cascades train with 'linearization' or 'implicit', not {config.method!r}")
        meas, sources, ok = self.forward(x)
        rows = np.flatnonzero(ok)
        if rows.size == 0:
            return float("nan"), np.zeros(self.conductance.size), len(x)
        y = np.asarray(y)[rows]
        loss, dl_dv, _ = network_loss(self.backends[-1].network, meas[-1].v[rows], y, loss_kind)
        grads = [None] * len(self.backends)
        good = np.ones(rows.size, dtype=bool)
        for k in range(len(self.backends) - 1, -1, -1):
            b = self.backends[k]
            net = b.network
            v, u = meas[k].v[rows], sources[k][rows]
            lam, ok_k = measure_adjoint(b, u, v, dl_dv, config.epsilon, config.centered)
            good &= ok_k
            lam = np.where(good[:, None], lam, 0.0)
            g = gradient_from_drops(net, u, np.where(good[:, None], v, 0.0), lam)
            grads[k] = g.conductance
            if k:
                prev = self.backends[k - 1].network
                dl_dv = np.zeros((rows.size, prev.n_neurons))
                dl_dv[:, prev.outputs] = g.features
        failed = len(x) - int(good.sum())
        scale = rows.size / good.sum() if good.any() else 0.0
        return loss, np.concatenate(grads) * scale, failed

    def evaluate(self, x, y, loss_kind):
        meas, _, ok = self.forward(x)
        return readout_metrics(self.backends[-1].network, meas[-1].v, ok, y, loss_kind)

    def title(self, data):
        sizes = [self.backends[0].network.encoding.n_features] + [len(b.network.outputs) for b in self.backends]
        return f"{data.name}: cascade {'-'.join(map(str, sizes))}, {self.conductance.size} conductances"
