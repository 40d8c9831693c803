"""`diodenet solve CIRCUIT.cir [--shockley] [--json] [--quiet]`: the exact DC operating point.

Ideal diodes by default (an exact complementarity solve with a residual certificate);
`--shockley` uses each diode's model card as ngspice evaluates it at DC.  With `--json` the last
line of stdout is one JSON object {node name as written: voltage}.  Large netlists report their
progress on stderr (off with --quiet); what ngspice would warn about is printed as a warning.
"""

import json
import sys
import time

# Netlists with at least this many elements report progress on stderr.
PROGRESS_ELEMENTS = 20_000


def register(sub):
    p = sub.add_parser(
        "solve",
        help="exact DC operating point of a resistor-diode netlist",
        description="Solve the DC operating point of a plain ngspice netlist of resistors, "
                    "diodes, DC sources and linear controlled sources (E, G, F; e.g. what "
                    "diodenet compile writes): ideal diodes (exact) by default, or ngspice's "
                    "Shockley diode model with --shockley.",
    )
    p.add_argument("circuit", metavar="CIRCUIT.cir", help="ngspice netlist (first line: title)")
    p.add_argument("--shockley", action="store_true",
                   help="use each diode's .model card (IS, N, RS, ...) instead of ideal diodes")
    p.add_argument("--json", action="store_true",
                   help="end the output with one JSON line {node: voltage}")
    p.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    p.set_defaults(func=run)


class _Progress:
    """Timestamped progress lines on stderr."""

    def __init__(self):
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"diodenet solve: [{time.perf_counter() - self.t0:6.2f} s] {message}",
              file=sys.stderr, flush=True)


def run(args):
    from diodenet.host.operating_point import CircuitError, solve_ideal, solve_shockley
    from diodenet.host.cli import UserError
    from diodenet.host.netlist_reader import NetlistError, read_netlist

    progress = None if args.quiet else _Progress()
    try:
        with open(args.circuit, "rb") as fh:
            size = fh.seek(0, 2)
    except IsADirectoryError:
        raise UserError(f"{args.circuit}: is a directory, not a netlist file") from None
    except PermissionError:
        raise UserError(f"{args.circuit}: permission denied") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise UserError(f"{args.circuit}: no such file") from None
        raise UserError(f"{args.circuit}: cannot read: {exc.strerror or exc}") from None
    # ~25 bytes a line: report progress on large netlists only.
    if progress is not None and size < 25 * PROGRESS_ELEMENTS:
        progress = None
    if progress is not None:
        progress(f"reading {args.circuit} ({size / 1e6:.1f} MB)")
    try:
        circuit = read_netlist(args.circuit)
    except NetlistError as exc:
        raise UserError(f"{args.circuit}: {exc}") from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise UserError(f"{args.circuit}: cannot read: {exc}") from None
    for warning in circuit.warnings:
        print(f"diodenet solve: warning: {args.circuit}: {warning}", file=sys.stderr)
    n_elements = len(circuit.elements)
    if progress is not None:
        progress(f"parsed {n_elements} elements, {len(circuit.nodes)} nodes")
    try:
        op = (solve_shockley(circuit, progress=progress) if args.shockley
              else solve_ideal(circuit, progress=progress))
    except CircuitError as exc:
        raise UserError(f"{args.circuit}: {exc}") from None
    if progress is not None:
        progress("solved; writing the table")

    out = []
    out.append(f"circuit: {circuit.title}")
    if args.shockley:
        out.append(f"mode: Shockley diodes (ngspice DC model, gmin={circuit.gmin:g} S, "
                   f"temp={circuit.temp:g} C), Newton iterations: {op.iterations}")
    else:
        cert = op.certificate
        out.append(f"mode: ideal diodes (exact, {op.method}, {op.iterations} iterations), "
                   f"certificate: relative residual {cert.relative:.1e}")
    width = max([len("node")] + [len(n) for n in op.node_voltages])
    out.append(f"{'node':<{width}}  voltage [V]")
    out.extend(f"{name:<{width}}  {v: .12g}" for name, v in op.node_voltages.items())
    if circuit.diodes:
        dwidth = max([len("diode")] + [len(d.name) for d in circuit.diodes])
        out.append(f"{'diode':<{dwidth}}  {'current [A]':>20}  {'v_anode-v_cathode [V]':>22}")
        for d in circuit.diodes:
            i = op.diode_currents[d.name]
            v = op.diode_voltages[d.name]
            state = ""
            if op.conducting:
                state = "  on" if op.conducting[d.name] else "  off"
            out.append(f"{d.name:<{dwidth}}  {i: 20.12g}  {v: 22.12g}{state}")
    if args.json:
        out.append(json.dumps(op.node_voltages))
    sys.stdout.write("\n".join(out) + "\n")
    return 0
