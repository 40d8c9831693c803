"""Pin-level adapters of the AFE's SPI parts for Amaranth simulation (test support).

Each model watches its chip select and SCLK, shifts bits in the part's mode exactly as its datasheet
describes, records every complete frame (for bit-by-bit checks against `diodenet.boards.parts`), and
hands it to the part's one behaviour, `diodenet.boards.part_behaviour` (the same code the cocotb
models use), which also decides what the data output carries.  They wake only on pin changes, so
they cost little simulation time.
"""

from diodenet.boards import part_behaviour as behaviour
from diodenet.boards.parts import MCP4351, AD5628, AD7928


def decoder_address_violations(trace, guard):
    """Chip-select decoder timing (74HC154 address + /E0 enable) in a per-cycle `trace` of
    (address, enable_n): every cycle t at which the address differs from cycle t-1 must have the
    enable inactive (high) in cycles t-guard .. t+guard-1, i.e. the address never changes while a
    chip is selected, nor within `guard` cycles after /E0 rose or before it falls.  Returns a list
    of (cycle, old address, new address) for each violation."""
    bad = []
    for t in range(1, len(trace)):
        if trace[t][0] != trace[t - 1][0]:
            window = trace[max(0, t - guard):t + guard]
            if any(not en_n for _, en_n in window):
                bad.append((t, trace[t - 1][0], trace[t][0]))
    return bad


class SPISlaveModel:
    """Generic mode-aware shifter. Subclasses implement `reply_word(cs)` (bits to shift out,
    MSB first) and `frame_done(cs, word, nbits)`."""

    fmt = None

    def __init__(self, sclk, copi, cs_select, cipo=None):
        self.sclk, self.copi, self.cipo = sclk, copi, cipo
        self.cs_select = cs_select          # fn(ctx) -> index of the selected chip or None
        self.frames = []                     # (cs, word, nbits)
        self.bad_frames = []

    async def run(self, ctx):
        fmt = self.fmt
        w = fmt.width
        cs = None
        sclk_prev = fmt.cpol
        while True:
            await ctx.changed(self.sclk, *self._cs_signals)
            sclk = ctx.get(self.sclk)
            new_cs = self.cs_select(ctx)
            if new_cs != cs:
                if cs is not None:
                    self._end(cs, word, nbits)
                cs = new_cs
                if cs is not None:
                    if sclk != fmt.cpol:
                        self.bad_frames.append(("sclk not idle at CS assertion", cs))
                    word, nbits = 0, 0
                    self.begin(cs)
                    self._drive(ctx, self.out_bit(cs, 0, word, nbits))
                    out_i = 0
                sclk_prev = sclk
                continue
            if cs is None or sclk == sclk_prev:
                sclk_prev = sclk
                continue
            leading = sclk != fmt.cpol
            sample_edge = leading if fmt.cpha == 0 else not leading
            if sample_edge:
                word = (word << 1) | ctx.get(self.copi)
                nbits += 1
            else:
                # change edge: present the next bit (cpha=1 presents bit 0 at the first leading edge)
                if fmt.cpha == 1 and out_i == 0 and nbits == 0:
                    self._drive(ctx, self.out_bit(cs, 0, word, nbits))
                else:
                    out_i += 1
                    self._drive(ctx, self.out_bit(cs, out_i, word, nbits))
            sclk_prev = sclk

    def _drive(self, ctx, bit):
        if self.cipo is not None:
            ctx.set(self.cipo, bit)

    def _end(self, cs, word, nbits):
        self.frames.append((cs, word, nbits))
        if nbits != self.fmt.width:
            self.bad_frames.append((f"{nbits} bits, expected {self.fmt.width}", cs))
        else:
            self.frame_done(cs, word)

    def begin(self, cs):
        self._out = self.reply_word(cs)

    def out_bit(self, cs, i, word, nbits):
        """Bit i (MSB first) of the data output; `word`/`nbits`: input bits so far."""
        return (self._out >> (self.fmt.width - 1 - i)) & 1 if i < self.fmt.width else 0

    def reply_word(self, cs):
        return 0

    def frame_done(self, cs, word):
        pass


class MCP4351Model(SPISlaveModel):
    """MCP4351 x n_chips behind a chip-select decoder (cs_n strobe + address)."""
    fmt = MCP4351.spi

    def __init__(self, sclk, copi, cipo, cs_n, cs_addr, n_chips):
        self._cs_signals = (cs_n, cs_addr)
        super().__init__(sclk, copi, lambda ctx: None if ctx.get(cs_n) else ctx.get(cs_addr), cipo)
        self.n_chips = n_chips
        self.part = behaviour.MCP4351Behaviour(n_chips, self.bad_frames)
        self.writes = []
        self.reads = []

    @property
    def wipers(self):
        return self.part.wipers

    def out_bit(self, cs, i, word, nbits):
        return self.part.sdo_bit(cs, i, word, nbits)

    def frame_done(self, cs, word):
        self.part.frame(cs, word, self.fmt.width)
        addr, cmd, data = MCP4351.parse_command(word)
        if cmd == MCP4351.CMD_WRITE:
            self.writes.append((cs, addr, data))
        if cmd == MCP4351.CMD_READ:
            self.reads.append((cs, addr))


class AD5628Model(SPISlaveModel):
    fmt = AD5628.spi

    def __init__(self, sclk, copi, sync_n, ldac_n, n=2):
        self._cs_signals = (sync_n,)
        self.sync_n, self.ldac_n = sync_n, ldac_n

        def sel(ctx):
            v = ctx.get(sync_n)
            low = [i for i in range(n) if not (v >> i) & 1]
            if len(low) > 1:
                self.bad_frames.append(("two SYNC lines low", low))
            return low[0] if low else None
        super().__init__(sclk, copi, sel)
        self.part = behaviour.AD5628Behaviour(n, self.bad_frames)
        self.ldac_pulses = 0
        self.ldac_during_frame = 0   # LDAC pulses while a SYNC line was low (a frame in flight)
        self._n = n

    @property
    def input_reg(self):
        return self.part.input_reg

    @property
    def output(self):
        """The DAC registers (the codes on the outputs), by (dac, channel)."""
        return self.part.dac_reg

    def frame_done(self, cs, word):
        self.part.frame(cs, word, self.fmt.width)

    async def run_ldac(self, ctx):
        async for (value,) in ctx.changed(self.ldac_n):
            if value == 0:
                self.ldac_pulses += 1
                if ctx.get(self.sync_n) != (1 << self._n) - 1:
                    self.ldac_during_frame += 1
                self.part.ldac()


class AD7928Model(SPISlaveModel):
    """Converts `codes(channel, n) -> code` (n: conversions so far); the channel is the one
    selected by the previous frame's control word; power-up and the control register are the
    part's behaviour (`boards.part_behaviour.AD7928Behaviour`): until two dummy frames with DIN
    high have been seen it ignores every control word, answers invalid data (not recorded in
    `conversions`) and records each offending frame in `errors`.  `powerup_frames` lists the DIN
    words of the frames before it was ready."""
    fmt = AD7928.spi

    def __init__(self, sclk, din, dout, cs_n, codes=None):
        self._cs_signals = (cs_n,)
        super().__init__(sclk, din, lambda ctx: None if ctx.get(cs_n) else 0, dout)
        self.errors = []
        self.part = behaviour.AD7928Behaviour(self.errors)
        self.codes = codes or (lambda ch, n: (ch * 500 + n) & 0xFFF)
        self.conversions = []       # (channel, code)

    @property
    def ready(self):
        return self.part.ready

    @property
    def channel(self):
        return self.part.channel

    @property
    def control_words(self):
        return self.part.control_words

    @property
    def powerup_frames(self):
        return self.part.powerup_frames

    def reply_word(self, cs):
        if not self.part.ready:
            return 0                 # "invalid data" during the dummy conversions
        code = self.codes(self.part.channel, len(self.conversions))
        self.conversions.append((self.part.channel, code))
        return self.part.dout(code)

    def frame_done(self, cs, word):
        self.part.frame(word, self.fmt.width)
