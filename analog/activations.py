"""Activations from elements (docs/science.md §1.3), each checked against an ngspice DC sweep.

The test circuit of an element: a source x drives the node through R = α ohms, the element sits
at the node.  KCL (v − x)/α + F(v) = 0 is v + α·F(v) = x, so the node voltage is the element's
resolvent σ_α(x) = (I + αF)⁻¹(x) — the activation the element gives a network.  `sweep` runs the
ngspice DC sweep of that circuit; `check_all` compares it with the host element's resolvent.
"""

from __future__ import annotations

import numpy as np

from ..host.circuit import GROUND, Circuit
from ..host.elements import Clip, IdealDiode, SeriesResistanceDiode, ShiftedDiode, ShockleyDiode
from .devices import DIODE_CARDS, IDEAL_DIODE, DiodeCard
from .netlist_writer import netlist_text

__all__ = ["ELEMENTS", "element_circuit", "sweep", "check_all", "plot_activations"]

_J = DIODE_CARDS["1n4148"]
# name → (host element, description)
ELEMENTS = {
    "ideal": (IdealDiode(), "ideal diode → ReLU"),
    "shockley": (ShockleyDiode(_J.IS, _J.N), "Shockley diode (1N4148 junction) → diode ReLU"),
    "series_resistance": (SeriesResistanceDiode(2e3), "ideal diode + 2 kΩ → leaky ReLU"),
    "shifted": (ShiftedDiode(0.3), "ideal diode + 0.3 V source → shifted ReLU"),
    "clip": (Clip(-0.5, 0.8), "two ideal diodes to −0.5 V / 0.8 V → clip"),
}


def element_circuit(name, alpha=1e3):
    """The test circuit of element `name`: Vx → R(α) → node n → element."""
    el, _ = ELEMENTS[name]
    c = Circuit(f"diodenet activation {name}")
    c.V("x", "x", GROUND, 0.0)
    c.R("in", "x", "n", alpha)
    if isinstance(el, IdealDiode):
        c.D("1", GROUND, "n", IDEAL_DIODE)
    elif isinstance(el, ShockleyDiode):
        c.D("1", GROUND, "n", DiodeCard("DJ", IS=el.saturation_current, N=el.emission))
    elif isinstance(el, SeriesResistanceDiode):
        c.D("1", GROUND, "m", IDEAL_DIODE)
        c.R("s", "m", "n", el.resistance)
    elif isinstance(el, ShiftedDiode):
        # the source in series on the cathode side (v(n) − v(m) = V0, diode anode at ground):
        # with the source at the anode instead ngspice's op fails on the stiff ideal card
        c.D("1", GROUND, "m", IDEAL_DIODE)
        c.V("0", "n", "m", el.offset)
    elif isinstance(el, Clip):
        c.V("lo", "lo", GROUND, el.lo)
        c.V("hi", "hi", GROUND, el.hi)
        c.D("lo", "lo", "n", IDEAL_DIODE)
        c.D("hi", "n", "hi", IDEAL_DIODE)
    else:  # pragma: no cover
        raise ValueError(name)
    return c


def sweep(name, x, alpha=1e3):
    """ngspice DC sweep of the element's test circuit over the evenly spaced inputs x."""
    from .ngspice_engine import SpiceError, get_engine
    x = np.asarray(x, dtype=float)
    step = (x[-1] - x[0]) / (len(x) - 1)
    eng = get_engine()
    eng.load(netlist_text(element_circuit(name, alpha), analysis=None))
    try:
        try:
            v = eng.run_sweep(f"dc vx {float(x[0])!r} {float(x[-1])!r} {float(step)!r}", x.size)["n"]
        except SpiceError:
            # ngspice's continuation along the sweep can stall on the stiff ideal-diode card (seen
            # for the shifted diode): solve each point as its own operating point instead.
            v = np.empty_like(x)
            for k, xk in enumerate(x):
                eng.alter("vx", float(xk))
                v[k] = eng.run_op()["n"]
    finally:
        eng.unload()
    if v.size != x.size:
        raise SpiceError(f"dc sweep of {name}: {v.size} points for {x.size} inputs")
    return v


def check_all(x=None, alpha=1e3):
    """{name: (x, host σ_α(x), ngspice v(x), max |difference|)} for every element."""
    x = np.linspace(-2.0, 2.0, 201) if x is None else x
    out = {}
    for name, (el, _) in ELEMENTS.items():
        ref = el.resolvent(x, alpha)
        v = sweep(name, x, alpha)
        out[name] = (x, ref, v, float(np.abs(v - ref).max()))
    return out


def plot_activations(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.2), sharey=True)
    for ax, (name, (x, ref, v, err)) in zip(axes, results.items()):
        ax.plot(x, ref, "k-", lw=1.2, label="host resolvent")
        ax.plot(x[::8], v[::8], "o", ms=3, label="ngspice DC sweep")
        ax.set_title(ELEMENTS[name][1], fontsize=8)
        ax.set_xlabel("x [V]")
        ax.text(0.02, 0.95, f"max |Δ| {err:.1e} V", transform=ax.transAxes, fontsize=7, va="top")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("node voltage σ(x) [V]")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
