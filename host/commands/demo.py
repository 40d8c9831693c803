"""`diodenet demo`: the kit's main job on built-in defaults, stage by stage.

1. train a resistor–diode network (ideal diodes, differential inputs) on the digits data;
2. check the measured hardware-linearization gradient against implicit differentiation;
3. write the trained model as an ngspice netlist of real parts (1N4148, 8-bit MCP4351 rheostats)
   and compare ngspice with the reference solver;
4. train a small network in simulated hardware: every gradient measured on the ngspice circuit
   through potentiometer codes and 12-bit converters;
5. emit the controller's Verilog and, with the YoWASP toolchain present, build its bitstream;
6. co-simulate the controller (cocotb + Icarus) with the analog array in ngspice and drive it from
   the host driver over a TCP serial URL: voltages, a measured gradient, a few training steps.
"""

import json
import time
from pathlib import Path


def register(sub):
    from ..cli import nonnegative_int, positive_int
    p = sub.add_parser("demo", help="run the kit's main job on built-in defaults")
    p.add_argument("-o", "--output", default="out/demo", help="output directory (default out/demo)")
    p.add_argument("--epochs", type=positive_int, default=15, help="epochs of the ideal training stage (default 15)")
    p.add_argument("--hardware-epochs", type=nonnegative_int, default=1,
                   help="epochs of the simulated-hardware training stage (default 1; 0 skips it)")
    p.add_argument("--no-bitstream", action="store_true", help="emit Verilog only, skip the bitstream build")
    p.add_argument("--no-cosim", action="store_true", help="skip the co-simulation stage")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.set_defaults(func=run)


def stage_train(out, epochs, progress):
    from .train import summary, train_from_args
    result, _ = train_from_args("digits", 32, epochs, str(out / "digits"), resume=False, progress=progress)
    return result, summary(result, out / "digits")


def stage_gradient_check(net, n_samples=8):
    """Hardware linearization (perturbation measurements) vs implicit differentiation."""
    from ..datasets import load_dataset
    from ..gradcheck import agreement
    from ..gradients import hardware_linearization_gradient, implicit_gradient
    from ..losses import network_loss
    data = load_dataset("digits")
    x, y = data.x_test[:n_samples], data.y_test[:n_samples]
    eq = net.solve(x)
    _, dl_dv, _ = network_loss(net, eq.x, y)
    exact = implicit_gradient(net, dl_dv, x, equilibrium=eq).conductance
    measured = hardware_linearization_gradient(net, dl_dv, x, method="perturb", centered=True).conductance
    cos, rel = agreement(measured, exact)
    return {"gradient_rel_error": rel, "gradient_cosine": cos}


def stage_spice(model_path, out):
    from ...analog.verify import netlist_and_verify
    return netlist_and_verify(model_path, out / "spice")


def stage_hardware_training(out, epochs, progress):
    from .train import summary, train_from_args
    result, _ = train_from_args("digits", 16, epochs, str(out / "hardware"), backend="spice", resume=False,
                                progress=progress)
    return summary(result, out / "hardware", "spice", "linearization")


def stage_gateware(out, bitstream):
    from ...hdl import emit_gateware
    return emit_gateware(out / "gateware", board="icebreaker", bitstream=bitstream)


def stage_cosim(out):
    from ...sim import run_cosim_check
    from ..driver.board_driver import BoardDriver
    return run_cosim_check(out / "cosim", BoardDriver)


def run(args):
    from ..cli import output_dir
    out = Path(output_dir(args.output))
    t0 = time.perf_counter()
    progress = not args.quiet
    summary = {"output": str(out)}
    print("== diodenet demo ==")
    print("[1] training a resistor-diode network on the digits data (ideal diodes, differential inputs)")
    result, tr = stage_train(out, args.epochs, progress)
    summary["test_accuracy"] = tr["test_accuracy"]
    print(f"    test accuracy {100 * tr['test_accuracy']:.1f} % with {tr['neurons']} neurons and "
          f"{tr['conductances']} conductances ({tr['wall_time']:.1f} s); model, metrics and plot in {out / 'digits'}")

    print("[2] hardware-linearization gradient (perturbation measurements) vs implicit differentiation")
    grad = stage_gradient_check(result.network)
    summary.update(grad)
    print(f"    cosine {grad['gradient_cosine']:.12f}, max relative error {grad['gradient_rel_error']:.2e}")

    print("[3] the trained model as an ngspice netlist (1N4148 diodes, 8-bit MCP4351 rheostats) vs the reference")
    sp = stage_spice(out / "digits" / "model.npz", out)
    summary.update({"accuracy_reference": sp.get("accuracy_reference"), "accuracy_spice": sp.get("accuracy_spice"),
                    "spice_max_rel_error": sp.get("max_rel_error")})
    print(f"    netlist {sp.get('netlist')}; on {sp.get('samples', '?')} test samples: accuracy "
          f"{100 * sp['accuracy_reference']:.1f} % (reference) vs {100 * sp['accuracy_spice']:.1f} % (ngspice)")

    if args.hardware_epochs > 0:
        print("[4] training in simulated hardware: gradients measured on the ngspice circuit "
              "(MCP4351 codes, 12-bit DAC and ADC, 1N4148)")
        hw = stage_hardware_training(out, args.hardware_epochs, progress)
        summary["hardware_test_accuracy"] = hw["test_accuracy"]
        print(f"    test accuracy {100 * hw['test_accuracy']:.1f} % after {hw['epochs']} epoch(s), "
              f"{hw['wall_time']:.0f} s; in {out / 'hardware'}")

    print("[5] the FPGA controller: Verilog" + ("" if args.no_bitstream else " and iCEBreaker bitstream (YoWASP)"))
    gw = stage_gateware(out, not args.no_bitstream)
    summary["gateware"] = gw
    line = f"    {gw['verilog']} ({gw['verilog_lines']} lines)"
    if gw.get("bitstream"):
        line += (f"; bitstream {gw['bitstream']}: {gw['luts_used']}/{gw['luts_total']} LUTs, "
                 f"Fmax {gw['fmax_mhz']:.1f} MHz at a {gw['clock_mhz']:.0f} MHz clock")
    print(line)

    if not args.no_cosim:
        print("[6] co-simulation: the controller's Verilog in Icarus (cocotb) with the array in ngspice, "
              "driven by the host driver over socket://")
        cs = stage_cosim(out)
        summary["cosim"] = cs
        if "skipped" in cs:
            print(f"    skipped: {cs['skipped']}")
        else:
            print(f"    node voltages within {cs['max_voltage_error_lsb']:.2f} ADC LSB of the reference; gradient "
                  f"cosine vs the spice backend {cs['grad_cosine']:.6f}; loss {cs['loss_before']:.3f} → "
                  f"{cs['loss_after']:.3f}; report {cs['report']}")

    summary["wall_time"] = time.perf_counter() - t0
    print(f"done in {summary['wall_time']:.1f} s")
    if args.json:
        print(json.dumps(summary, default=str))
