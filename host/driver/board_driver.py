"""`BoardDriver`: the `board` fidelity of the measurement seam, a controller over any pyserial URL.

`BoardDriver(network, url)` talks the controller protocol (`diodenet.hdl.protocol`,
docs/hardware.md) to a real board (``/dev/ttyUSB1``) or to the co-simulated one
(``socket://127.0.0.1:PORT``, `diodenet.sim`), for a network built from the board's analog
front-end (`boards.frontend.frontend_network`; the model records its `AFE`):

* connect: HELLO and CAPS; the capability reply must match the model's front-end (sizes and analog
  constants: R_leak, R_inj, V_REF, the rheostat's R_AB and R_W), else `BoardError` naming the
  constant and both values;
* `program(g)`: every tunable conductance -> its rheostat code (`codes.FrontEndCodes`); the codes
  that changed go out in POT_PROGRAM requests (runs of consecutive rheostats; the controller writes
  each, reads it back and answers ERR_VERIFY naming the first mismatch).  Returns the realized
  conductances.
* `measure(u, inject=None)`: one batch on the sequencer.  Without `inject` a forward-only batch
  (one settle per sample); with it, both phases of every sample -- the forward settle and the
  settle with sample s's own perturbation codes -- and the `Measurement` carries both (`v` the
  perturbed phase, `forward` the same batch's forward phase: same codes, same drift).  The
  perturbation `inject` (currents into the output nodes) is realized by the AFE's injection
  resistors (`AFE.injection_line`); a sample whose step leaves the DAC range is not ok (all of
  them: `PerturbationRangeError`); the realized currents are in `last_inject`.  Injection into
  hidden nodes is refused.  The bias lines are DAC1 channels written when they change.
* `calibration` (an `analog.calibration.Calibration` or its JSON file, from `diodenet calibrate`):
  checked against the board's CAPS and the model's front-end, then used for every code and reading.
  `write_codes` and `measure_codes` (raw codes in, raw readings out) are what calibration uses.

A measurement is never filled in: failed samples are marked in `Measurement.ok` and hold NaN
(link robustness: `client.SerialClient`, `batches.BatchRunner`).
"""

import math

import numpy as np

from ..seam import Measurement
from .batches import BatchRunner
from .client import BoardError, SerialClient, _protocol
from .codes import FrontEndCodes

__all__ = ["BoardDriver", "PerturbationRangeError", "board_frontend"]


class PerturbationRangeError(ValueError):
    """Injected currents the AFE's perturbation DACs cannot realize."""


def board_frontend(url, n_outputs, *, timeout=2.0, retries=4, baudrate=1_000_000):
    """The analog front-end of the board at `url`, from its capability reply: its size (ADC
    channels = neurons, DAC0 input channels = 2 × features) and analog constants, with
    `n_outputs` of its neurons as outputs."""
    from dataclasses import replace

    from ...boards.afe import AFE
    client = SerialClient(url, baudrate=baudrate, timeout=timeout, retries=retries)
    try:
        caps = client.handshake()
    finally:
        client.close()
    if caps.n_adc <= n_outputs:
        raise BoardError(f"{url}: the board has {caps.n_adc} neurons, too few for {n_outputs} outputs")
    consts = {k: getattr(caps, k) for k in ("r_leak", "r_inject") if getattr(caps, k, 0)}
    if getattr(caps, "v_ref_mv", 0):
        consts["v_ref"] = caps.v_ref_mv / 1000
    try:
        afe = AFE(n_hidden=caps.n_adc - n_outputs, n_outputs=n_outputs, n_inputs=caps.n_dac_inputs // 2)
        return replace(afe, **{k: float(v) for k, v in consts.items()})
    except ValueError as exc:
        raise BoardError(f"{url}: the board reports a front-end this driver cannot use ({exc})") from None


class BoardDriver:
    """`seam.MeasurementBackend` on a controller at a pyserial URL.  See the module doc.

    options: settle_time (seconds after each DAC update before converting; default: what the
    programmed array needs, `AFE.settle_time` of the slowest conductances its codes can be on
    this board), oversample_log2 (0..3, default 0), timeout (seconds per
    reply), retries, batch_retries, baudrate (real serial ports), calibration."""

    name = "board"

    def __init__(self, network, url, *, settle_time=None, oversample_log2=0, timeout=2.0,
                 retries=4, batch_retries=3, baudrate=1_000_000, calibration=None):
        from ...boards.frontend import afe_of_network
        self.afe = afe_of_network(network)
        self.url = url
        self.m_tunable = self.afe.n_pots
        self.v_mid = self.afe.v_mid
        self.resolution = self.afe.adc_lsb
        if not 0 <= oversample_log2 <= 3:
            raise ValueError("oversample_log2 must be 0..3")
        self.oversample_log2 = int(oversample_log2)
        self.failures = 0
        self.clipped = 0                # source voltages clipped to the DACs' range
        self.last_errors = []
        self.last_inject = None
        self.codes = None               # rheostat codes on the board (-1: unknown)
        self._bias_codes = None
        self.conv = FrontEndCodes(self.afe)
        # POT_PROGRAM's rheostat index (chip * wipers + wiper) of every tunable edge
        self._pot_index = np.array([chip * self.afe.pot.wipers + wiper for chip, wiper in
                                    map(self.afe.pot_location, range(self.m_tunable))])
        self.settle_fixed = None if settle_time is None else float(settle_time)
        settle_time = self.afe.settle_time() if settle_time is None else float(settle_time)
        self.client = SerialClient(url, baudrate=baudrate, timeout=timeout, retries=retries)
        try:
            self._connect(settle_time, batch_retries)
            if calibration is not None:
                self._use_calibration(calibration)
            self.network = network
            self.program(network.conductance)
        except BaseException:
            self.client.close()
            raise

    @property
    def calibration(self):
        return self.conv.calibration

    @property
    def max_inject(self):
        """Largest perturbation current (amperes) the injection DACs apply around V_MID, with a
        10 % margin; hardware linearization keeps its perturbation below it."""
        return 0.9 * self.v_mid / self.afe.r_inject

    # --- setup --------------------------------------------------------------------------------
    def _connect(self, settle_time, batch_retries):
        P = _protocol()
        client = self.client
        caps = self.caps = client.handshake()
        a = self.afe
        want = {"n_pot_chips": a.n_pot_chips, "n_dac_inputs": a.n_dac_inputs, "n_adc": a.n_adc,
                "pot_bits": a.pot.bits, "dac_bits": a.dac.bits, "adc_bits": a.adc.bits}
        want.update(a.analog_constants())
        bad = [f"{k}: board {getattr(caps, k)}, model {v}" for k, v in want.items()
               if getattr(caps, k, 0) not in (0, v)]
        if bad:
            raise BoardError(f"{self.url}: the board's analog front-end differs from the model's "
                             f"({'; '.join(bad)}); train for this board (diodenet train --backend "
                             "board) or load a model made for it")
        self.clock_hz = caps.clock_hz
        self._set_settle(settle_time)
        self.batches = BatchRunner(client, a.n_adc, caps.sample_depth, batch_retries=batch_retries)
        # the DACs' VREFIN comes from the board's 2.5 V reference: their internal references stay
        # off (off at power-up, AD5628 data sheet "Internal Reference")
        if client.status().busy:
            client.request(P.Cmd.ABORT)
            client.wait_idle()

    def _use_calibration(self, calibration):
        """Check a calibration (an `analog.calibration.Calibration` or its file) against this board
        and front-end, then use it for codes, line voltages and readings."""
        from ...analog.calibration import Calibration, check_calibration, load_calibration
        cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
        check_calibration(cal, self.caps, self.afe, where=f"the board at {self.url}")
        self.conv = FrontEndCodes(self.afe, cal)

    def _set_settle(self, seconds):
        self.settle_clocks = max(1, math.ceil(seconds * self.clock_hz))
        if self.settle_clocks > 0xFFFF:
            raise ValueError(f"settle_time {seconds} s is longer than the sequencer's 16-bit counter")

    # --- the seam -----------------------------------------------------------------------------
    def program(self, conductance):
        g = np.asarray(conductance, dtype=float).reshape(-1)
        net = self.network
        if g.shape != (net.n_edges,):
            raise ValueError(f"program needs {net.n_edges} conductances, got {g.size}")
        if not np.all(np.isfinite(g)) or np.any(g < 0):
            raise ValueError("conductances must be finite and ≥ 0 siemens")
        g = np.clip(g, net.g_min, net.g_max)
        m = self.m_tunable
        codes = self.conv.rheostat_codes(g[:m])
        self.write_codes(codes)
        if self.settle_fixed is None:       # as long as the programmed array needs, not longer
            self._set_settle(self.afe.settle_time(self.conv.slowest_conductance(codes)))
        realized = g.copy()
        realized[:m] = self.conv.rheostat_conductance(codes)
        realized[m:] = net.g_min[m:]
        self.network = net.with_realized(realized)
        return realized

    def write_codes(self, codes, *, max_gap=3):
        """Write rheostat codes (one per tunable edge, potentiometer order), only the changed
        ones: POT_PROGRAM per run of consecutive rheostats (runs closer than `max_gap` unchanged
        codes are merged: cheaper than another request)."""
        P = _protocol()
        m = self.m_tunable
        codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        code_max = self.afe.rheostat.code_max
        if codes.shape != (m,) or codes.min() < 0 or codes.max() > code_max:
            raise ValueError(f"write_codes needs {m} codes in 0..{code_max}")
        if self.codes is None:
            self.codes = np.full(m, -1, dtype=np.int64)
        index = self._pot_index
        changed = np.flatnonzero(codes != self.codes)
        runs = []
        for e in changed:
            if runs and e - runs[-1][1] <= max_gap + 1 and index[e] - index[runs[-1][1]] == e - runs[-1][1] \
                    and e - runs[-1][0] < P.POT_PROGRAM_MAX:
                runs[-1][1] = e
            else:
                runs.append([e, e])
        for a, b in runs:
            chip, wiper = divmod(int(index[a]), self.afe.pot.wipers)
            what = f"POT_PROGRAM (rheostats {a}..{b}: chip {chip} wiper {wiper} on)"
            self.codes[a:b + 1] = -1                     # unknown until the controller confirms
            self.client.request(P.Cmd.POT_PROGRAM, P.pot_program_args(int(index[a]), codes[a:b + 1]),
                                what=what)
            self.codes[a:b + 1] = codes[a:b + 1]

    def measure(self, u, inject=None):
        net = self.network
        u = net._check_u(u)
        batch, n = len(u), net.n_neurons
        codes, clipped = self.conv.line_codes(u)
        self.clipped += clipped
        u_applied = self.conv.line_volts(codes)
        self.last_errors = []
        a = self.afe
        if inject is None:
            pert = np.zeros((batch, 0), dtype=np.int64)
            realizable = np.ones(batch, dtype=bool)
        else:
            inj = np.broadcast_to(np.asarray(inject, dtype=float), (batch, n))
            if not np.all(np.isfinite(inj)):
                raise ValueError("injected currents must be finite")
            if np.any(inj[:, :a.n_hidden] != 0):
                raise ValueError("the AFE injects current only into its output nodes (perturbation "
                                 "DAC -> R_inj); got a nonzero current into a hidden neuron")
            pert, realizable, realized = self.conv.perturbation_codes(inj[:, a.n_hidden:])
            self.last_inject = np.zeros((batch, n))
            self.last_inject[:, a.n_hidden:] = realized
            for s in np.flatnonzero(~realizable):
                self.last_errors.append(f"sample {s}: perturbation outside the DAC range")
            if not realizable.any() and batch:
                raise PerturbationRangeError(
                    f"{self.url}: none of the {batch} perturbations fits the perturbation DACs: a "
                    f"current i needs a DAC step i·R_inj (R_inj = {a.r_inject:g} ohm) within "
                    f"±{self.v_mid:g} V around V_MID; use a smaller epsilon")
        fwd, per, ok = self._measure_codes(codes, pert, realizable, forward_only=inject is None)
        self.failures += int((~ok).sum())
        fwd = self.conv.node_volts(fwd, self.oversample_log2)
        if inject is None:
            return Measurement(fwd, u_applied, ok, None)
        return Measurement(self.conv.node_volts(per, self.oversample_log2), u_applied, ok, None,
                           forward=fwd)

    def measure_codes(self, input_codes, bias_codes, pert_codes):
        """Raw measurement for calibration: per sample, DAC0 codes of the input lines and the
        perturbation channels' perturbed-phase codes, with the bias lines at `bias_codes`.
        Returns (forward, perturbed) readings, (samples, n_adc) arrays of ADC code·LSB volts
        (uncalibrated; NaN where a sample failed)."""
        input_codes = np.asarray(input_codes, dtype=np.int64)
        pert_codes = np.asarray(pert_codes, dtype=np.int64)
        top = self.conv.dac.code_max
        bias_codes = [int(c) for c in bias_codes]
        for name, c in (("input", input_codes), ("bias", np.asarray(bias_codes)), ("perturbation", pert_codes)):
            if c.size and (c.min() < 0 or c.max() > top):
                raise ValueError(f"{name} DAC codes must be in 0..{top}")
        self.last_errors = []
        k_in = self.afe.n_dac_inputs
        codes = np.concatenate([input_codes[:, :k_in], np.tile(bias_codes, (len(input_codes), 1))], axis=1)
        fwd, per, _ = self._measure_codes(codes, pert_codes, np.ones(len(codes), dtype=bool))
        return (self.conv.node_volts(fwd, self.oversample_log2, raw=True),
                self.conv.node_volts(per, self.oversample_log2, raw=True))

    def close(self):
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- batches ------------------------------------------------------------------------------
    def _measure_codes(self, codes, pert, realizable, forward_only=False):
        """ADC sums of samples (rows of line codes: DAC0 inputs then the bias lines; rows of
        perturbed-phase codes): (forward, perturbed or None, ok), one batch per bias setting."""
        P = _protocol()
        batch = len(codes)
        k_in = self.afe.n_dac_inputs
        n_adc = self.afe.n_adc
        fwd = np.full((batch, n_adc), np.nan)
        per = None if forward_only else np.full((batch, n_adc), np.nan)
        ok = np.zeros(batch, dtype=bool)
        self.batches.configure(P.SeqConfig(self.settle_clocks, self.oversample_log2,
                                           tuple(self.conv.pad([]))))
        full = self.conv.full_scale(self.oversample_log2)
        bias = [tuple(int(c) for c in row) for row in codes[:, k_in:k_in + 2]]
        for key in sorted(set(bias)):
            rows = np.array([s for s in range(batch) if bias[s] == key and realizable[s]], dtype=np.int64)
            if not len(rows):
                continue
            self._set_bias(key)
            words = np.concatenate([codes[rows, :k_in],
                                    np.array([self.conv.pad(p) for p in pert[rows]], dtype=np.int64)
                                    .reshape(len(rows), -1)], axis=1)
            f, p, errors = self.batches.run(words, forward_only)
            for i, s in enumerate(rows):
                sums = f[i] if p is None else np.concatenate([f[i], p[i]])
                if i in errors:
                    self.last_errors.append(f"sample {s}: {errors[i]}")
                elif np.any(sums >= full):
                    self.last_errors.append(f"sample {s}: ADC saturated (a node at or above "
                                            f"{self.afe.v_ref} V)")
                elif np.all(np.isfinite(sums)):
                    fwd[s] = f[i]
                    if per is not None:
                        per[s] = p[i]
                    ok[s] = True
        return fwd, per, ok

    def _set_bias(self, codes):
        P = _protocol()
        if codes != self._bias_codes:
            for ch, code in zip(self.afe.bias_dac_channels, codes):
                self.client.request(P.Cmd.DAC_WRITE, bytes([1, ch]) + int(code).to_bytes(2, "big"),
                                    what=f"DAC_WRITE (bias line, DAC1 channel {ch})")
            self._bias_codes = codes
