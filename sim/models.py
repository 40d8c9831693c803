"""Pin-level cocotb models of the AFE's SPI parts (MCP4351 x N, AD5628 x 2, AD7928).

Each model watches its chip select and SCLK pins of the controller's Verilog, shifts bits on the
edges its datasheet names, decodes complete frames with the one frame definition in
`diodenet.boards.parts` (the functions the gateware is generated from), and reports what changed
to the analog bridge (`sim.bridge.AnalogBridge`).  Protocol violations (wrong frame length, SCLK
faster than the part allows, chip select high for less than the part's minimum, a conversion
before the array settled) are recorded in `violations`, never silently ignored.

Edges (datasheet sections cited in boards/parts.py):
* MCP4351, SPI mode 0: SDI sampled on SCK rising edges, SDO changes on falling edges; SDO carries
  1s while the address and command bits arrive, CMDERR on the 7th clock, then D8:D0 for a read.
* AD5628, SPI mode 1 here: DIN clocked in on the 32 SCLK falling edges while SYNC is low; /LDAC
  low copies every input register to its DAC register.  VREFIN is driven by the board's 2.5 V
  reference (the internal reference, off at power-up, must stay off: switching it on is a
  violation), so V_OUT = 2.5 V * D / 4096.
* AD7928, SPI mode 2: CS falling edge starts the conversion of the channel selected by the
  previous frame's control word (WRITE = 1) and presents the leading zero; DOUT changes and DIN is
  sampled on SCLK falling edges; result = 0, ADD2..ADD0, D11..D0.  Power-up ("Powering Up the
  AD7908/AD7918/AD7928", Figure 24): the part may come up in any mode, so the first two frames
  must be dummy conversions with DIN held high; before those a control word is ignored and
  reported as a violation (the real part could latch it into a random mode).
"""

import random

from cocotb.triggers import FallingEdge, First, RisingEdge
from cocotb.utils import get_sim_time

from ..boards.parts import AD5628, AD7928, MCP4351

__all__ = ["MCP4351Bank", "AD5628Pair", "AD7928Model"]


def _now():
    return get_sim_time(unit="ns") * 1e-9


async def _next_edge(edge, cs_n, n, width):
    """Wait for the next SCLK `edge` of a frame whose chip select is `cs_n`; False when the frame
    ended (chip select high) instead.

    Speed: while fewer than `width` bits have arrived the model waits for the clock edge alone and
    then looks at chip select (a `First` of two triggers per bit cost most of the co-simulation's
    time); from the `width`-th bit on it waits for either, so an over-long frame is still seen.
    A frame cut short is seen when chip select is still high at the next clock edge (the
    controller's SPI masters always finish a frame, hdl/spi.py)."""
    if n < width:
        await edge
    else:
        await First(edge, RisingEdge(cs_n))
    return not int(cs_n.value)


class _Checks:
    """SCLK half-period and chip-select-high checks shared by the models."""

    def __init__(self, fmt, name, violations):
        self.fmt, self.name, self.violations = fmt, name, violations
        self.last_edge = None
        self.cs_rise = None

    def edge(self):
        t = _now()
        if self.last_edge is not None and t - self.last_edge < 0.5 / self.fmt.max_sclk * (1 - 1e-6):
            self.violations.append(f"{self.name}: SCLK half period {1e9 * (t - self.last_edge):.1f} ns "
                                   f"< {0.5e9 / self.fmt.max_sclk:.1f} ns at {t * 1e6:.3f} us")
        self.last_edge = t

    def cs_fall(self):
        t = _now()
        if self.cs_rise is not None and t - self.cs_rise < self.fmt.min_cs_high * (1 - 1e-6):
            self.violations.append(f"{self.name}: chip select high {1e9 * (t - self.cs_rise):.1f} ns "
                                   f"< {1e9 * self.fmt.min_cs_high:.1f} ns at {t * 1e6:.3f} us")
        self.last_edge = t

    def cs_end(self):
        self.cs_rise = _now()


class MCP4351Bank:
    """n_chips MCP4351 behind the two 74HC154 decoders: /E0 = pot_cs_n, address = pot_cs_addr."""

    POWER_ON_WIPER = 0x80          # DS22242: volatile wipers power up at mid-scale

    def __init__(self, dut, bridge, n_chips, violations):
        self.dut, self.bridge, self.n_chips = dut, bridge, n_chips
        self.violations = violations
        self.wipers = {(c, a): self.POWER_ON_WIPER for c in range(n_chips)
                       for a in MCP4351.WIPER_ADDRESS}
        self.frames = 0
        self.checks = _Checks(MCP4351.spi, "MCP4351", violations)
        self.valid_addresses = set(MCP4351.WIPER_ADDRESS) | {MCP4351.TCON0, MCP4351.STATUS, MCP4351.TCON1}

    async def run(self):
        d = self.dut
        d.pot_cipo.value = 1
        while True:
            await FallingEdge(d.pot_cs_n)
            self.checks.cs_fall()
            chip = int(d.pot_cs_addr.value)
            word, n = 0, 0
            d.pot_cipo.value = 1
            while True:
                if not await _next_edge(RisingEdge(d.pot_sclk), d.pot_cs_n, n, MCP4351.spi.width):
                    break
                self.checks.edge()
                word = (word << 1) | int(d.pot_copi.value)
                n += 1
                if not await _next_edge(FallingEdge(d.pot_sclk), d.pot_cs_n, n, MCP4351.spi.width):
                    break
                self.checks.edge()
                d.pot_cipo.value = self._sdo_bit(chip, n, word)
            self.checks.cs_end()
            d.pot_cipo.value = 1
            self._frame(chip, word, n)

    def _sdo_bit(self, chip, i, word):
        """SDO bit i (0 = first) given the first i bits received (`word`)."""
        if i < 6:
            return 1
        head = word >> (i - 6)
        addr, cmd = (head >> 2) & 0xF, head & 0x3
        valid = addr in self.valid_addresses
        if i == 6:
            return int(valid)
        if not valid:
            return 0
        if cmd == MCP4351.CMD_READ and i < 16:
            return (self.wipers.get((chip, addr), 0) >> (15 - i)) & 1
        return 1

    def _frame(self, chip, word, n):
        self.frames += 1
        if chip >= self.n_chips:
            self.violations.append(f"MCP4351: chip select {chip} beyond the {self.n_chips} populated chips")
            return
        if n != MCP4351.spi.width:
            self.violations.append(f"MCP4351 #{chip}: {n}-bit frame (16-bit commands only)")
            return
        addr, cmd, data = MCP4351.parse_command(word)
        if cmd == MCP4351.CMD_WRITE and addr in MCP4351.WIPER_ADDRESS:
            code = min(data & 0x1FF, MCP4351.code_max)   # above full scale latches full scale
            self.wipers[(chip, addr)] = code
            self.bridge.set_pot(chip, MCP4351.WIPER_ADDRESS.index(addr), code)


class AD5628Pair:
    """Two AD5628 on one bus: SYNC0/SYNC1, shared SCLK, DIN and /LDAC."""

    def __init__(self, dut, bridge, violations, n=2):
        self.dut, self.bridge, self.n = dut, bridge, n
        self.violations = violations
        self.input_reg = {(d, c): 0 for d in range(n) for c in range(AD5628.channels)}
        self.dac_reg = dict(self.input_reg)
        self.reference_on = [False] * n
        self.frames = 0
        self.in_frame = None            # DAC whose frame is being shifted in
        self.ldac_in_frame = False
        self.ldac_missed = []           # input-register writes that finished after an LDAC pulse
                                        # that fell inside their frame: (dac, ch, code, harmful)
        self.checks = _Checks(AD5628.spi, "AD5628", violations)

    def volts(self, dac, ch):
        """V_OUT = V_REFIN * D / 2**N with the board's external reference on VREFIN (AD5628 data
        sheet, "D/A Section"); the internal reference stays off (see `reference_on`)."""
        return self.dac_reg[(dac, ch)] / 2 ** AD5628.bits * self.bridge.afe.v_ref

    def _update(self, keys):
        for k in keys:
            self.bridge.set_dac(k[0], k[1], self.volts(*k))

    async def run(self):
        d = self.dut
        while True:
            await d.dac_sync_n.value_change
            sync = int(d.dac_sync_n.value)
            low = [i for i in range(self.n) if not (sync >> i) & 1]
            if not low:
                continue
            if len(low) != 1:
                self.violations.append(f"AD5628: SYNC lines {low} low together")
                continue
            dac = low[0]
            self.checks.cs_fall()
            self.in_frame, self.ldac_in_frame = dac, False
            word, n = 0, 0
            while True:
                if n < AD5628.spi.width:
                    # inside the frame: one trigger per bit (see `_next_edge`)
                    await FallingEdge(d.dac_sclk)
                else:
                    await First(FallingEdge(d.dac_sclk), d.dac_sync_n.value_change)
                if (int(d.dac_sync_n.value) >> dac) & 1:
                    break
                self.checks.edge()
                word = (word << 1) | int(d.dac_copi.value)
                n += 1
            self.checks.cs_end()
            self.in_frame = None
            self._frame(dac, word, n)

    async def run_ldac(self):
        while True:
            await FallingEdge(self.dut.dac_ldac_n)
            if self.in_frame is not None:
                self.ldac_in_frame = True
            self.dac_reg.update(self.input_reg)
            self._update(list(self.input_reg))

    def _frame(self, dac, word, n):
        self.frames += 1
        if n != AD5628.spi.width:
            # "Serial Interface": SYNC taken high before the 32nd falling edge aborts the write
            self.violations.append(f"AD5628 #{dac}: {n}-bit frame ignored (32 bits needed)")
            return
        cmd, addr, code = AD5628.parse(word)
        chans = range(AD5628.channels) if addr == AD5628.ADDRESS_ALL else [addr]
        if addr >= AD5628.channels and addr != AD5628.ADDRESS_ALL:
            self.violations.append(f"AD5628 #{dac}: address {addr} is not a channel")
            return
        keys = [(dac, c) for c in chans]
        if cmd in (AD5628.CMD_WRITE_INPUT, AD5628.CMD_WRITE_UPDATE, AD5628.CMD_WRITE_UPDATE_ALL):
            for k in keys:
                self.input_reg[k] = code
            if cmd == AD5628.CMD_WRITE_INPUT and self.ldac_in_frame:
                # /LDAC fell while this write was being shifted in: the DAC register took the old
                # input register, the new code waits for the next LDAC.  Harmful when it differs.
                for k in keys:
                    self.ldac_missed.append((dac, k[1], code, code != self.dac_reg[k]))
        if cmd == AD5628.CMD_WRITE_UPDATE:
            for k in keys:
                self.dac_reg[k] = code
            self._update(keys)
        elif cmd == AD5628.CMD_WRITE_UPDATE_ALL:
            allk = [(dac, c) for c in range(AD5628.channels)]
            for k in allk:
                self.dac_reg[k] = self.input_reg[k]
            self._update(allk)
        elif cmd == AD5628.CMD_UPDATE:
            for k in keys:
                self.dac_reg[k] = self.input_reg[k]
            self._update(keys)
        elif cmd == AD5628.CMD_INTERNAL_REF:
            # the board drives VREFIN from its 2.5 V reference: the internal reference would drive
            # the same pin (VREFIN/VREFOUT) against it
            self.reference_on[dac] = bool(word & 1)
            if self.reference_on[dac]:
                self.violations.append(f"AD5628 #{dac}: internal reference switched on while VREFIN "
                                       "is driven by the board's external reference")
            self._update([(dac, c) for c in range(AD5628.channels)])
        elif cmd == AD5628.CMD_RESET:
            for c in range(AD5628.channels):
                self.input_reg[(dac, c)] = self.dac_reg[(dac, c)] = 0
            self._update([(dac, c) for c in range(AD5628.channels)])
        # power-down, clear-code and LDAC-register commands are not used by the controller


class AD7928Model:
    """The AD7928: conversions served by the analog bridge, with settle-time and range checks, and
    the power-up sequence (two dummy conversions with DIN high before any control word)."""

    POWERUP_DUMMIES = 2

    def __init__(self, dut, bridge, violations, *, ref=2.5, noise=0.0, seed=0):
        self.dut, self.bridge, self.violations = dut, bridge, violations
        self.ref, self.noise = ref, noise
        self.rng = random.Random(seed)
        self.channel = 0               # power-up: channel 0
        self.range_ref = True
        self.binary = True
        self.conversions = 0
        self.early = []                # conversions started before the array settled
        self.dummies = 0               # consecutive DIN-high frames since power-up
        self.powerup_frames = 0        # frames before the part was ready (invalid data out)
        self.checks = _Checks(AD7928.spi, "AD7928", violations)

    @property
    def ready(self):
        return self.dummies >= self.POWERUP_DUMMIES

    def convert(self, channel):
        t = _now()
        age = t - self.bridge.last_change
        if age < self.bridge.settle_time:
            msg = (f"AD7928: conversion of VIN{channel} at {t * 1e6:.3f} us started "
                   f"{age * 1e6:.3f} us after {self.bridge.last_change_what} "
                   f"(settle time {self.bridge.settle_time * 1e6:.3f} us)")
            self.early.append(msg)
            self.violations.append(msg)
        v = self.bridge.voltage(channel)
        if self.noise:
            v += self.rng.gauss(0.0, self.noise)
        span = self.ref if self.range_ref else 2 * self.ref
        lsb = span / 2 ** AD7928.bits
        if v != v:                      # NaN: the analog solve failed (recorded by the bridge)
            code = 0
        else:
            code = int(min(max(round(v / lsb), 0), 2 ** AD7928.bits - 1))
        if not self.binary:
            code ^= 0x800               # twos complement around REF_IN
        self.conversions += 1
        return AD7928.dout(channel, code)

    async def run(self):
        d = self.dut
        d.adc_cipo.value = 0
        while True:
            await FallingEdge(d.adc_cs_n)
            self.checks.cs_fall()
            ready = self.ready
            # during the power-up dummies DOUT carries invalid data (no conversion is counted)
            out = self.convert(self.channel) if ready else 0
            word, n = 0, 0
            d.adc_cipo.value = (out >> 15) & 1
            while True:
                if not await _next_edge(FallingEdge(d.adc_sclk), d.adc_cs_n, n, AD7928.spi.width):
                    break
                self.checks.edge()
                word = (word << 1) | int(d.adc_copi.value)
                n += 1
                d.adc_cipo.value = (out >> (15 - n)) & 1 if n < 16 else 0
            self.checks.cs_end()
            if n != AD7928.spi.width:
                self.violations.append(f"AD7928: {n}-bit frame (16 needed); conversion aborted")
                continue
            if not ready:
                self.powerup_frames += 1
                if word == (1 << AD7928.spi.width) - 1:
                    self.dummies += 1
                else:
                    self.dummies = 0
                    self.violations.append(
                        f"AD7928: control word {word:#06x} in frame {self.powerup_frames} after "
                        "power-up ignored: two dummy conversions with DIN high must come first")
                continue
            f = AD7928.parse_din(word)
            if f["write"]:
                if f["seq"] or f["shadow"]:
                    self.violations.append("AD7928: sequencer/shadow modes are not modelled")
                if f["pm"] != AD7928.PM_NORMAL:
                    self.violations.append(f"AD7928: power mode {f['pm']:02b} is not normal operation")
                self.channel = f["channel"]
                self.range_ref = bool(f["range"])
                self.binary = bool(f["coding"])
