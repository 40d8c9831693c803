"""The analog bridge: the AFE's resistor–diode array in ngspice, driven by the part models.

The part models report every potentiometer wiper and DAC output change; the bridge keeps the
array's circuit loaded in the process's ngspice shared library (the spice backend's netlist,
`analog.spice_backend.SpiceBackend` on the AFE's network) and, when a conversion needs a node
voltage after something changed, `alter`s what changed and runs `op` (TOOLCHAIN.md: ~1 ms).

How the AFE maps onto that circuit (`host.board.afe_network`):
* rheostat e (chip, wiper) = edge e, conductance `Rheostat.conductance(code)` (the one map in
  boards/parts.py), with an optional end-to-end tolerance per chip (R_AB·(1 + δ_chip));
* input line s = DAC0 channel s (unity-gain buffer), the bias line = DAC1 channel 0;
* the injection resistor R_inj from perturbation DAC channel k to output y_k: the network holds it
  as a fixed conductance from y_k to the bias line, and the difference is a current
  (V_pert,k − V_bias)/R_inj into y_k (Norton: (V_p − v)/R = (V_b − v)/R + (V_p − V_b)/R, exact).
"""

import math
import random

import numpy as np

from ..host.board import afe_network

__all__ = ["AnalogBridge"]


class AnalogBridge:
    def __init__(self, afe, *, settle_time=5e-6, diode="ideal", pot_tolerance=0.0, seed=0,
                 now=None):
        from ..analog.spice_backend import SpiceBackend
        self.afe = afe
        self.settle_time = float(settle_time)
        self.now = now or (lambda: 0.0)
        net = afe_network(afe)
        m_t = afe.n_pots
        # the bridge's network accepts any conductance a code can give (tolerance included)
        g_lo = net.g_min.copy()
        g_hi = net.g_max.copy()
        g_lo[:m_t], g_hi[:m_t] = 1e-9, 1.0
        import copy
        net = copy.copy(net)
        net.g_min, net.g_max = g_lo, g_hi
        self.rheostat = afe.rheostat
        rng = random.Random(seed)
        self.r_ab_factor = [1.0 + rng.uniform(-pot_tolerance, pot_tolerance)
                            for _ in range(afe.n_pot_chips)]
        self.codes = np.full(m_t, 0x80, dtype=np.int64)      # power-on mid-scale
        g = net.conductance.copy()
        g[:m_t] = [self._g(e) for e in range(m_t)]
        net = net.with_conductance(g)
        self.backend = SpiceBackend(net, diode=None if diode == "ideal" else diode)
        self.network = net
        self.n_lines = len(afe.input_lines)
        self.bias_index = self.n_lines - 1
        self.dac = {}
        self.g = g
        self.v = np.zeros(afe.n_neurons)
        self.dirty = True
        self.last_change = -math.inf
        self.last_change_what = "power-up"
        self.solves = 0
        self.failures = []

    def _g(self, e):
        chip, _ = self.afe.pot_location(e)
        r = self.rheostat.r_w + self.codes[e] / 2 ** self.rheostat.bits * self.rheostat.r_ab * self.r_ab_factor[chip]
        return 1.0 / r

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
        self._changed(f"a write to MCP4351 #{chip} wiper {wiper}")

    def set_dac(self, dac, channel, volts):
        old = self.dac.get((dac, channel), 0.0)
        self.dac[(dac, channel)] = volts
        if volts != old:
            self._changed(f"AD5628 #{dac} channel {channel} -> {volts:.4f} V")

    # --- to the ADC model -------------------------------------------------------------------------
    def sources(self):
        afe = self.afe
        u = np.array([self.dac.get((0, s), 0.0) for s in range(2 * afe.n_inputs)]
                     + [self.dac.get((1, afe.bias_dac_channel), 0.0)])
        inject = np.zeros(afe.n_neurons)
        for k, ch in enumerate(afe.pert_dac_channels[:afe.n_outputs]):
            inject[afe.n_hidden + k] = (self.dac.get((1, ch), 0.0) - u[-1]) / afe.r_inject
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
        if channel >= self.afe.n_neurons:
            return 0.0                                # an unused ADC input, tied to ground
        if self.dirty:
            self.solve()
        return float(self.v[channel])
