"""Pin-level cocotb adapters of the AFE's SPI parts (MCP4351 x N, AD5628 x 2, AD7928).

Each adapter watches its chip select and SCLK pins of the controller's Verilog, shifts bits on the
edges its datasheet names, hands complete frames to the part's one behaviour in
`diodenet.boards.part_behaviour` (registers, SDO replies, conversions; the same code the Amaranth
test models use) and reports what changed to the analog bridge (`sim.bridge.AnalogBridge`).
Protocol violations (wrong frame length, SCLK faster than the part allows, chip select high for
less than the part's minimum, a conversion before the array settled, and what the behaviour
flags) are recorded in `violations`, never silently ignored.

Edges (datasheet sections cited in boards/parts.py): MCP4351 in SPI mode 0 (SDI sampled on SCK
rising edges, SDO changes on falling edges); AD5628 in mode 1 (DIN clocked in on the 32 SCLK
falling edges while SYNC is low; /LDAC asynchronous); AD7928 in mode 2 (CS falling starts the
conversion and presents the leading zero; DOUT changes and DIN is sampled on SCLK falling edges).
"""

import random

from cocotb.triggers import FallingEdge, First, RisingEdge
from cocotb.utils import get_sim_time

from ..boards import part_behaviour as behaviour
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

    def __init__(self, dut, bridge, n_chips, violations):
        self.dut, self.bridge, self.n_chips = dut, bridge, n_chips
        self.violations = violations
        self.part = behaviour.MCP4351Behaviour(n_chips, violations)
        self.frames = 0
        self.checks = _Checks(MCP4351.spi, "MCP4351", violations)

    @property
    def wipers(self):
        return self.part.wipers

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
                d.pot_cipo.value = self.part.sdo_bit(chip, n, word, n)
            self.checks.cs_end()
            d.pot_cipo.value = 1
            self.frames += 1
            wrote = self.part.frame(chip, word, n)
            if wrote is not None:
                self.bridge.set_pot(chip, *wrote)


class AD5628Pair:
    """Two AD5628 on one bus: SYNC0/SYNC1, shared SCLK, DIN and /LDAC."""

    def __init__(self, dut, bridge, violations, n=2):
        self.dut, self.bridge, self.n = dut, bridge, n
        self.violations = violations
        self.part = behaviour.AD5628Behaviour(n, violations)
        self.frames = 0
        self.in_frame = None            # DAC whose frame is being shifted in
        self.ldac_in_frame = False
        self.checks = _Checks(AD5628.spi, "AD5628", violations)

    @property
    def ldac_missed(self):
        return self.part.ldac_missed

    @property
    def reference_on(self):
        return self.part.reference_on

    def volts(self, dac, ch):
        """V_OUT of one channel with the board's external reference on VREFIN (the converter map
        of `boards.parts.AD5628.converter`)."""
        return float(AD5628.converter(self.bridge.afe.v_ref).volts(self.part.code(dac, ch)))

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
            self.frames += 1
            self._update(self.part.frame(dac, word, n, ldac_in_frame=self.ldac_in_frame))

    async def run_ldac(self):
        while True:
            await FallingEdge(self.dut.dac_ldac_n)
            if self.in_frame is not None:
                self.ldac_in_frame = True
            self._update(self.part.ldac())


class AD7928Model:
    """The AD7928: conversions served by the analog bridge, with settle-time checks; the part's
    behaviour (power-up, control register, transfer function) is `boards.part_behaviour`."""

    def __init__(self, dut, bridge, violations, *, ref=2.5, noise=0.0, seed=0):
        self.dut, self.bridge, self.violations = dut, bridge, violations
        self.ref, self.noise = ref, noise
        self.rng = random.Random(seed)
        self.part = behaviour.AD7928Behaviour(violations)
        self.conversions = 0
        self.early = []                # conversions started before the array settled
        self.checks = _Checks(AD7928.spi, "AD7928", violations)

    @property
    def ready(self):
        return self.part.ready

    @property
    def powerup_frames(self):
        """Frames before the part was ready (invalid data out)."""
        return len(self.part.powerup_frames)

    def convert(self, channel):
        t = _now()
        age = t - self.bridge.last_change
        if age < self.bridge.settle_time:
            msg = (f"AD7928: conversion of VIN{channel} at {t * 1e6:.3f} us started "
                   f"{age * 1e6:.3f} us after {self.bridge.last_change_what} "
                   f"(settle time {self.bridge.settle_time * 1e6:.3f} us)")
            self.early.append(msg)
            self.violations.append(msg)
        v = self.bridge.voltage(channel)        # NaN when the analog solve failed (recorded there)
        if self.noise:
            v += self.rng.gauss(0.0, self.noise)
        self.conversions += 1
        return self.part.dout(self.part.code(v, self.ref))

    async def run(self):
        d = self.dut
        d.adc_cipo.value = 0
        while True:
            await FallingEdge(d.adc_cs_n)
            self.checks.cs_fall()
            # during the power-up dummies DOUT carries invalid data (no conversion is counted)
            out = self.convert(self.part.channel) if self.part.ready else 0
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
            self.part.frame(word, n)
