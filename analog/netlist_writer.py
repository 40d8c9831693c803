"""The netlist writer: a `host.circuit.Circuit` as plain ngspice text (its reader is
`host.netlist_reader`).

The text is complete on its own: `.title`, comments, `.options`, one line per element, the
`.model` cards, the analysis (`.op`) and `.end`, so ``ngspice -b OUT.cir`` runs it and prints the
operating point; the shared-library engine (`analog.ngspice_engine`) loads the same text.  One
formatter per element kind (`resistor_line`, `diode_line`, `source_line`, `vcvs_line`, ...)
writes every line, for circuits held as objects (`netlist_text`) and for writers that stream
lines straight from arrays (`analog.compiler.write_mondeq_netlist`, which passes numbers it
writes twice already as text).  Numbers are written as Python's `str` of a float (the shortest
text that reads back to the same double).

Accuracy options: ngspice's defaults (reltol = 1e-3, vntol = 1 µV) stop Newton once an update is
below 0.1 %; the kit's netlists ask for reltol = 1e-9, vntol = 1e-12 V, abstol = 1e-15 A so that
the operating point is good to about 1e-9 relative (Newton converges quadratically, so the last
accepted iterate is far better than the test that stopped it).
"""

from __future__ import annotations

from ..host.circuit import (CCCS, VCCS, VCVS, CurrentSource, Diode, Resistor, VoltageSource,
                            as_model_card)
from ..host.diode_model import DEFAULT_TEMP

__all__ = ["DEFAULT_OPTIONS", "netlist_text", "write_netlist", "to_pyspice", "options_line",
           "model_line", "element_line", "resistor_line", "diode_line", "source_line",
           "vcvs_line", "vccs_line", "cccs_line"]

DEFAULT_OPTIONS = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-15}


def _params(params) -> str:
    return "".join(f" {k}={v}" for k, v in (params or {}).items())


def resistor_line(name, n1, n2, value, model=None, params=None) -> str:
    """An R line; value None: the resistance comes from the `model` card."""
    return (f"{name} {n1} {n2}" + ("" if value is None else f" {value}")
            + (f" {model}" if model else "") + _params(params))


def diode_line(name, anode, cathode, model, area=1.0, params=None) -> str:
    return (f"{name} {anode} {cathode} {model}" + (f" area={area}" if area != 1.0 else "")
            + _params(params))


def source_line(name, npos, nneg, value) -> str:
    """A V or I source holding the DC `value`."""
    return f"{name} {npos} {nneg} {value}"


def vcvs_line(name, npos, nneg, cpos, cneg, gain) -> str:
    return f"{name} {npos} {nneg} {cpos} {cneg} {gain}"


vccs_line = vcvs_line   # G: the same fields, gm in place of the gain


def cccs_line(name, npos, nneg, vsense, gain) -> str:
    return f"{name} {npos} {nneg} {vsense} {gain}"


def element_line(el) -> str:
    """The netlist line of one element of `host.circuit`."""
    if isinstance(el, Resistor):
        value = el.value if el.value_given or not el.model else None
        return resistor_line(el.name, el.n1, el.n2, value, el.model, el.params)
    if isinstance(el, Diode):
        return diode_line(el.name, el.anode, el.cathode, el.model, el.area, el.params)
    if isinstance(el, (VoltageSource, CurrentSource)):
        return source_line(el.name, el.npos, el.nneg, el.value)
    if isinstance(el, VCVS):
        return vcvs_line(el.name, el.npos, el.nneg, el.cpos, el.cneg, el.gain)
    if isinstance(el, VCCS):
        return vccs_line(el.name, el.npos, el.nneg, el.cpos, el.cneg, el.gm)
    if isinstance(el, CCCS):
        return cccs_line(el.name, el.npos, el.nneg, el.vsense, el.gain)
    raise TypeError(f"cannot write {type(el).__name__} to a netlist")


def model_line(card) -> str:
    """The `.model NAME D (...)` line of a diode card (a `DiodeModelCard`, or a part's card with
    `model_name` and `parameters()`); parameters in alphabetical order."""
    card = as_model_card(card)
    body = " ".join(f"{k}={v}" for k, v in sorted(card.params.items()))
    return f".model {card.name} D ({body})"


def options_line(opts) -> str:
    """The `.options` line of a netlist."""
    def value(v):
        return v if isinstance(v, str) else repr(v)
    return ".options " + " ".join(k if v is None else f"{k}={value(v)}" for k, v in opts.items())


def _options(circuit, options) -> dict:
    opts = dict(DEFAULT_OPTIONS)
    opts.update(circuit.options)
    opts.update(options or {})
    if circuit.temp != DEFAULT_TEMP:
        opts["temp"] = circuit.temp
    return opts


def netlist_text(circuit, options=None, comments=(), analysis=".op") -> str:
    """Plain ngspice text of a circuit (first line the title, ends with `.end`); `options`
    (ngspice `.options`) on top of DEFAULT_OPTIONS and the circuit's own."""
    lines = [f".title {circuit.title}"] + [f"* {c}" for c in comments]
    lines.append(options_line(_options(circuit, options)))
    lines += map(element_line, circuit.elements)
    lines += [model_line(card) for card in circuit.models.values()]
    lines += [f".model {name} R ({_params(p).strip()})" for name, p in circuit.resistor_models.items()]
    if analysis:
        lines.append(analysis)
    lines.append(".end")
    return "\n".join(lines) + "\n"


def write_netlist(path, circuit, **kwargs) -> str:
    """Write the netlist atomically (a failed step never leaves a half-written file)."""
    from ..host.fileio import atomic_write_text
    text = netlist_text(circuit, **kwargs)
    atomic_write_text(path, text)
    return text


def to_pyspice(circuit, options=None):
    """The circuit as a PySpice `Circuit` (PySpice's parser reading `netlist_text`, which drops
    the `.options` line: it is put back), for comparisons with PySpice's own simulation API."""
    from PySpice.Spice.Parser import SpiceParser
    pc = SpiceParser(source=netlist_text(circuit, options, analysis=None)).build_circuit()
    pc.raw_spice = options_line(_options(circuit, options))
    return pc
