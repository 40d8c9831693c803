"""A board's calibration: what its parts measured in place, as plain data, and how the driver uses it.

`diodenet calibrate --port URL` (`analog.calibration_fit`, docs/hardware.md "Calibration") measures
a built board with its own converters and its fixed resistors as references and writes one JSON
file.  This module is that file and its use:

* rheostat e (edge e of the front-end, `boards.afe.AFE.edges`): R_e(code) = R_W,e + R_AB,e·code/2^8
  (MCP4351 rheostat mode, the form of `boards.parts.Rheostat`) with this part's own R_W, R_AB;
* DAC channel k (k = dac·8 + channel, the order of `sim.bridge.part_deviations`):
  V = (1 + gain_k)·code·V_REF/2^12 + offset_k  (volts at the line);
* ADC channel j: reading = code·LSB = (1 + gain_j)·V + offset_j  (V the physical node voltage);
* hidden node j's diode (anode at V_MID, cathode at the node): the junction form ngspice
  evaluates, i = I_S,j·(exp(V_D/(N_j·V_t)) − 1), V_D = V_MID − V_node, fitted to the currents and
  voltages measured (kept in the file as `points`).

The driver (`host.driver.board_driver.BoardDriver(..., calibration=...)`) then picks for each conductance g
the code whose calibrated R_e(code) is nearest 1/g, converts line voltages and readings through
the calibrated converters, and reports the calibrated values as realized.  The file names the
board (its capability reply: board, parts, sizes, analog constants) and front-end it was
measured on, and the date: `check_calibration` refuses a file for another board or front-end,
naming both, and warns when it is older than `STALE_DAYS`.
"""

from dataclasses import dataclass, field
import datetime as dt
import json
import math
import warnings

import numpy as np

__all__ = ["Calibration", "CalibrationMismatch", "StaleCalibration", "board_identity",
           "frontend_identity", "check_calibration", "load_calibration", "STALE_DAYS", "SCHEMA"]

SCHEMA = "diodenet-calibration/1"
#: a calibration older than this many days is stale (parts drift with temperature and age)
STALE_DAYS = 30.0

#: CAPS fields that identify the analog board (the gateware's clock, baud and buffer sizes do not)
IDENTITY_FIELDS = ("board", "part_ids", "n_pot_chips", "wipers_per_chip", "pot_bits", "pot_r_ab",
                   "pot_r_w", "n_dacs", "n_dac_inputs", "n_pert", "dac_bits", "n_adc", "adc_bits",
                   "r_leak", "r_inject", "v_ref_mv")
#: AFE fields the calibration depends on (topology and analog constants, not host-side choices)
FRONTEND_FIELDS = ("n_hidden", "n_outputs", "n_inputs", "r_leak", "r_inject", "pot_r_ab", "diode",
                   "v_ref", "pert_dac_channels", "bias_dac_channels")


class CalibrationMismatch(ValueError):
    """A calibration file that belongs to another board or front-end."""


class StaleCalibration(UserWarning):
    """A calibration older than `STALE_DAYS`."""


def board_identity(caps):
    """The board's identity: the analog fields of its capability reply (`hdl.protocol.Caps`)."""
    return {k: getattr(caps, k) for k in IDENTITY_FIELDS}


def frontend_identity(afe):
    d = afe.to_dict()
    return {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in FRONTEND_FIELDS}


def _fmt(d):
    return ", ".join(f"{k}={v}" for k, v in d.items())


@dataclass
class Calibration:
    """One board's measured parts (see the module doc).  Arrays are NumPy; `to_dict` is plain JSON."""
    identity: dict
    frontend: dict
    date: str                      # ISO 8601, UTC
    r_ab: np.ndarray               # per rheostat, ohms
    r_w: np.ndarray                # per rheostat, ohms
    dac_gain: np.ndarray           # per DAC channel (dac·8 + channel), relative
    dac_offset: np.ndarray         # volts
    adc_gain: np.ndarray           # per ADC channel, relative
    adc_offset: np.ndarray         # volts
    diode_is: np.ndarray           # per hidden node, amperes
    diode_n: np.ndarray            # per hidden node
    diode_points: list = field(default_factory=list)   # per hidden node [[current A, V_D V], ...]
    reverse_current: np.ndarray = None                  # per hidden node: diode blocking, amperes
    v_ref: float = 2.5
    pot_bits: int = 8
    dac_bits: int = 12
    adc_bits: int = 12
    code_max: int = 256
    fit: dict = field(default_factory=dict)             # residuals, samples, codes used

    # --- rheostats ------------------------------------------------------------------------------
    def resistance(self, e, code):
        return self.r_w[e] + self.r_ab[e] * np.asarray(code) / 2 ** self.pot_bits

    def conductance(self, e, code):
        return 1.0 / self.resistance(e, code)

    def codes_for_conductance(self, g):
        """Per rheostat, the code whose calibrated resistance is nearest 1/g (g: one per rheostat)."""
        g = np.asarray(g, dtype=float)
        r = np.where(g > 0, 1.0 / np.maximum(g, 1e-300), np.inf)
        code = np.rint((r - self.r_w) / self.r_ab * 2 ** self.pot_bits)
        return np.clip(np.nan_to_num(code, posinf=self.code_max), 0, self.code_max).astype(np.int64)

    def realized(self, codes):
        return np.array([self.conductance(e, c) for e, c in enumerate(codes)], dtype=float)

    # --- converters -----------------------------------------------------------------------------
    @property
    def dac_lsb(self):
        return self.v_ref / 2 ** self.dac_bits

    @property
    def adc_lsb(self):
        return self.v_ref / 2 ** self.adc_bits

    def dac_volts(self, k, code):
        """Line voltage of DAC channel(s) k at code(s)."""
        k = np.asarray(k)
        return (1.0 + self.dac_gain[k]) * np.asarray(code) * self.dac_lsb + self.dac_offset[k]

    def dac_code(self, k, volts):
        """Nearest code of DAC channel(s) k to line voltage(s) `volts` (unclipped)."""
        k = np.asarray(k)
        return np.rint((np.asarray(volts) - self.dac_offset[k]) / (1.0 + self.dac_gain[k]) / self.dac_lsb)

    def adc_volts(self, j, reading):
        """Physical node voltage of ADC channel(s) j from readings (code·LSB, volts)."""
        j = np.asarray(j)
        return (np.asarray(reading) - self.adc_offset[j]) / (1.0 + self.adc_gain[j])

    # --- the network the board realizes -----------------------------------------------------------
    def diode_element(self, n_neurons, temperature=None):
        """The hidden nodes' calibrated junctions as one host element (`NgspiceJunction`, per-node
        I_S and N; output nodes carry no diode, their entries are placeholders)."""
        from .devices import NgspiceJunction
        h = len(self.diode_is)
        i_s = np.concatenate([self.diode_is, np.full(n_neurons - h, float(np.median(self.diode_is)))])
        n = np.concatenate([self.diode_n, np.full(n_neurons - h, float(np.median(self.diode_n)))])
        kw = {} if temperature is None else {"temperature": temperature}
        return NgspiceJunction(i_s, n, **kw)

    def reference_network(self, network):
        """`network` (realized conductances) with this board's calibrated diodes, for the
        reference solver."""
        import copy
        ref = copy.copy(network)
        ref.element = self.diode_element(network.n_neurons)
        return ref

    # --- plain data -----------------------------------------------------------------------------
    def to_dict(self):
        def arr(a):
            return None if a is None else [float(x) for x in np.asarray(a)]
        return {"schema": SCHEMA, "date": self.date, "identity": dict(self.identity),
                "frontend": dict(self.frontend), "v_ref": self.v_ref, "pot_bits": self.pot_bits,
                "dac_bits": self.dac_bits, "adc_bits": self.adc_bits, "code_max": self.code_max,
                "rheostats": {"r_ab": arr(self.r_ab), "r_w": arr(self.r_w)},
                "dac": {"gain": arr(self.dac_gain), "offset": arr(self.dac_offset)},
                "adc": {"gain": arr(self.adc_gain), "offset": arr(self.adc_offset)},
                "diodes": {"saturation_current": arr(self.diode_is), "emission": arr(self.diode_n),
                           "reverse_current": arr(self.reverse_current),
                           "points": [[[float(a), float(b)] for a, b in p] for p in self.diode_points]},
                "fit": self.fit}

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise ValueError(f"not a diodenet calibration (expected schema {SCHEMA!r}, got "
                             f"{d.get('schema') if isinstance(d, dict) else type(d).__name__!r}); "
                             "make one with diodenet calibrate --port URL -o FILE")
        try:
            a = np.asarray
            rc = d["diodes"].get("reverse_current")
            return cls(identity=d["identity"], frontend=d["frontend"], date=d["date"],
                       r_ab=a(d["rheostats"]["r_ab"], float), r_w=a(d["rheostats"]["r_w"], float),
                       dac_gain=a(d["dac"]["gain"], float), dac_offset=a(d["dac"]["offset"], float),
                       adc_gain=a(d["adc"]["gain"], float), adc_offset=a(d["adc"]["offset"], float),
                       diode_is=a(d["diodes"]["saturation_current"], float),
                       diode_n=a(d["diodes"]["emission"], float),
                       diode_points=d["diodes"].get("points", []),
                       reverse_current=None if rc is None else a(rc, float),
                       v_ref=float(d["v_ref"]), pot_bits=int(d["pot_bits"]),
                       dac_bits=int(d["dac_bits"]), adc_bits=int(d["adc_bits"]),
                       code_max=int(d["code_max"]), fit=d.get("fit", {}))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"calibration file incomplete: missing {exc}; re-run diodenet calibrate") from None

    def save(self, path):
        """Write the calibration as JSON, atomically."""
        from ..host.fileio import atomic_write_text
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")

    def age_days(self, now=None):
        now = now or dt.datetime.now(dt.timezone.utc)
        try:
            when = dt.datetime.fromisoformat(self.date)
        except (TypeError, ValueError):
            raise ValueError(f"calibration date {self.date!r} is not an ISO 8601 date; re-run "
                             "diodenet calibrate") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return (now - when).total_seconds() / 86400.0


def load_calibration(path):
    """A `Calibration` from a JSON file written by `Calibration.save`."""
    from pathlib import Path
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"calibration file {p} not found; make one with diodenet calibrate "
                                "--port URL -o FILE")
    try:
        d = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"calibration file {p} is not JSON ({exc}); re-run diodenet calibrate") from None
    return Calibration.from_dict(d)


def check_calibration(cal, caps, afe, *, now=None, stale_days=STALE_DAYS, where="the board"):
    """Refuse a calibration made on another board or front-end (CalibrationMismatch naming both
    identities); warn (`StaleCalibration`) when it is older than `stale_days`.  Returns cal."""
    for what, fields, recorded, actual, holder, fix in (
            ("board", IDENTITY_FIELDS, cal.identity, board_identity(caps), where,
             "calibrate this board (diodenet calibrate --port URL -o FILE)"),
            ("front-end", FRONTEND_FIELDS, cal.frontend, frontend_identity(afe), "this model's",
             "calibrate with this front-end or use a model made for the calibrated one")):
        diff = [k for k in fields if recorded.get(k) != actual[k]]
        if diff:
            raise CalibrationMismatch(
                f"the calibration was measured on another {what}: calibration {_fmt(recorded)}; "
                f"{holder} {_fmt(actual)} (differ in {', '.join(diff)}) -- {fix}")
    age = cal.age_days(now)
    if age > stale_days or not math.isfinite(age):
        warnings.warn(f"the calibration of {where} is {age:.0f} days old (dated {cal.date}; stale after "
                      f"{stale_days:g}): parts drift -- re-run diodenet calibrate", StaleCalibration,
                      stacklevel=2)
    if age < -1.0:
        warnings.warn(f"the calibration is dated in the future ({cal.date}): check the clock",
                      StaleCalibration, stacklevel=2)
    return cal


def now_iso():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
