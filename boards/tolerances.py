"""The tolerances of the front-end's parts: one table, seeded draws of a built board's deviations.

A built board differs from its model (docs/montecarlo.md): every MCP4351's end-to-end resistance,
every wiper's resistance, every diode's forward voltage, every converter channel's offset and
gain, the fixed resistors and the mid-rail reference.  `DEFAULT_TOLERANCES` holds one `Spread`
per kind of part, each citing where its number comes from; a JSON file overrides any of them
(`Tolerances.load`).  `Tolerances.sample(afe, seed)` draws one board: a dict of arrays, one entry
per part.  Draws are seeded per entry (each entry has its own random stream), so switching one
entry off or changing its width leaves every other entry's draw unchanged -- the sensitivity
ranking (`analog.montecarlo`) compares runs that differ in one kind of part only.

Who draws from it: the Monte Carlo yield (`analog.montecarlo`, `diodenet montecarlo`),
tolerance-aware training (`diodenet train --tolerance-aware`) and the co-simulated board
(`sim.bridge.part_deviations`), so calibration is checked against a known truth.

Where the numbers come from (a uniform distribution within the limits: a datasheet gives limits,
not a distribution, and uniform is the wider-tailed of the usual readings of "±x %"):

* pot_r_ab -- MCP4351 DS22242 "AC/DC Characteristics", R_AB tolerance ±20 % (per chip: the four
  resistor networks of one die share their sheet resistance; `boards.parts.MCP4351`).
* pot_r_w -- wiper resistance 75 Ω typical at VDD = 5.5 V, up to ~300 Ω at the low end of the
  supply range (same table; the board runs at 3.3 V, `MCP4351.r_w_range`); per wiper.
* r_fixed -- leak and injection resistors: Yageo RT0603 B-tolerance thin film, ±0.1 %
  (docs/hardware.md, BOM).
* diode_vf -- BAT54 forward voltage: typical 0.22 V / 0.29 V, maximum 0.24 V / 0.32 V at 0.1 mA /
  1 mA (Diodes Inc. BAT54 data sheet, "Electrical Characteristics"): the maximum lies 20..30 mV
  above the typical; taken as ±25 mV around the model card's curve, as a shift of the saturation
  current I_S -> I_S·exp(-dV/(N·V_t)) (the same V_F shift at every current).
* dac_offset, dac_gain, adc_offset, adc_gain -- per converter channel, including the line and
  node buffers: assumed, of the order of the AD5628's and AD7928's offset and gain error
  specifications (≈ ±3 mV and ±0.1 % at the DAC, ≈ ±2 LSB = ±1.2 mV and ±0.1 % at the ADC); the
  2.5 V reference's own error cancels (every converter is ratiometric to it).  Check them against
  the data sheets' tables before a yield figure is quoted for a build.
* v_mid -- the mid-rail reference: two 0.1 % resistors divide V_REF (ratio error ≤ ±0.1 %, i.e.
  ±1.25 mV) and an MCP6024 follower adds its offset (assumed ±0.5 mV): ±1.75 mV.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

__all__ = ["Spread", "Tolerances", "DEFAULT_TOLERANCES", "dac_channel_count", "dac_channel_index",
           "nominal_deviations"]

KINDS = ("relative", "absolute", "range")


@dataclass(frozen=True)
class Spread:
    """One kind of part's spread.

    kind "relative": a factor uniform in 1 ± value; "absolute": an offset uniform in ± value
    (in `unit`); "range": a value uniform in [lo, hi] (value = (lo, hi), in `unit`).  per: what
    one draw belongs to.  source: where the number comes from."""
    name: str
    kind: str
    value: object
    unit: str
    per: str
    source: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"tolerance {self.name}: kind must be one of {', '.join(KINDS)}")
        v = self.value
        if self.kind == "range":
            ok = (isinstance(v, (list, tuple)) and len(v) == 2
                  and all(isinstance(x, (int, float)) and math.isfinite(x) for x in v) and v[0] <= v[1])
            if not ok:
                raise ValueError(f"tolerance {self.name}: a range [lo, hi] with lo <= hi ({self.unit}), "
                                 f"got {v!r}")
            object.__setattr__(self, "value", (float(v[0]), float(v[1])))
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"tolerance {self.name}: a number >= 0 ({'relative' if self.kind == 'relative' else self.unit}), "
                                 f"got {v!r}")
            if self.kind == "relative" and v >= 1:
                raise ValueError(f"tolerance {self.name}: a relative spread below 1, got {v!r}")
            object.__setattr__(self, "value", float(v))

    @property
    def is_zero(self):
        return self.value[0] == self.value[1] if self.kind == "range" else self.value == 0

    def draw(self, rng, n, nominal=None):
        """n draws: factors (relative), offsets (absolute) or values (range; `nominal` when the
        range is off)."""
        if self.kind == "relative":
            return 1.0 + rng.uniform(-self.value, self.value, n)
        if self.kind == "absolute":
            return rng.uniform(-self.value, self.value, n)
        lo, hi = self.value
        return rng.uniform(lo, hi, n)

    def describe(self):
        if self.kind == "relative":
            return f"±{self.value * 100:g} %"
        if self.kind == "absolute":
            return f"±{self.value:g} {self.unit}"
        return f"{self.value[0]:g} .. {self.value[1]:g} {self.unit}"


def _defaults():
    from .parts import MCP4351
    s = [
        Spread("pot_r_ab", "relative", MCP4351.r_ab_tolerance, "", "chip",
               "MCP4351 DS22242 AC/DC Characteristics: R_AB tolerance ±20 %"),
        Spread("pot_r_w", "range", MCP4351.r_w_range, "ohm", "wiper",
               "MCP4351 DS22242: R_W 75 ohm typ. at 5.5 V, up to ~300 ohm at 2.7 V"),
        Spread("r_fixed", "relative", 0.001, "", "resistor",
               "Yageo RT0603 B (0.1 %) leak and injection resistors, docs/hardware.md BOM"),
        Spread("diode_vf", "absolute", 0.025, "V", "diode",
               "BAT54 data sheet: V_F max 20..30 mV above typical at 0.1..1 mA"),
        Spread("dac_offset", "absolute", 3e-3, "V", "DAC channel",
               "assumed: order of the AD5628 offset error, line buffer included"),
        Spread("dac_gain", "relative", 1e-3, "", "DAC channel",
               "assumed: order of the AD5628 gain error"),
        Spread("adc_offset", "absolute", 1.2e-3, "V", "ADC channel",
               "assumed: ~2 LSB, order of the AD7928 offset error, node buffer included"),
        Spread("adc_gain", "relative", 1e-3, "", "ADC channel",
               "assumed: order of the AD7928 gain error"),
        Spread("v_mid", "absolute", 1.75e-3, "V", "board",
               "0.1 % divider of V_REF (±1.25 mV) plus the follower's offset (assumed ±0.5 mV)"),
    ]
    return {t.name: t for t in s}


#: the default table (see the module doc for the sources)
DEFAULT_TOLERANCES = _defaults()

# each entry's own random stream (fixed numbers: never reorder, only append)
_STREAM = {name: k for k, name in enumerate(DEFAULT_TOLERANCES)}


def dac_channel_count(afe):
    """DAC channels a front-end uses, counted as the board numbers them (dac * channels +
    channel): the x lines on DAC0 (on consecutive chips when a simulation front-end has more
    than one chip's worth), the bias and perturbation lines on the last chip (a simulation
    front-end's outputs beyond the board's perturbation channels: further channels after it)."""
    per = afe.dac.channels
    extra = max(0, afe.n_outputs - len(afe.pert_dac_channels))
    return (math.ceil(afe.n_dac_inputs / per) + 1) * per + extra


def dac_channel_index(afe, line):
    """Flat DAC channel index of a source line or a perturbation line (`dac_channel_count`)."""
    per = afe.dac.channels
    last = math.ceil(afe.n_dac_inputs / per)
    if line in afe.pert_lines():
        k = afe.pert_lines().index(line)
        if k < len(afe.pert_dac_channels):
            return last * per + afe.pert_dac_channels[k]
        return (last + 1) * per + k - len(afe.pert_dac_channels)
    s = afe.input_lines.index(line)
    if s < afe.n_dac_inputs:
        return s
    return last * per + afe.bias_dac_channels[s - afe.n_dac_inputs]


def _sizes(afe):
    return {"pot_r_ab": afe.n_pot_chips, "pot_r_w": afe.n_pots,
            "r_fixed": len(afe.fixed_resistors()), "diode_vf": afe.n_hidden,
            "dac_offset": dac_channel_count(afe), "dac_gain": dac_channel_count(afe),
            "adc_offset": max(afe.adc.channels, afe.n_neurons),
            "adc_gain": max(afe.adc.channels, afe.n_neurons), "v_mid": 1}


# deviation dict keys (the co-simulated board's names, sim.bridge) per table entry
KEYS = {"pot_r_ab": "r_ab", "pot_r_w": "r_w", "r_fixed": "r_fixed", "diode_vf": "diode_vf",
        "dac_offset": "dac_offset", "dac_gain": "dac_gain", "adc_offset": "adc_offset",
        "adc_gain": "adc_gain", "v_mid": "v_mid"}


def nominal_deviations(afe):
    """The deviations of a board built exactly to its model."""
    n = _sizes(afe)
    out = {}
    for name, t in DEFAULT_TOLERANCES.items():
        if name == "pot_r_w":
            out[KEYS[name]] = np.full(n[name], afe.pot.r_w)
        elif t.kind == "relative":
            out[KEYS[name]] = np.ones(n[name])
        else:
            out[KEYS[name]] = np.zeros(n[name])
    out["v_mid"] = 0.0
    return out


class Tolerances:
    """A tolerance table: `Spread` per kind of part (see the module doc)."""

    def __init__(self, spreads=None):
        self.spreads = dict(DEFAULT_TOLERANCES if spreads is None else spreads)

    def __getitem__(self, name):
        return self.spreads[name]

    def __iter__(self):
        return iter(self.spreads)

    def __eq__(self, other):
        return isinstance(other, Tolerances) and self.spreads == other.spreads

    @classmethod
    def default(cls):
        return cls()

    @classmethod
    def from_dict(cls, overrides, where="tolerances"):
        """The default table with entries overridden: {"pot_r_ab": 0.1, "pot_r_w": [100, 200]} --
        a number for relative / absolute entries, [lo, hi] for ranges."""
        if not isinstance(overrides, dict):
            raise ValueError(f"{where}: a JSON object of {{name: value}}, got {type(overrides).__name__}")
        spreads = dict(DEFAULT_TOLERANCES)
        for name, value in overrides.items():
            if name not in spreads:
                raise ValueError(f"{where}: unknown part tolerance {name!r}; known: "
                                 f"{', '.join(spreads)}")
            try:
                spreads[name] = replace(spreads[name], value=value)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        return cls(spreads)

    @classmethod
    def load(cls, path):
        """A JSON file of overrides of the default table (`from_dict`)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as exc:
            raise FileNotFoundError(f"tolerance file {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"tolerance file {path} is not JSON ({exc}); write an object such as "
                             '{"pot_r_ab": 0.1, "pot_r_w": [100, 200]}') from None
        return cls.from_dict(data, where=f"tolerance file {path}")

    def to_dict(self):
        return {name: (list(t.value) if t.kind == "range" else t.value) for name, t in self.spreads.items()}

    def only(self, *names):
        """This table with every entry but `names` switched off (nominal)."""
        out = {}
        for name, t in self.spreads.items():
            if name in names:
                out[name] = t
            elif t.kind == "range":
                nominal = DEFAULT_TOLERANCES[name]
                mid = _range_nominal(name)
                out[name] = replace(nominal, value=(mid, mid))
            else:
                out[name] = replace(t, value=0.0)
        return Tolerances(out)

    def active(self):
        """Names of the entries that spread."""
        return [name for name, t in self.spreads.items() if not t.is_zero]

    def table(self):
        """Rows (name, spread, per, source) for documents and reports."""
        return [(name, t.describe(), t.per, t.source) for name, t in self.spreads.items()]

    def sample(self, afe, seed):
        """One built board: a dict of deviations (keys as `sim.bridge` names them) -- R_AB factor
        per chip (r_ab), R_W per wiper (r_w, ohms), factor per fixed resistor (r_fixed, in
        `AFE.fixed_resistors` order), forward-voltage shift per diode (diode_vf, volts), gain and
        offset per DAC channel (`dac_channel_index`) and per ADC channel (= neuron), and the
        mid-rail reference's offset (v_mid, volts).  seed: an int or a sequence of ints."""
        sizes = _sizes(afe)
        out = nominal_deviations(afe)
        base = [int(v) for v in seed] if isinstance(seed, (list, tuple)) else [int(seed)]
        for name, t in self.spreads.items():
            if t.is_zero:
                if t.kind == "range":
                    out[KEYS[name]] = np.full(sizes[name], t.value[0])
                continue
            rng = np.random.default_rng(_stream_key(base, name))
            out[KEYS[name]] = t.draw(rng, sizes[name])
        out["v_mid"] = float(np.asarray(out["v_mid"]).reshape(-1)[0])
        return out


def _stream_key(base, name):
    """Entropy of an entry's stream for a seed sequence `base`: its length first and the entry's
    stream number + 1 last, so seeds of different lengths never share a stream (numpy's
    SeedSequence treats [a, b] and [a, b, 0] alike: a trailing zero is invisible)."""
    return [len(base), *base, _STREAM[name] + 1]


def _range_nominal(name):
    if name == "pot_r_w":
        from .parts import MCP4351
        return MCP4351.r_w
    lo, hi = DEFAULT_TOLERANCES[name].value
    return 0.5 * (lo + hi)
