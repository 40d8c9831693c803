"""`diodenet flash`: program a built bitstream with iceprog or openFPGALoader."""

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

def register(sub):
    p = sub.add_parser("flash", help="program the FPGA board (iceprog or openFPGALoader)")
    from diodenet.boards.platforms import BOARD_CHOICES
    p.add_argument("--board", default="icebreaker", help=f"{BOARD_CHOICES} (default icebreaker)")
    p.add_argument("--bitstream", default=None,
                   help="bitstream to program (default: build/diodenet.bin)")
    p.add_argument("--dry-run", action="store_true", help="print the command, do not run it")
    p.set_defaults(func=run)


def programmer_command(board, bitstream, which=shutil.which):
    """The command that programs `bitstream` on dev board `board` (`boards.platforms.BOARDS`),
    or None when no programmer is installed."""
    from diodenet.boards.platforms import board as dev_board
    if which("iceprog"):
        return [which("iceprog"), str(bitstream)]
    if which("openFPGALoader"):
        return [which("openFPGALoader"), "-b", dev_board(board).openfpgaloader, str(bitstream)]
    return None


def run(args):
    from diodenet.host.cli import UserError
    from diodenet.boards.platforms import board
    try:
        board(args.board)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    bitstream = Path(args.bitstream or "build/diodenet.bin")
    cmd = programmer_command(args.board, bitstream)
    if cmd is None and args.dry_run:
        print("(no programmer installed; iceprog would be used)", file=sys.stderr)
        print(shlex.join(["iceprog", str(bitstream)]))
        return 0
    if cmd is None:
        raise UserError("no programmer found: install iceprog (Debian: apt-get install fpga-icestorm) "
                        "or openFPGALoader (apt-get install openfpgaloader)")
    if args.dry_run:
        print(shlex.join(cmd))
        return 0
    if not bitstream.exists():
        raise UserError(f"no bitstream at {bitstream}: run `diodenet build --board {args.board}` first")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip().splitlines()
        hint = out[-1] if out else f"exit status {proc.returncode}"
        raise UserError(f"programming failed ({hint}); is the {args.board} plugged in and "
                        "accessible (udev rules for the FTDI device)?")
    print(f"programmed {bitstream} on the {args.board}")
    return 0
