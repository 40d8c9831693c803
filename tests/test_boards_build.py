"""Bitstream builds with YoWASP for both boards, through the CLI (`diodenet build --json`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diodenet.boards.build import parse_nextpnr_log

DIODENET = str(Path(sys.executable).parent / "diodenet")


def test_parse_nextpnr_log():
    log = ("Info: Device utilisation:\nInfo: \t     ICESTORM_LC:  2509/ 5280    47%\n"
           "Info: Max frequency for clock 'clk12_0__io': 30.00 MHz (PASS at 12.00 MHz)\n"
           "Info: Max frequency for clock 'clk12_0__io': 26.89 MHz (PASS at 12.00 MHz)\n")
    assert parse_nextpnr_log(log) == {"luts_used": 2509, "luts_total": 5280, "fmax_mhz": 26.89,
                                      "clock_mhz": 12.0}


def test_flash_dry_run_and_missing_programmer(tmp_path):
    from diodenet.host.commands.flash import programmer_command
    assert programmer_command("icebreaker", "x.bin", which=lambda n: None) is None
    assert programmer_command("icebreaker", "x.bin", which=lambda n: "/usr/bin/" + n
                              if n == "openFPGALoader" else None)[1:] == ["-b", "ice40_generic",
                                                                          "x.bin"]
    out = subprocess.run([DIODENET, "flash", "--dry-run",
                          "--bitstream", str(tmp_path / "d.bin")], capture_output=True, text=True)
    assert out.returncode == 0 and str(tmp_path / "d.bin") in out.stdout


def test_gateware_command(tmp_path):
    out = subprocess.run([DIODENET, "gateware", "--board",
                          "icebreaker", "-o", str(tmp_path / "c.v")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "module diodenet_controller" in (tmp_path / "c.v").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("board", ["icebreaker", "hx8k"])
def test_build_bitstream(board, tmp_path):
    out = subprocess.run([DIODENET, "build", "--board", board,
                          "-o", str(tmp_path), "--json"], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    info = json.loads(out.stdout.strip().splitlines()[-1])
    print("\n" + "\n".join(out.stdout.strip().splitlines()[:-1]))
    for key in ("bitstream", "luts_used", "luts_total", "fmax_mhz", "clock_mhz"):
        assert key in info
    assert (tmp_path / "diodenet.bin").stat().st_size > 30_000
    assert info["luts_used"] < info["luts_total"]
    assert info["fmax_mhz"] >= 2 * info["clock_mhz"]
