"""The host <-> controller protocol, defined once (pure Python; the CRC's parameters come from
`amaranth.lib.crc`, imported on first use, shared with the gateware).

Imported by the gateware (`diodenet.hdl`), the host driver and the co-simulation models.

Wire format
-----------
Every message in either direction is one *frame*::

    COBS( body || CRC16(body) as 2 bytes, big-endian ) || 0x00

* Framing: Consistent Overhead Byte Stuffing (Cheshire & Baker, 1999); the only 0x00 on the wire is
  the frame delimiter, so a receiver resynchronises at the next 0x00 after any error.
* CRC: CRC-16/CCITT-FALSE -- polynomial 0x1021, init 0xFFFF, no reflection, no final XOR
  (check value: crc16(b"123456789") == 0x29B1).
* Request body:  ``seq:u8  cmd:u8  args...``
* Reply body:    ``seq:u8  cmd:u8  status:u8  data...``   (seq and cmd echo the request)
* Result body:   ``rseq:u8 0x80 status:u8 sample:u16 forward[n_adc]:u16 [perturbed[n_adc]:u16]``
  sent unsolicited during a batch; ``rseq`` counts result frames (mod 256) so the host sees a lost one;
  bit 7 of ``status`` marks the batch's last sample, the low bits carry result error flags.  A
  forward-only batch (RUN_BATCH flag `BATCH_FORWARD_ONLY`) measures one phase per sample and its
  result frames carry no perturbed sums.

All multi-byte integers are big-endian.  The host numbers its requests (``seq``, mod 256) and sends
the next request after the reply to the previous one (stop-and-wait); the controller echoes ``seq``,
so a duplicated or lost reply is visible.  A frame that fails to decode still gets a reply: ``seq``
and ``cmd`` are the first two decoded bytes when present (else 0) and ``status`` is the error code.
Results frames may be interleaved with replies; they are told apart by ``cmd == CMD_RESULT``.
"""

from dataclasses import dataclass
import enum
import functools
import struct

#: 2: SEQ_CONFIG lost pert_perturbed (each sample carries its own perturbed-phase codes in the sample
#: memory, LOAD_SAMPLES), CAPS gained n_pert.
#: 3: POT_PROGRAM (many rheostats, read back and verified by the controller, one reply); RUN_BATCH
#: takes an optional flags byte (BATCH_FORWARD_ONLY: one phase per sample, shorter result frames)
PROTOCOL_VERSION = 3
GATEWARE_VERSION = (0, 1)

#: largest decoded request body + CRC the controller accepts (bytes); longer frames get ERR_TOO_LONG
MAX_REQUEST = 64
#: largest reply body + CRC the controller emits
MAX_REPLY = 80



class Cmd(enum.IntEnum):
    HELLO = 0x01         # -> protocol version, gateware version, board id
    CAPS = 0x02          # -> capability block (see Caps)
    STATUS = 0x03        # -> Status
    POT_WRITE = 0x10     # chip:u8 wiper:u8 code:u16 -> readback:u16 (write, then read back and verify)
    POT_READ = 0x11      # chip:u8 wiper:u8 -> code:u16
    POT_PROGRAM = 0x12   # first:u8 codes:u16... -> () : rheostats first, first+1, ... (index =
    #                      chip*4 + wiper), each written then read back; on a mismatch the reply is
    #                      ERR_VERIFY with index:u8 readback:u16 and the rest is not written
    DAC_WRITE = 0x20     # dac:u8 channel:u8 code:u16 -> ()  (write to and update channel now)
    DAC_RAW = 0x21       # dac:u8 word:u32 -> ()  (any 32-bit AD5628 frame, e.g. internal reference on)
    ADC_READ = 0x30      # channel:u8 -> channel:u8 code:u16
    SEQ_CONFIG = 0x40    # settle:u16 oversample_log2:u8 pert_fwd[2]:u16 -> ()
    SEQ_CONFIG_READ = 0x41  # -> the same fields
    LOAD_SAMPLES = 0x42  # word_addr:u16 codes:u16... (sample s, word s*(n_dac_inputs+n_pert)+i: i <
    #                      n_dac_inputs DAC0 channel i, then the n_pert perturbed-phase codes)
    RUN_BATCH = 0x43     # first:u16 count:u16 [flags:u8] -> () then `count` result frames
    ABORT = 0x44         # -> () ; stops a running batch after the current sample
    RESULT = 0x80        # controller -> host only


class Status(enum.IntEnum):
    OK = 0x00
    ERR_CRC = 0x01        # CRC mismatch
    ERR_FRAMING = 0x02    # COBS block overruns the delimiter
    ERR_TOO_SHORT = 0x03  # fewer than seq+cmd+CRC bytes
    ERR_TOO_LONG = 0x04   # decoded frame longer than MAX_REQUEST
    ERR_UNKNOWN_CMD = 0x05
    ERR_LENGTH = 0x06     # wrong argument length for the command
    ERR_ARG = 0x07        # argument out of range (chip, wiper, channel, code, address)
    ERR_BUSY = 0x08       # a batch is running
    ERR_VERIFY = 0x09     # potentiometer read-back differs from the written code
    ERR_PART = 0x0A       # a part reported an error (MCP4351 CMDERR low)


#: result status flag bits (low bits of the result frame status byte)
RESULT_ADC_CHANNEL_MISMATCH = 0x01  # the AD7928 channel id in DOUT differed from the one requested
RESULT_LAST = 0x80

#: RUN_BATCH flag bits
BATCH_FORWARD_ONLY = 0x01    # measure only the forward phase of each sample
#: in the sequencer's index word (results FIFO): the sample's result has no perturbed sums
INDEX_FORWARD_ONLY = 0x8000

#: frame-level errors counted in Status.rx_errors
FRAME_ERRORS = (Status.ERR_CRC, Status.ERR_FRAMING, Status.ERR_TOO_SHORT, Status.ERR_TOO_LONG)

#: argument lengths (bytes after cmd) of each request; None = variable
ARG_LENGTH = {
    Cmd.HELLO: 0, Cmd.CAPS: 0, Cmd.STATUS: 0, Cmd.POT_WRITE: 4, Cmd.POT_READ: 2,
    Cmd.POT_PROGRAM: None, Cmd.DAC_WRITE: 4, Cmd.DAC_RAW: 5, Cmd.ADC_READ: 1, Cmd.SEQ_CONFIG: 7,
    Cmd.SEQ_CONFIG_READ: 0, Cmd.LOAD_SAMPLES: None, Cmd.RUN_BATCH: None, Cmd.ABORT: 0,
}
#: RUN_BATCH: first:u16 count:u16, optionally followed by flags:u8
RUN_BATCH_LENGTHS = (4, 5)
#: most rheostat codes one POT_PROGRAM request carries (seq, cmd, first, codes, CRC <= MAX_REQUEST)
POT_PROGRAM_MAX = (MAX_REQUEST - 5) // 2


# --- CRC-16/CCITT-FALSE ------------------------------------------------------------------

@functools.cache
def crc16_parameters():
    """The frames' CRC, defined once: `amaranth.lib.crc`'s catalogue entry for CRC-16/CCITT-FALSE
    (reveng catalogue: width 16, poly 0x1021, init 0xFFFF, refin/refout false, xorout 0) over
    bytes.  The gateware builds its `Processor` from these Parameters (hdl/framing.py), the host
    computes with them (`crc16`); a frame followed by its CRC leaves the residue 0.  Imported on
    first use, so the protocol module loads without Amaranth."""
    from amaranth.lib.crc import catalog
    return catalog.CRC16_CCITT_FALSE(data_width=8)


def crc16(data):
    """CRC-16/CCITT-FALSE of a byte string."""
    return crc16_parameters().compute(data)


# --- COBS --------------------------------------------------------------------------------

def cobs_encode(data):
    """COBS-encode `data` (without the trailing 0x00 delimiter)."""
    out = bytearray([0])
    code_at, code = 0, 1
    for b in data:
        if b == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_at] = code
                code_at, code = len(out), 1
                out.append(0)
    out[code_at] = code
    return bytes(out)


class FrameError(Exception):
    def __init__(self, status, message=""):
        super().__init__(status, message or getattr(status, "name", str(status)))
        self.status = status


def cobs_decode(data):
    """Decode one COBS frame (delimiter stripped). Raises FrameError(ERR_FRAMING)."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise FrameError(Status.ERR_FRAMING, "zero byte inside a COBS frame")
        if i + code > len(data):
            raise FrameError(Status.ERR_FRAMING, "COBS block runs past the end of the frame")
        out += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


# --- frames ------------------------------------------------------------------------------

def encode_frame(body):
    """body -> wire bytes (COBS of body+CRC, then the 0x00 delimiter)."""
    body = bytes(body)
    return cobs_encode(body + struct.pack(">H", crc16(body))) + b"\x00"


def decode_frame(wire, max_len=None):
    """Wire bytes of one frame (with or without the delimiter) -> body. Raises FrameError.
    max_len: longest decoded length accepted (the controller uses MAX_REQUEST)."""
    wire = bytes(wire)
    if wire.endswith(b"\x00"):
        wire = wire[:-1]
    raw = cobs_decode(wire)
    if max_len is not None and len(raw) > max_len:
        raise FrameError(Status.ERR_TOO_LONG)
    if len(raw) < 4:
        raise FrameError(Status.ERR_TOO_SHORT)
    body, crc = raw[:-2], struct.unpack(">H", raw[-2:])[0]
    if crc16(body) != crc:
        raise FrameError(Status.ERR_CRC)
    return body


def controller_frame_check(wire):
    """What the controller's receiver concludes about one frame (wire bytes without delimiter).

    Returns (status, decoded_bytes); status None means "ignored" (empty frame). Mirrors the gateware exactly: the receiver decodes COBS on the
    fly, stops storing (but keeps counting) past MAX_REQUEST, and checks in this order:
    framing, too long, too short, CRC.  Used by the tests to predict the error reply.
    """
    if len(wire) == 0:
        return None, b""          # an empty frame (two delimiters in a row) is ignored, no reply
    out = bytearray()
    remaining, code, framing_error = 0, 0xFF, False
    for i, b in enumerate(wire):
        if b == 0:
            raise ValueError("delimiter inside a frame")
        if remaining == 0:
            if i > 0 and code < 0xFF:
                out.append(0)
            code, remaining = b, b - 1
        else:
            out.append(b)
            remaining -= 1
    if remaining != 0:
        framing_error = True
    if framing_error:
        return Status.ERR_FRAMING, bytes(out)
    if len(out) > MAX_REQUEST:
        return Status.ERR_TOO_LONG, bytes(out)
    if len(out) < 4:
        return Status.ERR_TOO_SHORT, bytes(out)
    if crc16(out[:-2]) != (out[-2] << 8 | out[-1]):
        return Status.ERR_CRC, bytes(out)
    return Status.OK, bytes(out)


def request(seq, cmd, args=b""):
    """Wire bytes of a request."""
    return encode_frame(bytes([seq & 0xFF, int(cmd)]) + bytes(args))


@dataclass(frozen=True)
class Reply:
    seq: int
    cmd: int
    status: int
    data: bytes


def parse_reply(body):
    if len(body) < 3:
        raise FrameError(Status.ERR_TOO_SHORT, "reply shorter than seq+cmd+status")
    return Reply(body[0], body[1], body[2], bytes(body[3:]))


def split_frames(stream):
    """Split a byte stream at 0x00 delimiters -> (list of complete frames with delimiter, rest)."""
    frames, start = [], 0
    for i, b in enumerate(stream):
        if b == 0:
            frames.append(bytes(stream[start:i + 1]))
            start = i + 1
    return frames, bytes(stream[start:])


# --- payload layouts ---------------------------------------------------------------------

@dataclass(frozen=True)
class SeqConfig:
    """Measurement sequencer settings (SEQ_CONFIG).

    The perturbed phase's codes are not here: every sample carries its own in the sample memory
    (LOAD_SAMPLES: sample s occupies words s*(n_dac_inputs+n_pert) .. +n_dac_inputs+n_pert-1, the
    DAC0 input codes first, then one perturbed-phase code per perturbation channel in the AFE's
    `pert_dac_channels` order), so one batch can perturb every sample differently."""
    settle: int = 72                  # settle time, in controller clock cycles (72 = 6 us at 12 MHz)
    oversample_log2: int = 2          # 2**k conversions of each channel per phase, summed
    pert_forward: tuple = (2048, 2048)    # perturbation DAC codes during every forward phase (rest)

    LAYOUT = ">HB2H"

    def pack(self):
        return struct.pack(self.LAYOUT, self.settle, self.oversample_log2, *self.pert_forward)

    @classmethod
    def unpack(cls, data):
        s, k, a, b = struct.unpack(cls.LAYOUT, data)
        return cls(s, k, (a, b))


@dataclass(frozen=True)
class ControllerStatus:
    busy: bool
    rx_errors: int
    batch_done: int
    last_error: int

    LAYOUT = ">BHHB"

    @classmethod
    def unpack(cls, data):
        flags, rx, done, last = struct.unpack(cls.LAYOUT, data)
        return cls(bool(flags & 1), rx, done, last)


@dataclass(frozen=True)
class Caps:
    """Capability block (CAPS reply data); written into the gateware as a ROM.

    Wire layout (big-endian, `LAYOUT`, then `part_ids` as ASCII to the end of the reply):
    protocol:u8 board:12s clock_hz:u32 baud:u32 n_pot_chips:u8 wipers_per_chip:u8 pot_bits:u8
    pot_r_ab:u32 pot_r_w:u16 n_dacs:u8 n_dac_inputs:u8 n_pert:u8 dac_bits:u8 n_adc:u8 adc_bits:u8
    sample_depth:u16 max_request:u8 max_reply:u8 r_leak:u32 r_inject:u32 v_ref_mv:u16
    part_ids...  (50 fixed bytes).
    Words per sample in the sample memory: n_dac_inputs + n_pert.  The analog constants (r_leak,
    r_inject in ohms, v_ref_mv = the converters' reference in millivolts, with pot_r_ab and pot_r_w)
    are the board's front-end (`boards.afe.AFE.analog_constants`): a driver refuses a model built
    for different ones."""
    protocol: int
    board: str              # up to 12 ASCII characters
    clock_hz: int
    baud: int
    n_pot_chips: int
    wipers_per_chip: int
    pot_bits: int
    pot_r_ab: int           # ohms
    pot_r_w: int            # ohms
    n_dacs: int
    n_dac_inputs: int       # DAC channels the sequencer drives per sample (DAC0 ch 0..n-1)
    dac_bits: int
    n_adc: int              # ADC channels converted per phase
    adc_bits: int
    sample_depth: int       # samples the sample memory holds
    max_request: int
    max_reply: int
    part_ids: str           # e.g. "MCP4351,AD5628,AD7928"
    # perturbation channels (DAC1) the sequencer drives; each sample holds one perturbed-phase code
    # per channel.  A default so that callers written before it still build a Caps; the gateware
    # writes the real count into its ROM (hdl.core.Core).
    n_pert: int = 2
    r_leak: int = 0         # ohms (0: not stated)
    r_inject: int = 0       # ohms
    v_ref_mv: int = 0       # millivolts

    LAYOUT = ">B12sIIBBBIHBBBBBBHBBIIH"
    FIELDS = ("protocol", "board", "clock_hz", "baud", "n_pot_chips", "wipers_per_chip", "pot_bits",
              "pot_r_ab", "pot_r_w", "n_dacs", "n_dac_inputs", "n_pert", "dac_bits", "n_adc",
              "adc_bits", "sample_depth", "max_request", "max_reply", "r_leak", "r_inject",
              "v_ref_mv")    # LAYOUT order

    def pack(self):
        values = [getattr(self, f) for f in self.FIELDS]
        values[1] = self.board.encode()[:12].ljust(12, b"\0")
        return struct.pack(self.LAYOUT, *values) + self.part_ids.encode()

    @classmethod
    def unpack(cls, data):
        n = struct.calcsize(cls.LAYOUT)
        f = dict(zip(cls.FIELDS, struct.unpack(cls.LAYOUT, data[:n])))
        f["board"] = f["board"].rstrip(b"\0").decode()
        return cls(**f, part_ids=data[n:].decode())

    @classmethod
    def of(cls, config):
        """The capability block of a controller generated from `config` (a
        `boards.platforms.ControllerConfig`: its board, clock, baud, front-end and sample memory)."""
        a = config.afe
        consts = a.analog_constants()
        return cls(
            protocol=PROTOCOL_VERSION, board=config.board, clock_hz=int(config.clk_hz),
            baud=config.baud, n_pot_chips=a.n_pot_chips, wipers_per_chip=a.pot.wipers,
            pot_bits=a.pot.bits, pot_r_ab=int(a.pot_r_ab), pot_r_w=int(a.pot.r_w), n_dacs=2,
            n_dac_inputs=a.n_dac_inputs, dac_bits=a.dac.bits, n_adc=a.n_adc, adc_bits=a.adc.bits,
            sample_depth=config.sample_depth, max_request=MAX_REQUEST, max_reply=MAX_REPLY,
            part_ids=f"{a.pot.name},{a.dac.name},{a.adc.name}", n_pert=len(a.pert_dac_channels),
            r_leak=consts["r_leak"], r_inject=consts["r_inject"], v_ref_mv=consts["v_ref_mv"])


#: the HELLO reply's data: protocol version, gateware version
HELLO_BYTES = bytes([PROTOCOL_VERSION, *GATEWARE_VERSION])


def result_length(n_adc, phases=2):
    """Body length of a result frame (without CRC): `phases` = 2, or 1 for a forward-only batch."""
    return 3 + 2 + 2 * phases * n_adc


def parse_result(body, n_adc):
    """Result frame body -> (rseq, status, sample, forward list, perturbed list); the perturbed
    list is empty for a forward-only batch's frame."""
    if len(body) not in (result_length(n_adc, 1), result_length(n_adc, 2)) or body[1] != Cmd.RESULT:
        raise FrameError(Status.ERR_LENGTH, "not a result frame")
    vals = struct.unpack(f">{(len(body) - 3) // 2}H", body[3:])
    return body[0], body[2], vals[0], list(vals[1:1 + n_adc]), list(vals[1 + n_adc:])


def pot_program_args(first, codes):
    """POT_PROGRAM arguments: rheostat index `first` (chip*4 + wiper), then one code per rheostat."""
    codes = [int(c) for c in codes]
    if not 1 <= len(codes) <= POT_PROGRAM_MAX or not 0 <= first <= 255:
        raise ValueError(f"POT_PROGRAM carries 1..{POT_PROGRAM_MAX} codes from index 0..255")
    return struct.pack(f">B{len(codes)}H", first, *codes)


def run_batch_args(first, count, forward_only=False):
    """RUN_BATCH arguments (with the flags byte)."""
    return struct.pack(">HHB", first, count, BATCH_FORWARD_ONLY if forward_only else 0)
