"""The 8N1 UART (hdl/uart.py) against a bit-level reference: start bit low, 8 data bits LSB
first, stop bit high, `divisor` clocks per bit."""

import random

import pytest
from amaranth.sim import Simulator

from diodenet.hdl.uart import UARTRx, UARTTx


def line_bits(byte):
    """The 10 line levels of one 8N1 character."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [1]


def sender(tx, data, tail, gaps=False):
    """A testbench handing `data` to `tx` (back to back, or with `valid` dropped between bytes),
    then running `tail` more clocks."""
    async def bench(ctx):
        for b in data:
            ctx.set(tx.data.payload, b)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
            if gaps:
                ctx.set(tx.data.valid, 0)
                await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(tail)
    return bench


def receiver(rx, got, errors):
    """A background testbench appending each byte `rx` delivers to `got`, each framing error to
    `errors`."""
    async def collect(ctx):
        async for *_, valid, payload, error in ctx.tick().sample(rx.data.valid, rx.data.payload,
                                                                 rx.error):
            if valid:
                got.append(payload)
            if error:
                errors.append(1)
    return collect


@pytest.mark.parametrize("divisor", [4, 12])
def test_tx_waveform(divisor):
    """Each byte leaves as exactly the 8N1 levels, every bit `divisor` clocks long."""
    tx = UARTTx(divisor)
    sim = Simulator(tx)
    sim.add_clock(1 / 12e6)
    data = [0x00, 0xFF, 0xA5, 0x3C]
    trace = []

    bench = sender(tx, data, 2 * divisor, gaps=True)

    async def probe(ctx):
        async for *_, level in ctx.tick().sample(tx.tx):
            trace.append(level)

    sim.add_testbench(probe, background=True)
    sim.add_testbench(bench)
    sim.run()
    # decode the trace independently: find each start edge, sample mid-bit
    got, t = [], 0
    while t < len(trace) and len(got) < len(data):
        if trace[t] == 0:
            levels = [trace[t + k * divisor + divisor // 2] for k in range(10)]
            assert all(trace[t + k] == levels[k // divisor] for k in range(10 * divisor)), \
                "a bit is not held for exactly `divisor` clocks"
            assert levels[0] == 0 and levels[9] == 1
            got.append(sum(bit << i for i, bit in enumerate(levels[1:9])))
            t += 10 * divisor
        else:
            t += 1
    assert got == data


@pytest.mark.parametrize("divisor", [4, 7, 12])
def test_loopback_random_bytes(divisor):
    """TX into RX: every byte arrives once, in order, with no framing error."""
    rng = random.Random(divisor)
    data = [rng.randrange(256) for _ in range(40)]
    tx, rx = UARTTx(divisor), UARTRx(divisor)
    from amaranth import Module
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    sim = Simulator(m)
    sim.add_clock(1 / 12e6)
    got, errors = [], []

    collect = receiver(rx, got, errors)

    bench = sender(tx, data, 12 * divisor)

    sim.add_testbench(collect, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert got == data and not errors


def test_rx_framing_error_drops_the_byte():
    """A character whose stop bit is low is dropped and flagged; the next good one arrives."""
    divisor = 8
    rx = UARTRx(divisor)
    sim = Simulator(rx)
    sim.add_clock(1 / 12e6)
    got, errors = [], []

    collect = receiver(rx, got, errors)

    async def bench(ctx):
        bad = line_bits(0x5A)
        bad[9] = 0                                   # stop bit low: a break / framing error
        for levels in (bad, [1] * 3, line_bits(0xC3)):
            for bit in levels:
                ctx.set(rx.rx, bit)
                await ctx.tick().repeat(divisor)
        await ctx.tick().repeat(4 * divisor)

    sim.add_testbench(collect, background=True)
    sim.add_testbench(bench)
    sim.run()
    assert got == [0xC3] and len(errors) == 1


def test_divisor_too_small():
    with pytest.raises(ValueError, match="divisor"):
        UARTRx(3)
