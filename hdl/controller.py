"""Command processor: one request frame in, its actions on the buses, one reply frame out.

Reads the frame from the FrameReceiver's buffer, checks argument length and ranges, drives the
potentiometer, DAC and ADC SPI masters (pot writes are read back and verified), configures and starts
the sequencer, and writes the reply body (seq, cmd, status, data) to the FrameSender.  Every frame --
good, bad, unknown -- gets exactly one reply.  Command set: `diodenet.hdl.protocol.Cmd`.

Start-up: before the first frame is served the controller puts the AD7928 into a known state with
two dummy conversions whose DIN is held high (AD7908/AD7918/AD7928 data sheet, "Powering Up the
AD7908/AD7918/AD7928" and Figure 24, "Placing AD7928 into the Required Operating Mode After Supplies
are Applied": the part can power up in any mode, e.g. expecting a shadow-register write, and "keep
DIN line tied high for first two dummy conversions"; the control register takes a real write only
from the third frame on).  So no ADC_READ or batch can reach the ADC first.
"""

from amaranth import Module, Signal, Mux, Cat, Const, Value
from amaranth.lib import wiring, stream, memory
from amaranth.lib.wiring import In, Out

from . import protocol as P
from .framing import FrameByte, frame_buffer
from .sequencer import ad5628_word, ad7928_control_word, batch_control
from .spi import spi_control
from ..boards.parts import MCP4351, AD5628, AD7928

# the longest fixed argument list (SEQ_CONFIG, 7 bytes)
ARGS_BYTES = max(n for n in P.ARG_LENGTH.values() if n is not None)
# the longest register-built reply data (SEQ_CONFIG_READ, 7 bytes; STATUS is 6)
DATA_BYTES = len(P.SeqConfig().pack())
ADC_POWERUP_WORD = AD7928.POWERUP_DIN        # DIN held high for a whole 16-clock frame


def _be(*fields):
    """Big-endian concatenation of (value, n_bytes) fields -> (expression, total bytes)."""
    parts, total = [], 0
    for value, n in reversed(fields):
        value = Value.cast(value)
        if len(value) < 8 * n:
            value = Cat(value, Const(0, 8 * n - len(value)))
        parts.append(value[:8 * n])
        total += n
    return Cat(*parts), total


class Controller(wiring.Component):
    def __init__(self, *, n_pot_chips, n_dacs=2, n_inputs=8, n_pert=2, n_adc=8, sample_depth=256,
                 hello=b"", caps=b"", max_len=P.MAX_REQUEST, adc_powerup_frames=AD7928.POWERUP_DUMMIES):
        self.n_pot_chips = n_pot_chips
        self.n_dacs = n_dacs
        self.n_inputs = n_inputs
        self.n_pert = n_pert
        self.adc_powerup_frames = adc_powerup_frames
        self.n_adc = n_adc
        self.sample_depth = sample_depth
        self.hello = bytes(hello)
        self.caps = bytes(caps)
        self.max_len = max_len
        self.n_words = n_words = sample_depth * (n_inputs + n_pert)
        super().__init__({
            "frame": In(frame_buffer(max_len)),
            # reply bodies to the frame sender
            "reply": Out(stream.Signature(FrameByte)),
            # potentiometer, DAC and ADC buses (SPIMaster control)
            "pot": Out(spi_control(MCP4351.spi.width, n_pot_chips)),
            "dac": Out(spi_control(AD5628.spi.width, n_dacs)),
            "adc": Out(spi_control(AD7928.spi.width, wdata_init=ADC_POWERUP_WORD)),
            # sample memory write port
            "sample": In(memory.WritePort.Signature(addr_width=max(0, (n_words - 1).bit_length()),
                                                    shape=16)),
            # sequencer
            "seq": Out(batch_control()),
            "batch_last": Out(16),
            # status
            "rx_errors": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        rom_bytes = self.hello + self.caps
        m.submodules.rom = rom = memory.Memory(shape=8, depth=max(2, len(rom_bytes)),
                                               init=list(rom_bytes))
        rom_rd = rom.read_port()

        ptr = Signal(range(self.max_len + 1))
        seq = Signal(8)
        cmd = Signal(8)
        args = Signal(8 * ARGS_BYTES)
        n_args = Signal(range(self.max_len + 1))
        body_len = Signal(range(self.max_len + 1))
        load_addr = Signal(16)
        status = Signal(8)
        last_error = Signal(8)
        rdata = Signal(8 * DATA_BYTES)
        rlen = Signal(range(3 + max(DATA_BYTES, len(rom_bytes)) + 1))
        ri = Signal.like(rlen)
        rom_mode = Signal()
        rom_ptr = Signal(range(max(2, len(rom_bytes)) + 1))
        readback = Signal(16)
        load_hi = Signal(8)
        pp_index = Signal(8)          # POT_PROGRAM: the rheostat being written (chip*4 + wiper)
        pp_code = Signal(16)

        def fetch_high_byte(prefix):
            """States {prefix}_FETCH_HI → _GOT_HI → _FETCH_LO: read a big-endian word's high byte
            from the frame buffer into load_hi (one cycle of read latency per byte); in
            {prefix}_GOT_LO, which the caller writes, Cat(frame.rd_data, load_hi) is the word."""
            with m.State(f"{prefix}_FETCH_HI"):
                m.next = f"{prefix}_GOT_HI"
            with m.State(f"{prefix}_GOT_HI"):
                m.d.sync += [load_hi.eq(self.frame.rd_data), ptr.eq(ptr + 1)]
                m.next = f"{prefix}_FETCH_LO"
            with m.State(f"{prefix}_FETCH_LO"):
                m.next = f"{prefix}_GOT_LO"

        def arg(i, n_bytes, total):
            """Argument bytes i .. i+n_bytes-1 of a `total`-byte argument list (big-endian)."""
            lo = (total - i - n_bytes) * 8
            return args[lo:lo + 8 * n_bytes]

        def reply(st, *fields):
            value, n = _be(*fields) if fields else (Const(0, 8), 0)
            stmts = [status.eq(st), rlen.eq(3 + n), rom_mode.eq(0)]
            if n:
                stmts.append(rdata.eq(value << (8 * (DATA_BYTES - n))))
            return stmts

        def fail(st):
            return reply(st)

        m.d.comb += self.frame.rd_addr.eq(ptr)
        m.d.sync += self.seq.start.eq(0)      # one-cycle pulse, after seq_first/seq_count settle
        m.d.comb += rom_rd.addr.eq(rom_ptr)
        C = P.Cmd

        def check_len(c):
            return n_args == P.ARG_LENGTH[c]

        def wiper_address(wiper):
            return Mux(wiper == 0, MCP4351.WIPER_ADDRESS[0],
                       Mux(wiper == 1, MCP4351.WIPER_ADDRESS[1],
                           Mux(wiper == 2, MCP4351.WIPER_ADDRESS[2], MCP4351.WIPER_ADDRESS[3])))

        def pot_frames(chip, address, code, is_write=1):
            """Start a pot command: the write (or read) frame, then the read-back frame."""
            read = Cat(Const(0x3FF, 10), Const(MCP4351.CMD_READ, 2), address[:4])
            return [self.pot.cs.eq(chip),
                    self.pot.wdata.eq(Mux(is_write, Cat(code[:10], Const(MCP4351.CMD_WRITE, 2),
                                                        address[:4]), read)),
                    readback.eq(read)]

        with m.FSM(init="ADC_POWERUP" if self.adc_powerup_frames else "IDLE"):
            # ---- start-up: AD7928 dummy conversions with DIN high (see the module doc) -----------
            if self.adc_powerup_frames:
                with m.State("ADC_POWERUP"):         # adc_wdata holds ADC_POWERUP_WORD from reset
                    with m.If(self.adc.ready):
                        m.d.comb += self.adc.start.eq(1)
                        m.next = "ADC_POWERUP_WAIT"
                with m.State("ADC_POWERUP_WAIT"):
                    with m.If(self.adc.done):
                        m.d.sync += ptr.eq(ptr + 1)
                        with m.If(ptr == self.adc_powerup_frames - 1):
                            m.d.sync += ptr.eq(0)
                            m.next = "IDLE"
                        with m.Else():
                            m.next = "ADC_POWERUP"
            with m.State("IDLE"):
                with m.If(self.frame.valid):
                    m.d.sync += [ptr.eq(0), seq.eq(0), cmd.eq(0), args.eq(0),
                                 body_len.eq(self.frame.length - 2),
                                 n_args.eq(self.frame.length - 4)]
                    m.next = "FETCH"
            with m.State("FETCH"):                      # buffer address `ptr` presented
                m.next = "GOT"
            with m.State("GOT"):
                b = self.frame.rd_data
                with m.If(ptr == 0):
                    m.d.sync += seq.eq(b)
                with m.Elif(ptr == 1):
                    m.d.sync += cmd.eq(b)
                with m.Else():
                    m.d.sync += args.eq(Cat(b, args[:-8]))
                    with m.If(ptr == 2):
                        m.d.sync += load_addr[8:].eq(b)
                    with m.If(ptr == 3):
                        m.d.sync += load_addr[:8].eq(b)
                m.d.sync += ptr.eq(ptr + 1)
                bad = self.frame.status != P.Status.OK
                with m.If(bad & ((ptr == 1) | (ptr + 1 >= self.frame.length))):
                    # frame-level error: echo the bytes we have, report the error
                    with m.If(self.frame.length < 2):
                        m.d.sync += cmd.eq(0)
                    with m.If(ptr == 0):
                        m.d.sync += seq.eq(Mux(self.frame.length >= 1, b, 0))
                    m.d.sync += [*fail(self.frame.status), last_error.eq(self.frame.status),
                                 self.rx_errors.eq(self.rx_errors + 1)]
                    m.next = "REPLY"
                with m.Elif(~bad & ((ptr + 1 == body_len) | (ptr == 1 + ARGS_BYTES))):
                    m.next = "EXEC"
                with m.Else():
                    m.next = "FETCH"

            with m.State("EXEC"):
                m.next = "REPLY"
                with m.Switch(cmd):
                    with m.Case(C.HELLO, C.CAPS):
                        is_caps = cmd == C.CAPS
                        with m.If(~check_len(C.HELLO)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Else():
                            m.d.sync += [status.eq(P.Status.OK), rom_mode.eq(1),
                                         rom_ptr.eq(Mux(is_caps, len(self.hello), 0)),
                                         rlen.eq(3 + Mux(is_caps, len(self.caps), len(self.hello)))]
                    with m.Case(C.STATUS):
                        with m.If(~check_len(C.STATUS)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Else():
                            m.d.sync += reply(P.Status.OK, (self.seq.busy, 1), (self.rx_errors, 2),
                                              (self.seq.samples_done, 2), (last_error, 1))
                    with m.Case(C.POT_WRITE, C.POT_READ):
                        is_write = cmd == C.POT_WRITE
                        chip = Mux(is_write, arg(0, 1, 4), arg(0, 1, 2))
                        wiper = Mux(is_write, arg(1, 1, 4), arg(1, 1, 2))[:8]
                        code = arg(2, 2, 4)
                        address = wiper_address(wiper)
                        with m.If(Mux(is_write, ~check_len(C.POT_WRITE), ~check_len(C.POT_READ))):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif((chip >= self.n_pot_chips) | (wiper >= MCP4351.wipers) |
                                    (is_write & (code > MCP4351.code_max))):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += pot_frames(chip, address, code, is_write)
                            m.next = "POT_GO"
                    with m.Case(C.POT_PROGRAM):
                        # first:u8 = the byte at ptr 2 (load_addr's high byte), codes from ptr 3
                        first = load_addr[8:]
                        with m.If((n_args < 3) | ~n_args[0]):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif(first + ((n_args - 1) >> 1) > self.n_pot_chips * MCP4351.wipers):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += [ptr.eq(3), pp_index.eq(first)]
                            m.next = "PP_FETCH_HI"
                    with m.Case(C.DAC_WRITE, C.DAC_RAW):
                        is_raw = cmd == C.DAC_RAW
                        dac = Mux(is_raw, arg(0, 1, 5), arg(0, 1, 4))
                        ch, code = arg(1, 1, 4), arg(2, 2, 4)
                        with m.If(Mux(is_raw, ~check_len(C.DAC_RAW), ~check_len(C.DAC_WRITE))):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif(self.seq.busy):
                            m.d.sync += fail(P.Status.ERR_BUSY)
                        with m.Elif((dac >= self.n_dacs) |
                                    (~is_raw & ((ch >= AD5628.channels) | (code >= 4096)))):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += [self.dac.cs.eq(dac),
                                         self.dac.wdata.eq(Mux(is_raw, arg(1, 4, 5),
                                             ad5628_word(AD5628.CMD_WRITE_UPDATE, ch, code)))]
                            m.next = "DAC_GO"
                    with m.Case(C.ADC_READ):
                        ch = arg(0, 1, 1)
                        with m.If(~check_len(C.ADC_READ)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif(self.seq.busy):
                            m.d.sync += fail(P.Status.ERR_BUSY)
                        with m.Elif(ch >= self.n_adc):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += [self.adc.wdata.eq(ad7928_control_word(ch)), ptr.eq(0)]
                            m.next = "ADC_GO"
                    with m.Case(C.SEQ_CONFIG):
                        n = P.ARG_LENGTH[C.SEQ_CONFIG]
                        pf = [arg(3, 2, n), arg(5, 2, n)]
                        with m.If(~check_len(C.SEQ_CONFIG)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif(self.seq.busy):
                            m.d.sync += fail(P.Status.ERR_BUSY)
                        with m.Elif((arg(2, 1, n) > 3) | (Cat(*(v[12:] for v in pf)) != 0)):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += [self.seq.settle.eq(arg(0, 2, n)),
                                         self.seq.oversample_log2.eq(arg(2, 1, n)),
                                         *(self.seq.pert_forward[i].eq(pf[i]) for i in range(2)),
                                         *reply(P.Status.OK)]
                    with m.Case(C.SEQ_CONFIG_READ):
                        with m.If(~check_len(C.SEQ_CONFIG_READ)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Else():
                            m.d.sync += reply(P.Status.OK, (self.seq.settle, 2),
                                              (self.seq.oversample_log2, 1),
                                              (self.seq.pert_forward[0], 2),
                                              (self.seq.pert_forward[1], 2))
                    with m.Case(C.LOAD_SAMPLES):
                        n_words = self.n_words
                        words = (n_args - 2) >> 1
                        with m.If((n_args < 4) | n_args[0]):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif(self.seq.busy):
                            m.d.sync += fail(P.Status.ERR_BUSY)
                        with m.Elif(load_addr + words > n_words):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += [ptr.eq(4), self.sample.addr.eq(load_addr),
                                         *reply(P.Status.OK)]
                            m.next = "LOAD_FETCH_HI"
                    with m.Case(C.RUN_BATCH):
                        flagged = n_args == 5             # first:u16 count:u16 [flags:u8]
                        first = Mux(flagged, arg(0, 2, 5), arg(0, 2, 4))
                        count = Mux(flagged, arg(2, 2, 5), arg(2, 2, 4))
                        flags = Mux(flagged, arg(4, 1, 5), 0)
                        with m.If((n_args != 4) & (n_args != 5)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Elif(self.seq.busy):
                            m.d.sync += fail(P.Status.ERR_BUSY)
                        with m.Elif((count == 0) | (first + count > self.sample_depth)):
                            m.d.sync += fail(P.Status.ERR_ARG)
                        with m.Else():
                            m.d.sync += [self.seq.start.eq(1), self.seq.first.eq(first), self.seq.count.eq(count),
                                         self.seq.forward_only.eq(flags[0]),
                                         self.batch_last.eq(first + count - 1),
                                         *reply(P.Status.OK)]
                    with m.Case(C.ABORT):
                        with m.If(~check_len(C.ABORT)):
                            m.d.sync += fail(P.Status.ERR_LENGTH)
                        with m.Else():
                            m.d.comb += self.seq.abort.eq(1)
                            m.d.sync += reply(P.Status.OK)
                    with m.Default():
                        m.d.sync += fail(P.Status.ERR_UNKNOWN_CMD)

            # ---- potentiometer: one frame (write or read), then a read-back for writes ----------
            with m.State("POT_GO"):
                with m.If(self.pot.ready):
                    m.d.comb += self.pot.start.eq(1)
                    m.next = "POT_WAIT"
            with m.State("POT_WAIT"):
                with m.If(self.pot.done):
                    ok, value = self.pot.rdata[9], self.pot.rdata[:9]
                    with m.If(~ok):
                        m.d.sync += fail(P.Status.ERR_PART)
                        m.next = "REPLY"
                    with m.Elif(self.pot.wdata[10:12] == MCP4351.CMD_WRITE):
                        m.d.sync += self.pot.wdata.eq(readback)
                        m.next = "POT_GO"
                    with m.Elif(cmd == C.POT_WRITE):
                        m.d.sync += reply(Mux(value == arg(2, 2, 4), P.Status.OK,
                                              P.Status.ERR_VERIFY), (value, 2))
                        m.next = "REPLY"
                    with m.Elif(cmd == C.POT_PROGRAM):
                        with m.If(value != pp_code):
                            m.d.sync += reply(P.Status.ERR_VERIFY, (pp_index, 1), (value, 2))
                            m.next = "REPLY"
                        with m.Elif(ptr == body_len):
                            m.d.sync += reply(P.Status.OK)
                            m.next = "REPLY"
                        with m.Else():
                            m.d.sync += pp_index.eq(pp_index + 1)
                            m.next = "PP_FETCH_HI"
                    with m.Else():
                        m.d.sync += reply(P.Status.OK, (value, 2))
                        m.next = "REPLY"
            # ---- POT_PROGRAM: the next code from the frame buffer, then write + read back ---------
            fetch_high_byte("PP")
            with m.State("PP_GOT_LO"):
                m.d.sync += [pp_code.eq(Cat(self.frame.rd_data, load_hi)), ptr.eq(ptr + 1)]
                m.next = "PP_START"
            with m.State("PP_START"):
                with m.If(pp_code > MCP4351.code_max):
                    m.d.sync += reply(P.Status.ERR_ARG, (pp_index, 1))
                    m.next = "REPLY"
                with m.Else():
                    m.d.sync += pot_frames(pp_index[2:], wiper_address(pp_index[:2]), pp_code)
                    m.next = "POT_GO"
            # ---- DAC: one frame ------------------------------------------------------------------
            with m.State("DAC_GO"):
                with m.If(self.dac.ready):
                    m.d.comb += self.dac.start.eq(1)
                    m.next = "DAC_WAIT"
            with m.State("DAC_WAIT"):
                with m.If(self.dac.done):
                    m.d.sync += reply(P.Status.OK)
                    m.next = "REPLY"
            # ---- ADC: select the channel, then convert it (the AD7928 pipelines the select) ------
            with m.State("ADC_GO"):
                with m.If(self.adc.ready):
                    m.d.comb += self.adc.start.eq(1)
                    m.next = "ADC_WAIT"
            with m.State("ADC_WAIT"):
                with m.If(self.adc.done):
                    m.d.sync += ptr.eq(ptr + 1)
                    with m.If(ptr == 0):
                        m.next = "ADC_GO"
                    with m.Else():
                        m.d.sync += reply(P.Status.OK, (self.adc.rdata[12:15], 1),
                                          (self.adc.rdata[:12], 2))
                        m.next = "REPLY"
            # ---- LOAD_SAMPLES: copy big-endian words from the frame buffer -----------------------
            fetch_high_byte("LOAD")
            with m.State("LOAD_GOT_LO"):
                m.d.comb += [self.sample.en.eq(1), self.sample.data.eq(Cat(self.frame.rd_data, load_hi))]
                m.d.sync += ptr.eq(ptr + 1)
                m.next = "LOAD_NEXT"
            with m.State("LOAD_NEXT"):
                m.d.sync += self.sample.addr.eq(self.sample.addr + 1)
                with m.If(ptr == body_len):
                    m.next = "REPLY"
                with m.Else():
                    m.next = "LOAD_FETCH_HI"

            # ---- reply: seq, cmd, status, data (register or ROM) ---------------------------------
            with m.State("REPLY"):
                m.d.sync += ri.eq(0)
                m.next = "R_BYTE"
            with m.State("R_BYTE"):
                byte = Signal(8)
                with m.Switch(ri):
                    with m.Case(0):
                        m.d.comb += byte.eq(seq)
                    with m.Case(1):
                        m.d.comb += byte.eq(cmd)
                    with m.Case(2):
                        m.d.comb += byte.eq(status)
                    with m.Default():
                        m.d.comb += byte.eq(Mux(rom_mode, rom_rd.data, rdata[-8:]))
                m.d.comb += [self.reply.valid.eq(1), self.reply.payload.data.eq(byte),
                             self.reply.payload.last.eq(ri + 1 == rlen)]
                with m.If(self.reply.ready):
                    m.d.sync += ri.eq(ri + 1)
                    with m.If(ri >= 3):
                        m.d.sync += [rdata.eq(rdata << 8), rom_ptr.eq(rom_ptr + 1)]
                    with m.If(ri + 1 == rlen):
                        m.d.comb += self.frame.ack.eq(1)
                        m.next = "DONE"
                    with m.Elif(ri >= 2):
                        m.next = "R_ROM"             # let the ROM read port catch up
            with m.State("R_ROM"):
                m.next = "R_BYTE"
            with m.State("DONE"):                        # frame_valid falls one cycle after the ack
                m.next = "IDLE"
        return m
