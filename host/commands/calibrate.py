"""`diodenet calibrate`: measure a board's parts in place and write its calibration file."""

import json
import sys

from ..cli import UserError, nonnegative_int, output_file, positive_float, positive_int


def register(sub):
    p = sub.add_parser("calibrate", help="measure a board's rheostats, converters and diodes in place",
                       description="Measure every rheostat's end-to-end and wiper resistance, the DAC "
                       "and ADC channels' offset and gain and each neuron diode's curve with the "
                       "board's own converters, its 100 kOhm injection and 1 MOhm leak resistors as "
                       "references (docs/hardware.md 'Calibration'); write them, with the board's "
                       "identity and the date, as JSON.  Use it with BoardDriver(..., "
                       "calibration=FILE).")
    p.add_argument("--port", required=True, metavar="URL",
                   help="the board's pyserial URL (/dev/ttyUSB1, or socket://127.0.0.1:PORT of "
                        "diodenet cosim --serve)")
    p.add_argument("-o", "--output", default="calibration.json", metavar="FILE",
                   help="calibration file to write (default calibration.json; written atomically)")
    p.add_argument("--outputs", type=positive_int, default=None,
                   help="neurons used as outputs (default: the board's perturbation channels)")
    p.add_argument("--codes", default=None, metavar="C1,C2,...",
                   help="rheostat codes, one configuration each (default 8 codes from 25 to 256)")
    p.add_argument("--samples", type=positive_int, default=None,
                   help="samples per configuration with the diodes blocking (default 16)")
    p.add_argument("--diode-samples", type=positive_int, default=None,
                   help="samples per configuration with the diodes conducting (default 12)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the code assignment and line voltages")
    p.add_argument("--timeout", type=positive_float, default=2.0, help="seconds per reply (default 2)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="last line of stdout is one JSON object")
    p.set_defaults(func=run)


def _plan(args):
    from ...analog.calibration_fit import Plan
    kw = {"seed": args.seed}
    if args.codes:
        try:
            kw["codes"] = tuple(int(c) for c in args.codes.split(","))
        except ValueError:
            raise UserError(f"--codes takes integers separated by commas, got {args.codes!r}") from None
        if any(not 0 <= c <= 256 for c in kw["codes"]):
            raise UserError("--codes must be MCP4351 codes 0..256")
    if args.samples:
        kw["samples"] = args.samples
        kw["bias_groups"] = min(Plan.bias_groups, args.samples)
        if args.samples < 2:
            raise UserError("--samples must be at least 2 (two groups of bias voltages)")
    if args.diode_samples:
        kw["diode_samples"] = args.diode_samples
    try:
        return Plan(**kw)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def run(args):
    import numpy as np
    from ..driver.board_driver import BoardDriver, board_frontend
    from ..driver.client import SerialClient
    from ...analog.calibration_fit import calibrate
    from ...boards.frontend import frontend_network
    output_file(args.output)
    plan = _plan(args)
    client = SerialClient(args.port, timeout=args.timeout)
    try:
        caps = client.handshake()
    finally:
        client.close()
    afe = board_frontend(args.port, args.outputs or caps.n_pert, timeout=args.timeout)
    with BoardDriver(frontend_network(afe), args.port, timeout=args.timeout) as be:
        cal = calibrate(be, afe, plan, progress=not args.quiet)
    cal.save(args.output)
    r10 = cal.resistance(np.arange(len(cal.r_ab)), plan.codes[0])
    summary = {
        "output": args.output, "date": cal.date, "board": cal.identity["board"],
        "rheostats": int(len(cal.r_ab)),
        "r_ab_ohm": [float(cal.r_ab.min()), float(cal.r_ab.max())],
        "r_w_ohm": [float(cal.r_w.min()), float(cal.r_w.max())],
        f"r_at_code_{plan.codes[0]}_ohm": [float(r10.min()), float(r10.max())],
        "dac_offset_mv": float(1e3 * np.abs(cal.dac_offset).max()),
        "dac_gain_ppm": float(1e6 * np.abs(cal.dac_gain).max()),
        "adc_offset_mv": float(1e3 * np.abs(cal.adc_offset).max()),
        "adc_gain_ppm": float(1e6 * np.abs(cal.adc_gain).max()),
        "diode_is_a": [float(cal.diode_is.min()), float(cal.diode_is.max())],
        "diode_n": [float(cal.diode_n.min()), float(cal.diode_n.max())],
        "residual_rms_lsb": cal.fit["residual_rms_lsb"], "residual_max_lsb": cal.fit["residual_max_lsb"],
        "samples": plan.n_samples,
    }
    print(f"calibrated {summary['rheostats']} rheostats of board {cal.identity['board']!r}: "
          f"R_AB {summary['r_ab_ohm'][0]:.0f}..{summary['r_ab_ohm'][1]:.0f} ohm, R_W "
          f"{summary['r_w_ohm'][0]:.0f}..{summary['r_w_ohm'][1]:.0f} ohm")
    print(f"converters: DAC offsets within {summary['dac_offset_mv']:.2f} mV, gains within "
          f"{summary['dac_gain_ppm']:.0f} ppm; ADC offsets within {summary['adc_offset_mv']:.2f} mV, "
          f"gains within {summary['adc_gain_ppm']:.0f} ppm")
    print(f"diodes: I_S {summary['diode_is_a'][0]:.3g}..{summary['diode_is_a'][1]:.3g} A, N "
          f"{summary['diode_n'][0]:.3f}..{summary['diode_n'][1]:.3f}")
    print(f"fit: readings within {summary['residual_max_lsb']:.2f} ADC LSB (rms "
          f"{summary['residual_rms_lsb']:.2f}) over {plan.n_samples} samples; wrote {args.output}")
    if args.json:
        print(json.dumps(summary))
    sys.stdout.flush()
    return 0
