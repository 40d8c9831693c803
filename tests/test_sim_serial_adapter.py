"""The co-simulated board's USB-UART adapter model (sim/serial_adapter.py) in Amaranth's simulator:
bytes queued a byte per clock go over the controller's 8N1 pins and its replies come back a byte
at a time -- a HELLO and a CAPS answered as the protocol says."""

from amaranth.sim import Simulator

from diodenet.boards.platforms import ControllerConfig
from diodenet.hdl import protocol as P
from diodenet.sim.serial_adapter import CosimTop


def test_adapter_round_trip_through_the_controller_uart():
    cfg = ControllerConfig(baud=3_000_000)           # 4 clocks per bit
    dut = CosimTop(cfg)
    sim = Simulator(dut)
    sim.add_clock(1 / cfg.clk_hz)
    got = bytearray()
    wire = P.request(1, P.Cmd.HELLO) + P.request(2, P.Cmd.CAPS)

    async def bench(ctx):
        toggle = 0
        for b in wire:                                # faster than the line: the queue holds them
            while ctx.get(dut.host_tx_level) >= 15:
                await ctx.tick()
            ctx.set(dut.host_tx_data, b)
            toggle ^= 1
            ctx.set(dut.host_tx_toggle, toggle)
            await ctx.tick()
        count = ctx.get(dut.host_rx_count)
        for _ in range(60_000):
            c = ctx.get(dut.host_rx_count)
            if c != count:
                assert (c - count) & 0xFFFF == 1
                got.append(ctx.get(dut.host_rx_data))
                count = c
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    frames, _ = P.split_frames(bytes(got).lstrip(b"\0"))
    replies = [P.parse_reply(P.decode_frame(f)) for f in frames]
    assert [(r.seq, r.cmd, r.status) for r in replies] == [(1, P.Cmd.HELLO, 0), (2, P.Cmd.CAPS, 0)]
    assert replies[0].data[0] == P.PROTOCOL_VERSION
    assert P.Caps.unpack(replies[1].data).n_adc == cfg.afe.n_adc
