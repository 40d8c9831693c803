import numpy as np
import pytest
from scipy.optimize import brentq

from diodenet.host.diode_model import thermal_voltage
from diodenet.host.elements import (Clip, DiodeReLU, IdealDiode, SeriesResistanceDiode, ShiftedDiode,
                                    ShockleyDiode, element_from_dict)

SMOOTH = [ShockleyDiode(), ShockleyDiode(saturation_current=2.52e-9, emission=1.752, gmin=0),
          DiodeReLU(), SeriesResistanceDiode(50.0)]


@pytest.mark.parametrize("element", SMOOTH, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("alpha", [1e-2, 1.0, 1e3])
def test_resolvent_solves_its_defining_equation(element, alpha):
    """σ(x) = z with z + α·F(z) = x, against a bracketing root finder."""
    # The diode ReLU's z lives above −IS; below x ≈ −20·α·N·Vt the answer is −IS to double precision.
    lowest = -20 * alpha * element.n_vt if isinstance(element, DiodeReLU) else -3.0
    for x in np.linspace(max(lowest, -3.0), 3, 13):
        z = float(element.resolvent(np.array([x]), alpha)[0])
        lo = -element.saturation_current * (1 - 1e-15) if isinstance(element, DiodeReLU) else -50.0
        ref = brentq(lambda t: t + alpha * element.current(np.array([t]))[0] - x, lo, 50.0, xtol=1e-15, rtol=1e-14)
        assert z == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("element", SMOOTH, ids=lambda e: type(e).__name__)
def test_slope_is_the_derivative_of_the_current(element):
    v = np.linspace(-0.8, 0.8, 17) + 0.013
    if isinstance(element, DiodeReLU):  # described by its current z > −IS
        v = np.geomspace(1e-15, 1e-3, 17)
    h = 1e-7 * np.maximum(np.abs(v), 1e-12) if isinstance(element, DiodeReLU) else 1e-7
    fd = (element.current(v + h) - element.current(v - h)) / (2 * h)
    assert np.allclose(element.slope(v), fd, rtol=1e-5, atol=1e-12)


def test_resolvents_are_monotone_and_nonexpansive():
    x = np.linspace(-2, 2, 401)
    for element in SMOOTH + [IdealDiode(), Clip(-0.5, 0.5), ShiftedDiode(-0.3)]:
        z = element.resolvent(x, 1.0)
        assert np.all(np.diff(z) >= -1e-15)
        assert np.all(np.diff(z) <= np.diff(x) + 1e-12)


def test_shockley_floor_is_near_the_forward_voltage():
    d = ShockleyDiode(saturation_current=1e-14)
    z = d.resolvent(np.array([-10.0]), alpha=1e3)[0]  # node pulled hard below ground through 1 mS
    vf = thermal_voltage(27.0) * np.log(10.0 / 1e3 / 1e-14)
    assert z == pytest.approx(-vf, abs=0.01)


def test_box_resolvents_and_round_trip():
    assert np.array_equal(IdealDiode().resolvent(np.array([-1.0, 2.0])), [0.0, 2.0])
    assert np.array_equal(Clip(-1, 1).resolvent(np.array([-3.0, 0.5, 3.0])), [-1.0, 0.5, 1.0])
    for e in SMOOTH + [IdealDiode(), Clip(-1, 2), ShiftedDiode(0.4)]:
        assert element_from_dict(e.to_dict()) == e
    with pytest.raises(ValueError, match="unknown element kind"):
        element_from_dict({"kind": "tunnel"})
    with pytest.raises(ValueError, match="lo < hi"):
        Clip(1.0, 0.0)
