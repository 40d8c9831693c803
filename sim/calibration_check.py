"""Calibration against the co-simulated board's known parts (the tests and
benchmarks/calibration_cosim.py).

The co-simulated board is built from seeded part deviations (`sim.bridge.part_deviations`), so
what `diodenet calibrate` measures can be compared with the truth:

* `resistance_errors`: every rheostat's calibrated R(code) against its true R_W + R_AB·code/256
  over the codes the front-end programs (its g_min .. g_max);
* `voltage_errors`: node voltages measured through the board driver against the reference solver
  on the values the driver reports as realized -- with the calibration (calibrated conductances,
  line voltages, readings and diodes) and without it (nominal part values, the front-end's diode
  card) -- in ADC LSB.
"""

import numpy as np

__all__ = ["true_resistances", "resistance_errors", "voltage_errors"]


def true_resistances(afe, deviations, codes):
    """(rheostats, codes) true resistances of a board with `deviations` (part_deviations' dict)."""
    chips = np.array([afe.pot_location(e)[0] for e in range(afe.n_pots)])
    r_ab = afe.pot_r_ab * np.asarray(deviations["r_ab"])[chips]
    r_w = np.asarray(deviations["r_w"])
    return r_w[:, None] + r_ab[:, None] * np.asarray(codes)[None, :] / 2 ** afe.pot.bits


def resistance_errors(cal, afe, deviations):
    """Relative error of every rheostat's calibrated resistance, (rheostats, codes), over the
    codes of the front-end's range (R from 1/g_max to the full scale)."""
    lo = afe.rheostat.code_for_conductance(afe.g_max)
    codes = np.arange(lo, afe.pot.code_max + 1)
    true = true_resistances(afe, deviations, codes)
    got = cal.r_w[:, None] + cal.r_ab[:, None] * codes[None, :] / 2 ** cal.pot_bits
    return got / true - 1.0


def voltage_errors(open_driver, url, network, x, calibration=None, diode=None):
    """|measured − reference| node voltages in ADC LSB, (samples, neurons), and the measured
    voltages, through the board driver (`open_driver(network, url, calibration=...)`, e.g.
    `host.driver.board_driver.BoardDriver`; sim/ does not import it) on `url` with or without
    `calibration`."""
    from ..analog.devices import reference_network
    with open_driver(network, url, calibration=calibration) as be:
        m = be.measure(network.source_voltages(x))
        net = be.network
        cal = be.calibration
        ref_net = cal.reference_network(net) if cal is not None else reference_network(
            net, diode or be.afe.diode)
        ref = ref_net.solve(u=m.u).x
        err = np.abs(m.v - ref) / be.afe.adc_lsb
    return err[m.ok], m.v[m.ok]
