"""diodenet.sim: the co-simulated board.

The controller's Verilog (`diodenet.hdl`) runs in Icarus under cocotb with pin-level models of the
AFE's parts (`sim.models`), the resistor-diode array in ngspice (`sim.bridge`) and a TCP bridge to
its USB-UART adapter (`sim.tcp_serial`, `sim.serial_adapter`), so the host driver
(`diodenet.host.driver.board_driver.BoardDriver`) talks to it over ``socket://127.0.0.1:PORT``
exactly as to a real board.  See docs/cosim.md.

    from diodenet.sim import CosimBoard, SimConfig
    with CosimBoard(SimConfig()) as board:
        print(board.url)
"""

from .config import SMALL_AFE, SimConfig

__all__ = ["CosimBoard", "SimConfig", "SMALL_AFE", "run_cosim_check", "full_check"]


def __getattr__(name):
    if name == "CosimBoard":
        from .runner import CosimBoard
        return CosimBoard
    if name == "full_check":
        from .check import full_check
        return full_check
    raise AttributeError(name)


def run_cosim_check(out_dir, open_driver, *, steps=2, timeout=300):
    """For `diodenet demo`: a short co-simulated run -- start the board, program, measure, one
    gradient and `steps` training steps through the host driver (`open_driver`, see
    `check.full_check`) -- written to out_dir/cosim.json.
    Returns the summary dict (max_voltage_error_lsb, grad_cosine, loss_before, loss_after, ...)."""
    import json
    import shutil
    from pathlib import Path
    from .check import full_check
    from .runner import CosimBoard
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        summary = {"skipped": "Icarus Verilog (iverilog, vvp) is not installed"}
    else:
        with CosimBoard(SimConfig(), timeout=timeout) as board:
            summary = full_check(board, open_driver, steps=steps)
    (out_dir / "cosim.json").write_text(json.dumps(summary, indent=2))
    summary["report"] = str(out_dir / "cosim.json")
    return summary
