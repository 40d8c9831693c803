"""The DC diode model exactly as ngspice 39 evaluates it.

Junction current (ngspice src/spicelib/devices/dio/dioload.c, DC part), with vte = N·Vt::

    v >= -3·vte :  i = IS·(exp(v/vte) − 1)                        (forward / Shockley)
    v <  -3·vte :  i = −IS·(1 + (3·vte/(v·e))³)                   (reverse; C¹-continuous at −3·vte)
    v < −BV_eff :  i = −IS·exp(−(BV_eff + v)/(NBV·Vt))             (breakdown, only if BV is given)

plus GMIN·v in parallel with the junction (ngspice adds CKTgmin, default 1e-12 S, to every
junction).  Series resistance RS sits between the anode and an internal junction node.

A model IS below EPSMIN (ngspice option epsmin, default 1e-28 A) is raised to it.
Temperature (diotemp.c): Vt = k·T/q with T = temp + 273.15 and, when the circuit temperature T
differs from the model's nominal temperature Tnom,
IS(T) = IS·exp((T/Tnom − 1)·EG/(N·Vt(T)) + (XTI/N)·ln(T/Tnom)) and
RS(T) = RS·(1 + TRS1·ΔT + TRS2·ΔT²).

Ignored (no effect on a DC operating point): CJO, M, VJ, FC, TT and their temperature
coefficients, KF, AF.  Not modelled (callers must reject them): sidewall/tunnel/recombination
currents (JSW, NS, JTUN, ISR, NR, ...) and high-injection knees (IKF, IKR); instance multiplier M.

Constants are ngspice 39's (src/include/ngspice/const.h, CODATA 2014): checked against ngspice's
own `op` result to all printed digits.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "BOLTZMANN", "CHARGE", "CELSIUS_TO_KELVIN", "K_OVER_Q", "DEFAULT_TEMP", "DEFAULT_TNOM",
    "DEFAULT_GMIN", "DEFAULT_EPSMIN", "DEFAULT_IS", "DEFAULT_N", "DEFAULT_EG", "DEFAULT_XTI",
    "DEFAULT_IBV",
    "thermal_voltage", "saturation_current", "series_resistance", "critical_voltage",
    "diode_current", "junction_current", "limit_junction_voltage",
    "breakdown_voltage_estimate",
]

# ngspice 39 src/include/ngspice/const.h
BOLTZMANN = 1.38064852e-23      # CONSTboltz, J/K
CHARGE = 1.6021766208e-19       # CHARGE, C
CELSIUS_TO_KELVIN = 273.15      # CONSTCtoK
K_OVER_Q = BOLTZMANN / CHARGE   # CONSTKoverQ, V/K

DEFAULT_TEMP = 27.0             # °C, circuit temperature (ngspice default)
DEFAULT_TNOM = 27.0             # °C, nominal model temperature (ngspice default)
DEFAULT_GMIN = 1e-12            # S, ngspice's default GMIN
DEFAULT_EPSMIN = 1e-28          # A, ngspice's floor on a model's IS (option epsmin, diotemp.c)

# ngspice's diode model defaults
DEFAULT_IS = 1e-14
DEFAULT_N = 1.0
DEFAULT_EG = 1.11
DEFAULT_XTI = 3.0
DEFAULT_IBV = 1e-3


def thermal_voltage(temp_celsius: float = DEFAULT_TEMP) -> float:
    """k·T/q in volts, with ngspice's constants (about 25.865 mV at 27 °C)."""
    return K_OVER_Q * (temp_celsius + CELSIUS_TO_KELVIN)


def saturation_current(is_: float, n: float = DEFAULT_N, temp: float = DEFAULT_TEMP,
                       tnom: float = DEFAULT_TNOM, eg: float = DEFAULT_EG,
                       xti: float = DEFAULT_XTI, area: float = 1.0,
                       epsmin: float = DEFAULT_EPSMIN) -> float:
    """IS at circuit temperature `temp` (°C) for a model measured at `tnom` (°C), times area.

    Like ngspice, a model IS below `epsmin` is raised to it first.
    """
    is_ = max(is_, epsmin)
    t = temp + CELSIUS_TO_KELVIN
    t0 = tnom + CELSIUS_TO_KELVIN
    vte = n * K_OVER_Q * t
    arg = (t / t0 - 1.0) * eg / vte + xti / n * math.log(t / t0)
    return is_ * area * math.exp(arg)


def series_resistance(rs: float, temp: float = DEFAULT_TEMP, tnom: float = DEFAULT_TNOM,
                      trs1: float = 0.0, trs2: float = 0.0, area: float = 1.0) -> float:
    """RS at temperature, divided by area (ngspice scales the conductance 1/RS by area)."""
    if rs == 0.0:
        return 0.0
    dt = temp - tnom
    return rs * (1.0 + trs1 * dt + trs2 * dt * dt) / area


def critical_voltage(is_: float, n: float = DEFAULT_N, temp: float = DEFAULT_TEMP) -> float:
    """SPICE's vcrit = vte·ln(vte/(√2·IS)): where the exponential starts to bite."""
    vte = n * thermal_voltage(temp)
    return vte * math.log(vte / (math.sqrt(2.0) * is_))


def breakdown_voltage_estimate(bv: float, ibv: float, is_: float, nbv: float,
                               temp: float = DEFAULT_TEMP) -> float:
    """A lower bound of ngspice's effective breakdown voltage (diotemp.c's starting guess).

    ngspice moves the knee from BV to the voltage where the breakdown current equals IBV;
    BV − NBV·Vt·ln(1 + IBV/IS) is never above what its iteration settles on.
    """
    vt = thermal_voltage(temp)
    if ibv < is_ * bv / vt:
        return bv
    return bv - nbv * vt * math.log(1.0 + ibv / is_)


def junction_current(v, is_: float, n: float = DEFAULT_N, temp: float = DEFAULT_TEMP,
                     gmin: float = DEFAULT_GMIN):
    """(i, di/dv) of a junction at voltage(s) `v` as ngspice's dioload.c evaluates it at DC.

    Forward region Shockley, reverse region below −3·vte ngspice's cubic tail, plus GMIN·v.
    The breakdown branch is not included: callers keep solutions away from breakdown.
    Works on scalars and NumPy arrays; `is_` and `n` may be arrays of the same shape.
    """
    v = np.asarray(v, dtype=float)
    vte = np.asarray(n, dtype=float) * thermal_voltage(temp)
    is_ = np.asarray(is_, dtype=float)
    fwd = v >= -3.0 * vte
    # Forward: clip the exponent so that a wild Newton iterate gives inf-free huge numbers.
    ev = np.exp(np.minimum(np.where(fwd, v / vte, 0.0), 700.0))
    i_f = is_ * (ev - 1.0)
    g_f = is_ * ev / vte
    vs = np.where(fwd, -1.0, v)  # avoid division by zero in the unused branch
    arg = 3.0 * vte / (vs * math.e)
    arg3 = arg * arg * arg
    i_r = -is_ * (1.0 + arg3)
    g_r = is_ * 3.0 * arg3 / vs
    i = np.where(fwd, i_f, i_r) + gmin * v
    g = np.where(fwd, g_f, g_r) + gmin
    if i.ndim == 0:
        return float(i), float(g)
    return i, g


def diode_current(v, is_: float = DEFAULT_IS, n: float = DEFAULT_N, temp: float = DEFAULT_TEMP,
                  gmin: float = DEFAULT_GMIN):
    """Diode DC current at junction voltage `v`: IS·(exp(v/(N·Vt)) − 1) + GMIN·v.

    Exactly ngspice's: Shockley down to −3·N·Vt, ngspice's cubic reverse tail below that.
    """
    return junction_current(v, is_, n, temp, gmin)[0]


def limit_junction_voltage(v_new, v_old, n, is_, temp: float = DEFAULT_TEMP):
    """SPICE's pn-junction step limiting (Nagel's pnjlim), vectorised.

    Above vcrit a forward step larger than 2·vte is replaced by a logarithmic one, so Newton
    cannot overshoot into exp overflow.  Returns (limited voltages, mask of limited entries).
    """
    v_new = np.asarray(v_new, dtype=float)
    v_old = np.asarray(v_old, dtype=float)
    vte = np.asarray(n, dtype=float) * thermal_voltage(temp)
    vcrit = vte * np.log(vte / (math.sqrt(2.0) * np.asarray(is_, dtype=float)))
    big = (v_new > vcrit) & (np.abs(v_new - v_old) > 2.0 * vte)
    out = v_new.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        arg = 1.0 + (v_new - v_old) / vte
        from_pos = np.where(arg > 0.0, v_old + vte * np.log(np.where(arg > 0.0, arg, 1.0)), vcrit)
        from_neg = vte * np.log(np.maximum(v_new / vte, 1e-300))
    lim = np.where(v_old > 0.0, from_pos, from_neg)
    out = np.where(big, lim, out)
    return out, big
