"""SPIMaster in every mode the AFE's parts use, bit by bit against pin-level part models."""

import sys
from pathlib import Path

import pytest
from amaranth.sim import Simulator

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_models import (MCP4351Model, AD5628Model, AD7928Model,   # noqa: E402
                        decoder_address_violations)

from diodenet.boards.parts import MCP4351, AD5628, AD7928, SPIFormat   # noqa: E402
from diodenet.hdl.spi import SPIMaster                                  # noqa: E402


async def send_frames(ctx, m, words, after_each=None):
    """Drive SPIMaster m's control port: each word when it is ready, start for one cycle, until
    done (then `after_each()`); a few idle cycles at the end."""
    for w in words:
        while not ctx.get(m.ctrl.ready):
            await ctx.tick()
        ctx.set(m.ctrl.wdata, w)
        ctx.set(m.ctrl.start, 1)
        await ctx.tick()
        ctx.set(m.ctrl.start, 0)
        await ctx.tick().until(m.ctrl.done)
        if after_each is not None:
            after_each()
    await ctx.tick().repeat(4)


def test_mode0_mcp4351_write_and_read():
    """MCP4351 (DS22060 section 6, SPI modes 0,0; section 7.6 Read Data)."""
    m = SPIMaster(MCP4351.spi, divisor=1, n_cs=17)
    words = [MCP4351.write_wiper(1, 0x0AB), MCP4351.read_wiper(1)]
    model, got, cycles = _run_pot(m, words)
    assert [f[1] for f in model.frames] == words
    assert all(f[2] == 16 for f in model.frames) and not model.bad_frames
    assert MCP4351.parse_sdo(got[1]) == (True, 0x0AB)
    assert cycles[0] == 2 * 16 + 2


def _run_pot(m, words):
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    model = MCP4351Model(m.sclk, m.copi, m.cipo, m.cs_active, m.cs_index, 17)
    model.cs_select = lambda ctx: ctx.get(m.cs_index) if ctx.get(m.cs_active) else None
    sim.add_testbench(model.run, background=True)
    got, cycles = [], []

    async def bench(ctx):
        for w in words:
            ctx.set(m.ctrl.wdata, w)
            ctx.set(m.ctrl.cs, 3)
            ctx.set(m.ctrl.start, 1)
            await ctx.tick()
            ctx.set(m.ctrl.start, 0)
            n = 1
            while not ctx.get(m.ctrl.done):
                await ctx.tick()
                n += 1
            got.append(ctx.get(m.ctrl.rdata))
            cycles.append(n)
            while not ctx.get(m.ctrl.ready):
                await ctx.tick()
        await ctx.tick().repeat(4)

    sim.add_testbench(bench)
    sim.run()
    return model, got, cycles


def test_mode1_ad5628():
    """AD5628 "Serial Interface": 32 bits, sampled on SCLK falling edges (mode 1 here)."""
    m = SPIMaster(AD5628.spi, divisor=1, n_cs=2)
    # the second frame keeps the internal reference off (the board drives VREFIN)
    words = [AD5628.frame(AD5628.CMD_WRITE_UPDATE, 3, 0x5A5), AD5628.frame(AD5628.CMD_INTERNAL_REF, 0)]
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    from amaranth import Signal
    model = AD5628Model(m.sclk, m.copi, m.cs_active, Signal(init=1), n=1)
    model.cs_select = lambda ctx: 0 if ctx.get(m.cs_active) else None
    model._cs_signals = (m.cs_active,)
    sim.add_testbench(model.run, background=True)

    async def bench(ctx):
        await send_frames(ctx, m, words)

    sim.add_testbench(bench)
    sim.run()
    assert [f[1] for f in model.frames] == words and not model.bad_frames
    assert model.output[(0, 3)] == 0x5A5


def _run_adc(words):
    """SPIMaster in the AD7928's mode against the pin-level model: one frame per word."""
    m = SPIMaster(AD7928.spi, divisor=1)
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    from amaranth import Signal
    model = AD7928Model(m.sclk, m.copi, m.cipo, Signal(init=1),
                        codes=lambda ch, n: 0x800 + 16 * ch + n)
    model.cs_select = lambda ctx: 0 if ctx.get(m.cs_active) else None
    model._cs_signals = (m.cs_active,)
    sim.add_testbench(model.run, background=True)
    got = []

    async def bench(ctx):
        await send_frames(ctx, m, words, lambda: got.append(AD7928.parse_dout(ctx.get(m.ctrl.rdata))))

    sim.add_testbench(bench)
    sim.run()
    return model, got


def test_mode2_ad7928_pipeline():
    """AD7928 "Serial Interface": mode 2, DOUT = 0, ADD2..0, 12 data bits; channel pipelined.
    The first two frames are the power-up dummies with DIN high ("Powering Up", Figure 24)."""
    model, got = _run_adc([0xFFFF, 0xFFFF] + [AD7928.frame(ch) for ch in (5, 2, 7, 0)])
    assert not model.bad_frames and not model.errors
    assert model.powerup_frames == [0xFFFF, 0xFFFF]
    assert [w["channel"] for w in model.control_words] == [5, 2, 7, 0]
    # frame k returns the channel selected by frame k-1 (channel 0 after power-up)
    assert got[2:] == [(0, 0x800), (5, 0x800 + 80 + 1), (2, 0x800 + 32 + 2), (7, 0x800 + 112 + 3)]


def test_ad7928_model_refuses_control_words_before_power_up():
    """A master that writes the control register straight away (no dummy conversions with DIN
    high) is caught: the model reports each such frame and ignores its control word."""
    # one DIN-high frame is not enough: the fourth frame is refused too
    model, got = _run_adc([AD7928.frame(5), AD7928.frame(5), 0xFFFF, AD7928.frame(3)])
    assert len(model.errors) == 3 and "DIN high" in model.errors[0]
    assert model.control_words == [] and model.conversions == []       # all ignored / invalid
    # two consecutive DIN-high frames recover the part
    model, got = _run_adc([AD7928.frame(5), 0xFFFF, 0xFFFF, AD7928.frame(3), AD7928.frame(0)])
    assert len(model.errors) == 1 and [w["channel"] for w in model.control_words] == [3, 0]
    assert got[-1] == (3, 0x800 + 48 + 1)


def _decoded_cs_trace(**kw):
    """Back-to-back MCP4351 frames to changing chips (start held high, so every frame begins as
    early as the master allows); per-cycle (cs_index, /cs) and the frames the bank model saw."""
    m = SPIMaster(MCP4351.spi, divisor=1, n_cs=17, **kw)
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    model = MCP4351Model(m.sclk, m.copi, m.cipo, m.cs_active, m.cs_index, 17)
    model.cs_select = lambda ctx: ctx.get(m.cs_index) if ctx.get(m.cs_active) else None
    sim.add_testbench(model.run, background=True)
    trace = []

    async def probe(ctx):
        async for _, _, addr, active in ctx.tick().sample(m.cs_index, m.cs_active):
            trace.append((addr, 1 - active))

    async def bench(ctx):
        chips = [3, 16, 0, 0, 9, 1]
        ctx.set(m.ctrl.start, 1)
        for k, chip in enumerate(chips):
            ctx.set(m.ctrl.cs, chip)
            ctx.set(m.ctrl.wdata, MCP4351.write_wiper(k % 4, k))
            await ctx.tick().until(m.ctrl.ready & m.ctrl.start)   # the master takes the frame at this edge
            await ctx.tick()
        ctx.set(m.ctrl.start, 0)
        await ctx.tick().until(m.ctrl.ready)
        await ctx.tick().repeat(8)

    sim.add_testbench(probe, background=True)
    sim.add_testbench(bench)
    sim.run()
    return trace, model


def test_decoded_chip_select_address_setup_and_hold():
    """74HC154 decoder: with cs_setup = cs_hold = 3 the address never changes while /E0 is low or
    within 3 clocks of it; without them (the old master) the checker sees the glitch."""
    trace, model = _decoded_cs_trace(cs_setup=3, cs_hold=3)
    assert decoder_address_violations(trace, 3) == []
    assert [f[0] for f in model.frames] == [3, 16, 0, 0, 9, 1] and not model.bad_frames
    changes = sum(trace[t][0] != trace[t - 1][0] for t in range(1, len(trace)))
    assert changes == 5                                  # (reset) 0 -> 3 -> 16 -> 0 -> 9 -> 1
    trace, _ = _decoded_cs_trace()
    assert decoder_address_violations(trace, 3)          # address and enable switch together


@pytest.mark.parametrize("cpol,cpha,lsb", [(0, 0, False), (0, 1, True), (1, 0, True), (1, 1, False)])
def test_all_modes_loopback(cpol, cpha, lsb):
    """Generic: COPI looped to CIPO returns the word sent, SCLK idles at CPOL, edges = 2 * width."""
    fmt = SPIFormat(cpol=cpol, cpha=cpha, width=12, msb_first=not lsb, max_sclk=1e6,
                    min_cs_high=0)
    m = SPIMaster(fmt, divisor=2)
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    result = {}

    async def loop(ctx):
        async for (v,) in ctx.changed(m.copi):
            ctx.set(m.cipo, v)

    async def bench(ctx):
        assert ctx.get(m.sclk) == cpol
        ctx.set(m.ctrl.wdata, 0xA5C)
        ctx.set(m.ctrl.start, 1)
        await ctx.tick()
        ctx.set(m.ctrl.start, 0)
        edges, prev = 0, cpol
        while not ctx.get(m.ctrl.done):
            await ctx.tick()
            s = ctx.get(m.sclk)
            edges += s != prev
            prev = s
        result["rdata"], result["edges"] = ctx.get(m.ctrl.rdata), edges
        assert ctx.get(m.sclk) == cpol

    sim.add_testbench(loop, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert result["edges"] == 24
    # with cpha = 0 the loopback sees each bit before the part would; with cpha = 1 the same
    assert result["rdata"] == 0xA5C
