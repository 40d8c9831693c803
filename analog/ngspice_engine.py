"""The kit's ngspice engine: ngspice 39 as a shared library, through PySpice 1.5.

PySpice's own error detection flags every stderr line that does not start with ``Warning:``, so
ngspice's convergence notes ("Note: Starting dynamic gmin stepping", "Trying gmin = ...") make a
solve that succeeded raise.  `Engine` overrides `send_char` so that only real errors count: lines
containing "error", "fatal", "run simulation(s) aborted" or "doanalyses:" (case-insensitive).

ngspice is process-global and PySpice allows exactly one `NgSpiceShared` per process (a second
constructor fails with a cffi duplicate declaration), so use `get_engine()`, which creates the one
instance lazily.  Parallel solves need separate processes.

Typical use::

    eng = get_engine()
    volts = eng.operating_point(netlist_text)      # load, op, read, clean up

    eng.load(netlist_text)                          # hot loop: load once ...
    for r in values:
        eng.alter("r1", r)                          # ... then alter + op (about 1 ms)
        volts = eng.run_op()
    eng.unload()
"""

from __future__ import annotations

import logging
import math
import threading

from PySpice.Spice.NgSpice.Shared import FFI, NgSpiceShared, ffi

from ..host.netlist_reader import netlist_title

__all__ = ["SpiceError", "Engine", "get_engine", "REAL_ERROR_MARKERS"]

# Substrings (lowercase) that mark a real ngspice failure in its output; everything else on stderr
# (convergence notes, gmin/source-stepping progress) is informational.
REAL_ERROR_MARKERS = ("error", "fatal", "run simulation(s) aborted", "doanalyses:")

# ngspice's vector type code for a voltage (enum simulation_types in ngspice's sim.h: SV_NOTYPE,
# SV_TIME, SV_FREQUENCY, SV_VOLTAGE, ...).
_SV_VOLTAGE = 3

# PySpice logs every stderr line at ERROR level through the instance's `_logger`; give the engine a
# quiet logger of its own so convergence notes do not land on the user's terminal.  Real errors
# reach the caller as SpiceError.
_quiet_logger = logging.getLogger("diodenet.analog.ngspice_engine.raw")
_quiet_logger.addHandler(logging.NullHandler())
_quiet_logger.propagate = False
_quiet_logger.setLevel(logging.CRITICAL + 1)


class SpiceError(RuntimeError):
    """ngspice failed to load or solve a circuit."""


def is_real_error(line: str) -> bool:
    """True when an ngspice output line reports a real failure (not a note or warning)."""
    low = line.lower()
    return any(marker in low for marker in REAL_ERROR_MARKERS)


class Engine(NgSpiceShared):
    """ngspice with honest error detection; get the one instance with `get_engine()`."""

    _logger = _quiet_logger

    def __init__(self):
        self._real_errors: list[str] = []
        self._error_context = 0
        self._title = None
        self._last_voltages: dict[str, float] | None = None
        # What ngspice printed during the last `op` (notes, warnings, errors).
        self.last_messages: list[str] = []
        super().__init__(ngspice_id=0, send_data=False, verbose=False)

    # -- output classification -------------------------------------------------------
    def send_char(self, message, ngspice_id):
        # Called by NgSpiceShared._send_char after it has (over-eagerly) set its error flags;
        # replace them by our own verdict.
        _, _, content = message.partition(" ")
        content = content.strip()
        # A real error, and the few lines that follow it (ngspice explains on the next lines).
        if is_real_error(content):
            self._real_errors.append(content)
            self._error_context = 3
        elif self._error_context > 0 and content:
            self._real_errors.append(content)
            self._error_context -= 1
        self._error_in_stdout = False
        self._error_in_stderr = bool(self._real_errors)
        return 0

    def clear_output(self):
        super().clear_output()
        self._real_errors = []
        self._error_context = 0

    def _command(self, command: str, what: str) -> None:
        """Run one ngspice command; raise SpiceError if it reported a real error."""
        try:
            self.exec_command(command)
        except Exception as exc:  # NgSpiceCommandError, NameError from ngSpice_Command
            raise self._error(what, exc) from None
        if self._real_errors:
            raise self._error(what)

    def _error(self, what: str, exc: Exception | None = None) -> SpiceError:
        details = "; ".join(self._real_errors) or (str(exc) if exc else "unknown failure")
        title = self._title if self._title is not None else "(no circuit)"
        return SpiceError(f"ngspice {what} failed for circuit {title!r}: {details}")

    # -- circuits --------------------------------------------------------------------
    def load(self, netlist_text: str) -> None:
        """Load a netlist (plain ngspice text, first line the title) as the current circuit."""
        self.unload()
        self._title = netlist_title(netlist_text)
        lines = netlist_text.splitlines()
        if not any(ln.strip().lower() == ".end" for ln in lines):
            lines.append(".end")
        self._loaded = True  # from here on, unload() cleans up whatever ngspice kept
        try:
            self.load_circuit("\n".join(lines))
        except Exception as exc:  # NameError from ngSpice_Circ
            error = self._error("load", exc)
            self.unload()
            raise error from None
        if self._real_errors:
            error = self._error("load")
            self.unload()
            raise error

    def unload(self) -> None:
        """Drop the current circuit and all plots, freeing their memory."""
        if getattr(self, "_loaded", False):
            self._loaded = False
            try:
                self.exec_command("destroy all")
                self.exec_command("remcirc")
            except Exception:
                pass
        self._last_voltages = None

    def alter(self, element: str, value: float) -> None:
        """Set an element's value (a resistor's resistance, a source's DC value)."""
        if not getattr(self, "_loaded", False):
            raise SpiceError("alter: no circuit loaded")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"alter {element}: value must be finite, got {value!r}")
        self._command(f"alter {element.lower()} = {value!r}", f"alter {element}")

    def _run(self, command: str, kind: str, what: str, label: str) -> dict:
        """Run an analysis on the loaded circuit; return the voltage vectors of the plot it
        made (named `kind`...), remember what ngspice printed, and drop the plot."""
        if not getattr(self, "_loaded", False):
            raise SpiceError(f"{kind}: no circuit loaded")
        before = self.plot_names
        try:
            self._command(command, what)
        except SpiceError:
            self.last_messages = self._stdout + self._stderr
            self.exec_command("destroy all")  # a failed analysis may leave an empty plot behind
            raise
        self.last_messages = self._stdout + self._stderr
        plot = self._ngspice_shared.ngSpice_CurPlot()
        name = ffi.string(plot).decode() if plot != FFI.NULL else ""
        if not name.startswith(kind) or name in before:
            raise self._error(what, RuntimeError(f"no {label} plot produced"))
        try:
            return self._read_vectors(name)
        finally:
            self.exec_command(f"destroy {name}")

    def run_op(self) -> dict[str, float]:
        """Run `op` on the loaded circuit; return (and remember) its node voltages."""
        vectors = self._run("op", "op", "op analysis", "operating-point")
        self._last_voltages = {k: float(v[0]) for k, v in vectors.items() if v.size}
        return dict(self._last_voltages)

    def run_sweep(self, command: str, points: int) -> dict[str, "np.ndarray"]:
        """Run a DC sweep (e.g. `dc vidx 0 9 1`) on the loaded circuit; return every node voltage
        vector (lowercased names) of its plot, each of length `points`, and drop the plot."""
        out = self._run(command, "dc", "dc sweep", "DC-sweep")
        short = [k for k, v in out.items() if len(v) != points]
        if short:
            raise self._error("dc sweep", RuntimeError(f"{len(short)} vectors have fewer than {points} points"))
        return out

    def node_voltages(self) -> dict[str, float]:
        """Node voltages (lowercased names) of the last `run_op`."""
        if self._last_voltages is None:
            raise SpiceError("no operating point has been computed for the loaded circuit")
        return dict(self._last_voltages)

    def _read_vectors(self, plot_name: str) -> dict:
        """Every voltage vector of a plot, as NumPy arrays (lowercased names)."""
        import numpy as np
        lib = self._ngspice_shared
        names_c = lib.ngSpice_AllVecs(plot_name.encode())
        out = {}
        i = 0
        while names_c[i] != FFI.NULL:
            vname = ffi.string(names_c[i]).decode()
            i += 1
            if "#" in vname or vname.startswith(("@", "i(")):
                continue
            info = lib.ngGet_Vec_Info(f"{plot_name}.{vname}".encode())
            if info == FFI.NULL or info.v_type != _SV_VOLTAGE or info.v_realdata == FFI.NULL:
                continue
            out[vname.lower()] = np.frombuffer(ffi.buffer(info.v_realdata, 8 * info.v_length),
                                               dtype=np.float64).copy()
        return out

    def operating_point(self, netlist_text: str) -> dict[str, float]:
        """Load a netlist, run `op`, return {node name (lowercase): voltage}, clean up."""
        self.load(netlist_text)
        try:
            return self.run_op()
        finally:
            self.unload()


_engine = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process's one ngspice engine, created on first use."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine
