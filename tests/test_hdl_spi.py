"""SPIMaster in every mode the AFE's parts use, bit by bit against pin-level part models."""

import sys
from pathlib import Path

import pytest
from amaranth.sim import Simulator

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_models import MCP4351Model, AD5628Model, AD7928Model   # noqa: E402

from diodenet.boards.parts import MCP4351, AD5628, AD7928, SPIFormat   # noqa: E402
from diodenet.hdl.spi import SPIMaster                                  # noqa: E402


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
            ctx.set(m.wdata, w)
            ctx.set(m.cs, 3)
            ctx.set(m.start, 1)
            await ctx.tick()
            ctx.set(m.start, 0)
            n = 1
            while not ctx.get(m.done):
                await ctx.tick()
                n += 1
            got.append(ctx.get(m.rdata))
            cycles.append(n)
            while not ctx.get(m.ready):
                await ctx.tick()
        await ctx.tick().repeat(4)

    sim.add_testbench(bench)
    sim.run()
    return model, got, cycles


def test_mode1_ad5628():
    """AD5628 "Serial Interface": 32 bits, sampled on SCLK falling edges (mode 1 here)."""
    m = SPIMaster(AD5628.spi, divisor=1, n_cs=2)
    words = [AD5628.frame(AD5628.CMD_WRITE_UPDATE, 3, 0x5A5), AD5628.internal_reference_on()]
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    from amaranth import Signal
    model = AD5628Model(m.sclk, m.copi, m.cs_active, Signal(init=1), n=1)
    model.cs_select = lambda ctx: 0 if ctx.get(m.cs_active) else None
    model._cs_signals = (m.cs_active,)
    sim.add_testbench(model.run, background=True)

    async def bench(ctx):
        for w in words:
            while not ctx.get(m.ready):
                await ctx.tick()
            ctx.set(m.wdata, w)
            ctx.set(m.start, 1)
            await ctx.tick()
            ctx.set(m.start, 0)
            await ctx.tick().until(m.done)
        await ctx.tick().repeat(4)

    sim.add_testbench(bench)
    sim.run()
    assert [f[1] for f in model.frames] == words and not model.bad_frames
    assert model.output[(0, 3)] == 0x5A5


def test_mode2_ad7928_pipeline():
    """AD7928 "Serial Interface": mode 2, DOUT = 0, ADD2..0, 12 data bits; channel pipelined."""
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
        for ch in (5, 2, 7, 0):
            while not ctx.get(m.ready):
                await ctx.tick()
            ctx.set(m.wdata, AD7928.frame(ch))
            ctx.set(m.start, 1)
            await ctx.tick()
            ctx.set(m.start, 0)
            await ctx.tick().until(m.done)
            got.append(AD7928.parse_dout(ctx.get(m.rdata)))
        await ctx.tick().repeat(4)

    sim.add_testbench(bench)
    sim.run()
    assert not model.bad_frames
    assert [w["channel"] for w in model.control_words] == [5, 2, 7, 0]
    # frame k returns the channel selected by frame k-1 (channel 0 after power-up)
    assert got == [(0, 0x800), (5, 0x800 + 80 + 1), (2, 0x800 + 32 + 2), (7, 0x800 + 112 + 3)]


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
        ctx.set(m.wdata, 0xA5C)
        ctx.set(m.start, 1)
        await ctx.tick()
        ctx.set(m.start, 0)
        edges, prev = 0, cpol
        while not ctx.get(m.done):
            await ctx.tick()
            s = ctx.get(m.sclk)
            edges += s != prev
            prev = s
        result["rdata"], result["edges"] = ctx.get(m.rdata), edges
        assert ctx.get(m.sclk) == cpol

    sim.add_testbench(loop, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert result["edges"] == 24
    # with cpha = 0 the loopback sees each bit before the part would; with cpha = 1 the same
    assert result["rdata"] == 0xA5C
