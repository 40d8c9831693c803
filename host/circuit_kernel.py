"""The reverse map circuit → kernel equation (Chaffey 2025; docs/science.md §1.2).

With every diode a port whose variable is x_k = v(cathode) − v(junction) (≥ 0 when an ideal
diode blocks; the node voltage for the kit's node diodes with the anode at ground) and i_k its
anode → cathode current, the linear rest of a `circuit.Circuit` (its MNA, `mna.build_mna`) gives

    H x + B u = i,        y = −C x − D u,

u = the values of the independent sources (V sources then I sources, in circuit order), y the
currents into the V sources' + terminals from the network (their SPICE branch currents).  With
`series` a diode with series resistance RS is split into RS (anode side, as ngspice does) and its
junction, and the port is the junction; otherwise the port is the diode's terminals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .circuit import Circuit, CircuitError
from .mna import build_mna, factor
from .operating_point import diode_series_resistances

__all__ = ["Kernel", "circuit_kernel"]


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


def circuit_kernel(circuit: Circuit, *, series: bool = True) -> Kernel:
    """The kernel-equation matrices of `circuit` at its diode ports (dense)."""
    rs = diode_series_resistances(circuit) if series else None
    mna = build_mna(circuit, series=rs)   # K with every diode open must be nonsingular
    try:
        lu = factor(mna.K)
    except np.linalg.LinAlgError:
        raise CircuitError(
            "the circuit with every diode open has no unique operating point (a floating node "
            "or a loop of voltage sources): add a leak resistor to ground") from None
    N = mna.N.toarray()
    S = mna.source_matrix().toarray()
    MP = lu.solve(N) if N.shape[1] else np.zeros((mna.size, 0))
    MS = lu.solve(S) if S.shape[1] else np.zeros((mna.size, 0))
    H = np.linalg.inv(N.T @ MP)
    B = -H @ (N.T @ MS)
    nv = len(mna.vsource_names)
    Q = np.zeros((nv, mna.size))
    Q[np.arange(nv), mna.n_nodes + np.arange(nv)] = 1.0
    C = -Q @ MP @ H
    D = -Q @ (MS + MP @ B)
    sources = mna.vsource_names + [s.name for s in circuit.isources]
    u = np.array([s.value for s in circuit.vsources + circuit.isources], dtype=float)
    return Kernel(H, B, C, D, [d.name for d in circuit.diodes], sources, u)
