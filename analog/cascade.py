"""A cascade of resistor–diode stages as one ngspice circuit, joined by VCVS buffers (docs/science.md §1.5).

Stage k's nodes are `k{k}n{j}`, its input lines `k{k}s{p}`.  Stage 0's lines are held by voltage
sources (the inputs); every later stage's lines are driven by unidirectional buffers from the
previous stage's output nodes: line p carries E_pi·v(out_i) + e0_p (the stage's input encoding —
differential ±gain·v, bias rails as plain sources).  A buffer is an ideal VCVS (E element): it
draws no current, so a stage never loads the one before it, and a perturbation injected at stage
k's outputs (current sources `Ipk{k}n{j}`) moves stage k and the stages after it, never those before.
"""

import numpy as np

from ..host.circuit import GROUND, Circuit
from .devices import diode_card

__all__ = ["cascade_circuit", "node_names"]


def node_names(cascade):
    """[[node name of every neuron of stage k] for each stage]."""
    return [[f"k{k}n{j}" for j in range(net.n_neurons)] for k, net in enumerate(cascade.stages)]


def cascade_circuit(cascade, x=None, *, diode="ideal", title=None):
    """One `Circuit` for the whole cascade; x (features of one sample) sets stage 0's sources."""
    card = diode_card(diode)
    circ = Circuit(title or f"diodenet cascade of {len(cascade.stages)} stages ({card.name} diodes)")
    first = cascade.stages[0]
    u0 = np.atleast_2d(first.source_voltages(np.zeros(first.encoding.n_features) if x is None else np.asarray(x, float)))[0]
    for k, net in enumerate(cascade.stages):
        n = net.n_neurons

        def term(t, k=k, n=n):
            if t < 0:
                return GROUND
            return f"k{k}n{t}" if t < n else f"k{k}s{t - n}"

        E, e0 = net.encoding.matrix, net.encoding.offset
        for p in range(net.n_sources):
            line = f"k{k}s{p}"
            if k == 0:
                circ.V(f"k0s{p}", line, GROUND, u0[p])
                continue
            (drivers,) = np.nonzero(E[p])
            if drivers.size > 1:
                raise ValueError(f"stage {k} source {p} mixes several features; buffers drive one each")
            if drivers.size == 0:
                circ.V(line, line, GROUND, e0[p])
                continue
            i = int(drivers[0])
            prev = cascade.stages[k - 1]
            if e0[p] != 0:
                raise ValueError(f"stage {k} source {p} has an offset; buffers have none")
            circ.buffer(f"k{k}b{p}", line, f"k{k - 1}n{int(prev.outputs[i])}", gain=E[p, i])
        for e, (a, b) in enumerate(net.edges):
            circ.R(f"k{k}e{e}", term(a), term(b), 1.0 / max(net.conductance[e], 1e-15))
        for j in range(n):
            if net.diodes[j]:
                circ.D(f"k{k}n{j}", GROUND, f"k{k}n{j}", card)
            circ.I(f"pk{k}n{j}", GROUND, f"k{k}n{j}", 0.0)
    return circ
