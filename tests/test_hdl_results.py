"""The result framer (hdl/results.py) alone in Amaranth's simulator: words in, frame bodies out, for
two-phase and forward-only samples mixed in one FIFO."""

import random

from amaranth import Module
from amaranth.lib import fifo
from amaranth.sim import Simulator

from diodenet.hdl import protocol as P
from diodenet.hdl.results import ResultFramer


class _Bench:
    def __init__(self, n_adc, depth=64):
        self.n_adc = n_adc
        self.m = m = Module()
        m.submodules.fifo = self.fifo = fifo.SyncFIFOBuffered(width=16, depth=depth)
        m.submodules.framer = self.framer = ResultFramer(n_adc, depth)
        m.d.comb += self.framer.level.eq(self.fifo.level)
        from amaranth.lib import wiring
        wiring.connect(m, self.fifo.r_stream, self.framer.words)


def test_framer_bodies_match_the_protocol_for_both_kinds():
    n_adc = 3
    rng = random.Random(1)
    samples = []                      # (index, forward_only, sums)
    for s in range(6):
        fwd_only = bool(rng.randrange(2))
        sums = [rng.randrange(0x8000) for _ in range(n_adc * (1 if fwd_only else 2))]
        samples.append((s, fwd_only, sums))
    b = _Bench(n_adc)
    sim = Simulator(b.m)
    sim.add_clock(1e-6)
    bodies, cur = [], bytearray()

    async def bench(ctx):
        ctx.set(b.framer.batch_last, len(samples) - 1)
        ctx.set(b.framer.body.ready, 1)
        await ctx.tick()
        for idx, fwd_only, sums in samples:          # the sequencer's words, spaced by a few cycles
            for w in [idx | (P.INDEX_FORWARD_ONLY if fwd_only else 0)] + sums:
                ctx.set(b.fifo.w_data, w)
                ctx.set(b.fifo.w_en, 1)
                await ctx.tick()
                ctx.set(b.fifo.w_en, 0)
                for _ in range(rng.randrange(3)):
                    await ctx.tick()
        await ctx.tick().repeat(2000)

    async def collect(ctx):                          # every byte the sender takes
        while True:
            if ctx.get(b.framer.body.valid):
                cur.append(ctx.get(b.framer.body.payload.data))
                if ctx.get(b.framer.body.payload.last):
                    bodies.append(bytes(cur))
                    cur.clear()
            await ctx.tick()

    sim.add_testbench(bench)
    sim.add_testbench(collect, background=True)
    sim.run()
    assert len(bodies) == len(samples)
    for k, (body, (idx, fwd_only, sums)) in enumerate(zip(bodies, samples)):
        assert len(body) == P.result_length(n_adc, 1 if fwd_only else 2)
        rseq, status, sample, fwd, pert = P.parse_result(body, n_adc)
        assert (rseq, sample) == (k, idx)
        assert status == (P.RESULT_LAST if k == len(samples) - 1 else 0)
        assert fwd + pert == sums and len(pert) == (0 if fwd_only else n_adc)
