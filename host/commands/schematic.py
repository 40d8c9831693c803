"""`diodenet schematic`: the analog front-end board -- KiCad netlist, BOM, drawing, power budget."""

from pathlib import Path


def register(sub):
    p = sub.add_parser("schematic", help="write the AFE board's KiCad netlist, BOM and drawing; "
                                         "print the power budget")
    p.add_argument("--afe", choices=("full", "small"), default="full",
                   help="full: AFE() (6 hidden, 2 outputs, 4 inputs; default); small: SMALL_AFE")
    p.add_argument("--board", default="icebreaker", help="FPGA board the connector fits: "
                                                        "icebreaker (default) or hx8k")
    p.add_argument("-o", "--output", default="schematic", help="output directory (default: schematic)")
    p.set_defaults(func=run)


def run(args):
    from diodenet.boards.afe import AFE, SMALL_AFE
    from diodenet.boards import schematic as S
    from diodenet.host.cli import UserError, output_dir
    output_dir(args.output)
    afe = SMALL_AFE if args.afe == "small" else AFE()
    nl = S.board_netlist(afe, board=args.board)
    problems = S.check_netlist(nl)
    if problems:
        raise UserError("netlist check failed: " + "; ".join(problems[:5]))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    S.atomic_write(out / "board.net", S.kicad_netlist(nl).encode())
    rows = S.bom(nl)
    S.write_bom_csv(rows, out / "bom.csv")
    S.draw_schematic(afe, out / "schematic.png", nl=nl)
    S.draw_schematic(afe, out / "schematic.svg", nl=nl)
    print(f"{len(nl.components)} parts ({len(rows)} BOM lines), {len(nl.nets)} nets, "
          f"{len(nl.no_connect)} deliberate no-connects; board {args.board}")
    print(f"wrote {out / 'board.net'}, {out / 'bom.csv'}, {out / 'schematic.png'}, "
          f"{out / 'schematic.svg'}")
    print(f"settle time (AFE.settle_time): {afe.settle_time() * 1e6:g} us")
    print(S.format_power_budget(S.power_budget(afe, nl)))
    return 0
