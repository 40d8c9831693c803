"""`diodenet solve CIRCUIT.cir [--shockley] [--json]`: the exact DC operating point of a netlist.

Ideal diodes by default (an exact LCP solve with a residual certificate); `--shockley` uses each
diode's model card as ngspice evaluates it at DC.  With `--json` the last line of stdout is one
JSON object {node name as written: voltage}.
"""

import json


def register(sub):
    p = sub.add_parser(
        "solve",
        help="exact DC operating point of a resistor-diode netlist",
        description="Solve the DC operating point of a plain ngspice netlist of resistors, "
                    "diodes and DC sources: ideal diodes (exact) by default, or ngspice's "
                    "Shockley diode model with --shockley.",
    )
    p.add_argument("circuit", metavar="CIRCUIT.cir", help="ngspice netlist (first line: title)")
    p.add_argument("--shockley", action="store_true",
                   help="use each diode's .model card (IS, N, RS, ...) instead of ideal diodes")
    p.add_argument("--json", action="store_true",
                   help="end the output with one JSON line {node: voltage}")
    p.set_defaults(func=run)


def run(args):
    from diodenet.host.circuit_solver import CircuitError, solve_ideal, solve_shockley
    from diodenet.host.cli import UserError
    from diodenet.host.netlist import NetlistError, read_netlist

    try:
        circuit = read_netlist(args.circuit)
    except NetlistError as exc:
        raise UserError(f"{args.circuit}: {exc}") from None
    except IsADirectoryError:
        raise UserError(f"{args.circuit}: is a directory, not a netlist file") from None
    except PermissionError:
        raise UserError(f"{args.circuit}: permission denied") from None
    try:
        op = solve_shockley(circuit) if args.shockley else solve_ideal(circuit)
    except CircuitError as exc:
        raise UserError(f"{args.circuit}: {exc}") from None

    print(f"circuit: {circuit.title}")
    if args.shockley:
        print(f"mode: Shockley diodes (ngspice DC model, gmin={circuit.gmin:g} S, "
              f"temp={circuit.temp:g} C), Newton iterations: {op.iterations}")
    else:
        cert = op.certificate
        print(f"mode: ideal diodes (exact LCP via {op.method}), "
              f"certificate: relative residual {cert.relative:.1e}")
    width = max([len("node")] + [len(n) for n in op.node_voltages])
    print(f"{'node':<{width}}  voltage [V]")
    for name, v in op.node_voltages.items():
        print(f"{name:<{width}}  {v: .12g}")
    if circuit.diodes:
        dwidth = max([len("diode")] + [len(d.name) for d in circuit.diodes])
        print(f"{'diode':<{dwidth}}  {'current [A]':>20}  {'v_anode-v_cathode [V]':>22}")
        for d in circuit.diodes:
            i = op.diode_currents[d.name]
            v = op.diode_voltages[d.name]
            state = ""
            if op.conducting:
                state = "  on" if op.conducting[d.name] else "  off"
            print(f"{d.name:<{dwidth}}  {i: 20.12g}  {v: 22.12g}{state}")
    if args.json:
        print(json.dumps(op.node_voltages))
    return 0
