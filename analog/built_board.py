"""A built board: a front-end network with one draw of part deviations applied (docs/montecarlo.md).

The host programs a built board exactly as it programs the model -- the same potentiometer codes
(`boards.parts.Rheostat`, the nominal map), the same DAC codes -- and reads it with the same ADC
map; the parts then realize something else.  With a deviation draw `dev`
(`boards.tolerances.Tolerances.sample`), referred to the model's frame (volts around the nominal
V_MID, docs/hardware.md):

* rheostat e on chip c: R_e = R_W,e + code_e / 2^bits · R_AB · r_ab[c]  (DS22242 equation 5-1
  with this chip's R_AB and this wiper's R_W);
* fixed resistor k: R_k · r_fixed[k];
* the reference: V_MID' = V_MID + v_mid; the circuit is solved around V_MID' (its "ground");
* source line s on DAC channel k = `dac_channel_index`: the DAC's ideal output V_MID + u_q (u_q the
  DAC-quantized model voltage) becomes gain_k·(V_MID + u_q) + offset_k, i.e. the circuit source
  u' = gain_k·(V_MID + u_q) + offset_k − V_MID';
* output y's perturbation DAC (its injection resistor is a resistor to V_MID' in the circuit):
  the Norton current (gain_k·(V_MID + i·R_inj) + offset_k − V_MID') / R_inj' for a requested
  current i -- a small current even at rest (i = 0);
* node j is read by ADC channel j: code of gain_j·(V_MID' + v_j) + offset_j, reported (as the host
  does) as code·LSB − V_MID;
* hidden node j's diode: the card's I_S · exp(−diode_vf[j] / (N·V_t)), a forward-voltage shift
  of diode_vf[j] at every current.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from ..boards.tolerances import dac_channel_index
from ..host import diode_model as dm
from ..boards.frontend import afe_of_network

__all__ = ["BuiltBoard"]


class BuiltBoard:
    """One built board of a front-end network's AFE with deviations `dev` (see the module doc)."""

    def __init__(self, network, dev):
        self.afe = afe = afe_of_network(network)
        self.network = network
        self.dev = dev
        self.m = afe.n_pots
        chips = np.arange(self.m) // afe.pot.wipers
        rh = afe.rheostat
        self._r_ab = rh.r_ab * np.asarray(dev["r_ab"], dtype=float)[chips]
        self._r_w = np.asarray(dev["r_w"], dtype=float)[:self.m]
        self._steps = 2 ** rh.bits
        lines = afe.input_lines
        self._line_ch = np.array([dac_channel_index(afe, ln) for ln in lines])
        self._pert_ch = np.array([dac_channel_index(afe, ln) for ln in afe.pert_lines()])
        self._fixed = network.conductance[self.m:] / np.asarray(dev["r_fixed"], dtype=float)
        self._r_inj_nominal = afe.r_inject
        n_fixed_leak = afe.n_neurons
        self._r_inj = afe.r_inject * np.asarray(dev["r_fixed"], dtype=float)[n_fixed_leak:]

    # --- conductances -------------------------------------------------------------------------
    def codes(self, g_tunable):
        """The codes the host programs for tunable conductances (the nominal map)."""
        rh = self.afe.rheostat
        g = np.asarray(g_tunable, dtype=float)
        with np.errstate(divide="ignore"):
            r = np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), np.inf)
        code = np.rint((r - rh.r_w) / rh.r_ab * self._steps)
        return np.clip(code, 0, rh.code_max).astype(np.int64)

    def conductance(self, g, quantize=True):
        """The built board's conductances for the model's g (every edge, siemens).  quantize:
        through the codes (as programmed); False: the continuous map R' = R_W' + (1/g − R_W)·k
        (what the codes approximate; differentiable, for tolerance-aware training)."""
        g = np.asarray(g, dtype=float)
        out = np.empty_like(g)
        if quantize:
            r = self._r_w + self.codes(g[:self.m]) / self._steps * self._r_ab
        else:
            rh = self.afe.rheostat
            r = self._r_w + (1.0 / g[:self.m] - rh.r_w) * (self._r_ab / rh.r_ab)
        out[:self.m] = 1.0 / r
        out[self.m:] = self._fixed
        return out

    def conductance_slope(self, g):
        """d g' / d g of the continuous map, per tunable edge (the fixed edges' slope is 0)."""
        g = np.asarray(g, dtype=float)
        gp = self.conductance(g, quantize=False)
        k = self._r_ab / self.afe.rheostat.r_ab
        out = np.zeros_like(g)
        out[:self.m] = k * gp[:self.m] ** 2 / g[:self.m] ** 2
        return out

    def network_of(self, g, quantize=True):
        """A copy of the network carrying the built board's conductances (ranges widened to
        hold them)."""
        gp = self.conductance(g, quantize)
        net = copy.copy(self.network)
        net.conductance = gp
        net.g_min = np.minimum(self.network.g_min, gp)
        net.g_max = np.maximum(self.network.g_max, gp)
        return net

    # --- converters ---------------------------------------------------------------------------
    def dac_quantizer(self):
        from dataclasses import replace
        return replace(self.afe.dac_converter.referred(self.afe.v_mid), clip=True)

    def adc_quantizer(self):
        return self.afe.adc_converter.referred(self.afe.v_mid)

    def sources(self, u, quantize=True):
        """Circuit source voltages (around V_MID') for the model's source voltages u."""
        u = np.asarray(u, dtype=float)
        if quantize:
            u = self.dac_quantizer()(u)
        vm = self.afe.v_mid
        gain = np.asarray(self.dev["dac_gain"])[self._line_ch]
        off = np.asarray(self.dev["dac_offset"])[self._line_ch]
        return gain * (vm + u) + off - vm - self.dev["v_mid"]

    def source_slope(self):
        """d u' / d u per source line (the DAC gains)."""
        return np.asarray(self.dev["dac_gain"])[self._line_ch]

    def injection(self, inject, batch):
        """Currents into the neurons for requested perturbation currents (batch, n) or None."""
        a = self.afe
        n = a.n_neurons
        i = np.zeros((batch, n)) if inject is None else np.broadcast_to(np.asarray(inject, float), (batch, n))
        out = np.array(i, dtype=float)
        vm = a.v_mid
        gain = np.asarray(self.dev["dac_gain"])[self._pert_ch]
        off = np.asarray(self.dev["dac_offset"])[self._pert_ch]
        ys = slice(a.n_hidden, n)
        v_dac = vm + out[:, ys] * self._r_inj_nominal
        out[:, ys] = (gain * v_dac + off - vm - self.dev["v_mid"]) / self._r_inj
        return out

    def readings(self, v, quantize=True):
        """What the host reads (volts around the nominal V_MID) for circuit node voltages v."""
        v = np.asarray(v, dtype=float)
        n = self.afe.n_neurons
        vm = self.afe.v_mid
        gain = np.asarray(self.dev["adc_gain"])[:n]
        off = np.asarray(self.dev["adc_offset"])[:n]
        r = gain * (vm + self.dev["v_mid"] + v) + off - vm
        if quantize:
            ok = np.isfinite(r)
            out = np.full_like(r, np.nan)
            out[ok] = self.adc_quantizer()(r[ok])
            return out
        return r

    def reading_slope(self):
        """d reading / d v per node (the ADC gains)."""
        return np.asarray(self.dev["adc_gain"])[:self.afe.n_neurons]

    # --- diodes -------------------------------------------------------------------------------
    def _vf_scale(self, card):
        """Per hidden diode, the factor on I_S that shifts `card`'s forward voltage by this board's
        ΔV_F at a given current: I_S·exp(−ΔV_F / (N·V_T))."""
        vte = card.N * dm.thermal_voltage(dm.DEFAULT_TEMP)
        return np.exp(-np.asarray(self.dev["diode_vf"], dtype=float) / vte)

    def diode_cards(self, card):
        """One card per neuron (None for the outputs): `card` with this board's V_F shift."""
        from .devices import diode_card
        card = diode_card(card)
        out = [None] * self.afe.n_neurons
        for j, k in enumerate(self._vf_scale(card)):
            out[j] = replace(card, name=f"{card.name}_{j}", IS=card.IS * float(k))
        return out

    def saturation_currents(self, card):
        """Per-node saturation currents of `card` with this board's shifts (hidden nodes; the
        outputs carry no diode and keep the nominal value)."""
        from .devices import diode_card
        card = diode_card(card)
        i_s = np.full(self.afe.n_neurons, card.saturation_current())
        i_s[:self.afe.n_hidden] *= self._vf_scale(card)
        return i_s

    def reference_element(self, card):
        """The host element of this board's diodes (`card` with each node's V_F shift, behind the
        card's series resistance) as ngspice evaluates them, for the reference solver."""
        from .devices import NgspiceJunction, SeriesJunction, diode_card
        card = diode_card(card)
        junction = NgspiceJunction(self.saturation_currents(card), card.N, dm.DEFAULT_TEMP, dm.DEFAULT_GMIN)
        return SeriesJunction(junction, card.RS) if card.RS > 0 else junction


class BuiltBoardArray:
    """A built board measured in ngspice, seen as the host sees it (measure-only seam view):
    `measure(u, inject)` takes the host's source voltages and perturbation currents, returns the
    ADC readings (`BuiltBoard.readings`) with the host's u.  `network` is the model (what the host
    believes); the circuit carries the board's parts (`BuiltBoard`), its diodes their own cards."""

    name = "built board"

    def __init__(self, network, dev, *, engine=None, adc=True):
        from .spice_backend import SpiceBackend
        self.board = BuiltBoard(network, dev)
        self.network = network
        afe = self.board.afe
        self.adc = self.board.adc_quantizer() if adc else None
        cards = None if afe.diode == "ideal" else self.board.diode_cards(afe.diode)
        self.spice = SpiceBackend(self.board.network_of(network.conductance), diode=afe.diode,
                                  parts=False, diodes=cards, engine=engine)

    def measure(self, u, inject=None):
        from ..host.seam import Measurement
        u = np.atleast_2d(np.asarray(u, dtype=float))
        u_host = self.board.dac_quantizer()(u)
        meas = self.spice.measure(self.board.sources(u_host, quantize=False),
                                  inject=self.board.injection(inject, len(u)))
        v = self.board.readings(meas.v, quantize=self.adc is not None)
        return Measurement(v, u_host, meas.ok, meas.state)

    def close(self):
        self.spice.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
