"""ADC duty of the measurement sequencer, measured in Amaranth simulation.

Duty = cycles in which the AD7928's SPI master is in a conversion frame (or its mandatory quiet time)
/ cycles the sequencer is busy with the batch.  Prints a table over settle time and oversampling.
Usage: python benchmarks/sequencer_duty.py [n_samples]
"""

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "hdl"))

from hdl_harness import simulate                   # noqa: E402
from diodenet.boards.platforms import ControllerConfig   # noqa: E402
from diodenet.hdl import protocol as P             # noqa: E402


def duty(n, settle, os_log2):
    cfg = P.SeqConfig(settle=settle, oversample_log2=os_log2)

    async def script(host, parts, ctx):
        await host.request(P.Cmd.SEQ_CONFIG, cfg.pack())
        afe = ControllerConfig().afe          # sample s: input codes, then its perturbed codes
        words = [2048] * ((afe.n_dac_inputs + len(afe.pert_dac_channels)) * n)
        for off in range(0, len(words), 24):
            chunk = words[off:off + 24]
            await host.request(P.Cmd.LOAD_SAMPLES, struct.pack(f">H{len(chunk)}H", off, *chunk))
        await host.request(P.Cmd.RUN_BATCH, struct.pack(">HH", 0, n))
        busy = total = 0
        while not ctx.get(host.core.seq_busy):
            await ctx.tick()
        while ctx.get(host.core.seq_busy):
            total += 1
            busy += ctx.get(host.core.adc_busy)
            await ctx.tick()
        return busy, total

    (busy, total), _, _ = simulate(script)
    return busy / total, total


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    print(f"batch of {n} samples, 8 ADC channels, 12 MHz clock, ADC SCLK 6 MHz (34 clocks/conversion)")
    print("settle(us) oversample  duty    batch cycles")
    for settle in (24, 72, 120):
        for k in (0, 1, 2, 3):
            d, t = duty(n, settle, k)
            print(f"{settle / 12:9.1f}  {2 ** k:9d}  {d:6.1%}  {t:10d}")


if __name__ == "__main__":
    main()
