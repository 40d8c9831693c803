"""Nonlinear elements at the neuron nodes, each a maximal monotone relation F.

A network with element F at every neuron settles at 0 ∈ H v + q + F(v) (docs/science.md §1.2–1.3), and
the activation of the equivalent monDEQ is the resolvent σ_α = (I + αF)⁻¹.  A new element is a
new resolvent, not a new solver:

* box elements (F = normal cone of [lower, upper]) — ideal diode to ground (ReLU), ideal diode in
  series with a DC source (shifted ReLU), two ideal diodes to two rails (clip) — are solved
  exactly by the active-set solver;
* smooth elements give F(v) and F'(v) and are solved by damped Newton; every element also gives
  its resolvent, so forward–backward and Peaceman–Rachford splitting work for all of them.

Node voltages are the variables: a diode with its anode at ground and cathode at the node
conducts when the node goes below ground (docs/science.md §3).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import wrightomega

from .diode_model import thermal_voltage

__all__ = [
    "IdealDiode",
    "ShiftedDiode",
    "Clip",
    "ShockleyDiode",
    "DiodeReLU",
    "SeriesResistanceDiode",
    "element_from_dict",
    "PerNode",
]


class BoxElement:
    """F = N_[lower, upper]: the resolvent is the projection (clip), for every α > 0."""

    is_box = True
    lower = 0.0
    upper = np.inf

    def resolvent(self, x, alpha=1.0):
        return np.clip(x, self.lower, self.upper)


@dataclass(frozen=True)
class IdealDiode(BoxElement):
    """Ideal diode, anode at ground: v ≥ 0, diode current ≥ 0, v·i = 0.  σ = ReLU."""

    def to_dict(self):
        return {"kind": "ideal"}


@dataclass(frozen=True)
class ShiftedDiode(BoxElement):
    """Ideal diode in series with a DC source V0: v ≥ V0.  σ(x) = max(x, V0)."""

    offset: float = 0.0

    @property
    def lower(self):
        return self.offset

    def to_dict(self):
        return {"kind": "shifted", "offset": float(self.offset)}


@dataclass(frozen=True)
class Clip(BoxElement):
    """Two ideal diodes to the rails lo and hi: lo ≤ v ≤ hi.  σ = hard-tanh (clip)."""

    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self):
        if not self.lo < self.hi:
            raise ValueError(f"clip rails must satisfy lo < hi, got lo={self.lo}, hi={self.hi}")

    @property
    def lower(self):
        return self.lo

    @property
    def upper(self):
        return self.hi

    def to_dict(self):
        return {"kind": "clip", "lo": float(self.lo), "hi": float(self.hi)}


class SmoothElement:
    is_box = False

    def current(self, v):
        raise NotImplementedError

    def slope(self, v):
        raise NotImplementedError

    def start(self, v_ideal):
        """A good Newton starting point from the ideal-diode solution."""
        return v_ideal


@dataclass(frozen=True)
class ShockleyDiode(SmoothElement):
    """Shockley diode, anode at ground, cathode at the node, described by the node voltage.

    Diode current (ground → node) i = IS·(exp(−v/(N·Vt)) − 1) + GMIN·(−v), with GMIN the parallel
    conductance ngspice puts across every junction.  The element relation is F(v) = −i, and its
    resolvent solves z + α·F(z) = x in closed form with the Wright omega function ω:
        k = 1 + α·GMIN,  a = α·IS,  s = N·Vt,  A = (x − a)/k,
        σ(x) = A + s·ω(ln(a/(k·s)) − A/s).
    (ω(t) = W₀(eᵗ) without the overflow of the Lambert-W form.)  σ is a smooth ReLU whose floor
    sits about one forward voltage below ground.
    """

    saturation_current: float = 1e-14
    emission: float = 1.0
    temperature: float = 27.0  # °C, ngspice's default
    gmin: float = 1e-12

    def __post_init__(self):
        if not (self.saturation_current > 0 and self.emission > 0 and self.gmin >= 0):
            raise ValueError("Shockley diode needs IS > 0, N > 0 and GMIN ≥ 0")

    @property
    def n_vt(self):
        return self.emission * thermal_voltage(self.temperature)

    def current(self, v):
        s = self.n_vt
        return self.saturation_current * -np.expm1(np.minimum(-v / s, 700.0)) + self.gmin * v

    def slope(self, v):
        s = self.n_vt
        return self.saturation_current / s * np.exp(np.minimum(-v / s, 700.0)) + self.gmin

    def resolvent(self, x, alpha=1.0):
        s = self.n_vt
        k = 1.0 + alpha * self.gmin
        a = alpha * self.saturation_current
        base = (np.asarray(x, dtype=float) - a) / k
        return base + s * np.real(wrightomega(np.log(a / (k * s)) - base / s))

    def start(self, v_ideal):
        # A clamped node sits about one forward voltage below ground.
        s = self.n_vt
        return np.where(v_ideal > 0, v_ideal, -s * np.log1p(1e-3 / self.saturation_current))

    def to_dict(self):
        return {
            "kind": "shockley",
            "saturation_current": float(self.saturation_current),
            "emission": float(self.emission),
            "temperature": float(self.temperature),
            "gmin": float(self.gmin),
        }


@dataclass(frozen=True)
class DiodeReLU(SmoothElement):
    """The "diode ReLU": a Shockley diode described by its current z (docs/science.md §1.3).

    F(z) = N·Vt·ln(1 + z/IS) for z > −IS; its resolvent is
        σ(x) = A·ω((x + IS)/A + ln(IS/A)) − IS,   A = α·N·Vt.
    """

    saturation_current: float = 1e-14
    emission: float = 1.0
    temperature: float = 27.0

    @property
    def n_vt(self):
        return self.emission * thermal_voltage(self.temperature)

    def current(self, z):
        return self.n_vt * np.log1p(np.maximum(z, -self.saturation_current * (1 - 1e-15)) / self.saturation_current)

    def slope(self, z):
        return self.n_vt / (self.saturation_current + np.maximum(z, -self.saturation_current * (1 - 1e-15)))

    def resolvent(self, x, alpha=1.0):
        big_a = alpha * self.n_vt
        i_s = self.saturation_current
        arg = (np.asarray(x, dtype=float) + i_s) / big_a + np.log(i_s / big_a)
        return big_a * np.real(wrightomega(arg)) - i_s

    def start(self, z_ideal):
        return np.maximum(z_ideal, 0.0)

    def to_dict(self):
        return {
            "kind": "diode_relu",
            "saturation_current": float(self.saturation_current),
            "emission": float(self.emission),
            "temperature": float(self.temperature),
        }


@dataclass(frozen=True)
class SeriesResistanceDiode(SmoothElement):
    """Ideal diode (anode at ground) in series with R: current −v/R flows into the node when v < 0.

    F(v) = min(v, 0)/R, piecewise linear; σ(x) = x for x ≥ 0 and x/(1 + α/R) below: a leaky ReLU
    whose leak slope is set by R relative to the network's conductance.
    """

    resistance: float = 1e3

    def __post_init__(self):
        if not self.resistance > 0:
            raise ValueError(f"series resistance must be > 0 ohms, got {self.resistance}")

    def current(self, v):
        return np.minimum(v, 0.0) / self.resistance

    def slope(self, v):
        return np.where(v < 0, 1.0 / self.resistance, 0.0)

    def resolvent(self, x, alpha=1.0):
        x = np.asarray(x, dtype=float)
        return np.where(x >= 0, x, x / (1.0 + alpha / self.resistance))

    def to_dict(self):
        return {"kind": "series_resistance", "resistance": float(self.resistance)}


class PerNode:
    """`element` at the nodes where mask is True; no element (a linear node) elsewhere."""

    def __init__(self, element, mask):
        self.element = element
        self.mask = np.asarray(mask, dtype=bool)
        self.is_box = element.is_box
        self._bounds = None

    def _box_bounds(self):
        if self._bounds is None:
            self._bounds = (np.where(self.mask, self.element.lower, -np.inf),
                            np.where(self.mask, self.element.upper, np.inf))
            for b in self._bounds:
                b.flags.writeable = False  # shared with every solve (`kernels.bounds`)
        return self._bounds

    @property
    def lower(self):
        return self._box_bounds()[0]

    @property
    def upper(self):
        return self._box_bounds()[1]

    def resolvent(self, x, alpha=1.0):
        if self.is_box:  # a clip with per-node bounds (±inf on linear nodes), as maximum/minimum
            lower, upper = self._box_bounds()
            return np.minimum(np.maximum(x, lower), upper)
        return np.where(self.mask, self.element.resolvent(x, alpha), x)

    def current(self, v):
        return np.where(self.mask, self.element.current(v), 0.0)

    def slope(self, v):
        return np.where(self.mask, self.element.slope(v), 0.0)

    def start(self, v):
        return np.where(self.mask, self.element.start(v), v)


_KINDS = {
    "ideal": IdealDiode,
    "shifted": ShiftedDiode,
    "clip": Clip,
    "shockley": ShockleyDiode,
    "diode_relu": DiodeReLU,
    "series_resistance": SeriesResistanceDiode,
}


def element_from_dict(d):
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"unknown element kind {kind!r}; known: {', '.join(_KINDS)}")
    return _KINDS[kind](**d)
