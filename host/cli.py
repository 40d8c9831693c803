"""The `diodenet` command: a thin argparse layer over the library.

Each subcommand lives in its own module under `diodenet.host.commands` and exposes
`register(subparsers)` (adds its parser and sets `func`).  Add a new command by
adding its module name to `COMMANDS`.

One error path: every failure ends as ``diodenet CMD: error: …`` on stderr with exit status 2
(argparse's own errors have the same form); a traceback only with ``--debug`` (or
``DIODENET_DEBUG=1``).  SIGTERM and SIGHUP are turned into an exception like SIGINT's
`KeyboardInterrupt`, so every ``with``/``finally`` runs and child processes (the co-simulated
board) are stopped before the command exits with status 128 + signal number.
"""

import argparse
import importlib
import math
import os
import signal
import sys

from .allocator import keep_freed_memory

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
    "calibrate",
    "schematic",
    "montecarlo",
]


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


class Terminated(BaseException):
    """The command received SIGTERM or SIGHUP (a BaseException, like KeyboardInterrupt, so that
    `except Exception` in library code does not swallow it)."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


# --- numeric options, validated at parse time (argparse `type=`) ---------------------------------

def _number(kind, test, what):
    def parse(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'} "
                                             f"{what}, got {text!r}") from None
        if kind is float and not math.isfinite(value) or not test(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    parse.__name__ = f"{kind.__name__} {what}"
    return parse


positive_int = _number(int, lambda v: v >= 1, "≥ 1")
nonnegative_int = _number(int, lambda v: v >= 0, "≥ 0")
positive_float = _number(float, lambda v: v > 0, "> 0")
nonnegative_float = _number(float, lambda v: v >= 0, "≥ 0")
finite_float = _number(float, lambda v: True, "finite")
fraction = _number(float, lambda v: 0 <= v < 1, "in [0, 1)")
unit_interval = _number(float, lambda v: 0 <= v <= 1, "in [0, 1]")


def output_file(path, option="-o"):
    """Refuse an output path that names an existing folder (a file is wanted)."""
    if os.path.isdir(path):
        raise UserError(f"{option} {path} is a folder; name the file to write (e.g. {os.path.join(path, 'out')}…)")
    return path


def output_dir(path, option="-o"):
    """Refuse an output path that names an existing file (a folder is wanted)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError(f"{option} {path} is a file; name a folder to write into")
    return path


# --- parser and the one error path -----------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(
        prog="diodenet",
        description="Resistor-diode neural networks: train, solve, simulate, build hardware.",
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"diodenet.host.commands.{name}")
        module.register(sub)
    for p in sub.choices.values():          # --debug also after the command's name
        if "--debug" not in p._option_string_actions:
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show a traceback on errors")
    parser.commands = sub.choices
    return parser


def parse(parser, argv):
    """parse_args, with every argument error in the command's own format (``diodenet CMD:
    error: …``, exit 2): unknown arguments are reported by the command's parser, not the
    top-level one, and ``--opt=--`` (which argparse silently turns into the default) is refused."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if a in parser.commands), None)
    owner = parser.commands[command] if command else parser
    parser.error = owner.error              # e.g. an ambiguous option, found by the top level
    for a in argv:
        if a.startswith("-") and a.endswith("=--"):
            owner.error(f"argument {a[:-3]}: expected a value, got '--'")
    args, extra = parser.parse_known_args(argv)
    if extra:
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


_KNOWN = (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
          NotADirectoryError)


def _failures():
    """Failures of the world rather than of diodenet: a board that stops answering, a simulator
    (Icarus, ngspice) that fails, a solver that does not converge on the given problem."""
    found = []
    for module, name in (("diodenet.host.driver.client", "BoardError"), ("diodenet.sim.runner", "CosimError"),
                         ("diodenet.analog.ngspice_engine", "SpiceError"),
                         ("diodenet.host.certificate", "ConvergenceError")):
        try:                        # (an optional part that cannot load has raised nothing)
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError, OSError):
            pass
    return tuple(found)


def describe(exc):
    """One line for an exception: its own message for the kinds users cause, else its type too."""
    if isinstance(exc, _KNOWN + _failures()):
        return str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller problem (fewer samples, neurons or a smaller batch)"
    return (f"unexpected {type(exc).__name__}: {exc} -- this is a bug in diodenet; run again with "
            "--debug for the traceback and report it")


def _raise_terminated(signum, frame):
    # only once: a second signal during cleanup must not cut the cleanup short
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    raise Terminated(signum)


def main(argv=None):
    parser = build_parser()
    args = parse(parser, argv)
    keep_freed_memory()  # the command owns its process: keep freed pages mapped (~20 % on big training)
    debug = getattr(args, "debug", False) or os.environ.get("DIODENET_DEBUG", "") not in ("", "0")
    old = {}
    for s in (signal.SIGTERM, signal.SIGHUP):
        try:
            old[s] = signal.signal(s, _raise_terminated)
        except ValueError:                   # not the main thread (main() called from a thread)
            pass
    try:
        return args.func(args) or 0
    except Terminated as exc:
        print(f"diodenet {args.command}: stopped by {signal.Signals(exc.signum).name}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"diodenet {args.command}: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Exception as exc:
        if debug:
            import traceback
            traceback.print_exc()
        print(f"diodenet {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 2
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class Stages:
    """Progress of a job made of named stages, on stderr (off with quiet): a bar that advances
    per stage, names the current one and ticks the elapsed time every second.

        with Stages("cosim check", ["build", "run"], quiet=args.quiet) as st:
            st("build"); ...; st("run"); ...
    """

    def __init__(self, desc, names, quiet=False):
        self.desc, self.names, self.quiet = desc, list(names), quiet
        self.bar = None
        self._done = None

    def __enter__(self):
        if self.quiet:
            return self
        import threading
        from tqdm.auto import tqdm
        self.bar = tqdm(total=len(self.names), desc=self.desc, unit="stage", file=sys.stderr,
                        bar_format="{desc}: {n_fmt}/{total_fmt} stages [{elapsed}]{postfix}")
        self._done = threading.Event()

        def tick():
            while not self._done.wait(1.0):
                self.bar.refresh()
        threading.Thread(target=tick, daemon=True).start()
        return self

    def __call__(self, name):
        if self.bar is None:
            return
        if self.bar.postfix:                        # the previous stage is done
            self.bar.update(1)
        self.bar.set_postfix_str(name)

    def __exit__(self, exc_type, *exc):
        if self.bar is None:
            return
        self._done.set()
        if exc_type is None:
            self.bar.update(self.bar.total - self.bar.n)
            self.bar.set_postfix_str("done")
        self.bar.close()
