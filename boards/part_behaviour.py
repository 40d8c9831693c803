"""What each SPI part does with the frames it receives, written once (pure Python, no simulator).

The pin-level adapters -- the cocotb models of the co-simulation (`sim/models.py`) and the Amaranth
test models (`tests/hdl/hdl_models.py`) -- shift bits in and out on the edges their part's
`SPIFormat` names and hand complete frames to the classes here, which hold the registers, decide
what the data output carries and what a frame changes, and record protocol violations in
`problems`.  Frame layouts and register maps come from `boards.parts` (datasheets cited there).

* MCP4351 (DS22060 section 7, "Serial Commands"): SDO is high while the 4 address and 2 command
  bits arrive, then CMDERR (high = a valid address/command pair, DS22060 7.3 "Error Condition"),
  then D8:D0 of the addressed register for a Read (Figure 7-4) and ones for a Write (Figure 7-2);
  after an invalid pair every following SDO bit is low until CS rises.  A Write executes only
  after exactly 16 clocks (7.5.1 "Single Write"; 7.3.1: partial commands are not executed).
  D8:D0 of 100h or more set full scale (7.2 "Data Byte"): the model latches 100h.  Volatile
  wipers power up at mid-scale, 80h (DS22242 Table 4-1, POR value).
* AD5628 ("Serial Interface", Table 8 "Command Definitions"): a frame is 32 falling SCLK edges
  with SYNC low (taking SYNC high earlier aborts it); /LDAC low copies every input register to its
  DAC register.  The board drives VREFIN from an external reference, so the internal reference
  (off at power-up, "Internal Reference") must stay off: switching it on is a violation.
* AD7928 ("Serial Interface", "Powering Up the AD7908/AD7918/AD7928", Figure 24): CS falling
  starts the conversion of the channel selected by the previous control word; DOUT is 0,
  ADD2..ADD0, D11..D0.  The part may power up in any mode, so the first two frames must be dummy
  conversions with DIN high; a control word before that is ignored (and is a violation here).
"""

from .parts import AD5628, AD7928, MCP4351

__all__ = ["MCP4351Behaviour", "AD5628Behaviour", "AD7928Behaviour"]


class MCP4351Behaviour:
    """n_chips MCP4351 on one bus (behind a chip-select decoder): their volatile registers."""

    POWER_ON_WIPER = 0x80
    VALID_ADDRESSES = frozenset(MCP4351.WIPER_ADDRESS + (MCP4351.TCON0, MCP4351.STATUS,
                                                         MCP4351.TCON1))

    def __init__(self, n_chips, problems=None):
        self.n_chips = n_chips
        self.problems = [] if problems is None else problems
        self.wipers = {(c, a): self.POWER_ON_WIPER for c in range(n_chips)
                       for a in MCP4351.WIPER_ADDRESS}

    def sdo_word(self, chip, head):
        """The 16 bits SDO carries in a frame whose first 6 bits (AD3:AD0 C1:C0) are `head`."""
        addr, cmd = (head >> 2) & 0xF, head & 0x3
        valid = addr in self.VALID_ADDRESSES
        if valid and cmd == MCP4351.CMD_READ:
            return MCP4351.sdo_read_reply(self.wipers.get((chip, addr), 0), True)
        return 0xFFFF if valid else MCP4351.sdo_read_reply(0, False)

    def sdo_bit(self, chip, i, word, nbits):
        """SDO bit i (0 = first) of a frame of which `nbits` bits (`word`, MSB first) have arrived
        (the address and command are known from the 6th bit on)."""
        if i < 6:
            return 1
        reply = self.sdo_word(chip, word >> (nbits - 6))
        return (reply >> (15 - i)) & 1 if i < 16 else (reply >> 9) & 1   # past the frame: CMDERR

    def frame(self, chip, word, nbits):
        """A complete frame (chip select released): returns (wiper index, code) when it wrote a
        wiper, else None."""
        if chip >= self.n_chips:
            self.problems.append(f"MCP4351: chip select {chip} beyond the {self.n_chips} populated chips")
            return None
        if nbits != MCP4351.spi.width:
            self.problems.append(f"MCP4351 #{chip}: {nbits}-bit frame (16-bit commands only)")
            return None
        addr, cmd, data = MCP4351.parse_command(word)
        if cmd == MCP4351.CMD_WRITE and addr in MCP4351.WIPER_ADDRESS:
            code = min(data & 0x1FF, MCP4351.code_max)
            self.wipers[(chip, addr)] = code
            return MCP4351.WIPER_ADDRESS.index(addr), code
        return None


class AD5628Behaviour:
    """n AD5628 sharing SCLK, DIN and /LDAC (one SYNC each): input and DAC registers per channel.

    `ldac_missed` lists input-register writes whose frame /LDAC fell inside, as (dac, channel,
    code, harmful): the DAC register took the old input register, the new code waits for the
    next /LDAC (harmful when the two differ)."""

    def __init__(self, n=2, problems=None):
        self.n = n
        self.problems = [] if problems is None else problems
        self.input_reg = {(d, c): 0 for d in range(n) for c in range(AD5628.channels)}
        self.dac_reg = dict(self.input_reg)
        self.reference_on = [False] * n
        self.ldac_missed = []

    def ldac(self):
        """/LDAC low: every input register to its DAC register; returns the (dac, channel) keys."""
        self.dac_reg.update(self.input_reg)
        return list(self.input_reg)

    def frame(self, dac, word, nbits, *, ldac_in_frame=False):
        """A complete frame on SYNC `dac`: returns the (dac, channel) keys whose output may have
        changed."""
        if nbits != AD5628.spi.width:
            self.problems.append(f"AD5628 #{dac}: {nbits}-bit frame ignored (32 bits needed)")
            return []
        cmd, addr, code = AD5628.parse(word)
        if addr >= AD5628.channels and addr != AD5628.ADDRESS_ALL:
            self.problems.append(f"AD5628 #{dac}: address {addr} is not a channel")
            return []
        chans = range(AD5628.channels) if addr == AD5628.ADDRESS_ALL else [addr]
        keys = [(dac, c) for c in chans]
        every = [(dac, c) for c in range(AD5628.channels)]
        if cmd in (AD5628.CMD_WRITE_INPUT, AD5628.CMD_WRITE_UPDATE, AD5628.CMD_WRITE_UPDATE_ALL):
            for k in keys:
                self.input_reg[k] = code
            if cmd == AD5628.CMD_WRITE_INPUT and ldac_in_frame:
                self.ldac_missed += [(dac, k[1], code, code != self.dac_reg[k]) for k in keys]
        if cmd == AD5628.CMD_WRITE_UPDATE:
            for k in keys:
                self.dac_reg[k] = code
            return keys
        if cmd in (AD5628.CMD_WRITE_UPDATE_ALL, AD5628.CMD_UPDATE):
            done = every if cmd == AD5628.CMD_WRITE_UPDATE_ALL else keys
            for k in done:
                self.dac_reg[k] = self.input_reg[k]
            return done
        if cmd == AD5628.CMD_INTERNAL_REF:
            self.reference_on[dac] = bool(word & 1)
            if self.reference_on[dac]:
                self.problems.append(f"AD5628 #{dac}: internal reference switched on while VREFIN "
                                     "is driven by the board's external reference")
            return every
        if cmd == AD5628.CMD_RESET:
            for k in every:
                self.input_reg[k] = self.dac_reg[k] = 0
            return every
        # power-down, clear-code and LDAC-register commands are not used by the controller
        return []

    def code(self, dac, channel):
        """The DAC register (the code on V_OUT) of one channel."""
        return self.dac_reg[(dac, channel)]


class AD7928Behaviour:
    """One AD7928: control register, power-up sequence, conversion result words."""

    POWERUP_DUMMIES = AD7928.POWERUP_DUMMIES

    def __init__(self, problems=None):
        self.problems = [] if problems is None else problems
        self.channel = 0                # power-up: channel 0
        self.range_ref = True
        self.binary = True
        self.dummies = 0                # consecutive DIN-high frames since power-up
        self.powerup_frames = []        # DIN words of the frames before the part was ready
        self.control_words = []         # decoded control words taken after power-up

    @property
    def ready(self):
        return self.dummies >= self.POWERUP_DUMMIES

    def code(self, volts, v_ref):
        """The conversion result of an input voltage (NaN -> 0) in the current range and coding."""
        if volts != volts:
            return 0
        code = int(AD7928.converter(v_ref, range_ref=self.range_ref).codes(volts))
        return code if self.binary else code ^ 0x800    # twos complement around REF_IN

    def dout(self, code):
        """The DOUT word of a conversion of the selected channel (invalid data, 0, before the
        power-up dummies are done)."""
        return AD7928.dout(self.channel, code) if self.ready else 0

    def frame(self, word, nbits):
        """A complete frame's DIN word: power-up dummies, then the control register."""
        if nbits != AD7928.spi.width:
            self.problems.append(f"AD7928: {nbits}-bit frame (16 needed); conversion aborted")
            return
        if not self.ready:
            self.powerup_frames.append(word)
            if word == AD7928.POWERUP_DIN:
                self.dummies += 1
            else:
                self.dummies = 0
                self.problems.append(
                    f"AD7928: control word {word:#06x} in frame {len(self.powerup_frames)} after "
                    "power-up ignored: two dummy conversions with DIN high must come first")
            return
        f = AD7928.parse_din(word)
        self.control_words.append(f)
        if f["write"]:
            if f["seq"] or f["shadow"]:
                self.problems.append("AD7928: sequencer/shadow modes are not modelled")
            if f["pm"] != AD7928.PM_NORMAL:
                self.problems.append(f"AD7928: power mode {f['pm']:02b} is not normal operation")
            self.channel = f["channel"]
            self.range_ref = bool(f["range"])
            self.binary = bool(f["coding"])
