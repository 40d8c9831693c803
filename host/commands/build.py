"""`diodenet build`: the controller bitstream with YoWASP (yosys + nextpnr-ice40 from PyPI)."""

import json


def register(sub):
    p = sub.add_parser("build", help="build the FPGA bitstream (YoWASP toolchain)")
    from diodenet.boards.platforms import BOARD_CHOICES
    p.add_argument("--board", default="icebreaker", help=f"{BOARD_CHOICES} (default icebreaker)")
    p.add_argument("-o", "--output", default="build", help="build directory (default: build/)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on the last line")
    p.set_defaults(func=run)


def run(args):
    from diodenet.host.cli import UserError, output_dir
    output_dir(args.output)
    from diodenet.boards.platforms import board
    from diodenet.boards.build import BUILD_STAGES
    from diodenet.hdl import build_bitstream
    from diodenet.host.cli import Stages
    try:
        board(args.board)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    with Stages(f"build {args.board}", BUILD_STAGES, quiet=args.quiet) as stage:
        info = build_bitstream(args.board, args.output, progress=stage)
    ratio = info["fmax_mhz"] / info["clock_mhz"]
    print(f"bitstream   {info['bitstream']}")
    print(f"logic cells {info['luts_used']}/{info['luts_total']} "
          f"({100 * info['luts_used'] / info['luts_total']:.0f} %)")
    print(f"block RAM   {info.get('icestorm_ram', '?')}")
    print(f"timing      Fmax {info['fmax_mhz']:.1f} MHz at {info['clock_mhz']:.1f} MHz "
          f"({ratio:.2f}x{'' if ratio >= 2 else ', BELOW the 2x margin'})")
    print(f"built in    {info['build_seconds']} s")
    if args.json:
        print(json.dumps(info))
