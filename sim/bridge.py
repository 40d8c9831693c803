"""The analog bridge: the AFE's resistor–diode array in ngspice, driven by the part models.

The part models report every potentiometer wiper and DAC output change (physical volts, 0 .. V_REF);
the bridge keeps the array's circuit loaded in the process's ngspice shared library (the spice
backend on the AFE's own network, `boards.frontend.frontend_network` -- the same circuit the spice
backend trains) and, when a conversion needs a node voltage after something changed, `alter`s what
changed and runs `op` (about 1 ms).

How the board maps onto that circuit (boards/afe.py, docs/hardware.md):
* the network is referred to V_MID = V_REF / 2 (the buffered reference the diodes and leaks return
  to): a line at physical V is the source u = V - V_MID, a node the ADC reads at V_MID + v;
* rheostat e (chip, wiper) = edge e, `Rheostat.resistance(code)` (the one map in boards/parts.py)
  with this board's part deviations (`part_deviations`, drawn from the tolerance table
  `boards.tolerances`): R_AB of each chip, R_W of each wiper, each DAC and ADC channel's gain and
  offset, each fixed resistor, each diode's forward voltage and the V_MID reference's offset;
* line s = its DAC channel (`AFE.line_dac`) through a unity-gain buffer;
* the injection resistor from perturbation DAC k to output y_k: the network holds it as a resistor
  to V_MID, and the difference is a current into y_k (`AFE.injection_current`, Norton, exact) --
  the definition the driver realizes its perturbations with.
"""

import math

import numpy as np

from ..boards.tolerances import DEFAULT_TOLERANCES, Tolerances, nominal_deviations
from ..boards.frontend import frontend_network

__all__ = ["AnalogBridge", "part_deviations"]


#: converter spreads of the tolerance table (`boards.tolerances.DEFAULT_TOLERANCES`, the one table)
CONVERTER_SPREAD = {k: DEFAULT_TOLERANCES[k].value for k in ("dac_offset", "dac_gain", "adc_offset", "adc_gain")}


def part_deviations(afe, tolerance, seed, table=None):
    """Seeded deviations of a built board's parts, drawn from the front-end's tolerance table
    (`boards.tolerances`, docs/montecarlo.md): R_AB factor per chip (r_ab), R_W per wiper (r_w),
    gain and offset per DAC channel (k = dac·8 + channel) and per ADC channel, factor per fixed
    resistor (r_fixed), forward-voltage shift per diode (diode_vf) and the V_MID offset (v_mid).

    tolerance: the R_AB spread (±tolerance per chip); 0 gives the nominal parts.  table: a
    `Tolerances` for every other entry (default: the default table)."""
    if not tolerance:
        return nominal_deviations(afe)
    table = Tolerances() if table is None else table
    return Tolerances.from_dict({**table.to_dict(), "pot_r_ab": tolerance}).sample(afe, seed)


class AnalogBridge:
    def __init__(self, afe, *, settle_time=None, diode=None, pot_tolerance=0.0, seed=0, now=None):
        from ..analog.spice_backend import SpiceBackend
        self.afe = afe
        self.settle_fixed = None if settle_time is None else float(settle_time)
        self._settle = None                 # the array's settle time at the present codes
        self.now = now or (lambda: 0.0)
        from ..analog.built_board import BuiltBoard
        nominal = frontend_network(afe)
        m_t = afe.n_pots
        self.rheostat = afe.rheostat
        self.deviations = part_deviations(afe, pot_tolerance, seed)
        self.r_ab_factor, self.r_w = self.deviations["r_ab"], self.deviations["r_w"]
        # this board's reference and fixed resistors (leaks, then injection resistors)
        self.v_mid = afe.v_mid + self.deviations["v_mid"]
        self.r_fixed = np.array([r for _, _, r in afe.fixed_resistors()]) * self.deviations["r_fixed"]
        # the bridge's network accepts any conductance a code can give (tolerance included)
        g_lo, g_hi = nominal.g_min.copy(), nominal.g_max.copy()
        g_lo[:m_t], g_hi[:m_t] = 1e-9, 1.0
        g_lo[m_t:] = g_hi[m_t:] = 1.0 / self.r_fixed
        import copy
        net = copy.copy(nominal)
        net.g_min, net.g_max = g_lo, g_hi
        self.codes = np.full(m_t, 0x80, dtype=np.int64)      # power-on mid-scale
        g = net.conductance.copy()
        g[:m_t] = [self._g(e) for e in range(m_t)]
        g[m_t:] = 1.0 / self.r_fixed
        net = net.with_conductance(g)
        diode = afe.diode if diode is None else diode
        # each diode with this board's forward-voltage shift (`analog.built_board`)
        cards = None if diode == "ideal" else BuiltBoard(nominal, self.deviations).diode_cards(diode)
        # exact: the bridge realizes part values itself (codes, deviations) and the ADC model
        # quantizes; the front-end's part models must not be applied a second time
        self.backend = SpiceBackend(net, diode=None if diode == "ideal" else diode, parts=False,
                                    diodes=cards)
        self.network = net
        self.dac = {}
        self.g = g
        self.v = np.zeros(afe.n_neurons)
        self.dirty = True
        self.last_change = -math.inf
        self.last_change_what = "power-up"
        self.solves = 0
        self.failures = []

    @property
    def settle_time(self):
        """Seconds the array needs after a change before a conversion is valid: the given figure,
        or `AFE.settle_time` of this board's rheostats at their present codes (the ADC model
        flags a conversion started earlier)."""
        if self.settle_fixed is not None:
            return self.settle_fixed
        if self._settle is None:
            self._settle = self.afe.settle_time(self.g[:self.afe.n_pots])
        return self._settle

    def resistance(self, e):
        """This board's resistance of rheostat e at its current code: the one code -> resistance
        map (`boards.parts.Rheostat`) on this chip's R_AB and this wiper's R_W."""
        chip, _ = self.afe.pot_location(e)
        return self.rheostat.deviated(self.r_ab_factor[chip], self.r_w[e]).resistance(int(self.codes[e]))

    def _g(self, e):
        return 1.0 / self.resistance(e)

    def _changed(self, what):
        self.dirty = True
        self.last_change = self.now()
        self.last_change_what = what

    # --- from the part models -------------------------------------------------------------------
    def set_pot(self, chip, wiper, code):
        e = chip * self.afe.pot.wipers + wiper
        if e >= self.afe.n_pots:
            return                                   # a spare wiper: not connected
        if self.codes[e] != code:
            self.codes[e] = code
            self.g[e] = self._g(e)
            self._settle = None
        self._changed(f"a write to MCP4351 #{chip} wiper {wiper}")

    def set_dac(self, dac, channel, volts):
        """A DAC output changed to its ideal `volts`; the line carries it with this board's
        converter gain and offset."""
        k = dac * self.afe.dac.channels + channel
        volts = volts * self.deviations["dac_gain"][k] + self.deviations["dac_offset"][k]
        old = self.dac.get((dac, channel), 0.0)
        self.dac[(dac, channel)] = volts
        if volts != old:
            self._changed(f"AD5628 #{dac} channel {channel} -> {volts:.4f} V")

    # --- to the ADC model -------------------------------------------------------------------------
    def sources(self):
        """(u, inject) of the array in the network's frame (volts around V_MID, amperes)."""
        afe = self.afe
        v_mid = self.v_mid                                   # this board's reference
        u = np.array([self.dac.get(afe.line_dac(line), 0.0) for line in afe.input_lines]) - v_mid
        inject = np.zeros(afe.n_neurons)
        r_inj = self.r_fixed[afe.n_neurons:]                 # this board's injection resistors
        v_pert = [self.dac.get((1, ch), 0.0) for ch in afe.pert_dac_channels[:afe.n_outputs]]
        inject[afe.n_hidden:] = afe.injection_current(v_pert, v_mid=v_mid, r_inject=r_inj[:afe.n_outputs])
        return u, inject

    def solve(self):
        u, inject = self.sources()
        self.backend.program(self.g)
        meas = self.backend.measure(u[None], inject=inject[None])
        self.solves += 1
        self.dirty = False
        if not meas.ok[0]:
            self.failures.append(f"ngspice op failed: {self.backend.last_errors}")
            self.v = np.full(self.afe.n_neurons, np.nan)
        else:
            self.v = meas.v[0]
        return self.v

    def voltage(self, channel):
        """Physical voltage at ADC input `channel` (neuron node = V_MID + v)."""
        if channel >= self.afe.n_neurons:
            return 0.0                                # an unused ADC input, tied to ground
        if self.dirty:
            self.solve()
        v = float(self.v[channel]) + self.v_mid
        return v * self.deviations["adc_gain"][channel] + self.deviations["adc_offset"][channel]
