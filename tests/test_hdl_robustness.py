"""Protocol robustness: random, truncated, corrupted and over-long frames never hang or corrupt the
controller; each gets its error reply (protocol.Status) and the good frame after it is served."""

import multiprocessing
import random
import struct
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_frames import bad_frame                       # noqa: E402
from hdl_harness import simulate                       # noqa: E402

from diodenet.hdl import protocol as P                 # noqa: E402

N_FRAMES = 10_000


def _stress(seed, n, first_seq):
    """n bad frames, each followed by a good HELLO, through the core in Amaranth's simulator."""
    rng = random.Random(seed)
    hello = bytes([P.PROTOCOL_VERSION, *P.GATEWARE_VERSION])

    async def script(host, parts, ctx):
        replies = 0
        for k in range(n):
            seq = (first_seq + k) & 0xFF
            wire, exp = bad_frame(rng, seq)
            await host.send(wire)
            for e in exp:
                r = P.parse_reply(P.decode_frame(await host.frame(timeout=2000)))
                assert (r.seq, r.cmd, r.status) == e, (wire, r, e)
                replies += 1
            await host.send(P.request(seq, P.Cmd.HELLO))
            r = P.parse_reply(P.decode_frame(await host.frame(timeout=2000)))
            assert (r.seq, r.cmd, r.status, r.data) == (seq, P.Cmd.HELLO, P.Status.OK, hello)
        r = await host.request(P.Cmd.STATUS)
        assert P.ControllerStatus.unpack(r.data).rx_errors == replies
        return replies

    replies, _, _ = simulate(script, models=False)
    return replies


def test_10000_bad_frames():
    """10,000 random/truncated/corrupted/over-long frames: every one gets its error reply within
    2,000 cycles (no hang), the good frame after it is served, the error counter matches.
    Split over two processes (the simulator is single-threaded)."""
    t = time.monotonic()
    half = N_FRAMES // 2
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        replies = sum(pool.map(_stress, (11, 12), (half, half), (0, 128)))
    assert replies >= N_FRAMES
    print(f"\n{N_FRAMES} bad frames ({replies} error replies) + {N_FRAMES} good frames: "
          f"{time.monotonic() - t:.1f} s")


def test_bad_frames_amaranth_sim():
    """The same property in Amaranth's simulator, with STATUS checking the error counter and
    SEQ_CONFIG_READ checking that configuration survives."""
    rng = random.Random(5)
    cfg = P.SeqConfig(settle=100, oversample_log2=1, pert_forward=(2000, 2001))

    async def script(host, parts, ctx):
        assert (await host.request(P.Cmd.SEQ_CONFIG, cfg.pack())).status == P.Status.OK
        errors = 0
        for k in range(150):
            wire, exp = bad_frame(rng, k & 0xFF)
            await host.send(wire)
            for e in exp:
                r = P.parse_reply(P.decode_frame(await host.frame()))
                assert (r.seq, r.cmd, r.status) == e
                errors += 1
            r = await host.request(P.Cmd.STATUS if k % 2 else P.Cmd.SEQ_CONFIG_READ)
            assert r.status == P.Status.OK
            if k % 2:
                assert P.ControllerStatus.unpack(r.data).rx_errors == errors
            else:
                assert P.SeqConfig.unpack(r.data) == cfg
        return errors

    errors, core, parts = simulate(script, models=False)
    assert errors >= 150


def test_command_level_errors():
    """Well-framed requests with unknown commands, wrong lengths and bad arguments."""
    from diodenet.boards.platforms import ControllerConfig
    config = ControllerConfig()
    afe = config.afe
    n_chips = afe.n_pot_chips
    n_words = config.sample_depth * (afe.n_dac_inputs + len(afe.pert_dac_channels))

    async def script(host, parts, ctx):
        S, C = P.Status, P.Cmd
        cases = [
            (0x77, b"", S.ERR_UNKNOWN_CMD), (C.HELLO, b"\x01", S.ERR_LENGTH),
            (C.POT_WRITE, b"\x01\x02\x03", S.ERR_LENGTH),
            (C.POT_WRITE, bytes([n_chips, 0, 0, 1]), S.ERR_ARG),  # one chip past the last
            (C.POT_WRITE, bytes([0, 4, 0, 1]), S.ERR_ARG),        # wiper 4
            (C.POT_WRITE, bytes([0, 0, 1, 1]), S.ERR_ARG),        # code 257
            (C.DAC_WRITE, bytes([2, 0, 0, 0]), S.ERR_ARG),        # DAC 2
            (C.DAC_WRITE, bytes([0, 8, 0, 0]), S.ERR_ARG),        # channel 8
            (C.DAC_WRITE, bytes([0, 0, 0x10, 0]), S.ERR_ARG),     # code 4096
            (C.ADC_READ, bytes([8]), S.ERR_ARG),
            (C.SEQ_CONFIG, bytes(2) + b"\x04" + bytes(4), S.ERR_ARG),
            (C.SEQ_CONFIG, bytes(2) + b"\x10" + b"\x10\x00" + bytes(2), S.ERR_ARG),  # code 4096
            (C.SEQ_CONFIG, bytes(11), S.ERR_LENGTH),              # protocol 1's SEQ_CONFIG
            (C.LOAD_SAMPLES, struct.pack(">HHH", n_words - 1, 1, 2), S.ERR_ARG),  # past the end
            (C.LOAD_SAMPLES, b"\x00\x00\x00", S.ERR_LENGTH),
            (C.RUN_BATCH, b"\x00\x00\x00\x00", S.ERR_ARG),        # count 0
            (C.RUN_BATCH, b"\x00\xff\x00\x02", S.ERR_ARG),        # past the end
        ]
        for cmd, args, status in cases:
            r = await host.request(cmd, args)
            assert r.status == status, (cmd, args, r)
        assert parts["pot"].frames == [] and parts["dac"].frames == []
        assert parts["adc"].frames == [(0, 0xFFFF, 16)] * 2          # only the power-up dummies
        r = await host.request(C.STATUS)
        assert P.ControllerStatus.unpack(r.data).rx_errors == 0    # command errors are not link errors

    simulate(script, config)
