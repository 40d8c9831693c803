"""Frame-level simulation harness for the controller core (test support)."""

import struct

from amaranth.sim import Simulator

from diodenet.boards.platforms import ControllerConfig
from diodenet.hdl import protocol as P
from diodenet.hdl.core import Core

from hdl_models import MCP4351Model, AD5628Model, AD7928Model


class Host:
    """Talks to the core's byte streams from a testbench: send wire bytes, collect frames."""

    def __init__(self, core, ctx):
        self.core, self.ctx = core, ctx
        self.rx_bytes = bytearray()
        self.seq = 0
        self.results = []

    async def send(self, wire):
        """Feed `wire` into the core; replies that start meanwhile are collected too."""
        ctx, rx, tx = self.ctx, self.core.rx, self.core.tx
        for b in wire:
            ctx.set(rx.payload, b)
            ctx.set(rx.valid, 1)
            while True:
                ready = ctx.get(rx.ready)      # the value the coming edge samples
                if ctx.get(tx.valid):
                    self.rx_bytes.append(ctx.get(tx.payload))
                await ctx.tick()
                if ready:
                    break
        ctx.set(rx.valid, 0)

    async def frame(self, timeout=20000):
        """Next complete frame (wire bytes, delimiter included)."""
        ctx, tx = self.ctx, self.core.tx
        for _ in range(timeout):
            frames, rest = P.split_frames(self.rx_bytes)
            if frames:
                self.rx_bytes = bytearray(self.rx_bytes[len(frames[0]):])
                return frames[0]
            if ctx.get(tx.valid):
                self.rx_bytes.append(ctx.get(tx.payload))
            await ctx.tick()
        raise TimeoutError("no frame from the controller")

    async def reply(self, timeout=20000):
        """Next reply (result frames are stored in self.results)."""
        while True:
            body = P.decode_frame(await self.frame(timeout))
            if body[1] == P.Cmd.RESULT and len(body) > 3:
                self.results.append(body)
                continue
            return P.parse_reply(body)

    async def request(self, cmd, args=b"", timeout=20000):
        self.seq = (self.seq + 1) & 0xFF
        await self.send(P.request(self.seq, cmd, args))
        r = await self.reply(timeout)
        assert r.seq == self.seq and r.cmd == int(cmd), r
        return r


def simulate(script, config=None, *, models=True, vcd=None, core_kwargs=None, monitors=()):
    """Run `async script(host, parts, ctx)` against a fresh Core (built with `core_kwargs`);
    `monitors`: more `async fn(ctx, core)` run in the background from time 0 (e.g. pin probes).
    Returns (the script's value, core, parts)."""
    config = config or ControllerConfig()
    core = Core(config, **(core_kwargs or {}))
    sim = Simulator(core)
    sim.add_clock(1 / config.clk_hz)
    parts = {}
    if models:
        parts["pot"] = MCP4351Model(core.pot_sclk, core.pot_copi, core.pot_cipo, core.pot_cs_n,
                                    core.pot_cs_addr, config.afe.n_pot_chips)
        parts["dac"] = AD5628Model(core.dac_sclk, core.dac_copi, core.dac_sync_n, core.dac_ldac_n)
        parts["adc"] = AD7928Model(core.adc_sclk, core.adc_copi, core.adc_cipo, core.adc_cs_n)
        for p in parts.values():
            sim.add_testbench(p.run, background=True)
        sim.add_testbench(parts["dac"].run_ldac, background=True)
    for fn in monitors:
        async def monitor(ctx, fn=fn):
            await fn(ctx, core)
        sim.add_testbench(monitor, background=True)
    outcome = {}

    async def bench(ctx):
        ctx.set(core.tx.ready, 1)
        host = Host(core, ctx)
        outcome["value"] = await script(host, parts, ctx)

    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return outcome.get("value"), core, parts


def batch_samples(n):
    """n test samples for the sequencer: (8 DAC0 input codes each, the two perturbation channels'
    perturbed-phase codes each, the sample memory's words: sample s is words 10s .. 10s+9)."""
    inputs = [[(s * 37 + i * 101) & 0xFFF for i in range(8)] for s in range(n)]
    perturbed = [(2048 + 25 * s + 1, 2040 - 25 * s - 1) for s in range(n)]
    words = [w for s in range(n) for w in inputs[s] + list(perturbed[s])]
    return inputs, perturbed, words


async def configure_and_load(host, cfg, words, chunk=24):
    """SEQ_CONFIG then LOAD_SAMPLES of `words` in frames of `chunk` words, every reply OK."""
    assert (await host.request(P.Cmd.SEQ_CONFIG, cfg.pack())).status == P.Status.OK
    for off in range(0, len(words), chunk):
        part = words[off:off + chunk]
        r = await host.request(P.Cmd.LOAD_SAMPLES, struct.pack(f">H{len(part)}H", off, *part))
        assert r.status == P.Status.OK
