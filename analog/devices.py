"""Device models of real parts: diode model cards, the ideal-diode approximation, the digital
potentiometer (rheostat) and the DAC/ADC quantizers.

Diode cards (DC parameters only matter for an operating point; CJO/TT/VJ/M are kept for
transient use and ignored by `op`):

* ``1n4148`` — the 1N4148 card printed in the ngspice user manual (section "Device Models" of
  "Simulation and modeling overview": ``.model 1n4148 D (is=2.495e-09 rs=4.755e-01 n=1.679e+00
  tt=3.030e-09 cjo=1.700e-12 vj=1 m=1.959e-01 bv=1.000e+02 ibv=1.000e-04)``).
* ``bat54`` — the BAT54 Schottky card as published in NXP's BAT54 SPICE model (a subcircuit
  ``BAT54 1 3`` holding ``D1 1 3 BAT54`` with IS=2.117e-7, N=1.016, BV=36, IBV=1.196e-6,
  RS=2.637, CJO=11.14p, VJ=0.2013, M=0.3868, FC=0, TT=0, EG=0.69, XTI=2, and a 36 MΩ resistor
  R1 in parallel "for the reverse mode").  We keep the diode card and drop R1 (it changes a node
  current by at most |v|/36 MΩ ≈ 3e-8 A at 1 V); check against the vendor's file before a build.
* ``ideal`` — the kit's best ideal-diode approximation in SPICE, see `IDEAL_DIODE`.

The kit's ideal-diode approximation (``--diode ideal``) is a diode card with a tiny emission
coefficient, N = 1e-6 (N·Vt = 25.9 nV), and IS = 1e-12 A.  A conducting diode then clamps its
node at −N·Vt·ln(1 + i/IS): −0.36 µV at 1 µA, −0.54 µV at 1 mA, instead of 0; a blocking
diode leaks IS plus GMIN·v (1e-12 A + 1e-12 S · v).  With the compiler's conductance scale
(1 mS per unit of I − W) both are below 1e-6 of a 1 V equilibrium; measured on random
monDEQs (n ≤ 64, signed non-symmetric W) the ngspice operating point is within 6e-7 relative
of the exact fixed point (docs/analog.md).  ngspice converges on it unaided: its junction
limiting (pnjlim) scales with N·Vt.  Alternatives tried: N = 1e-4 leaves 7e-5 relative, N = 1e-5
5e-6.  (An op-amp "superdiode" — a diode inside a high-gain VCVS loop — divides a real diode's
forward voltage by the gain instead; it adds a node and a source per neuron and was not needed.)

Model cards are evaluated on the host exactly as ngspice does (`diodenet.host.diode_model`):
`NgspiceJunction` is the corresponding element for the host's reference solvers.

Potentiometer: `Potentiometer` wraps the one code ↔ resistance map,
`diodenet.boards.parts.Rheostat` (R = R_W + code/2^bits·R_AB), with the part's end-to-end
tolerance and current limit.  Converters: `dac_quantizer` / `adc_quantizer` give the AD5628's and
the AD7928's one code <-> volts map, `diodenet.boards.parts.Converter`, over their native span or
another one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..boards.parts import AD5628, AD7928, MCP4351, PartRangeError, Rheostat
from ..host import diode_model as dm

__all__ = [
    "DiodeCard", "DIODE_CARDS", "IDEAL_DIODE", "diode_card", "NgspiceJunction", "SeriesJunction",
    "Potentiometer", "dac_quantizer", "adc_quantizer", "reference_network",
]


# Parameters that change the DC operating point and that the host evaluates exactly.
_DC_KEYS = ("IS", "N", "RS", "BV", "IBV", "EG", "XTI")


@dataclass(frozen=True)
class DiodeCard:
    """A SPICE `.model NAME D(...)` card: DC parameters plus charge-storage extras."""

    name: str
    IS: float = dm.DEFAULT_IS
    N: float = dm.DEFAULT_N
    RS: float = 0.0
    BV: float | None = None
    IBV: float = dm.DEFAULT_IBV
    EG: float = dm.DEFAULT_EG
    XTI: float = dm.DEFAULT_XTI
    extra: tuple = ()  # (("CJO", 1.7e-12), ...): no effect on a DC operating point
    source: str = ""

    @property
    def model_name(self):
        return self.name.upper()

    def parameters(self):
        """{NAME: value} for the `.model` card (only what differs from ngspice's defaults)."""
        p = {"IS": self.IS, "N": self.N}
        if self.RS:
            p["RS"] = self.RS
        if self.BV is not None:
            p["BV"] = self.BV
            p["IBV"] = self.IBV
        if self.EG != dm.DEFAULT_EG:
            p["EG"] = self.EG
        if self.XTI != dm.DEFAULT_XTI:
            p["XTI"] = self.XTI
        p.update(dict(self.extra))
        return p

    def saturation_current(self, temp=dm.DEFAULT_TEMP):
        return dm.saturation_current(self.IS, self.N, temp, dm.DEFAULT_TNOM, self.EG, self.XTI)

    def element(self, temp=dm.DEFAULT_TEMP, gmin=dm.DEFAULT_GMIN, series=True):
        """The host element of a node diode with this card (anode at ground): the junction and,
        when the card has one and `series`, its series resistance RS."""
        junction = NgspiceJunction(self.saturation_current(temp), self.N, temp, gmin)
        return SeriesJunction(junction, self.RS) if series and self.RS > 0 else junction

    def forward_voltage(self, current, temp=dm.DEFAULT_TEMP):
        """v_anode − v_cathode at a forward DC current (junction plus RS)."""
        vte = self.N * dm.thermal_voltage(temp)
        return vte * math.log1p(current / self.saturation_current(temp)) + self.RS * current


DIODE_CARDS = {
    "1n4148": DiodeCard(
        "D1N4148", IS=2.495e-9, N=1.679, RS=0.4755, BV=100.0, IBV=1e-4,
        extra=(("TT", 3.03e-9), ("CJO", 1.7e-12), ("VJ", 1.0), ("M", 0.1959)),
        source="ngspice user manual, 'Device Models' example card for the 1N4148"),
    "bat54": DiodeCard(
        "DBAT54", IS=2.117e-7, N=1.016, RS=2.637, BV=36.0, IBV=1.196e-6, EG=0.69, XTI=2.0,
        extra=(("CJO", 1.114e-11), ("VJ", 0.2013), ("M", 0.3868), ("FC", 0.0)),
        source="NXP BAT54 SPICE model (diode card; its 36 MOhm parallel R1 dropped)"),
    "ideal": DiodeCard(
        "DIDEAL", IS=1e-12, N=1e-6,
        source="diodenet ideal-diode approximation: N = 1e-6 (N*Vt = 26 nV), IS = 1e-12 A"),
}
IDEAL_DIODE = DIODE_CARDS["ideal"]
DIODE_NAMES = tuple(DIODE_CARDS)  # the names the command line accepts


def diode_card(name):
    """A card by name (case-insensitive: ideal, 1n4148, bat54) or a `DiodeCard` as is."""
    if isinstance(name, DiodeCard):
        return name
    key = str(name).lower()
    if key not in DIODE_CARDS:
        raise ValueError(f"unknown diode {name!r}; known: {', '.join(DIODE_CARDS)}")
    return DIODE_CARDS[key]


def monotone_resolvent(element, x, alpha=1.0):
    """(I + αF)⁻¹(x) of a monotone scalar element with F(0) = 0 and F of the sign of its argument:
    the root of r(z) = z + αF(z) − x, which is increasing and lies between 0 and x; Newton steps
    kept inside the shrinking bracket (bisection when a step leaves it)."""
    x = np.asarray(x, dtype=float)
    lo, hi = np.minimum(x, 0.0), np.maximum(x, 0.0)
    z = np.clip(np.where(x > 0, x, np.maximum(x, element.start(np.zeros_like(x)))), lo, hi)
    for _ in range(200):
        r = z + alpha * element.current(z) - x
        lo, hi = np.where(r < 0, z, lo), np.where(r > 0, z, hi)
        z_new = z - r / (1.0 + alpha * element.slope(z))
        z_new = np.where((z_new >= lo) & (z_new <= hi), z_new, 0.5 * (lo + hi))
        if np.all(np.abs(z_new - z) <= 1e-15 * np.maximum(1.0, np.abs(z))):
            return z_new
        z = z_new
    return z


@dataclass(frozen=True)
class NgspiceJunction:
    """A junction diode with its anode at ground and cathode at the node, as ngspice 39 evaluates
    it at DC (`diodenet.host.diode_model.junction_current`: forward Shockley, ngspice's cubic
    reverse tail below −3·N·Vt, GMIN in parallel).  A smooth element for `solve_exact`:
    F(v) = −i_d(−v) with i_d the anode→cathode current.

    `saturation_current` and `emission` may be arrays (one per node)."""

    saturation_current: object
    emission: object = 1.0
    temperature: float = dm.DEFAULT_TEMP
    gmin: float = dm.DEFAULT_GMIN
    is_box = False

    def current(self, v):
        return -dm.junction_current(-np.asarray(v, dtype=float), self.saturation_current,
                                    self.emission, self.temperature, self.gmin)[0]

    def slope(self, v):
        return dm.junction_current(-np.asarray(v, dtype=float), self.saturation_current,
                                   self.emission, self.temperature, self.gmin)[1]

    def start(self, v_ideal):
        vte = np.asarray(self.emission, dtype=float) * dm.thermal_voltage(self.temperature)
        clamp = -vte * np.log1p(1e-4 / np.asarray(self.saturation_current, dtype=float))
        return np.where(v_ideal > 0, v_ideal, clamp)

    def resolvent(self, x, alpha=1.0):
        """σ(x) = (I + αF)⁻¹(x) (`monotone_resolvent`)."""
        return monotone_resolvent(self, x, alpha)


@dataclass(frozen=True)
class SeriesJunction:
    """A junction behind its series resistance RS, as ngspice's diode with RS > 0: the branch
    current i at node voltage v solves v = F_j⁻¹(i) + RS·i, i.e. the junction sits at the
    resolvent u = (I + RS·F_j)⁻¹(v) of its own relation and i = (v − u)/RS; the branch's
    conductance is F_j'(u)/(1 + RS·F_j'(u)).  A smooth element for `solve_exact`."""

    junction: NgspiceJunction
    resistance: float
    is_box = False

    def current(self, v):
        v = np.asarray(v, dtype=float)
        return (v - self.junction.resolvent(v, self.resistance)) / self.resistance

    def slope(self, v):
        g = self.junction.slope(self.junction.resolvent(np.asarray(v, dtype=float), self.resistance))
        return g / (1.0 + self.resistance * g)

    def start(self, v_ideal):
        return self.junction.start(v_ideal)

    def resolvent(self, x, alpha=1.0):
        """(I + αF)⁻¹(x) (`monotone_resolvent`)."""
        return monotone_resolvent(self, x, alpha)

    def to_dict(self):
        return {"kind": "series_junction", "resistance": float(self.resistance)}


def reference_network(network, diode):
    """The network with its diodes modelled as diode card `diode` exactly as ngspice evaluates it
    (`NgspiceJunction` behind the card's series resistance, `SeriesJunction`), for the host's
    reference solver; "ideal" leaves it unchanged."""
    if diode == "ideal":
        return network
    import copy
    ref = copy.copy(network)
    ref.element = diode_card(diode).element()
    return ref


# --- digital potentiometer --------------------------------------------------------------------

@dataclass(frozen=True)
class Potentiometer:
    """A digital potentiometer used as a rheostat (terminal B to wiper).

    `rheostat` is the part's code ↔ resistance map from `diodenet.boards.parts` (never written a
    second time here).  tolerance: end-to-end R_AB tolerance (MCP4351 DS22242 "R_AB tolerance"
    ±20 %); i_max: the current limit through terminals A, B and W (DS22242 "Absolute Maximum
    Ratings": ±2.5 mA)."""

    part: type = MCP4351
    tolerance: float = MCP4351.r_ab_tolerance
    i_max: float = MCP4351.i_max
    rheostat: Rheostat = field(default=None)

    def __post_init__(self):
        if self.rheostat is None:
            object.__setattr__(self, "rheostat", Rheostat.of(self.part))

    @property
    def name(self):
        return self.part.name

    @property
    def bits(self):
        return self.rheostat.bits

    @property
    def g_min(self):
        return self.rheostat.g_min

    @property
    def g_max(self):
        return self.rheostat.g_max

    def codes(self, conductance, *, what="conductance"):
        """Nearest code (in resistance) for every conductance; PartRangeError if one is outside
        [g_min, g_max] of the part (half a code step of slack at either end), negative or NaN."""
        g = np.asarray(conductance, dtype=float)
        flat = g.reshape(-1)
        bad = np.flatnonzero(~np.isfinite(flat) | (flat < 0))
        if bad.size:
            raise PartRangeError(
                f"{what} {bad[:5].tolist()} = {flat[bad[:3]].tolist()} S: a {self.name} rheostat "
                "realizes only finite positive conductances")
        rh = self.rheostat
        step = rh.r_ab / 2 ** rh.bits
        r_lo = rh.resistance(0) - step / 2
        r_hi = rh.resistance(rh.code_max) + step / 2
        with np.errstate(divide="ignore"):
            r = 1.0 / flat
        out = np.flatnonzero((r < r_lo) | (r > r_hi))
        if out.size:
            k = out[0]
            raise PartRangeError(
                f"{what} {k} = {flat[k]:.4g} S ({r[k]:.4g} ohm) is outside what a {self.name} rheostat "
                f"realizes: {rh.resistance(0):.4g} … {rh.resistance(rh.code_max):.4g} ohm "
                f"({self.g_min:.4g} … {self.g_max:.4g} S); {out.size} value(s) out of range — rescale "
                "the conductances (see analog.spice_backend.part_scale)")
        codes = np.array([rh.code_for_resistance(x) for x in r], dtype=np.int64)
        return codes.reshape(g.shape)

    def conductance(self, codes):
        return np.asarray(self.rheostat.conductance(np.asarray(codes)), dtype=float)

    def resistance(self, codes):
        return np.asarray(self.rheostat.resistance(np.asarray(codes)), dtype=float)

    def quantize(self, conductance):
        """The conductances the part realizes for the requested ones (nearest code in resistance)."""
        return self.conductance(self.codes(conductance))

    def check_current(self, current, *, what="potentiometer"):
        i = np.abs(np.asarray(current, dtype=float))
        over = np.flatnonzero(i.reshape(-1) > self.i_max)
        if over.size:
            raise PartRangeError(f"{what} {over[:5].tolist()} carry up to {i.max():.3g} A, above the "
                                 f"{self.name} limit of {self.i_max:g} A")


# --- converters -------------------------------------------------------------------------------

def dac_quantizer(lo=None, hi=None):
    """The AD5628's 12 bits over 0 … 2.5 V (the AD5628-1's internal 1.25 V reference with gain 2, or
    an external 2.5 V reference on VREFIN), raising on a value outside; pass lo/hi for another span
    (the front-end's converters are referred to V_MID: `boards.afe.AFE.dac_converter`)."""
    c = AD5628.converter(2 * AD5628.v_ref_internal)
    return replace(c, lo=c.lo if lo is None else lo, hi=c.hi if hi is None else hi)


def adc_quantizer(lo=None, hi=None):
    """The AD7928's 12 bits (straight binary), saturating.  Native span 0 … REF_IN = 2.5 V
    (RANGE = 1); pass lo/hi for the span seen through the front-end's buffers."""
    c = AD7928.converter(2.5)
    return replace(c, lo=c.lo if lo is None else lo, hi=c.hi if hi is None else hi)
