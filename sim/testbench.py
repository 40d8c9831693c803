"""The cocotb testbench of the co-simulated board (run by `sim.runner`, not collected by pytest).

Configuration comes from the environment: DIODENET_SIM_CONFIG (a `SimConfig` as JSON) and
DIODENET_SIM_READY (a file the bench writes {"port", "control_port"} to once it listens).
On shutdown it writes the final statistics (conversions, analog solves, violations, link
faults) to DIODENET_SIM_REPORT.
"""

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotb.utils import get_sim_time

from .bridge import AnalogBridge
from .config import SimConfig
from .tcp_serial import TcpSerial
from .models import AD5628Pair, AD7928Model, MCP4351Bank


def _write_json(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


@cocotb.test()
async def board(dut):
    cfg = SimConfig.from_json(os.environ["DIODENET_SIM_CONFIG"])
    ready = os.environ.get("DIODENET_SIM_READY")
    report = os.environ.get("DIODENET_SIM_REPORT")
    afe = cfg.afe
    violations = []
    now = lambda: get_sim_time(unit="ns") * 1e-9          # noqa: E731
    bridge = AnalogBridge(afe, settle_time=cfg.settle_time, diode=cfg.diode,
                          pot_tolerance=cfg.pot_tolerance, seed=cfg.seed, now=now)
    pots = MCP4351Bank(dut, bridge, afe.n_pot_chips, violations)
    dacs = AD5628Pair(dut, bridge, violations)
    adc = AD7928Model(dut, bridge, violations, ref=afe.v_ref, noise=cfg.adc_noise, seed=cfg.seed)
    t0 = time.monotonic()

    def stats():
        return {"sim_time_s": now(), "wall_s": time.monotonic() - t0,
                "conversions": adc.conversions, "early_conversions": len(adc.early),
                "analog_solves": bridge.solves, "analog_failures": list(bridge.failures),
                "pot_frames": pots.frames, "dac_frames": dacs.frames,
                "ldac_missed": len(dacs.ldac_missed),
                "ldac_missed_harmful": sum(1 for m in dacs.ldac_missed if m[3]),
                "ldac_missed_last": [list(m) for m in dacs.ldac_missed[-5:]],
                "violations": violations[-50:], "n_violations": len(violations),
                "pot_codes": bridge.codes.tolist(),
                "dac_volts": {f"{d}.{c}": v for (d, c), v in sorted(bridge.dac.items())}}

    dut.rst.value = 1
    period_ps = 2 * round(0.5e12 / cfg.clk_hz)          # cocotb wants an even period
    # the clock runs in cocotb's C layer (impl="gpi"): the Python coroutine clock costs two Python
    # callbacks per cycle and was the co-simulation's bottleneck.  Safe here: no model writes a
    # signal on a rising clock edge (the TCP side writes the adapter's inputs on falling edges, the
    # part models answer SPI clock edges, which the gateware makes just after rising edges)
    Clock(dut.clk, period_ps, unit="ps", impl="gpi").start()
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    cocotb.start_soon(pots.run())
    cocotb.start_soon(dacs.run())
    cocotb.start_soon(dacs.run_ldac())
    cocotb.start_soon(adc.run())
    uart = TcpSerial(dut, cfg.uart_divisor, period_ps=period_ps, port=cfg.port, faults=cfg.faults,
                     stats=stats, activity=lambda: pots.frames + dacs.frames + adc.conversions)
    cocotb.start_soon(uart.receive())
    if ready:
        _write_json(ready, {"port": uart.port, "control_port": uart.control_port, "pid": os.getpid()})
    try:
        await uart.drive()
    finally:
        uart.close()
        if report:
            _write_json(report, uart.stats())
