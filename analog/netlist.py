"""Plain ngspice netlists of `analog.circuit.Circuit`, written with PySpice's Circuit API.

The text is complete on its own: title, `.options`, elements, `.model` cards, `.op` and `.end`,
so ``ngspice -b OUT.cir`` runs it and prints the operating point.  The shared-library engine
(`analog.ngspice_engine`) loads the same text and runs `op` itself.

Accuracy options: ngspice's defaults (reltol = 1e-3, vntol = 1 µV) stop Newton once an update is
below 0.1 %; the kit's netlists ask for reltol = 1e-9, vntol = 1e-12 V, abstol = 1e-15 A so that
the operating point is good to about 1e-9 relative (Newton converges quadratically, so the last
accepted iterate is far better than the test that stopped it).
"""

from __future__ import annotations

from .circuit import (CCCS, VCCS, VCVS, CurrentSource, Diode, GROUND, PotentiometerElement,
                      Resistor, VoltageSource)

__all__ = ["to_pyspice", "netlist_text", "write_netlist", "DEFAULT_OPTIONS", "spice_name", "options_line",
           "model_line"]

DEFAULT_OPTIONS = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-15}


def spice_name(el):
    """The element's name as ngspice knows it (lowercase, with its letter)."""
    return (el.prefix + el.name).lower()


def _node(pc, n):
    return pc.gnd if n == GROUND else n


def to_pyspice(circuit, options=None):
    """A PySpice `Circuit` of `circuit` (options: ngspice `.options`, on top of DEFAULT_OPTIONS)."""
    from PySpice.Spice.Netlist import Circuit as PySpiceCircuit

    pc = PySpiceCircuit(circuit.title)
    opts = dict(DEFAULT_OPTIONS)
    opts.update(circuit.options)
    opts.update(options or {})
    if circuit.temp != 27.0:
        opts["temp"] = circuit.temp
    cards = {}
    for e in circuit.elements:
        if isinstance(e, (Resistor, PotentiometerElement)):
            pc.R(e.name, _node(pc, e.a), _node(pc, e.b), e.resistance)
        elif isinstance(e, Diode):
            cards[e.card.model_name] = e.card
            pc.D(e.name, _node(pc, e.anode), _node(pc, e.cathode), model=e.card.model_name)
        elif isinstance(e, VoltageSource):
            pc.V(e.name, _node(pc, e.plus), _node(pc, e.minus), e.dc)
        elif isinstance(e, CurrentSource):
            pc.I(e.name, _node(pc, e.plus), _node(pc, e.minus), e.dc)
        elif isinstance(e, VCVS):
            pc.VCVS(e.name, _node(pc, e.plus), _node(pc, e.minus), _node(pc, e.cplus),
                    _node(pc, e.cminus), voltage_gain=e.gain)
        elif isinstance(e, VCCS):
            pc.VCCS(e.name, _node(pc, e.plus), _node(pc, e.minus), _node(pc, e.cplus),
                    _node(pc, e.cminus), transconductance=e.gm)
        elif isinstance(e, CCCS):
            pc.CCCS(e.name, _node(pc, e.plus), _node(pc, e.minus), "V" + e.vsense, current_gain=e.gain)
        else:
            raise TypeError(f"cannot write {type(e).__name__} to a netlist")
    for name, card in cards.items():
        pc.model(name, "D", **card.parameters())
    pc.raw_spice = options_line(opts)
    return pc


def options_line(opts):
    """The `.options` line of a netlist (values as Python's repr, as PySpice writes numbers)."""
    return ".options " + " ".join(k if v is None else f"{k}={v!r}" for k, v in opts.items())


def model_line(card):
    """The `.model` line of a diode card, exactly as `to_pyspice` writes it (for writers that
    stream netlist text without building element objects, e.g. `compiler.write_mondeq_netlist`)."""
    from PySpice.Spice.Netlist import Circuit as PySpiceCircuit
    pc = PySpiceCircuit("model")
    pc.model(card.model_name, "D", **card.parameters())
    return next(line for line in str(pc).splitlines() if line.lower().startswith(".model"))


def netlist_text(circuit, options=None, comments=(), analysis=".op"):
    """Plain ngspice text (first line the title, ends with `.end`)."""
    body = str(to_pyspice(circuit, options)).rstrip("\n").splitlines()
    # PySpice writes ".title X" first; ngspice takes the first line as the title either way.
    head, rest = body[0], body[1:]
    lines = [head] + [f"* {c}" for c in comments] + rest
    if analysis:
        lines.append(analysis)
    lines.append(".end")
    return "\n".join(lines) + "\n"


def write_netlist(path, circuit, **kwargs):
    """Write the netlist atomically (a failed step never leaves a half-written file)."""
    from ..host.modelio import atomic_write_text
    text = netlist_text(circuit, **kwargs)
    atomic_write_text(path, text)
    return text
