"""Top level: commands in, SPI frames out, checked bit by bit against the parts' datasheet formats;
the sequencer's batch, its ADC duty; the UART path."""

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_harness import simulate                                    # noqa: E402

from diodenet.boards.parts import MCP4351, AD5628, AD7928           # noqa: E402
from diodenet.hdl import protocol as P                              # noqa: E402

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
        assert not parts["dac"].bad_frames
    simulate(script)


def test_adc_read_selects_then_converts():
    """AD7928 Table 7 (control register) and "Serial Interface" (DOUT: 0, ADD2..0, 12 bits)."""
    async def script(host, parts, ctx):
        r = await host.request(C.ADC_READ, bytes([6]))
        assert r.status == S.OK
        ch, code = r.data[0], int.from_bytes(r.data[1:], "big")
        assert ch == 6 and code == (6 * 500 + 1) & 0xFFF
        words = [w for _, w, _ in parts["adc"].frames]
        assert words == [AD7928.frame(6)] * 2
        assert words[0] == 0b1_0_0_110_11_0_0_1_1_0000
    simulate(script)


def test_batch_frames_results_and_duty():
    n, cfg = 12, P.SeqConfig(settle=72, oversample_log2=2, pert_forward=(2048, 2040),
                            pert_perturbed=(2148, 1940))
    words = [(s * 37 + i * 101) & 0xFFF for s in range(n) for i in range(8)]
    results = []

    async def script(host, parts, ctx):
        assert (await host.request(C.SEQ_CONFIG, cfg.pack())).status == S.OK
        for off in range(0, len(words), 24):
            chunk = words[off:off + 24]
            r = await host.request(C.LOAD_SAMPLES, struct.pack(f">H{len(chunk)}H", off, *chunk))
            assert r.status == S.OK
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
        expect += [(0, AD5628.frame(AD5628.CMD_WRITE_INPUT, i, words[s * 8 + i]), 32) for i in range(8)]
        expect += [(1, AD5628.frame(AD5628.CMD_WRITE_INPUT, ch, c), 32)
                   for ch, c in zip((1, 2), cfg.pert_forward)]
        expect += [(1, AD5628.frame(AD5628.CMD_WRITE_INPUT, ch, c), 32)
                   for ch, c in zip((1, 2), cfg.pert_perturbed)]
    assert dac.frames == expect
    assert dac.ldac_pulses == 2 * n
    # AD5628 "LDAC": the outputs take the input registers at the pulse, so no preload frame may
    # still be shifting in when it comes
    assert dac.ldac_during_frame == 0
    # ADC: one dummy select, then per phase 8 channels x 4 conversions, channel tags all right
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
    from diodenet.boards.afe import ControllerConfig
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
