"""The front-end's converter codes of model quantities, nominal or calibrated (docs/hardware.md).

Voltages of the model are referred to V_MID = V_REF / 2 (`boards.afe.AFE`):

* a source voltage u goes out as the DAC code of V_MID + u (`AFE.dac_converter`, clipped to the
  DAC's range and counted);
* an injected current i into output y is its perturbation line at `AFE.injection_line(i)` =
  V_MID + i·R_inj, quantized to the DAC; the current realized is `AFE.injection_current` of the
  quantized line (a step outside the DAC's range is not realizable);
* a node reads as ADC sum / 2^k · LSB − V_MID (`AFE.adc_converter`, k = oversampling);
* a conductance is the nearest rheostat code in resistance (`boards.parts.Rheostat`); the
  slowest conductances a code set can be on a board bound the settle time (`AFE.settle_time`).

With a calibration (`analog.calibration.Calibration`) the same maps go through each converter
channel's measured gain and offset and each rheostat's measured R_W and R_AB.
"""

import numpy as np

__all__ = ["FrontEndCodes"]


class FrontEndCodes:
    def __init__(self, afe, calibration=None):
        self.afe = a = afe
        self.calibration = calibration
        self.dac = a.dac_converter             # physical volts 0 .. V_REF
        self.adc = a.adc_converter
        self.v_mid = a.v_mid
        self.rheostat = a.rheostat
        self.line_k = np.array([d * a.dac.channels + c for d, c in map(a.line_dac, a.input_lines)])
        self.pert_k = np.array([a.dac.channels + c for c in a.pert_dac_channels])
        rest = (np.full(len(self.pert_k), self.v_mid))
        self.rest_codes = [int(c) for c in self._dac(self.pert_k, rest, clip=True)]

    # --- DAC --------------------------------------------------------------------------------------
    def _dac(self, k, volts, clip=False):
        """Nearest DAC codes (floats, unclipped unless `clip`) of physical volts on channels k."""
        c = self.dac.nearest(volts) if self.calibration is None else self.calibration.dac_code(k, volts)
        return np.clip(c, 0, self.dac.code_max) if clip else c

    def _dac_volts(self, k, codes):
        return self.dac.volts(codes) if self.calibration is None else self.calibration.dac_volts(k, codes)

    def line_codes(self, u):
        """(DAC codes of model voltages u, number clipped to the DAC's range)."""
        u = np.asarray(u, dtype=float)
        if not np.all(np.isfinite(u)):
            raise ValueError("source voltages must be finite")
        c = self._dac(self.line_k, u + self.v_mid)
        clipped = int(np.sum(~self.dac.in_range(c)))
        return np.clip(c, 0, self.dac.code_max).astype(np.int64), clipped

    def line_volts(self, codes):
        """Model voltages (around V_MID) the lines carry for DAC codes."""
        return self._dac_volts(self.line_k, codes) - self.v_mid

    def perturbation_codes(self, inject):
        """Perturbed-phase codes of currents into the outputs (batch, n_outputs) ->
        (codes, realizable per sample, realized currents)."""
        a = self.afe
        inj = np.asarray(inject, dtype=float)
        k = self.pert_k[:inj.shape[1]]
        c = self._dac(k, a.injection_line(inj))
        realizable = np.all(self.dac.in_range(c), axis=1)
        c = np.clip(c, 0, self.dac.code_max).astype(np.int64)
        return c, realizable, a.injection_current(self._dac_volts(k, c))

    def pad(self, codes):
        """One code per perturbation channel the sequencer drives (rest codes for the others)."""
        n = len(self.rest_codes)
        return (list(codes) + self.rest_codes[len(codes):n])[:n]

    # --- ADC --------------------------------------------------------------------------------------
    def full_scale(self, oversample_log2):
        """ADC sum of a saturated channel."""
        return self.adc.code_max * 2 ** oversample_log2

    def node_volts(self, sums, oversample_log2, raw=False):
        """Model node voltages (around V_MID) of ADC sums (samples, n_adc); `raw`: code·LSB
        without the calibration, not referred."""
        readings = np.asarray(sums, dtype=float) * (self.adc.lsb / 2 ** oversample_log2)
        if raw:
            return readings
        if self.calibration is not None:
            readings = self.calibration.adc_volts(np.arange(readings.shape[-1]), readings)
        return readings - self.v_mid

    # --- rheostats --------------------------------------------------------------------------------
    def rheostat_codes(self, g):
        """Codes of tunable conductances (siemens)."""
        if self.calibration is not None:
            return np.asarray(self.calibration.codes_for_conductance(g), dtype=np.int64)
        return np.array([self.rheostat.code_for_conductance(x) for x in g], dtype=np.int64)

    def slowest_conductance(self, codes):
        """The lowest conductances the codes can realize on this board: the measured ones when
        calibrated, else the part's highest R_AB (tolerance) and R_W (`MCP4351.r_w_range`) --
        what bounds the array's settling from above (`AFE.settle_time`)."""
        if self.calibration is not None:
            return self.rheostat_conductance(codes)
        pot = self.afe.pot
        slow = self.rheostat.deviated(1 + pot.r_ab_tolerance, max(pot.r_w_range))
        return np.asarray(slow.conductance(np.asarray(codes)), dtype=float)

    def rheostat_conductance(self, codes):
        """Conductances the codes realize."""
        if self.calibration is not None:
            return np.asarray(self.calibration.realized(codes), dtype=float)
        return np.asarray(self.rheostat.conductance(np.asarray(codes)), dtype=float)
