"""`diodenet gateware`: emit the controller's Verilog for a board."""

from pathlib import Path


def register(sub):
    p = sub.add_parser("gateware", help="write the FPGA controller as Verilog")
    from diodenet.boards.platforms import BOARD_CHOICES
    p.add_argument("--board", default="icebreaker", help=f"{BOARD_CHOICES} (default icebreaker)")
    p.add_argument("-o", "--output", default="controller.v", help="Verilog file to write")
    p.set_defaults(func=run)


def run(args):
    from diodenet.host.cli import UserError, output_file
    output_file(args.output)
    from diodenet.hdl import write_verilog
    try:
        info = write_verilog(args.board, Path(args.output))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"wrote {info['verilog']} ({info['lines']} lines, board {args.board})")
