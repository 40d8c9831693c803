"""The analog front-end's SPI parts, defined once (pure Python, no Amaranth).

For each part: its SPI frame format (mode, width, bit order, timing limits), functions that build the
frames the controller sends and decode the frames it receives, and the code <-> physical value map.
The gateware derives its SPI masters from `SPIFormat`, the tests check every emitted frame against
these functions, the host driver converts conductances with `Rheostat`, and the co-simulation part
models decode frames with the same functions.

Datasheets (section names as printed in them):
* MCP4351 -- Microchip DS22242 "MCP433X/435X 7/8-bit quad digital potentiometers with SPI";
  its SPI command set is shared with the MCP413X/415X/423X/425X family (DS22060 section 7,
  "Serial Commands").
* AD5628 -- Analog Devices "AD5628/AD5648/AD5668" data sheet, section "Serial Interface" /
  "Input Shift Register" (Figure 59) and Table 8 (command definitions).
* AD7928 -- Analog Devices "AD7908/AD7918/AD7928" data sheet, sections "Control Register" (Table 7)
  and "Serial Interface".
"""

from dataclasses import dataclass, replace

import numpy as np


class PartRangeError(ValueError):
    """A value outside what a part realizes (a conductance beyond a rheostat's codes, a voltage
    beyond a DAC's span)."""


@dataclass(frozen=True)
class SPIFormat:
    """How one part talks SPI.

    cpol: SCLK level when idle.  cpha: 0 = the part samples on the leading (first) SCLK edge and the
    master presents the first bit before it; 1 = data changes on the leading edge, sampled on the
    trailing edge.  width: bits per frame with chip select held asserted; msb_first: bit order.
    max_sclk: highest SCLK (Hz); min_cs_high: shortest time chip select must stay high between frames.
    """
    cpol: int
    cpha: int
    width: int
    msb_first: bool
    max_sclk: float
    min_cs_high: float

    @property
    def mode(self):
        return self.cpol * 2 + self.cpha


# --- converters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Converter:
    """A uniform converter: codes 0 .. 2**bits - 1, code k <-> lo + k * LSB, LSB = (hi - lo) / 2**bits.

    The one code <-> volts map of the DAC and the ADC (their parts' `converter(v_ref)` give the
    physical span; `referred(v0)` the same converter with voltages measured from v0, e.g. the
    front-end's V_MID).  clip: what `codes` does with a value outside the span -- True saturates
    at the end codes (an ADC does; so does a driver that counts what it clipped), False raises
    PartRangeError (a DAC asked for a line it cannot drive).
    """
    bits: int
    lo: float
    hi: float
    clip: bool = False
    name: str = ""

    def __post_init__(self):
        if not (int(self.bits) == self.bits >= 1 and self.hi > self.lo):
            raise ValueError(f"converter needs bits >= 1 and hi > lo, got {self.bits}, "
                             f"[{self.lo}, {self.hi}]")

    @property
    def span(self):
        return self.hi - self.lo

    @property
    def lsb(self):
        return (self.hi - self.lo) / 2 ** self.bits

    @property
    def code_max(self):
        return 2 ** self.bits - 1

    @property
    def v_max(self):
        """Voltage of the top code (one LSB below `hi`)."""
        return self.lo + self.code_max * self.lsb

    def nearest(self, v):
        """Nearest code of every voltage as floats, not limited to the code range (for counting
        what `codes` would clip)."""
        return np.rint((np.asarray(v, dtype=float) - self.lo) / self.lsb)

    def in_range(self, codes):
        codes = np.asarray(codes)
        return (codes >= 0) & (codes <= self.code_max)

    def codes(self, v, *, clip=None):
        """Nearest code (int64) of every voltage; outside the span: saturate (clip) or raise
        PartRangeError (clip=False; default: the converter's own `clip`)."""
        v = np.asarray(v, dtype=float)
        if not np.all(np.isfinite(v)):
            raise PartRangeError(f"{self.name or 'converter'}: values must be finite")
        code = self.nearest(v)
        if not (self.clip if clip is None else clip):
            bad = ~self.in_range(code)
            if np.any(bad):
                raise PartRangeError(
                    f"{self.name or 'DAC'}: {int(bad.sum())} value(s) outside its range "
                    f"[{self.lo:g}, {self.v_max:g}] V (e.g. {v[bad].flat[0]:g} V)")
        return np.clip(code, 0, self.code_max).astype(np.int64)

    def volts(self, codes):
        return self.lo + np.asarray(codes, dtype=float) * self.lsb

    def quantize(self, v):
        """The voltages the converter realizes (DAC) or reports (ADC) for `v`."""
        return self.volts(self.codes(v))

    __call__ = quantize

    def referred(self, v0):
        """The same converter with voltages measured from v0."""
        return replace(self, lo=self.lo - v0, hi=self.hi - v0)


# --- digital potentiometer: MCP4351 ---------------------------------------------------------------

class MCP4351:
    """Quad 8-bit (257-tap) volatile digital potentiometer, SPI, with read-back.

    Chosen over AD5206/AD8403 because its Read Data command returns the wiper register over SDO, so the
    controller verifies every write (the AD parts are write-only), and it is stocked in TSSOP-20 in
    5/10/50/100 kOhm.  Used as a rheostat (terminal B to wiper).
    """
    name = "MCP4351"
    # DS22060 section 6 (SPI modes 0,0 and 1,1 are supported), DS22242 "AC/DC characteristics":
    # SCK up to 10 MHz; CS high time ~ 50 ns.
    spi = SPIFormat(cpol=0, cpha=0, width=16, msb_first=True, max_sclk=10e6, min_cs_high=50e-9)
    wipers = 4
    bits = 8                      # 8-bit resistor network: 256 resistors, 257 taps (codes 0..256)
    code_max = 256
    # DS22242 Table 4-1 "Memory map": volatile wiper 0, 1 at 00h, 01h; wiper 2, 3 at 06h, 07h
    WIPER_ADDRESS = (0x0, 0x1, 0x6, 0x7)
    TCON0, STATUS, TCON1 = 0x4, 0x5, 0xA
    # DS22060 section 7.1 "Command Byte": C1:C0 = 00 write data, 01 increment, 10 decrement, 11 read
    CMD_WRITE, CMD_INCR, CMD_DECR, CMD_READ = 0b00, 0b01, 0b10, 0b11
    # "-103" variant: R_AB = 10 kOhm +-20 % (DS22242 "AC/DC Characteristics", R_AB tolerance).
    # Wiper resistance: the datasheet's typical 75 Ohm is specified at VDD = 5.5 V; R_W rises as
    # VDD falls (the wiper switch is a CMOS transmission gate) and the same table allows up to
    # ~300 Ohm at the low end of the specified supply range (2.7 V).  The board runs the part at
    # VDD = 3.3 V, so the model takes R_W = 150 Ohm (spread 75 .. 300 Ohm, `r_w_range`);
    # calibration measures the real value.
    r_ab = 10_000.0
    # ordering options (DS22242 "Product Identification System": -502, -103, -503, -104); a
    # front-end picks one (`boards.afe.AFE.pot_r_ab`)
    r_ab_options = (5_000.0, 10_000.0, 50_000.0, 100_000.0)
    r_ab_tolerance = 0.20
    r_w = 150.0
    r_w_range = (75.0, 300.0)
    # DS22242 "Absolute Maximum Ratings": current into terminals A, B and W: +-2.5 mA
    i_max = 2.5e-3
    # DS22242 / MCP44X1 family "AC/DC characteristics", capacitance at f = 1 MHz, code full scale:
    # C_AW = C_BW = 75 pF (terminals A, B), C_W = 120 pF (wiper)
    c_terminal = 75e-12
    c_wiper = 120e-12

    @staticmethod
    def frame(address, command, data=0):
        """16-bit command: AD3:AD0 C1:C0 D9:D8 | D7:D0 (DS22060 Figure 7-1)."""
        if not 0 <= address < 16 or not 0 <= command < 4 or not 0 <= data < 1024:
            raise ValueError("MCP4351 field out of range")
        return (address << 12) | (command << 10) | data

    @classmethod
    def write_wiper(cls, wiper, code):
        if not 0 <= code <= cls.code_max:
            raise ValueError(f"MCP4351 code {code} outside 0..{cls.code_max}")
        return cls.frame(cls.WIPER_ADDRESS[wiper], cls.CMD_WRITE, code)

    @classmethod
    def read_wiper(cls, wiper):
        # SDI during the data byte: DS22060 Figure 7-4 shows don't-care bits; we send ones
        return cls.frame(cls.WIPER_ADDRESS[wiper], cls.CMD_READ, 0x3FF)

    @staticmethod
    def parse_command(frame):
        """16-bit frame -> (address, command, data)."""
        return (frame >> 12) & 0xF, (frame >> 10) & 0x3, frame & 0x3FF

    @staticmethod
    def sdo_read_reply(value, valid=True):
        """What SDO carries during a Read Data command (DS22060 section 7.6, Figure 7-4):
        six 1s, CMDERR (1 = valid address/command), then D8:D0; all zeros after an error."""
        return (0b111111 << 10) | (0x200 | (value & 0x1FF)) if valid else 0b111111 << 10

    @staticmethod
    def parse_sdo(word):
        """16-bit SDO word -> (cmderr_ok, data D8:D0)."""
        return bool(word & 0x200), word & 0x1FF


@dataclass(frozen=True)
class Rheostat:
    """Code <-> resistance/conductance of a potentiometer used as a rheostat (B to wiper).

    R(code) = R_W + code / 2**bits * R_AB   (MCP4351 DS22242 equation 5-1, "R_WB"; code 0..2**bits)
    """
    r_ab: float
    r_w: float
    bits: int
    code_max: int

    @classmethod
    def of(cls, part):
        return cls(part.r_ab, part.r_w, part.bits, part.code_max)

    def resistance(self, code):
        """Ohms of a code (or an array of codes)."""
        c = np.asarray(code)
        if np.any((c < 0) | (c > self.code_max)):
            raise ValueError(f"code {code} outside 0..{self.code_max}")
        r = self.r_w + c / 2 ** self.bits * self.r_ab
        return float(r) if r.ndim == 0 else r

    def conductance(self, code):
        return 1.0 / self.resistance(code)

    def deviated(self, r_ab_factor=1.0, r_w=None):
        """This rheostat on a real chip: R_AB scaled by r_ab_factor, its own wiper resistance."""
        return replace(self, r_ab=self.r_ab * r_ab_factor, r_w=self.r_w if r_w is None else r_w)

    @property
    def g_min(self):
        return self.conductance(self.code_max)

    @property
    def g_max(self):
        return self.conductance(0)

    def code_for_resistance(self, r):
        code = round((r - self.r_w) / self.r_ab * 2 ** self.bits)
        return min(max(code, 0), self.code_max)

    def code_for_conductance(self, g):
        if g <= 0:
            return self.code_max
        return self.code_for_resistance(1.0 / g)


# --- DAC: AD5628 ----------------------------------------------------------------------------------

class AD5628:
    """Octal 12-bit voltage-output DAC, 32-bit SPI frames, LDAC pin for simultaneous update."""
    name = "AD5628"
    # "Serial Interface": data is clocked in on the falling edge of SCLK, 32 falling edges with SYNC low;
    # SCLK up to 50 MHz; minimum SYNC high time t8 = 15 ns.  SCLK idles low here (mode 1), so every
    # falling edge is a trailing edge.
    spi = SPIFormat(cpol=0, cpha=1, width=32, msb_first=True, max_sclk=50e6, min_cs_high=15e-9)
    channels = 8
    bits = 12
    # Table 8 "Command Definitions"
    CMD_WRITE_INPUT = 0b0000          # write to input register n (output changes on LDAC)
    CMD_UPDATE = 0b0001               # update DAC register n
    CMD_WRITE_UPDATE_ALL = 0b0010     # write to input register n, update all (software LDAC)
    CMD_WRITE_UPDATE = 0b0011         # write to and update DAC channel n
    CMD_POWER = 0b0100
    CMD_CLEAR_CODE = 0b0101
    CMD_LDAC_REG = 0b0110
    CMD_RESET = 0b0111
    CMD_INTERNAL_REF = 0b1000         # DB0 = 1: internal reference on
    ADDRESS_ALL = 0b1111
    v_ref_internal = 1.25             # AD5628-1 internal reference (gain 2 -> 0 .. 2.5 V)
    # "Theory of Operation / D/A Section" (Rev. G): with an external reference the ideal output is
    # V_OUT = V_REFIN * D / 2**N (with the internal one, 2 * V_REFOUT * D / 2**N); "Internal
    # Reference": the on-chip reference is OFF at power-up, so an external reference needs no
    # command.  The front-end drives V_REFIN from the same 2.5 V reference as the ADC's REF_IN.
    # Output settling (Table 2, "AC Characteristics": 1/4 to 3/4 scale to +-2 LSB) is a few us;
    # the front-end budgets `t_settle` for it.
    t_settle = 10e-6

    @classmethod
    def converter(cls, v_ref, *, clip=False):
        """Code <-> V_OUT with an external reference v_ref on VREFIN: V_OUT = V_REFIN * D / 2**N
        ("D/A Section"), 0 .. v_ref - 1 LSB."""
        return Converter(cls.bits, 0.0, float(v_ref), clip=clip, name=cls.name)

    @classmethod
    def frame(cls, command, address, code=0):
        """X X X X C3..C0 A3..A0 D11..D0 X*8 (Figure 59, "AD5628 Input Register Contents")."""
        if not 0 <= command < 16 or not 0 <= address < 16 or not 0 <= code < 4096:
            raise ValueError("AD5628 field out of range")
        return (command << 24) | (address << 20) | (code << 8)

    @classmethod
    def internal_reference_on(cls):
        return (cls.CMD_INTERNAL_REF << 24) | 1

    @staticmethod
    def parse(frame):
        """32-bit frame -> (command, address, code)."""
        return (frame >> 24) & 0xF, (frame >> 20) & 0xF, (frame >> 8) & 0xFFF


# --- ADC: AD7928 ----------------------------------------------------------------------------------

class AD7928:
    """8-channel 12-bit 1 MSPS SAR ADC, 16-bit SPI frames, result tagged with its channel address.

    No analog multiplexer is needed for the default array: its 8 neuron nodes map onto VIN0..VIN7.
    """
    name = "AD7928"
    # "Serial Interface": CS falling edge starts the conversion and puts out the leading zero; DOUT
    # changes on SCLK falling edges, DIN is loaded on SCLK falling edges, so SCLK idles high and both
    # sides use the falling (leading) edge: mode 2.  16 SCLK per conversion, SCLK up to 20 MHz;
    # t_QUIET = 50 ns minimum between the end of one transfer and the next CS falling edge.
    spi = SPIFormat(cpol=1, cpha=0, width=16, msb_first=True, max_sclk=20e6, min_cs_high=50e-9)
    channels = 8
    bits = 12
    # Table 7 "Control Register Bit Functions" (bit positions within the 12-bit register)
    WRITE, SEQ, ADD_SHIFT, PM_SHIFT, SHADOW, RANGE, CODING = 11, 10, 6, 4, 3, 1, 0
    PM_NORMAL = 0b11  # Table 9: PM1 PM0 = 1 1, normal operation
    # "Powering Up the AD7908/AD7918/AD7928", Figure 24: after power-up the part is in an unknown
    # mode; two dummy conversions with DIN held high put it into normal operation
    POWERUP_DIN, POWERUP_DUMMIES = 0xFFFF, 2

    @classmethod
    def converter(cls, v_ref, *, range_ref=True, clip=True):
        """Code <-> V_IN, straight binary ("ADC Transfer Function"): 0 .. REF_IN with RANGE = 1,
        0 .. 2 x REF_IN with RANGE = 0; 1 LSB = span / 4096; out-of-span inputs read as the end
        codes.  Simplification: the data sheet puts the code transitions at successive integer
        LSBs (code = floor(V / LSB)); the model rounds to the nearest code (transitions at half
        LSBs, i.e. an ADC whose offset is trimmed by half an LSB), so that code x LSB is the
        reading.  A real board's half-LSB offset is within what calibration measures."""
        span = float(v_ref) * (1 if range_ref else 2)
        return Converter(cls.bits, 0.0, span, clip=clip, name=cls.name)

    @classmethod
    def control(cls, channel, range_ref=True, coding_binary=True):
        """12-bit control word selecting `channel` for the next conversion, normal power, no sequencer.

        range_ref=True: RANGE = 1, input range 0 .. REF_IN (RANGE = 0 gives 0 .. 2 x REF_IN);
        coding_binary=True: CODING = 1, straight binary output.  The word occupies DIN's first 12 bits; the 16-bit frame is control << 4.
        """
        if not 0 <= channel < cls.channels:
            raise ValueError("AD7928 channel out of range")
        word = (1 << cls.WRITE) | (channel << cls.ADD_SHIFT) | (cls.PM_NORMAL << cls.PM_SHIFT)
        if range_ref:
            word |= 1 << cls.RANGE
        if coding_binary:
            word |= 1 << cls.CODING
        return word

    @classmethod
    def frame(cls, channel, **kw):
        return cls.control(channel, **kw) << 4

    @classmethod
    def parse_din(cls, frame):
        """16-bit DIN frame -> dict of the control register fields."""
        word = (frame >> 4) & 0xFFF
        return {
            "write": (word >> cls.WRITE) & 1, "seq": (word >> cls.SEQ) & 1,
            "channel": (word >> cls.ADD_SHIFT) & 7, "pm": (word >> cls.PM_SHIFT) & 3,
            "shadow": (word >> cls.SHADOW) & 1, "range": (word >> cls.RANGE) & 1,
            "coding": word & 1,
        }

    @staticmethod
    def dout(channel, code):
        """DOUT word: leading zero, ADD2..ADD0 of the converted channel, 12 data bits MSB first."""
        return ((channel & 7) << 12) | (code & 0xFFF)

    @staticmethod
    def parse_dout(word):
        """16-bit DOUT -> (channel, code)."""
        return (word >> 12) & 7, word & 0xFFF


PARTS = {p.name: p for p in (MCP4351, AD5628, AD7928)}
