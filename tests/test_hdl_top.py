"""Top level: commands in, SPI frames out, checked bit by bit against the parts' datasheet formats;
the sequencer's batch, its ADC duty; the UART path."""

import dataclasses
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_harness import batch_samples, configure_and_load, simulate  # noqa: E402
from hdl_models import decoder_address_violations                   # noqa: E402

from diodenet.boards.platforms import ControllerConfig                    # noqa: E402
from diodenet.boards.parts import MCP4351, AD5628, AD7928           # noqa: E402
from diodenet.hdl import protocol as P                              # noqa: E402
from diodenet.hdl.core import (decoder_guard_cycles, pot_read_half_period,  # noqa: E402
                               pot_sclk_limit)

C, S = P.Cmd, P.Status


def test_pot_write_is_verified_by_read_back():
    """MCP4351: DS22060 section 7.1 (16-bit Write Data: AD3:AD0 00 D9:D0) and section 7.6
    (Read Data: AD3:AD0 11, SDO = 1s, CMDERR, D8:D0); wiper addresses DS22242 Table 4-1."""
    async def script(host, parts, ctx):
        r = await host.request(C.POT_WRITE, bytes([16, 3, 0x01, 0x00]))   # chip 16, wiper 3, 256
        assert (r.status, r.data) == (S.OK, b"\x01\x00")
        r = await host.request(C.POT_READ, bytes([16, 3]))
        assert (r.status, r.data) == (S.OK, b"\x01\x00")
        frames = parts["pot"].frames
        assert frames == [(16, MCP4351.write_wiper(3, 256), 16), (16, MCP4351.read_wiper(3), 16),
                          (16, MCP4351.read_wiper(3), 16)]
        assert frames[0][1] == 0b0111_00_01_0000_0000            # bit by bit
        assert not parts["pot"].bad_frames
    simulate(script)


def test_dac_write_and_raw():
    """AD5628 Figure 59 (input register contents) and Table 8 (command 0011 write and update)."""
    async def script(host, parts, ctx):
        assert (await host.request(C.DAC_WRITE, bytes([1, 6, 0x0F, 0xED]))).status == S.OK
        assert (await host.request(C.DAC_RAW, bytes([0]) + AD5628.internal_reference_on()
                                   .to_bytes(4, "big"))).status == S.OK
        assert parts["dac"].frames == [(1, 0x0036FED00, 32), (0, 0x08000001, 32)]
        assert parts["dac"].output[(1, 6)] == 0xFED
        # the part's behaviour flags the raw frame: VREFIN is driven by the board's reference
        assert parts["dac"].bad_frames == ["AD5628 #0: internal reference switched on while "
                                           "VREFIN is driven by the board's external reference"]
    simulate(script)


def test_adc_read_selects_then_converts():
    """AD7928 Table 7 (control register) and "Serial Interface" (DOUT: 0, ADD2..0, 12 bits)."""
    async def script(host, parts, ctx):
        r = await host.request(C.ADC_READ, bytes([6]))
        assert r.status == S.OK
        ch, code = r.data[0], int.from_bytes(r.data[1:], "big")
        assert ch == 6 and code == (6 * 500 + 1) & 0xFFF
        words = [w for _, w, _ in parts["adc"].frames]
        assert words == [0xFFFF] * 2 + [AD7928.frame(6)] * 2      # power-up dummies, then the read
        assert words[2] == 0b1_0_0_110_11_0_0_1_1_0000
    simulate(script)


def test_adc_power_up_sequence():
    """AD7928 "Powering Up the AD7908/AD7918/AD7928" / Figure 24: after reset the controller runs
    two full dummy conversions with DIN held high before anything else reaches the ADC -- an
    ADC_READ sent at once waits for them -- and the pin-level model, which refuses control words
    until then, reports nothing."""
    async def script(host, parts, ctx):
        r = await host.request(C.ADC_READ, bytes([3]))            # sent from the first cycle
        adc = parts["adc"]
        assert r.status == S.OK and r.data == bytes([3]) + ((3 * 500 + 1) & 0xFFF).to_bytes(2, "big")
        assert adc.frames[:2] == [(0, 0xFFFF, 16)] * 2 and adc.powerup_frames == [0xFFFF] * 2
        assert [w for _, w, _ in adc.frames[2:]] == [AD7928.frame(3)] * 2
        assert adc.errors == [] and not adc.bad_frames
        n = len(adc.frames)
        await ctx.tick().repeat(500)
        assert len(adc.frames) == n                                  # once, at start-up only
    simulate(script)


def test_adc_model_catches_a_controller_without_power_up():
    """The same ADC_READ from a controller built without the start-up dummies: the model ignores
    the control words (the part may still be in a random power-up mode) and reports them."""
    async def script(host, parts, ctx):
        r = await host.request(C.ADC_READ, bytes([6]))
        adc = parts["adc"]
        assert len(adc.errors) == 2 and all("DIN high" in e for e in adc.errors)
        assert adc.control_words == [] and r.data[0] != 6        # the channel select never landed
    simulate(script, core_kwargs={"adc_powerup_frames": 0})


def test_batch_frames_results_and_duty():
    """One batch, every sample with its own perturbed-phase codes: sample s is words 10s .. 10s+9
    of the sample memory (8 DAC0 input codes, then one code per perturbation channel)."""
    n, cfg = 12, P.SeqConfig(settle=72, oversample_log2=2, pert_forward=(2048, 2040))
    inputs, perturbed, words = batch_samples(n)
    results = []

    async def script(host, parts, ctx):
        await configure_and_load(host, cfg, words)
        assert (await host.request(C.RUN_BATCH, struct.pack(">HH", 0, n))).status == S.OK
        busy = total = 0
        while len(results) < n:
            if ctx.get(host.core.seq_busy):
                total += 1
                busy += ctx.get(host.core.adc_busy)
            if ctx.get(host.core.tx.valid):
                host.rx_bytes.append(ctx.get(host.core.tx.payload))
                frames, _ = P.split_frames(host.rx_bytes)
                if frames:
                    host.rx_bytes = bytearray(host.rx_bytes[len(frames[0]):])
                    results.append(P.parse_result(P.decode_frame(frames[0]), 8))
            await ctx.tick()
        while ctx.get(host.core.seq_busy):
            await ctx.tick()
        r = await host.request(C.STATUS)
        assert not P.ControllerStatus.unpack(r.data).busy
        return busy, total

    (busy, total), core, parts = simulate(script)
    dac, adc = parts["dac"], parts["adc"]
    assert not dac.bad_frames and not adc.bad_frames
    # DAC: AD5628 Table 8 command 0000 (write input register n), updated together by LDAC pulses
    expect = []
    for s in range(n):
        expect += [(0, AD5628.frame(AD5628.CMD_WRITE_INPUT, i, inputs[s][i]), 32) for i in range(8)]
        expect += [(1, AD5628.frame(AD5628.CMD_WRITE_INPUT, ch, c), 32)
                   for ch, c in zip((1, 2), cfg.pert_forward)]
        expect += [(1, AD5628.frame(AD5628.CMD_WRITE_INPUT, ch, c), 32)
                   for ch, c in zip((1, 2), perturbed[s])]
    assert dac.frames == expect
    assert dac.ldac_pulses == 2 * n
    # AD5628 "LDAC": the outputs take the input registers at the pulse, so no preload frame may
    # still be shifting in when it comes
    assert dac.ldac_during_frame == 0
    # ADC: the two power-up dummies (DIN high, not conversions), one select, then per phase
    # 8 channels x 4 conversions, channel tags all right
    assert adc.powerup_frames == [0xFFFF] * 2 and adc.errors == []
    conv = adc.conversions
    assert len(conv) == 1 + n * 2 * 32
    for k, (rseq, status, idx, fwd, pert) in enumerate(results):
        assert (rseq, idx) == (k, k)
        assert status == (P.RESULT_LAST if k == n - 1 else 0)
        for phase, sums in enumerate((fwd, pert)):
            base = 1 + (2 * k + phase) * 32
            for ch in range(8):
                exp = sum(c for _, c in conv[base + 4 * ch: base + 4 * ch + 4])
                assert sums[ch] == exp and all(t == ch for t, _ in conv[base + 4 * ch: base + 4 * ch + 4])
    duty = busy / total
    print(f"\nADC duty during a {n}-sample batch (settle 6 us, 4x oversampling): {duty:.1%}")
    assert duty >= 0.90


def test_uart_level_round_trip():
    """The same protocol through the 8N1 UART at the board's baud rate (Top)."""
    from amaranth.sim import Simulator
    from diodenet.boards.platforms import ControllerConfig
    from diodenet.hdl.top import Top
    cfg = ControllerConfig(baud=3_000_000)            # 4 clocks per bit keeps the test short
    top = Top(cfg)
    sim = Simulator(top)
    sim.add_clock(1 / cfg.clk_hz)
    div = cfg.uart_divisor
    got = bytearray()

    async def bench(ctx):
        async def send(b):
            for bit in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                ctx.set(top.uart_rx, bit)
                await ctx.tick().repeat(div)
        for wire in (P.request(9, C.HELLO), b"\x05\x01\x02\x00", P.request(10, C.STATUS)):
            for b in wire:
                await send(b)
        # receive
        for _ in range(4000):
            await ctx.tick()
        return

    async def rx(ctx):
        while True:
            await ctx.tick().until(top.uart_tx == 0)
            await ctx.tick().repeat(div // 2)
            b = 0
            for i in range(8):
                await ctx.tick().repeat(div)
                b |= ctx.get(top.uart_tx) << i
            await ctx.tick().repeat(div)
            got.append(b)

    sim.add_testbench(rx, background=True)
    sim.add_testbench(bench)
    sim.run()
    frames, _ = P.split_frames(got)
    replies = [P.parse_reply(P.decode_frame(f)) for f in frames]
    assert [(r.seq, r.cmd, r.status) for r in replies] == [
        (9, C.HELLO, S.OK), (1, 2, S.ERR_FRAMING), (10, C.STATUS, S.OK)]


def test_caps_reply_layout():
    """CAPS: the protocol version, the perturbation channel count (words per sample = n_dac_inputs + n_pert),
    within MAX_REPLY."""
    config = ControllerConfig()

    async def script(host, parts, ctx):
        r = await host.request(C.CAPS)
        assert r.status == S.OK and 3 + len(r.data) + 2 <= P.MAX_REPLY
        caps = P.Caps.unpack(r.data)
        assert caps == dataclasses.replace(P.Caps.of(config), n_pert=2)
        assert (caps.protocol, caps.n_pert, caps.n_dac_inputs) == (P.PROTOCOL_VERSION, 2, 8)
        # the whole sample memory is addressable, one word beyond is not
        top = caps.sample_depth * (caps.n_dac_inputs + caps.n_pert)
        r = await host.request(C.LOAD_SAMPLES, struct.pack(">HH", top - 1, 7))
        assert r.status == S.OK
        r = await host.request(C.LOAD_SAMPLES, struct.pack(">HHH", top - 1, 7, 7))
        assert r.status == S.ERR_ARG
    simulate(script, config)


def _pot_traffic():
    """POT_WRITEs and POT_READs to several chips, every cycle of the pot pins probed."""
    trace = []

    async def probe(ctx, core):
        async for _, _, addr, cs_n, sclk in ctx.tick().sample(core.pot_cs_addr, core.pot_cs_n,
                                                              core.pot_sclk):
            trace.append((addr, cs_n, sclk))

    async def script(host, parts, ctx):
        for chip, wiper, code in ((3, 1, 17), (16, 3, 256), (0, 0, 0), (9, 2, 200)):
            r = await host.request(C.POT_WRITE, bytes([chip, wiper]) + code.to_bytes(2, "big"))
            assert (r.status, r.data) == (S.OK, code.to_bytes(2, "big"))
        for chip, wiper, code in ((16, 3, 256), (3, 1, 17)):
            r = await host.request(C.POT_READ, bytes([chip, wiper]))
            assert (r.status, r.data) == (S.OK, code.to_bytes(2, "big"))
        assert not parts["pot"].bad_frames
    _, core, _ = simulate(script, monitors=[probe])
    return trace, core


def test_pot_chip_select_decoder_timing_and_sclk():
    """74HC154 chip-select decoder: pot_cs_addr never changes while pot_cs_n (/E0) is low, nor
    within the guard (>= 2 clocks, the decoder's propagation delay) before /E0 falls or after it
    rises.  MCP4351 SCLK: its period is at least the read-back limit derived in hdl/core.py (SDO
    valid after SCK plus ~200 pF of shared CIPO for the reference board's chips)."""
    trace, core = _pot_traffic()
    config = core.config
    guard = decoder_guard_cycles(config.clk_hz)
    assert guard >= 2
    assert decoder_address_violations([(a, n) for a, n, _ in trace], guard) == []
    assert sum(trace[t][0] != trace[t - 1][0] for t in range(1, len(trace))) >= 5
    # SCLK half periods while a chip is selected, in system clocks
    edges = [t for t in range(1, len(trace)) if trace[t][2] != trace[t - 1][2]]
    halves = [b - a for a, b in zip(edges, edges[1:])
              if not any(trace[k][1] for k in range(a, b + 1))]       # within one frame
    assert halves and min(halves) == max(halves)
    t_half = min(halves) / config.clk_hz
    n_chips = config.afe.n_pot_chips
    assert t_half >= pot_read_half_period(n_chips)
    assert 1 / (2 * t_half) <= pot_sclk_limit(n_chips) <= 3e6      # 1.5 MHz for 19 chips
    print(f"\npot SCLK {1e-6 / (2 * t_half):.2f} MHz, limit {pot_sclk_limit(n_chips) / 1e6:.2f} MHz "
          f"for {n_chips} chips; decoder guard {guard} clocks")
