"""The `board` fidelity of the measurement seam: the controller over any pyserial URL.

`BoardBackend(network, url)` talks the controller protocol (`diodenet.hdl.protocol`, docs/hardware.md)
to a real board (``/dev/ttyUSB1``) or to the co-simulated one (``socket://127.0.0.1:PORT``,
`diodenet.sim`), and implements `seam.MeasurementBackend` for a network built from the board's
analog front-end (`host.frontend.frontend_network`; the model records its `AFE`):

* the driver checks the controller's capability reply against the model's front-end (sizes and
  analog constants: R_leak, R_inj, V_REF, the rheostat's R_AB and R_W) and refuses a board that
  differs, naming the constant and both values;
* voltages are referred to V_MID = V_REF / 2: a model source voltage u goes out as the DAC code of
  V_MID + u (clipped to the DAC's range and counted in `clipped`), a node is read as ADC code·LSB −
  V_MID;
* `program(g)`: every tunable conductance -> the nearest MCP4351 code in resistance
  (`boards.parts.Rheostat`, the one map), written with POT_WRITE (the controller reads every write
  back and reports ERR_VERIFY on a mismatch; the driver checks the echoed code too); only codes that
  changed are written.  Returns the realized conductances.
* `calibration` (a `host.calibration.Calibration` or its JSON file, from `diodenet calibrate`):
  checked against the board's CAPS and the model's front-end (refused, naming both, when it was
  measured elsewhere; a warning when stale); then codes are chosen from each rheostat's measured
  R_W and R_AB, line and perturbation voltages go out through the calibrated DAC channels,
  readings come back through the calibrated ADC channels, and the calibrated conductances,
  applied voltages and injected currents are what `program`, `measure` and `last_inject` report.
  `write_codes` and `measure_codes` (raw codes in, raw readings out) are what calibration uses.
* `measure(u, inject=None)`: samples go to the controller's sample memory (LOAD_SAMPLES: each
  sample's input-line codes and its own perturbed-phase codes) and one RUN_BATCH measures them;
  node voltages = ADC sums / 2^k · LSB − V_MID.  The bias lines are DAC1 channels written when
  they change.
* the perturbation `inject` (currents into the output nodes) is realized by the AFE's injection
  resistors: perturbation DAC channel k drives R_inj into output y_k and rests at V_MID (mid-scale)
  during a forward settle, so the network holds R_inj as a fixed resistor to the reference and a
  current i_k is a DAC step ΔV_k = i_k · R_inj.  The step is quantized to the DAC's LSB (the
  realized currents are in `last_inject`); a sample whose step leaves the DAC range is marked not
  ok (all of them: PerturbationRangeError).  Injection into hidden nodes is refused.

Link robustness: every request carries a fresh sequence number; replies are matched on (seq, cmd);
frames that fail COBS/CRC are discarded (the next 0x00 resynchronizes); a request that times out or
gets a frame-level error reply (CRC, FRAMING, TOO_SHORT, TOO_LONG) is resent, up to `retries`
times.  A batch whose reply or result frames go missing, arrive out of order or carry error flags
is aborted (ABORT, then STATUS until idle) and rerun.  When retries run out a `BoardError` names
the command, the URL and every problem seen.  A measurement is never filled in: failed samples
are marked in `Measurement.ok` and hold NaN.
"""

import math
import struct
import time

import numpy as np

from ..boards.parts import AD5628, AD7928
from ..hdl import protocol as P
from .frontend import afe_of_network
from .seam import Measurement

__all__ = ["BoardBackend", "BoardError", "BoardTimeout", "PerturbationRangeError"]


class BoardError(RuntimeError):
    """The board did not do what was asked (after retries); the message says what and where."""


class BoardTimeout(BoardError):
    pass


class PerturbationRangeError(ValueError):
    """Injected currents the AFE's perturbation DACs cannot realize."""


# --- the link ---------------------------------------------------------------------------------

class Link:
    """Stop-and-wait request/reply over a pyserial port, with resynchronization and retries."""

    def __init__(self, url, *, baudrate=1_000_000, timeout=2.0, retries=4, log=None):
        import serial
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.02)
        except Exception as exc:  # pyserial raises SerialException / ValueError / OSError
            raise BoardError(f"cannot open the board at {url}: {exc}") from None
        self.seq = 0
        self.buf = bytearray()
        self.results = []           # RESULT bodies received
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "bad_frames": 0,
                      "stale_replies": 0, "error_replies": 0}
        self.log = log

    def close(self):
        try:
            self.port.close()
        except Exception:
            pass

    def handshake(self):
        """HELLO (the protocol version must be this driver's) then CAPS: the controller's `Caps`."""
        self.drain(0.02)
        hello = self.request(P.Cmd.HELLO).data
        if not hello or hello[0] != P.PROTOCOL_VERSION:
            raise BoardError(f"{self.url}: the controller speaks protocol {hello[:1].hex() or '?'}, "
                             f"this driver protocol {P.PROTOCOL_VERSION}")
        data = self.request(P.Cmd.CAPS).data
        try:
            return P.Caps.unpack(data)
        except (struct.error, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise BoardError(f"{self.url}: the controller's capability reply is malformed ({exc}; "
                             f"{len(data)} bytes)") from None

    def _next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def drain(self, quiet=0.05):
        """Discard input until the line has been quiet for `quiet` seconds (max 1 s)."""
        end = time.monotonic() + 1.0
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            data = self.port.read(4096)
            if data:
                last = time.monotonic()
        self.buf.clear()
        self.results.clear()

    def read_frame(self, deadline):
        """The next frame body that decodes (COBS + CRC), or None at the deadline."""
        while True:
            i = self.buf.find(0)
            while i >= 0:
                wire = bytes(self.buf[:i])
                del self.buf[:i + 1]
                if wire:
                    try:
                        return P.decode_frame(wire)
                    except P.FrameError:
                        self.stats["bad_frames"] += 1
                i = self.buf.find(0)
            if time.monotonic() >= deadline:
                return None
            data = self.port.read(max(1, self.port.in_waiting or 1))
            if data:
                self.buf += data

    def request(self, cmd, args=b"", *, retries=None, timeout=None, what=None):
        """Send a request, return the reply (status OK) or raise BoardError."""
        retries = self.retries if retries is None else retries
        timeout = self.timeout if timeout is None else timeout
        what = what or P.Cmd(cmd).name
        problems = []
        for attempt in range(retries + 1):
            if attempt:
                self.stats["retries"] += 1
            seq = self._next_seq()
            # on a retry, a leading delimiter ends whatever partial frame a lost 0x00 left in the
            # controller's receiver (it answers that fragment with an error, which we discard);
            # an empty frame gets no reply
            self.port.write((b"\x00" if attempt else b"") + P.request(seq, cmd, args))
            self.stats["requests"] += 1
            deadline = time.monotonic() + timeout
            while True:
                body = self.read_frame(deadline)
                if body is None:
                    self.stats["timeouts"] += 1
                    problems.append(f"no reply within {timeout:g} s")
                    break
                if len(body) >= 2 and body[1] == P.Cmd.RESULT:
                    self.results.append(body)
                    continue
                try:
                    reply = P.parse_reply(body)
                except P.FrameError:
                    self.stats["bad_frames"] += 1
                    continue
                if reply.seq != seq or reply.cmd != int(cmd):
                    if reply.seq == seq and reply.status in P.FRAME_ERRORS:
                        pass            # our request arrived damaged: its cmd byte may be wrong
                    else:
                        self.stats["stale_replies"] += 1
                        continue
                if reply.status == P.Status.OK:
                    return reply
                self.stats["error_replies"] += 1
                name = _status_name(reply.status)
                if reply.status in P.FRAME_ERRORS:
                    problems.append(f"the controller received a damaged request ({name})")
                    break
                if reply.status == P.Status.ERR_VERIFY and attempt < retries:
                    problems.append(f"read-back verify failed (read back {reply.data.hex()})")
                    break
                raise BoardError(f"{what} at {self.url}: the controller answered {name}"
                                 + (f" (after: {'; '.join(problems)})" if problems else ""))
        raise BoardError(f"{what} at {self.url} failed after {retries + 1} attempts: "
                         + "; ".join(problems[-4:]))


def _status_name(status):
    try:
        return P.Status(status).name
    except ValueError:
        return f"status 0x{status:02x}"


def board_frontend(url, n_outputs, *, timeout=2.0, retries=4, baudrate=1_000_000):
    """The analog front-end of the board at `url`, from its capability reply: its size (ADC
    channels = neurons, DAC0 input channels = 2 × features) and analog constants, with
    `n_outputs` of its neurons as outputs."""
    from dataclasses import replace

    from ..boards.afe import AFE
    link = Link(url, baudrate=baudrate, timeout=timeout, retries=retries)
    try:
        caps = link.handshake()
    finally:
        link.close()
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


# --- the backend ------------------------------------------------------------------------------

class BoardBackend:
    """`seam.MeasurementBackend` on a controller at a pyserial URL.  See the module doc.

    options: settle_time (seconds after each DAC update before converting; default the
    front-end's `AFE.settle_time()`, derived from its RC and the DAC's settling), oversample_log2
    (0..3, default 0), timeout (seconds per reply), retries, batch_retries, baudrate (real serial
    ports)."""

    name = "board"

    def __init__(self, network, url, *, settle_time=None, oversample_log2=0, timeout=2.0,
                 retries=4, batch_retries=3, baudrate=1_000_000, calibration=None):
        self.afe = afe_of_network(network)
        self.url = url
        self.rheostat = self.afe.rheostat
        self.m_tunable = self.afe.n_pots
        self.v_mid = self.afe.v_mid
        self.dac_lsb = self.afe.dac_lsb
        self.adc_lsb = self.afe.adc_lsb
        self.resolution = self.adc_lsb
        if not 0 <= oversample_log2 <= 3:
            raise ValueError("oversample_log2 must be 0..3")
        self.oversample_log2 = int(oversample_log2)
        self.batch_retries = int(batch_retries)
        self.failures = 0
        self.clipped = 0                # source voltages clipped to the DACs' range
        self.last_errors = []
        self.last_inject = None
        self.codes = None
        self._bias_codes = None
        self._seq_config = None
        self.rest_code = int(round(self.v_mid / self.dac_lsb))    # V_MID: mid-scale
        self.calibration = None
        self._raw = False
        settle_time = self.afe.settle_time() if settle_time is None else float(settle_time)
        self.link = Link(url, baudrate=baudrate, timeout=timeout, retries=retries)
        try:
            self._connect(settle_time)
            if calibration is not None:
                self._use_calibration(calibration)
            self.network = network
            self.program(network.conductance)
        except BaseException:
            self.link.close()
            raise

    # --- setup --------------------------------------------------------------------------------
    def _connect(self, settle_time):
        link = self.link
        caps = self.caps = link.handshake()
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
        self.settle_clocks = max(1, math.ceil(settle_time * caps.clock_hz))
        if self.settle_clocks > 0xFFFF:
            raise ValueError(f"settle_time {settle_time} s is longer than the sequencer's 16-bit counter")
        # the DACs' VREFIN comes from the board's 2.5 V reference: their internal references stay
        # off (off at power-up, AD5628 data sheet "Internal Reference")
        st = P.ControllerStatus.unpack(link.request(P.Cmd.STATUS).data)
        if st.busy:
            link.request(P.Cmd.ABORT)
            self._wait_idle()

    def _wait_idle(self, limit=None):
        end = time.monotonic() + (limit or 5 * self.link.timeout)
        while time.monotonic() < end:
            st = P.ControllerStatus.unpack(self.link.request(P.Cmd.STATUS).data)
            if not st.busy:
                return
            time.sleep(0.01)
        raise BoardTimeout(f"{self.url}: the controller stayed busy after ABORT")

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
        cal = self.calibration
        if cal is not None:
            codes = cal.codes_for_conductance(g[:m])
        else:
            codes = np.array([self.rheostat.code_for_conductance(x) for x in g[:m]], dtype=np.int64)
        self.write_codes(codes)
        realized = g.copy()
        realized[:m] = (cal.realized(codes) if cal is not None
                        else [self.rheostat.conductance(int(c)) for c in codes])
        realized[m:] = net.g_min[m:]
        self.network = net.with_realized(realized)
        return realized

    def write_codes(self, codes):
        """Write rheostat codes (one per tunable edge, potentiometer order); only changed ones."""
        m = self.m_tunable
        codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        if codes.shape != (m,) or codes.min() < 0 or codes.max() > self.rheostat.code_max:
            raise ValueError(f"write_codes needs {m} codes in 0..{self.rheostat.code_max}")
        for e in range(m):
            if self.codes is not None and self.codes[e] == codes[e]:
                continue
            chip, wiper = self.afe.pot_location(e)
            what = f"POT_WRITE (edge {e}: chip {chip} wiper {wiper} code {codes[e]})"
            reply = self.link.request(P.Cmd.POT_WRITE, struct.pack(">BBH", chip, wiper, int(codes[e])),
                                      what=what)
            back = struct.unpack(">H", reply.data[:2])[0] if len(reply.data) >= 2 else None
            if back != codes[e]:
                raise BoardError(f"{what} at {self.url}: read back {back}")
            if self.codes is None:
                self.codes = np.full(m, -1, dtype=np.int64)
            self.codes[e] = codes[e]

    def measure(self, u, inject=None):
        net = self.network
        u = net._check_u(u)
        batch, n = len(u), net.n_neurons
        codes = self._dac_codes(u)
        u_applied = self._line_volts(codes) - self.v_mid
        v = np.full((batch, n), np.nan)
        ok = np.zeros(batch, dtype=bool)
        self.last_errors = []
        k_in = self.afe.n_dac_inputs
        bias = codes[:, k_in:k_in + 2]
        if inject is None:
            pert = np.full((batch, self.afe.n_outputs), self.rest_code, dtype=np.int64)
            realizable = np.ones(batch, dtype=bool)
            realized = None
        else:
            pert, realizable, realized = self._pert_codes(inject, batch, n)
            for s in np.flatnonzero(~realizable):
                self.last_errors.append(f"sample {s}: perturbation outside the DAC range")
        keys = [tuple(b) for b in bias]
        for key in sorted(set(keys)):
            rows = np.array([s for s in range(batch) if keys[s] == key and realizable[s]], dtype=np.int64)
            if not len(rows):
                continue
            self._set_bias(key)
            fwd, per = self._run(codes[rows, :k_in], pert[rows])
            got = per if inject is not None else fwd
            for i, s in enumerate(rows):
                if got[i] is not None:
                    v[s], ok[s] = got[i], True
        if inject is not None:
            self.last_inject = realized
            if not ok.any() and batch:
                raise PerturbationRangeError(
                    f"{self.url}: none of the {batch} perturbations fits the perturbation DACs: a "
                    f"current i needs a DAC step i·R_inj (R_inj = {self.afe.r_inject:g} ohm) within "
                    f"±{self.v_mid:g} V around V_MID; use a smaller epsilon")
        self.failures += int((~ok).sum())
        return Measurement(v, u_applied, ok, None)

    def close(self):
        self.link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- helpers ------------------------------------------------------------------------------
    def _use_calibration(self, calibration):
        """Check a calibration (a `host.calibration.Calibration` or its file) against this board
        and front-end, then use it for codes, line voltages and readings."""
        from .calibration import Calibration, check_calibration, load_calibration
        cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
        check_calibration(cal, self.caps, self.afe, where=f"the board at {self.url}")
        self.calibration = cal
        a = self.afe
        self._line_k = np.array([d * a.dac.channels + c for d, c in map(a.line_dac, a.input_lines)])
        self._pert_k = np.array([a.dac.channels + c for c in a.pert_dac_channels])
        top = 2 ** AD5628.bits - 1
        self.rest_codes = [int(np.clip(cal.dac_code(k, self.v_mid), 0, top)) for k in self._pert_k]

    def _line_volts(self, codes):
        """Physical line voltages of DAC codes (calibrated converters when calibrated)."""
        if self.calibration is None:
            return codes * self.dac_lsb
        return self.calibration.dac_volts(self._line_k, codes)

    def _dac_codes(self, u):
        """DAC codes of model voltages u (around V_MID), clipped to the DAC's range (counted)."""
        if not np.all(np.isfinite(u)):
            raise ValueError("source voltages must be finite")
        if self.calibration is None:
            codes = np.rint((u + self.v_mid) / self.dac_lsb)
        else:
            codes = self.calibration.dac_code(self._line_k, u + self.v_mid)
        top = 2 ** AD5628.bits - 1
        self.clipped += int(np.sum((codes < 0) | (codes > top)))
        return np.clip(codes, 0, top).astype(np.int64)

    @property
    def max_inject(self):
        """Largest perturbation current (amperes) the injection DACs apply around V_MID, with a
        10 % margin; hardware linearization keeps its perturbation below it."""
        return 0.9 * self.v_mid / self.afe.r_inject

    def _pert_codes(self, inject, batch, n):
        inj = np.broadcast_to(np.asarray(inject, dtype=float), (batch, n))
        if not np.all(np.isfinite(inj)):
            raise ValueError("injected currents must be finite")
        hidden = inj[:, :self.afe.n_hidden]
        if np.any(hidden != 0):
            raise ValueError("the AFE injects current only into its output nodes (perturbation "
                             "DAC -> R_inj); got a nonzero current into a hidden neuron")
        dv = inj[:, self.afe.n_hidden:] * self.afe.r_inject
        cal = self.calibration
        k = self._pert_k[:dv.shape[1]] if cal is not None else None
        pert = (self.rest_code + np.rint(dv / self.dac_lsb) if cal is None
                else cal.dac_code(k, self.v_mid + dv))
        top = 2 ** AD5628.bits - 1
        realizable = np.all((pert >= 0) & (pert <= top), axis=1)
        pert = np.clip(pert, 0, top).astype(np.int64)
        realized = np.zeros((batch, n))
        v_pert = (pert * self.dac_lsb if cal is None else cal.dac_volts(k, pert))
        realized[:, self.afe.n_hidden:] = (v_pert - self.v_mid) / self.afe.r_inject
        return pert, realizable, realized

    def _set_bias(self, codes):
        if codes != self._bias_codes:
            for ch, code in zip(self.afe.bias_dac_channels, codes):
                self.link.request(P.Cmd.DAC_WRITE, struct.pack(">BBH", 1, ch, int(code)),
                                  what=f"DAC_WRITE (bias line, DAC1 channel {ch})")
            self._bias_codes = codes

    def _pad(self, codes):
        """One code per perturbation channel the sequencer drives."""
        k = len(self.afe.pert_dac_channels)
        rest = getattr(self, "rest_codes", None) or [self.rest_code] * k
        c = list(codes) + rest[len(codes):k]
        return c[:k]

    def _run(self, input_codes, pert):
        """Forward and perturbed node voltages of samples (rows of DAC0 codes, rows of perturbed
        codes); None where failed."""
        rest = tuple(self._pad([]))
        cfg = P.SeqConfig(self.settle_clocks, self.oversample_log2, rest)
        if cfg != self._seq_config:
            self.link.request(P.Cmd.SEQ_CONFIG, cfg.pack())
            self._seq_config = cfg
        words = np.concatenate([input_codes, np.array([self._pad(p) for p in pert], dtype=np.int64)],
                               axis=1)
        depth = self.caps.sample_depth
        fwd, per = [], []
        for start in range(0, len(words), depth):
            f, p = self._batch(words[start:start + depth])
            fwd += f
            per += p
        return fwd, per

    def _load(self, chunk):
        """Sample s occupies words s·w .. s·w + w − 1 (w = input lines + perturbation channels)."""
        words = chunk.reshape(-1)
        per_frame = (P.MAX_REQUEST - 2 - 2 - 2) // 2
        for w0 in range(0, len(words), per_frame):
            part = words[w0:w0 + per_frame]
            self.link.request(P.Cmd.LOAD_SAMPLES, struct.pack(f">H{len(part)}H", w0, *map(int, part)),
                              what=f"LOAD_SAMPLES (words {w0}..{w0 + len(part) - 1})")

    def _batch(self, chunk):
        """Measure the loaded samples 0..len(chunk)-1.  Result frames that arrive intact are kept
        (their sample index is inside the CRC); samples whose frame was lost or damaged are
        measured again (RUN_BATCH of just those), until a round brings nothing new
        `batch_retries` times."""
        count = len(chunk)
        self._load(chunk)
        n_adc = self.afe.n_adc
        got, flagged, problems = {}, {}, []
        stalls = 0
        while len(got) < count:
            missing = [s for s in range(count) if s not in got]
            runs, start = [], missing[0]
            for a, b in zip(missing, missing[1:] + [None]):
                if b != a + 1:
                    runs.append((start, a - start + 1))
                    start = b
            progress = False
            for first, k in runs:
                results, problem = self._run_batch(first, k)
                for sample, body in results.items():
                    _, status, _, f, p = P.parse_result(body, n_adc)
                    if (status & P.RESULT_ADC_CHANNEL_MISMATCH) or any(x & 0x8000 for x in f + p):
                        flagged[sample] = flagged.get(sample, 0) + 1
                        if flagged[sample] <= self.batch_retries:
                            continue
                    got[sample] = body
                    progress = True
                if problem:
                    problems.append(problem)
                    self._recover()
            if not progress:
                stalls += 1
                if stalls > self.batch_retries:
                    raise BoardError(f"RUN_BATCH at {self.url}: {count - len(got)} of {count} samples "
                                     f"not measured after {stalls} rounds without progress: "
                                     + " | ".join(problems[-3:]))
        fwd, per = [], []
        scale = self.adc_lsb / 2 ** self.oversample_log2
        v_mid = self.v_mid
        full = (2 ** AD7928.bits - 1) * 2 ** self.oversample_log2
        for s in range(count):
            _, status, _, f, p = P.parse_result(got[s], n_adc)
            sums = np.array(f + p)
            if flagged.get(s, 0) > self.batch_retries:
                self.last_errors.append(f"sample {s}: ADC channel tag mismatch (every attempt)")
                fwd.append(None), per.append(None)
            elif np.any(sums >= full):
                self.last_errors.append(f"sample {s}: ADC saturated (a node at or above "
                                        f"{self.afe.v_ref} V)")
                fwd.append(None), per.append(None)
            else:
                fwd.append(self._node_volts(np.array(f, dtype=float) * scale) - v_mid)
                per.append(self._node_volts(np.array(p, dtype=float) * scale) - v_mid)
        return fwd, per

    def _node_volts(self, readings):
        """Physical node voltages of ADC readings (code·LSB; calibrated converters when calibrated)."""
        if self.calibration is None or self._raw:
            return readings
        return self.calibration.adc_volts(np.arange(len(readings)), readings)

    def measure_codes(self, input_codes, bias_codes, pert_codes):
        """Raw measurement for calibration: per sample, DAC0 codes of the input lines and the
        perturbation channels' perturbed-phase codes, with the bias lines at `bias_codes`.
        Returns (forward, perturbed) readings, (samples, n_adc) arrays of ADC code·LSB volts
        (uncalibrated; NaN where a sample failed)."""
        input_codes = np.asarray(input_codes, dtype=np.int64)
        pert_codes = np.asarray(pert_codes, dtype=np.int64)
        top = 2 ** AD5628.bits - 1
        for name, c in (("input", input_codes), ("bias", np.asarray(bias_codes)), ("perturbation", pert_codes)):
            if c.size and (c.min() < 0 or c.max() > top):
                raise ValueError(f"{name} DAC codes must be in 0..{top}")
        self._set_bias(tuple(int(c) for c in bias_codes))
        self._raw = True
        try:
            fwd, per = self._run(input_codes, pert_codes)
        finally:
            self._raw = False
        n_adc = self.afe.n_adc
        out = [np.array([np.full(n_adc, np.nan) if r is None else r + self.v_mid for r in x])
               for x in (fwd, per)]
        return out[0], out[1]

    def _run_batch(self, first, count):
        """One RUN_BATCH: ({sample: result body} received intact, problem or None)."""
        link = self.link
        link.results.clear()
        seq = link._next_seq()
        link.port.write(b"\x00" + P.request(seq, P.Cmd.RUN_BATCH, struct.pack(">HH", first, count)))
        link.stats["requests"] += 1
        n_adc = self.afe.n_adc
        got = {}
        deadline = time.monotonic() + link.timeout
        while True:
            body = link.results.pop(0) if link.results else link.read_frame(deadline)
            if body is None:
                link.stats["timeouts"] += 1
                return got, (f"RUN_BATCH {first}+{count}: nothing for {link.timeout:g} s "
                             f"({len(got)} results arrived)")
            if len(body) >= 2 and body[1] == P.Cmd.RESULT:
                try:
                    _, status, sample, _, _ = P.parse_result(body, n_adc)
                except P.FrameError:
                    link.stats["bad_frames"] += 1
                    continue
                if first <= sample < first + count:
                    got.setdefault(sample, body)
                deadline = time.monotonic() + link.timeout
                if status & P.RESULT_LAST:
                    return got, None           # the batch is over (lost frames are re-run)
                continue
            try:
                reply = P.parse_reply(body)
            except P.FrameError:
                link.stats["bad_frames"] += 1
                continue
            if reply.seq != seq or reply.cmd != P.Cmd.RUN_BATCH:
                if not (reply.seq == seq and reply.status in P.FRAME_ERRORS):
                    link.stats["stale_replies"] += 1
                    continue
            if reply.status == P.Status.OK:
                deadline = time.monotonic() + link.timeout
                continue
            link.stats["error_replies"] += 1
            if reply.status in P.FRAME_ERRORS:          # the request arrived damaged: nothing ran
                return got, f"RUN_BATCH request damaged ({_status_name(reply.status)})"
            if reply.status == P.Status.ERR_BUSY:       # a batch we lost track of: stop it, rerun
                return got, "the controller was still busy with an earlier batch"
            raise BoardError(f"RUN_BATCH at {self.url}: the controller answered "
                             f"{_status_name(reply.status)}")

    def _recover(self):
        """After a failed batch: stop it, wait until the controller is idle, discard what is in flight."""
        link = self.link
        link.stats["batch_recoveries"] = link.stats.get("batch_recoveries", 0) + 1
        link.drain(0.05)
        link.request(P.Cmd.ABORT)
        self._wait_idle()
        link.drain(0.05)

