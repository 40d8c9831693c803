"""The measurement sequencer (hdl/sequencer.py) in Amaranth's simulator, through the controller core:
a forward-only batch measures one phase per sample and writes only the inputs after its first
preload; its forward sums are the ADC's conversions of that phase, like a two-phase batch's."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_harness import batch_samples, configure_and_load, simulate  # noqa: E402

from diodenet.boards.parts import AD5628               # noqa: E402
from diodenet.hdl import protocol as P                 # noqa: E402

C, S = P.Cmd, P.Status


def _batch(n, forward_only, settle=40, oversample_log2=1):
    """Load n samples, run one batch; (results, dac frames, ldac pulses, adc conversions)."""
    cfg = P.SeqConfig(settle=settle, oversample_log2=oversample_log2, pert_forward=(2048, 2040))
    inputs, perturbed, words = batch_samples(n)
    results = []

    async def script(host, parts, ctx):
        await configure_and_load(host, cfg, words)
        r = await host.request(C.RUN_BATCH, P.run_batch_args(0, n, forward_only))
        assert r.status == S.OK
        while len(results) < n:
            body = P.decode_frame(await host.frame())
            results.append(P.parse_result(body, 8))
        while ctx.get(host.core.seq_busy):
            await ctx.tick()

    _, _, parts = simulate(script)
    return inputs, perturbed, cfg, results, parts


def test_forward_only_batch_one_phase_per_sample():
    n = 5
    inputs, _, cfg, results, parts = _batch(n, forward_only=True)
    dac, adc = parts["dac"], parts["adc"]
    assert not dac.bad_frames and not adc.bad_frames and dac.ldac_during_frame == 0
    # DAC traffic: the first preload writes the inputs and the rest codes, later ones the inputs only
    expect = [(0, AD5628.frame(AD5628.CMD_WRITE_INPUT, i, inputs[0][i]), 32) for i in range(8)]
    expect += [(1, AD5628.frame(AD5628.CMD_WRITE_INPUT, ch, c), 32) for ch, c in zip((1, 2), cfg.pert_forward)]
    for s in range(1, n):
        expect += [(0, AD5628.frame(AD5628.CMD_WRITE_INPUT, i, inputs[s][i]), 32) for i in range(8)]
    assert dac.frames == expect
    assert dac.ldac_pulses == n                             # one phase per sample
    conv = adc.conversions
    assert len(conv) == 1 + n * 8 * 2                       # select + 8 channels x 2 per phase
    for k, (rseq, status, idx, fwd, pert) in enumerate(results):
        assert (rseq, idx, pert) == (k, k, [])              # the flag bit is not sent
        assert status == (P.RESULT_LAST if k == n - 1 else 0)
        base = 1 + k * 16
        for ch in range(8):
            pair = conv[base + 2 * ch: base + 2 * ch + 2]
            assert fwd[ch] == sum(c for _, c in pair) and all(t == ch for t, _ in pair)


def test_two_phase_batch_after_forward_only_restores_the_perturbation_codes():
    """A two-phase batch still measures and reports both phases (the flag byte 0 = protocol 2's
    4-byte RUN_BATCH), and its DAC frames alternate rest and perturbed codes."""
    n = 3
    inputs, perturbed, cfg, results, parts = _batch(n, forward_only=False)
    dac, adc = parts["dac"], parts["adc"]
    assert dac.ldac_pulses == 2 * n and dac.ldac_during_frame == 0
    assert len(adc.conversions) == 1 + n * 2 * 16
    for k, (_, _, idx, fwd, pert) in enumerate(results):
        assert idx == k and len(fwd) == len(pert) == 8
    # the last phase was perturbed: the DAC registers hold the last sample's perturbed codes
    assert [dac.output[(1, ch)] for ch in (1, 2)] == list(perturbed[-1])


def test_gateware_part_words_match_the_parts_frames():
    """The gateware's AD5628 and AD7928 words are boards.parts' frames, fields zero-extended (a
    3-bit channel signal must not shift the command bits)."""
    from amaranth import Module, Signal
    from amaranth.sim import Simulator
    from diodenet.boards.parts import AD7928
    from diodenet.hdl.sequencer import ad5628_word, ad7928_control_word

    ch3, code, cmd_ch = Signal(3), Signal(16), Signal(4)
    update = ad5628_word(AD5628.CMD_WRITE_UPDATE, ch3, code)
    write_in = ad5628_word(AD5628.CMD_WRITE_INPUT, cmd_ch, code[:12])
    adc = ad7928_control_word(ch3)
    sim = Simulator(Module())

    async def bench(ctx):
        for ch, c in ((0, 0), (5, 0xABC), (7, 0xFFF)):
            ctx.set(ch3, ch), ctx.set(code, c), ctx.set(cmd_ch, ch)
            assert ctx.get(update) == AD5628.frame(AD5628.CMD_WRITE_UPDATE, ch, c)
            assert ctx.get(write_in) == AD5628.frame(AD5628.CMD_WRITE_INPUT, ch, c)
            assert ctx.get(adc) == AD7928.frame(ch)
    sim.add_testbench(bench)
    sim.run()
