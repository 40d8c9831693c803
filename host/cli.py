"""The `diodenet` command: a thin argparse layer over the library.

Each subcommand lives in its own module under `diodenet.host.commands` and exposes
`register(subparsers)` (adds its parser and sets `func`).  Add a new command by
adding its module name to `COMMANDS`.
"""

import argparse
import importlib
import sys

COMMANDS = [
    "demo",
    "train",
    "solve",
    "gradcheck",
    "compile",
    "netlist",
    "verify",
    "activations",
    "gateware",
    "build",
    "flash",
    "cosim",
    "schematic",
]


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="diodenet",
        description="Resistor-diode neural networks: train, solve, simulate, build hardware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"diodenet.host.commands.{name}")
        module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    from .board import BoardError      # a board that cannot be reached or differs from the model
    try:
        return args.func(args) or 0
    except (UserError, ValueError, FileNotFoundError, BoardError) as exc:
        print(f"diodenet {args.command}: error: {exc}", file=sys.stderr)
        return 2

