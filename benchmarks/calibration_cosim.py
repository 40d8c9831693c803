"""Calibration of the co-simulated board against its known parts (issue 13's must-show figures).

    python benchmarks/calibration_cosim.py [--tolerance 0.2] [--seed 5] [--clock-hz 3e6] [--json]

Starts the co-simulated board (SMALL_AFE) built from seeded part deviations
(`sim.bridge.part_deviations`), runs `diodenet calibrate`'s default plan through the gateware,
and prints: every rheostat's resistance error over the codes the front-end programs; node
voltages vs the reference solver on the values the driver reports as realized, with the
calibration and with the nominal part values (ADC LSB); the converters' recovered offsets and
gains against the truth (their common mode is not observable, see docs/hardware.md
"Calibration"); wall time.
"""

import argparse
import json
import sys
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--clock-hz", type=float, default=3e6)
    ap.add_argument("--samples", type=int, default=16, help="samples of the node-voltage check per network")
    ap.add_argument("--networks", type=int, default=2, help="random networks in the node-voltage check")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from diodenet.boards.afe import SMALL_AFE as afe
    from diodenet.host.driver.board_driver import BoardDriver
    from diodenet.analog.calibration_fit import Plan, calibrate
    from diodenet.boards.frontend import frontend_network
    from diodenet.sim import CosimBoard, SimConfig
    from diodenet.sim.bridge import part_deviations
    from diodenet.sim.calibration_check import resistance_errors, voltage_errors

    truth = part_deviations(afe, args.tolerance, args.seed)
    out = {"tolerance": args.tolerance, "seed": args.seed, "rheostats": afe.n_pots}
    cfg = SimConfig(afe=afe, pot_tolerance=args.tolerance, seed=args.seed, clk_hz=args.clock_hz)
    with CosimBoard(cfg, timeout=3600) as board:
        t0 = time.monotonic()
        plan = Plan()
        with BoardDriver(frontend_network(afe), board.url) as be:
            cal = calibrate(be, afe, plan, progress=True)
        out["calibrate_s"] = time.monotonic() - t0
        out["calibration_samples"] = plan.n_samples
        err = resistance_errors(cal, afe, truth)
        out["r_max_error_pct"] = float(100 * np.abs(err).max())
        out["r_rms_error_pct"] = float(100 * np.sqrt(np.mean(err ** 2)))
        chips = np.array([afe.pot_location(e)[0] for e in range(afe.n_pots)])
        r_ab_true = afe.pot_r_ab * np.asarray(truth["r_ab"])[chips]
        out["r_ab_true_range_ohm"] = [float(r_ab_true.min()), float(r_ab_true.max())]
        out["r_w_true_range_ohm"] = [float(np.min(truth["r_w"])), float(np.max(truth["r_w"]))]
        out["fit_residual_rms_lsb"] = cal.fit["residual_rms_lsb"]
        cal_err, nom_err, on = [], [], []
        for k in range(args.networks):
            net = frontend_network(afe, rng=100 + k)
            x = np.random.default_rng(100 + k).uniform(-1, 1, (args.samples, afe.n_inputs))
            e_c, v = voltage_errors(BoardDriver, board.url, net, x, calibration=cal)
            e_n, _ = voltage_errors(BoardDriver, board.url, net, x)
            cal_err.append(e_c), nom_err.append(e_n), on.append(np.mean(v[:, :afe.n_hidden] < 0))
        cal_err, nom_err = np.concatenate(cal_err), np.concatenate(nom_err)
        out.update({"voltage_samples": int(len(cal_err)),
                    "calibrated_max_lsb": float(cal_err.max()), "calibrated_mean_lsb": float(cal_err.mean()),
                    "nominal_max_lsb": float(nom_err.max()), "nominal_mean_lsb": float(nom_err.mean()),
                    "diode_on_fraction": float(np.mean(on))})
        used = [0, 1, 2, 3, 8, 9, 10, 11]
        adc_off = cal.adc_offset - np.asarray(truth["adc_offset"])
        out["adc_offset_error_mv_after_common_mode"] = float(1e3 * np.abs(adc_off - adc_off.mean()).max())
        out["dac_offset_true_max_mv"] = float(1e3 * np.abs(np.asarray(truth["dac_offset"])[used]).max())
        out["wall_s"] = time.monotonic() - t0
    print(f"calibration: {out['calibration_samples']} samples in {out['calibrate_s']:.0f} s; "
          f"{afe.n_pots} rheostats (true R_AB {out['r_ab_true_range_ohm'][0]:.0f}.."
          f"{out['r_ab_true_range_ohm'][1]:.0f} ohm, R_W {out['r_w_true_range_ohm'][0]:.0f}.."
          f"{out['r_w_true_range_ohm'][1]:.0f} ohm) within {out['r_max_error_pct']:.2f} % "
          f"(rms {out['r_rms_error_pct']:.2f} %) over codes 25..256")
    print(f"node voltages vs the reference solver ({out['voltage_samples']} samples x "
          f"{afe.n_neurons} nodes, {100 * out['diode_on_fraction']:.0f} % of diodes conducting): "
          f"calibrated max {out['calibrated_max_lsb']:.2f} LSB (mean {out['calibrated_mean_lsb']:.2f}); "
          f"nominal values max {out['nominal_max_lsb']:.1f} LSB (mean {out['nominal_mean_lsb']:.1f})")
    if args.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
