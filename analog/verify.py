"""A trained resistor–diode network: the reference solver vs the device-level circuit in ngspice.

`verify_model` runs N samples of the model's dataset through both: the host's exact solver
(the model as trained) and the spice backend (real diode cards, conductances quantized through
the potentiometer part after mapping them into its range, optional DAC/ADC).  It reports the
node-voltage errors, the accuracy under each, and draws a plot.  `netlist_for_model` writes the
model's circuit with the part's realized resistances; `netlist_and_verify` does both for `diodenet demo`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .devices import Potentiometer
from .spice_backend import SpiceBackend, fit_to_part

__all__ = ["verify_model", "netlist_for_model", "netlist_and_verify", "dataset_for"]

_BY_FEATURES = {64: "digits", 1: "sine"}


def dataset_for(network, name=None):
    from ..host.datasets import load_dataset
    name = name or _BY_FEATURES.get(network.encoding.n_features)
    if name is None:
        raise ValueError(f"cannot tell the dataset of a model with {network.encoding.n_features} features; "
                         "pass --dataset")
    data = load_dataset(name)
    if data.n_features != network.encoding.n_features:
        raise ValueError(f"dataset {name} has {data.n_features} features, the model {network.encoding.n_features}")
    return data


def _part(part):
    if part in (None, "none", "exact"):
        return None
    from ..boards.parts import PARTS
    if isinstance(part, str):
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; known: {', '.join(PARTS)} or none")
        return Potentiometer(PARTS[part])
    return part


def _backend(network, diode, part):
    pot = _part(part)
    if pot is None:
        return SpiceBackend(network, diode=diode), {"scale": 1.0, "raised": 0}
    scale, fitted, raised = fit_to_part(network, pot)
    return SpiceBackend(fitted, diode=diode, part=pot, conductance_scale=scale), {"scale": scale, "raised": raised}


def verify_model(network, *, dataset=None, samples=200, diode="1n4148", part="MCP4351", plot=None):
    """Reference vs ngspice on `samples` test samples; returns a dict of figures."""
    data = dataset_for(network, dataset)
    x = data.x_test[:samples]
    y = data.y_test[:samples]
    u = network.source_voltages(x)
    ref = network.solve(u=u).x
    sb, fit = _backend(network, diode, part)
    with sb:
        m = sb.measure(u)
        realized = sb.network.conductance
    ok = m.ok
    v_ref, v_sp = ref[ok], m.v[ok]
    err = np.abs(v_sp - v_ref)
    scale = max(np.abs(v_ref).max(), 1e-300)
    out_ref = network.logits(v_ref)
    out_sp = network.logits(v_sp)
    result = {
        "samples": int(len(x)), "ok": int(ok.sum()), "failed": int((~ok).sum()), "diode": str(diode),
        "part": "none" if _part(part) is None else _part(part).name,
        "conductance_scale": fit["scale"], "conductances_raised_to_part_minimum": fit["raised"],
        "max_conductance_change": float(np.max(np.abs(realized / network.conductance - 1))),
        "max_abs_error": float(err.max()), "mean_abs_error": float(err.mean()),
        "max_rel_error": float(err.max() / scale), "mean_rel_error": float(err.mean() / scale),
        "output_max_abs_error": float(np.abs(v_sp - v_ref)[:, network.outputs].max()),
    }
    if data.task == "classification":
        result["accuracy_reference"] = float(np.mean(out_ref.argmax(1) == y[ok]))
        result["accuracy_spice"] = float(np.mean(out_sp.argmax(1) == y[ok]))
        result["prediction_agreement"] = float(np.mean(out_ref.argmax(1) == out_sp.argmax(1)))
    else:
        result["accuracy_reference"] = result["accuracy_spice"] = float("nan")
    if plot:
        _plot(v_ref, v_sp, network, result, plot)
        result["plot"] = str(plot)
    return result


def _plot(v_ref, v_sp, network, r, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(10, 4.2))
    hidden = np.setdiff1d(np.arange(network.n_neurons), network.outputs)
    ax[0].plot(v_ref[:, hidden].ravel(), v_sp[:, hidden].ravel(), ".", ms=2, label="hidden nodes")
    ax[0].plot(v_ref[:, network.outputs].ravel(), v_sp[:, network.outputs].ravel(), ".", ms=3, label="outputs")
    lim = [min(v_ref.min(), v_sp.min()), max(v_ref.max(), v_sp.max())]
    ax[0].plot(lim, lim, "k-", lw=0.5)
    ax[0].set_xlabel("reference solver node voltage [V]")
    ax[0].set_ylabel("ngspice node voltage [V]")
    ax[0].set_title(f"{r['diode']} diodes, {r['part']} potentiometers")
    ax[0].legend()
    ax[1].hist(np.abs(v_sp - v_ref).ravel(), bins=50, log=True)
    ax[1].set_xlabel("|ngspice − reference| [V]")
    ax[1].set_title(f"accuracy {100 * r['accuracy_reference']:.1f} % (reference) vs "
                    f"{100 * r['accuracy_spice']:.1f} % (ngspice)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def netlist_for_model(network, path, *, diode="1n4148", part="MCP4351", x=None):
    """Write the model's circuit (sources at input x, default zeros) with the part's realized
    resistances; returns a dict with the codes and the scale."""
    from ..host.fileio import atomic_write_text
    sb, fit = _backend(network, diode, part)
    with sb:
        if x is not None:
            sb._u[:] = network.source_voltages(np.asarray(x, dtype=float).reshape(-1))
        comments = [f"diodenet resistor-diode network: {network.n_neurons} neurons, {network.n_edges} "
                    f"edges, {sb.card.name} diodes, conductance scale {fit['scale']:.6g}"]
        if sb.codes is not None:
            comments.append(f"{sb.part.name} rheostat codes per edge R0..R{network.n_edges - 1}: "
                            + " ".join(str(int(c)) for c in sb.codes))
        text = sb.netlist()
        head, rest = text.split("\n", 1)
        atomic_write_text(path, head + "\n" + "".join(f"* {c}\n" for c in comments) + rest)
        codes = None if sb.codes is None else sb.codes.tolist()
    return {"output": str(path), "scale": fit["scale"], "raised": fit["raised"], "codes": codes}


def netlist_and_verify(model_path, out_dir, *, samples=200, diode="1n4148", part="MCP4351"):
    """The netlist and verification stages of `diodenet demo` for a trained model file."""
    from ..host.fileio import atomic_write_text
    from ..host.modelio import load_model
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = load_model(model_path)
    nl = netlist_for_model(net, out / "model.cir", diode=diode, part=part)
    res = verify_model(net, samples=samples, diode=diode, part=part, plot=out / "verify.png")
    res["netlist"] = nl["output"]
    atomic_write_text(out / "verify.json", json.dumps(res, indent=2))
    return res
