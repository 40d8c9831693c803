"""The `spice` fidelity of the measurement seam (docs/science.md §2): a `ResistorDiodeNetwork` as a
device-level circuit in ngspice.

* The netlist (`compiler.network_circuit`: neuron nodes n{j}, sources Vs{p}, resistors R{e},
  diodes D{j} with a real card or the ideal-diode approximation, perturbation sources Ip{j}) is
  written once and loaded once into the process's ngspice engine.
* `program(g)` projects g onto the network's ranges (as the ideal backend does), quantizes every
  conductance through the potentiometer part when one is given (the one code ↔ conductance map,
  `boards.parts.Rheostat`), and `alter`s only the resistors whose value changed.
* `measure(u, inject)` sets the source voltages (DAC-quantized when a DAC is given) and the
  perturbation currents (altering only what changed), runs `op`, reads the neuron node voltages
  (ADC-quantized when an ADC is given).  A failing `op` is retried with more Newton iterations and
  gmin/source stepping; a sample that still fails is marked not ok and its voltages are NaN —
  never the previous sample's values.

conductance_scale s: the circuit carries s·g (siemens) for a model conductance g, and s·inject
for an injected current.  Node voltages of an ideal-diode network do not change with s, so s maps a
model's conductances into a part's range (`part_scale` picks one).  Conductances returned by
`program` are in the model's units (realized circuit conductance / s).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..host.elements import IdealDiode, ShockleyDiode
from ..boards.frontend import frontend_of
from ..host.seam import ForwardPhase, Measurement
from .compiler import network_circuit
from ..boards.parts import PartRangeError
from .devices import DiodeCard, Potentiometer, diode_card
from .netlist_writer import netlist_text

__all__ = ["SpiceBackend", "part_scale", "fit_to_part", "card_for_element"]

_counter = itertools.count()

# Retry ladder for an `op` that failed: (description, ngspice `option` settings).
# ngspice already tries dynamic gmin stepping and then source stepping when plain Newton fails;
# the retries give both (and Newton) more steps.  GMIN itself is never raised: that would change
# the circuit being solved.
_RETRIES = (
    ("more Newton iterations and gmin/source steps", "itl1=1000 gminsteps=100 srcsteps=100"),
    ("many more Newton iterations and gmin/source steps", "itl1=10000 gminsteps=1000 srcsteps=1000"),
)
_DEFAULT_OPTIONS = "itl1=100 gminsteps=10 srcsteps=10"


def _frontend_parts(afe, diode, part, dac, adc):
    """The parts of a network's analog front-end (`boards.afe.AFE`) for every option not given:
    its diode card, its rheostat part (the one code <-> conductance map), and its converters over
    the DACs' and ADC's range referred to V_MID -- the circuit a board built to that front-end
    realizes, so a model trained here runs there as is."""
    from dataclasses import replace
    return (afe.diode if diode is None else diode,
            Potentiometer(afe.pot, rheostat=afe.rheostat) if part is None else part,
            replace(afe.dac_converter.referred(afe.v_mid), clip=True) if dac is None else dac,
            afe.adc_converter.referred(afe.v_mid) if adc is None else adc)


def card_for_element(element):
    """The diode card that realizes a host element in SPICE: the ideal-diode approximation for
    `IdealDiode`, the same IS and N for a `ShockleyDiode`."""
    if isinstance(element, IdealDiode):
        return diode_card("ideal")
    if isinstance(element, ShockleyDiode):
        return DiodeCard("DSHOCKLEY", IS=element.saturation_current, N=element.emission,
                         source="host ShockleyDiode element")
    raise ValueError(f"the spice backend realizes ideal or Shockley diodes at the neurons, not "
                     f"{type(element).__name__}; pass diode=<card>")


def part_scale(network, part, conductance=None):
    """A conductance scale s that maps the network's conductances into the part's range:
    the largest conductance to 0.9·g_max of the part, so that the smaller ones keep the
    potentiometer's finer (high-resistance) steps.  Raises PartRangeError when the spread of the
    conductances is wider than the part can realize."""
    g = network.conductance if conductance is None else np.asarray(conductance, dtype=float)
    g = g[g > 0]
    if not g.size:
        raise PartRangeError("no positive conductance to scale")
    s = 0.9 * part.g_max / g.max()
    if g.min() * s < part.g_min * (1 - 1e-9):
        raise PartRangeError(
            f"the conductances span {g.max() / g.min():.3g}:1 but a {part.name} rheostat spans only "
            f"{part.g_max / part.g_min:.3g}:1; clip the model's conductances (g_min) or use a part "
            "with a wider range")
    return s


class SpiceBackend:
    """`MeasurementBackend` on ngspice.  See the module doc for the options."""

    name = "spice"

    def __init__(self, network, *, diode=None, part=None, conductance_scale=1.0, dac=None, adc=None,
                 engine=None, parts=True, diodes=None):
        afe = frontend_of(network)
        if parts and afe is not None:
            diode, part, dac, adc = _frontend_parts(afe, diode, part, dac, adc)
        if engine is None:
            try:
                from .ngspice_engine import get_engine
                engine = get_engine()
            except OSError as exc:  # the shared library is missing
                raise RuntimeError(f"the spice backend needs ngspice's shared library: {exc}") from None
        self.engine = engine
        self.network = network
        self.card = card_for_element(network.element) if diode is None else diode_card(diode)
        if isinstance(part, str):
            from ..boards.parts import PARTS
            if part not in PARTS:
                raise ValueError(f"unknown part {part!r}; known: {', '.join(PARTS)}")
            part = Potentiometer(PARTS[part])
        self.part = part
        # edges realized by the part: a front-end's rheostats (its fixed resistors are in no
        # part), otherwise every edge
        self.n_part_edges = network.n_edges if afe is None else afe.n_pots
        if not (math.isfinite(conductance_scale) and conductance_scale > 0):
            raise ValueError(f"conductance_scale must be > 0, got {conductance_scale!r}")
        self.scale = float(conductance_scale)
        self.dac = dac
        self.adc = adc
        self.codes = None
        self.failures = 0          # samples marked not ok since construction
        self.retried = 0           # samples that needed a retry
        self.last_errors = []      # messages of the last failed samples
        self._forward = ForwardPhase()   # the last forward batch (a perturbed one's forward phase)
        self._title = f"diodenet spice backend {next(_counter)} n={network.n_neurons}"
        self._g_lo, self._g_hi = network.g_min.copy(), network.g_max.copy()
        g_circuit = self._realize(network.project(network.conductance))
        self.network = network.with_realized(g_circuit / self.scale)
        self._r = 1.0 / g_circuit
        self._u = np.zeros(network.n_sources)
        self._inject = np.zeros(network.n_neurons)
        # diodes: one card per neuron (a built board's spread diodes, `analog.built_board`)
        self.circuit, self._edge_names = network_circuit(self.network, diode=diodes or self.card,
                                                         conductance=g_circuit, title=self._title)
        self._template = self._make_template(netlist_text(self.circuit))
        self.sweeps = 0            # batches measured as one DC sweep
        self._load()

    # --- circuit management ------------------------------------------------------------------
    def _realize(self, g):
        """Circuit conductances (siemens) for model conductances g (already validated)."""
        gc = np.asarray(g, dtype=float) * self.scale
        if self.part is None:
            return gc
        m = self.n_part_edges
        self.codes = self.part.codes(gc[:m], what="conductance of edge")
        out = gc.copy()
        out[:m] = self.part.conductance(self.codes)
        return out

    def netlist(self):
        """The present circuit as plain ngspice text (the state ngspice holds)."""
        for e, name in enumerate(self._edge_names):
            self.circuit.set_value(name, self._r[e])
        for p, val in enumerate(self._u):
            self.circuit.set_value(f"Vs{p}", val)
        for j, val in enumerate(self._inject):
            self.circuit.set_value(f"Ip{j}", val)
        return netlist_text(self.circuit)

    def _make_template(self, text):
        """The netlist split into lines, with the lines whose value changes (edge resistors,
        input sources Vs{p}, perturbation sources Ip{j}) replaced by (kind, index, head) so the
        text of the present state is rebuilt by string formatting, not by PySpice (whose
        formatting of a few thousand elements costs ~100× an ngspice `alter`)."""
        edge_index = {name.lower(): e for e, name in enumerate(self._edge_names)}
        out = []
        for line in text.splitlines():
            tok = line.split()
            key = tok[0].lower() if tok else ""
            if key in edge_index and len(tok) == 4:
                out.append(("r", edge_index[key], " ".join(tok[:3])))
            elif key.startswith("vs") and key[2:].isdigit() and len(tok) >= 4:
                out.append(("v", int(key[2:]), " ".join(tok[:3])))
            elif key.startswith("ip") and key[2:].isdigit() and len(tok) >= 4:
                out.append(("i", int(key[2:]), " ".join(tok[:3])))
            else:
                out.append(line)
        missing = len(self._edge_names) - sum(1 for t in out if isinstance(t, tuple) and t[0] == "r")
        if missing:
            raise RuntimeError(f"netlist template: {missing} edge resistors not found")
        return out

    def _text(self, sweep=None):
        """Netlist text of the present state; with sweep = (u, inj) (batch rows), the sources
        become B-sources that look their values up in a table indexed by the voltage of a swept
        source Vidx, so one `dc vidx 0 batch−1 1` solves the whole batch."""
        lines = []
        for t in self._template:
            if not isinstance(t, tuple):
                if sweep is not None and t.startswith(".title"):
                    t = t + " sweep"
                lines.append(t)
                continue
            kind, k, head = t
            if kind == "r":
                lines.append(f"{head} {float(self._r[k])!r}")
                continue
            if sweep is None:
                value = self._u[k] if kind == "v" else self._inject[k]
                lines.append(f"{head} {float(value)!r}")
                continue
            column = sweep[0][:, k] if kind == "v" else sweep[1][:, k]
            _, plus, minus = head.split()
            if not np.any(column != column[0]):
                lines.append(f"{head} {float(column[0])!r}")
                continue
            table = ",".join(f"{s},{float(val)!r}" for s, val in enumerate(column))
            quantity = "V" if kind == "v" else "I"
            lines.append(f"B{head.split()[0]} {plus} {minus} {quantity}=pwl(v(vidx_node),{table})")
        if sweep is not None:
            lines.insert(-1 if lines[-1].strip().lower() == ".end" else len(lines), "Vidx vidx_node 0 0")
        return "\n".join(lines) + "\n"

    def _load(self):
        self.engine.load(self._text())
        self.engine.exec_command(f"option {_DEFAULT_OPTIONS}")

    def _is_loaded(self):
        return getattr(self.engine, "_title", None) == self._title and getattr(self.engine, "_loaded", False)

    def _ensure_loaded(self):
        # ngspice holds one current circuit per process: reload ours if someone else's is there
        # (or our own batch-sweep variant).
        if not self._is_loaded():
            self._load()

    # --- the seam -----------------------------------------------------------------------------
    def program(self, conductance):
        g = np.asarray(conductance, dtype=float).reshape(-1)
        if g.shape != (self.network.n_edges,):
            raise ValueError(f"program needs {self.network.n_edges} conductances, got {g.size}")
        bad = np.flatnonzero(~np.isfinite(g) | (g < 0))
        if bad.size:
            raise PartRangeError(f"conductances must be finite and ≥ 0 siemens; bad at edges "
                                 f"{bad[:10].tolist()} (values {g[bad[:3]].tolist()})")
        g = np.clip(g, self._g_lo, self._g_hi)
        gc = self._realize(g)
        with np.errstate(divide="ignore"):
            r = np.where(gc > 0, 1.0 / np.where(gc > 0, gc, 1.0), 1e15)
        changed = np.flatnonzero(r != self._r)
        if self._is_loaded():
            for e in changed:
                self.engine.alter(self._edge_names[e], r[e])
        self._r[changed] = r[changed]   # a circuit loaded later is written with these values
        realized = np.where(r < 1e15, 1.0 / r, 0.0) / self.scale
        self.network = self.network.with_realized(realized)
        return realized

    def measure(self, u, inject=None):
        u = self.network._check_u(u)
        batch = len(u)
        if self.dac is not None:
            u = self.dac(u)
        # a perturbed measurement carries its forward phase (`seam.Measurement.forward`) of these
        # (quantized) sources and conductances
        forward = None if inject is None else self._forward.of(self.network, u,
                                                               lambda u: self.measure(u).v)
        n = self.network.n_neurons
        if inject is None:
            inj = np.zeros((batch, n))
        else:
            inj = np.broadcast_to(np.asarray(inject, dtype=float), (batch, n))
            if not np.all(np.isfinite(inj)):
                raise ValueError("injected currents must be finite")
        v = np.full((batch, n), np.nan)
        ok = np.zeros(batch, dtype=bool)
        names = [f"n{j}" for j in range(n)]
        swept = self._sweep(u, inj * self.scale, names) if batch >= self.sweep_min else None
        if swept is not None:
            v[:] = swept
            ok[:] = True
        else:
            self._ensure_loaded()
        for s in range(batch if swept is None else 0):
            self._set_sources(u[s], inj[s] * self.scale)
            volts = self._op()
            if volts is None:
                self.failures += 1
                continue
            v[s] = [volts[nm] for nm in names]
            ok[s] = True
        if self.adc is not None:
            v[ok] = self.adc(v[ok])
        conducting = (v < -self.card.forward_voltage(1e-9 * self.scale)) & self.network.diodes
        state = np.where(ok[:, None] & conducting, -1, 0)
        if inject is None:
            self._forward.keep(self.network, u, v)
        return Measurement(v, u, ok, state, forward=forward)

    sweep_min = 2  # batches at least this large are solved as one DC sweep

    def _sweep(self, u, inj, names):
        """The whole batch as one DC sweep over a sample index (each point warm-started from the
        previous one: several times fewer Newton iterations than cold `op`s).  None if ngspice
        failed — the caller then measures sample by sample, with retries."""
        from .ngspice_engine import SpiceError
        batch = len(u)
        try:
            self.engine.load(self._text(sweep=(u, inj)))
            self.engine.exec_command(f"option {_DEFAULT_OPTIONS}")
            vectors = self.engine.run_sweep(f"dc vidx 0 {batch - 1} 1", batch)
            v = np.stack([vectors[nm] for nm in names], axis=1)
        except (SpiceError, KeyError) as exc:
            self.last_errors = [f"DC sweep of {batch} samples: {exc}"]
            return None
        finally:
            if getattr(self.engine, "_title", None) != self._title:
                self.engine.unload()   # the sweep variant never stays loaded
        if not np.all(np.isfinite(v)):
            return None
        self.sweeps += 1
        return v

    def _set_sources(self, u, inj):
        for p in np.flatnonzero(u != self._u):
            self.engine.alter(f"vs{p}", u[p])
            self._u[p] = u[p]
        for j in np.flatnonzero(inj != self._inject):
            self.engine.alter(f"ip{j}", inj[j])
            self._inject[j] = inj[j]

    def _op(self):
        """Node voltages of a fresh `op`, or None after the retries failed."""
        from .ngspice_engine import SpiceError
        try:
            return self.engine.run_op()
        except SpiceError as exc:
            errors = [str(exc)]
        self.retried += 1
        try:
            for what, opts in _RETRIES:
                self.engine.exec_command(f"option {opts}")
                try:
                    return self.engine.run_op()
                except SpiceError as exc:
                    errors.append(f"{what}: {exc}")
        finally:
            self.engine.exec_command(f"option {_DEFAULT_OPTIONS}")
        self.last_errors = errors
        return None

    def close(self):
        if getattr(self.engine, "_title", None) == self._title:
            self.engine.unload()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def fit_to_part(network, part, headroom=0.9):
    """(scale, network') for a part whose range is narrower than the model's spread: the largest
    conductance maps to headroom·g_max of the part, and conductances that would fall below the
    part's g_min are raised to it (the returned network holds them, in model units).  Returns
    also the number of edges raised."""
    g = network.conductance
    s = headroom * part.g_max / g.max()
    floor = part.g_min / s * (1 + 1e-12)
    raised = g < floor
    g_new = np.where(raised, floor, g)
    import copy
    new = copy.copy(network)
    new.conductance = g_new
    new.g_min = np.minimum(network.g_min, g_new)
    new.g_max = np.maximum(network.g_max, g_new)
    new.validate()
    return s, new, int(raised.sum())
