"""The kit's one circuit model: DC elements, model cards and the `Circuit` that holds them.

Every circuit path uses it: the netlist reader (`netlist_reader`) fills it from ngspice text, the
compiler and the spice backend build it (the builder methods `R`, `D`, `V`, `I`, `E`, `G`, `F`
and the composites `buffer`, `transformer`, `gyrator`), the writer (`analog.netlist_writer`)
prints it for ngspice, and `mna` / `operating_point` / `circuit_kernel` solve it.

Conventions are SPICE's (docs/analog.md): names are the SPICE names with their letter (`R1`,
`Dz0`), case-insensitive; node names are kept as first written, ground is `0` (or `gnd`); a V,
E or F source's branch current and an I, F or G source's current flow from its + node through
the element to its − node.  A diode's DC behaviour is its `.model NAME D(...)` card
(`DiodeModelCard`, canonical upper-case parameter names); the ideal-diode solvers ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .diode_model import DEFAULT_EPSMIN, DEFAULT_GMIN, DEFAULT_TEMP, DEFAULT_TNOM

__all__ = [
    "GROUND", "GROUND_NAMES", "ZERO_RESISTANCE", "CircuitError", "Resistor", "Diode",
    "VoltageSource", "CurrentSource", "VCVS", "VCCS", "CCCS", "DiodeModelCard", "as_model_card", "Circuit",
    "node_key", "resistor_conductances", "diode_instance_values",
]

GROUND = "0"
GROUND_NAMES = ("0", "gnd")
ZERO_RESISTANCE = 1e-3   # ngspice replaces a zero or missing resistance by 1 mΩ


class CircuitError(ValueError):
    """The circuit is malformed or has no unique operating point (the message says which)."""


def node_key(name: str) -> str | None:
    """Canonical key of a node name: lowercase, None for ground."""
    low = name.lower()
    return None if low in GROUND_NAMES else low


@dataclass
class Resistor:
    """R between n1 and n2: `value` ohms at TNOM, before the instance's scale and m."""
    name: str
    n1: str
    n2: str
    value: float
    line: int = 0                            # netlist line (0: built in code)
    params: dict[str, float] | None = None   # m, scale, temp, dtemp, tc1, tc2, tce, l, w
    model: str | None = None                 # a `.model NAME R(...)` card
    value_given: bool = True


@dataclass
class Diode:
    """A junction diode from anode to cathode with the `.model` card named `model`."""
    name: str
    anode: str
    cathode: str
    model: str
    area: float = 1.0
    line: int = 0
    params: dict[str, float] | None = None   # m, temp, dtemp, pj
    unmodelled: tuple[str, ...] = ()


@dataclass
class _Source:
    name: str
    npos: str
    nneg: str
    value: float
    line: int = 0


class VoltageSource(_Source):
    """v(npos) − v(nneg) = value; its branch current flows from npos through it to nneg."""


class CurrentSource(_Source):
    """Current `value` flows from npos through the source to nneg (into node nneg)."""


@dataclass
class VCVS:
    """E: v(npos) − v(nneg) = gain · (v(cpos) − v(cneg))."""
    name: str
    npos: str
    nneg: str
    cpos: str
    cneg: str
    gain: float
    line: int = 0


@dataclass
class VCCS:
    """G: current gm · (v(cpos) − v(cneg)) flows from npos through the element to nneg."""
    name: str
    npos: str
    nneg: str
    cpos: str
    cneg: str
    gm: float
    line: int = 0


@dataclass
class CCCS:
    """F: current gain · I(vsense) flows from npos through the element to nneg (vsense: the
    SPICE name of a voltage source)."""
    name: str
    npos: str
    nneg: str
    vsense: str
    gain: float
    line: int = 0


CONTROLLED = (VCVS, VCCS, CCCS)


@dataclass
class DiodeModelCard:
    """A `.model NAME D(...)` card; `params` maps canonical upper-case names to values."""
    name: str
    params: dict[str, float]
    line: int = 0
    unmodelled: tuple[str, ...] = ()   # DC parameters given (nonzero) that the kit does not model

    def get(self, key: str, default: float | None = None) -> float | None:
        return self.params.get(key, default)


def as_model_card(card) -> DiodeModelCard:
    """`card` as a generic `.model` card: itself, or a part catalogue's entry (anything with
    `model_name` and `parameters()`, e.g. `analog.devices.DiodeCard`) converted."""
    if isinstance(card, DiodeModelCard):
        return card
    return DiodeModelCard(card.model_name, dict(card.parameters()))


@dataclass
class Circuit:
    """Elements in the order written, by kind, plus model cards and the circuit's options."""
    title: str = "diodenet circuit"
    elements: list = field(default_factory=list)         # every element, in order
    resistors: list[Resistor] = field(default_factory=list)
    diodes: list[Diode] = field(default_factory=list)
    vsources: list[VoltageSource] = field(default_factory=list)
    isources: list[CurrentSource] = field(default_factory=list)
    controlled: list = field(default_factory=list)       # E, G and F sources
    models: dict[str, DiodeModelCard] = field(default_factory=dict)  # key: lowercase name
    resistor_models: dict[str, dict[str, float]] = field(default_factory=dict)  # R(...) cards
    nodes: list[str] = field(default_factory=list)   # non-ground nodes, as first written
    gmin: float = DEFAULT_GMIN
    temp: float = DEFAULT_TEMP                         # °C
    tnom: float = DEFAULT_TNOM                         # °C
    epsmin: float = DEFAULT_EPSMIN                     # A, floor on model IS
    rshunt: float | None = None                        # Ω from every node to ground (option)
    options: dict[str, float | str | None] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what ngspice would warn about too
    _node_keys: set = field(default_factory=set, repr=False)
    _by_name: dict = field(default_factory=dict, repr=False)

    _LISTS = {Resistor: "resistors", Diode: "diodes", VoltageSource: "vsources",
              CurrentSource: "isources", VCVS: "controlled", VCCS: "controlled",
              CCCS: "controlled"}

    # --- adding ---------------------------------------------------------------------------
    def node(self, name: str) -> str:
        """Register a node name (kept as first written) and return it."""
        key = name.lower()
        if key not in self._node_keys:
            self._node_keys.add(key)
            if key not in GROUND_NAMES:
                self.nodes.append(name)
        return name

    def add(self, element):
        """Append an element (its name must be new) and register its nodes."""
        key = element.name.lower()
        if key in self._by_name:
            raise CircuitError(f"duplicate element name {element.name}")
        for attr in ("n1", "n2", "anode", "cathode", "npos", "nneg", "cpos", "cneg"):
            value = getattr(element, attr, None)
            if value is not None:
                self.node(value)
        self._by_name[key] = element
        self.elements.append(element)
        getattr(self, self._LISTS[type(element)]).append(element)
        return element

    def R(self, name, a, b, resistance):
        r = float(resistance)
        if not (np.isfinite(r) and r > 0):
            raise ValueError(f"resistor R{name}: resistance must be finite and > 0 ohm, "
                             f"got {resistance!r}")
        return self.add(Resistor(f"R{name}", str(a), str(b), r))

    def D(self, name, anode, cathode, card):
        """A diode with `card`: a `DiodeModelCard`, or a part's card with `model_name` and
        `parameters()` (e.g. `analog.devices.DiodeCard`)."""
        return self.add(Diode(f"D{name}", str(anode), str(cathode), self.model(card).name))

    def V(self, name, plus, minus, dc=0.0):
        return self.add(VoltageSource(f"V{name}", str(plus), str(minus), float(dc)))

    def I(self, name, plus, minus, dc=0.0):  # noqa: E743 (SPICE letter)
        return self.add(CurrentSource(f"I{name}", str(plus), str(minus), float(dc)))

    def E(self, name, plus, minus, cplus, cminus, gain):
        return self.add(VCVS(f"E{name}", str(plus), str(minus), str(cplus), str(cminus),
                             float(gain)))

    def G(self, name, plus, minus, cplus, cminus, gm):
        return self.add(VCCS(f"G{name}", str(plus), str(minus), str(cplus), str(cminus),
                             float(gm)))

    def F(self, name, plus, minus, vsense, gain):
        """vsense: the SPICE name of the controlling voltage source (e.g. `Vloop0`)."""
        return self.add(CCCS(f"F{name}", str(plus), str(minus), str(vsense), float(gain)))

    def model(self, card) -> DiodeModelCard:
        """Register a diode card (same name twice: it must be the same card) and return it."""
        card = as_model_card(card)
        key = card.name.lower()
        known = self.models.get(key)
        if known is None:
            self.models[key] = card
        elif known.params != card.params:
            raise CircuitError(f"two different diode cards are named {card.name}")
        return self.models[key]

    # --- composite ideal elements ---------------------------------------------------------
    def buffer(self, name, out, inp, gain=1.0, ref=GROUND):
        """A unidirectional VCVS buffer (an op-amp follower / amplifier): v(out) = gain·v(inp)."""
        return self.E(name, out, ref, inp, ref, gain)

    def transformer(self, name, windings, turns):
        """Ideal multi-winding transformer: windings [(plus, minus), …] with turns [N0, N1, …].

        Enforces v_k = (N_k/N0)·v_0 for every winding and Σ N_k·i_k = 0 (ampere-turns, i_k the
        current entering winding k at its + end).  Winding 0 is the reference; every other
        winding k is an E source (its voltage) in series with a 0 V sense source (its current),
        and an F source at winding 0 carries −(N_k/N0)·i_k.  Turns may be negative."""
        if len(windings) != len(turns) or len(windings) < 2:
            raise ValueError("a transformer needs ≥ 2 windings, one turns number each")
        n0 = float(turns[0])
        if n0 == 0:
            raise ValueError("the reference winding (first) needs nonzero turns")
        p0, m0 = windings[0]
        for k, ((p, m), nk) in enumerate(zip(windings[1:], turns[1:]), start=1):
            ratio = float(nk) / n0
            mid = f"{name}_w{k}"
            self.E(f"{name}_{k}", p, mid, p0, m0, ratio)
            self.V(f"{name}_s{k}", mid, m)
            self.F(f"{name}_{k}", p0, m0, f"V{name}_s{k}", -ratio)

    def gyrator(self, name, port1, port2, g):
        """Ideal gyrator of conductance g: i1 = g·v2, i2 = −g·v1 (i_k entering port k at its +
        end).  Two G sources; it is not reciprocal."""
        (a, b), (c, d) = port1, port2
        self.G(f"{name}a", a, b, c, d, g)
        self.G(f"{name}b", c, d, a, b, -g)

    # --- queries --------------------------------------------------------------------------
    def element(self, name: str):
        """An element by its SPICE name (case-insensitive)."""
        try:
            return self._by_name[name.lower()]
        except KeyError:
            raise KeyError(f"no element {name!r} in circuit {self.title!r}") from None

    def set_value(self, name: str, value: float) -> None:
        """Change a source's DC value or a resistor's resistance (as ngspice's `alter` does)."""
        el = self.element(name)
        if not isinstance(el, (VoltageSource, CurrentSource, Resistor)):
            raise ValueError(f"cannot set the value of {name}")
        el.value = float(value)

    def model_for(self, diode: Diode) -> DiodeModelCard:
        return self.models[diode.model.lower()]

    @property
    def reciprocal(self) -> bool:
        """No controlled sources: the MNA matrix of the linear part is symmetric."""
        return not self.controlled


def resistor_conductances(circuit: Circuit) -> np.ndarray:
    """Each resistor's DC conductance at the circuit's temperature (ngspice's restemp rule).

    R = value, else the model's RES, else RSH·(L − 2·SHORT)/(W − 2·NARROW) (W defaults to the
    model's DEFW, 10 µm); then R(T) = R·scale·(1 + TC1·ΔT + TC2·ΔT²) (or ·1.01^(TCE·ΔT)) with
    ΔT = T − TNOM (instance coefficients override the model's), divided by m.  A zero result is
    1 mΩ, as in ngspice.
    """
    out = np.empty(len(circuit.resistors))
    for k, r in enumerate(circuit.resistors):
        p = r.params
        if not p and r.model is None:
            out[k] = 1.0 / (r.value if r.value != 0.0 else ZERO_RESISTANCE)
            continue
        p = p or {}
        card = circuit.resistor_models.get(r.model.lower(), {}) if r.model else {}
        value = r.value
        if not r.value_given:
            if "res" in card:
                value = card["res"]
            elif "rsh" in card and "l" in p:
                width = p.get("w", card.get("defw", 10e-6)) - 2.0 * card.get("narrow", 0.0)
                value = card["rsh"] * (p["l"] - 2.0 * card.get("short", 0.0)) / width
        if value == 0.0:
            value = ZERO_RESISTANCE
        temp = p.get("temp", circuit.temp + p.get("dtemp", 0.0))
        dt = temp - card.get("tnom", circuit.tnom)
        tce = p.get("tce", card.get("tce"))
        if tce is not None:
            factor = 1.01 ** (tce * dt)
        else:
            tc1 = p.get("tc1", card.get("tc1", 0.0))
            tc2 = p.get("tc2", card.get("tc2", 0.0))
            factor = 1.0 + tc1 * dt + tc2 * dt * dt
        out[k] = p.get("m", 1.0) / (value * p.get("scale", 1.0) * factor)
    return out


def diode_instance_values(circuit: Circuit, d: Diode) -> tuple[float, float, float]:
    """(device temperature °C, area, multiplier m) of a diode instance."""
    p = d.params or {}
    temp = p.get("temp", circuit.temp + p.get("dtemp", 0.0))
    return temp, d.area, p.get("m", 1.0)
