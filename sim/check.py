"""The full-stack check through the co-simulated board (used by `diodenet cosim --check`, the tests
and `diodenet.sim.run_cosim_check`).

Host driver -> serial protocol (TCP socket) -> controller gateware (Icarus) -> SPI part models ->
ngspice array -> ADC model -> result frames -> host:

1. program the AFE network's rheostats, apply inputs, measure every node, compare with the
   reference solver on the realized (code-quantized) conductances, the applied (DAC-quantized)
   inputs and the board's own diode (its card evaluated as ngspice does): error in ADC LSB; and
   the fraction of conducting diodes over the training batch (a linear array would give 0);
2. a hardware-linearization gradient through the board vs the spice backend's for the same codes
   (and converters): cosine; and vs the exact implicit gradient, for information;
3. a few training steps (method "linearization") through the board: loss before and after.
"""

import time

import numpy as np

from ..analog.devices import reference_network

__all__ = ["toy_dataset", "reference_network", "voltage_check", "board_vs_spice_gradient", "training_check", "full_check"]


def toy_dataset(n_inputs=2, n_train=32, n_test=16, seed=0, name="moons"):
    """A built-in two-class dataset with `n_inputs` features (repeated to fill extra inputs)."""
    from ..host.datasets import Dataset, load_dataset
    d = load_dataset(name, seed=seed, n_samples=max(400, 2 * (n_train + n_test)))
    cols = [i % d.n_features for i in range(n_inputs)]
    return Dataset(name, d.x_train[:n_train, cols], d.y_train[:n_train],
                   d.x_test[:n_test, cols], d.y_test[:n_test], d.task, d.n_outputs)


def voltage_check(backend, x, diode):
    """Measured node voltages vs the reference solver on the realized conductances, the applied
    inputs and the board's diode card; and the fraction of conducting diodes."""
    from ..host.metrics import diode_on_fraction
    net = backend.network
    m = backend.measure(net.source_voltages(x))
    ref = reference_network(net, diode).solve(u=m.u).x
    err = np.abs(m.v[m.ok] - ref[m.ok]) / backend.afe.adc_lsb
    return {"samples": len(x), "ok": int(m.ok.sum()),
            "max_voltage_error_lsb": float(err.max()) if err.size else float("nan"),
            "mean_voltage_error_lsb": float(err.mean()) if err.size else float("nan"),
            "diode_on_fraction": diode_on_fraction(net, m.v[m.ok], v_on=backend.afe.adc_lsb / 2),
            "v_range": [float(np.nanmin(m.v)), float(np.nanmax(m.v))]}


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def board_vs_spice_gradient(backend, data, batch=8, epsilon=None, diode=None):
    """Hardware-linearization gradient through `backend` vs the spice backend on the same realized
    conductances with the front-end's parts (diode card, DAC and ADC quantization), and vs the
    exact gradient of the ideal-diode model."""
    from ..analog.spice_backend import SpiceBackend
    from ..host.gradients import implicit_gradient
    from ..host.hwlin import measure_gradient
    from ..host.losses import network_loss
    net = backend.network
    x, y = data.x_train[:batch], data.y_train[:batch]
    u = net.source_voltages(x)
    g_board = measure_gradient(backend, u, y, epsilon=epsilon)
    with SpiceBackend(net, diode=diode) as spice:
        g_spice = measure_gradient(spice, u, y, epsilon=epsilon)
    ua = g_board.forward.u
    eq = net.solve(u=ua)
    _, dl_dv, _ = network_loss(net, eq.x, y)
    exact = implicit_gradient(net, dl_dv, u=ua, equilibrium=eq).conductance
    m = backend.m_tunable
    return {"grad_cosine": _cos(g_board.conductance[:m], g_spice.conductance[:m]),
            "grad_cosine_exact": _cos(g_board.conductance[:m], exact[:m]),
            "spice_cosine_exact": _cos(g_spice.conductance[:m], exact[:m]),
            "grad_samples_ok": int(g_board.ok.sum()), "grad_batch": batch}


# lr 0.01: a front-end network starts with steep hidden units and its loss near ln 2
# (boards.frontend.kink_init); Adam's first full-size steps of 0.05 overshoot on 8-sample batches
def training_check(backend, data, steps=4, batch=8, lr=0.01, seed=0, epsilon=None):
    from ..host.train import TrainConfig, evaluate, train
    n = steps * batch
    from ..host.datasets import Dataset
    d = Dataset(data.name, data.x_train[:n], data.y_train[:n], data.x_test, data.y_test, data.task,
                data.n_outputs)
    before = evaluate(backend.network, d.x_test, d.y_test, backend=backend)
    res = train(backend.network, d, TrainConfig(epochs=1, batch_size=batch, lr=lr,
                                                method="linearization", seed=seed, epsilon=epsilon),
                backend=backend, progress=False)
    after = res.final
    return {"loss_before": float(before["loss"]), "loss_after": float(after["test_loss"]),
            "accuracy_before": before.get("accuracy"), "accuracy_after": after.get("test_accuracy"),
            "train_steps": steps}


def full_check(board, open_driver, *, seed=0, steps=4, batch=8, n_voltage=16, lr=0.01, epsilon=None,
               progress=None):
    """Run 1-3 on a started `CosimBoard` through the host's board driver (`open_driver(network,
    url)`, e.g. `host.driver.board_driver.BoardDriver`: sim/ does not import the driver, its
    callers hand it in); returns one flat dict (plus the board's statistics).  epsilon: hardware linearization's relative perturbation (None: its default).  progress: a
    callable given each stage's name as it starts ("node voltages", "gradient", "training")."""
    if steps < 1 or batch < 1 or n_voltage < 1:
        raise ValueError(f"steps, batch and n_voltage must be ≥ 1, got {steps}, {batch}, {n_voltage}")
    progress = progress or (lambda name: None)
    from ..boards.frontend import frontend_network
    from ..host.datasets import feature_scale
    afe = board.cfg.afe
    t0 = time.monotonic()
    data = toy_dataset(afe.n_inputs, n_train=max(steps * batch, n_voltage), n_test=16, seed=seed)
    net = frontend_network(afe, x_scale=feature_scale(data.x_train), rng=seed)
    diode = board.cfg.diode or afe.diode
    out = {"url": board.url, "afe": {"hidden": afe.n_hidden, "outputs": afe.n_outputs,
                                     "inputs": afe.n_inputs, "rheostats": afe.n_pots,
                                     "diode": diode}}
    with open_driver(net, board.url) as be:
        progress("node voltages")
        out.update(voltage_check(be, data.x_train[:max(steps * batch, n_voltage)], diode))
        progress("gradient")
        out.update(board_vs_spice_gradient(be, data, batch, epsilon, diode))
        progress("training")
        out.update(training_check(be, data, steps, batch, lr, seed, epsilon))
        out["link"] = dict(be.client.stats)
    st = board.stats()
    out.update({"early_conversions": st["early_conversions"], "violations": st["n_violations"],
                "ldac_missed": st["ldac_missed"], "ldac_missed_harmful": st["ldac_missed_harmful"],
                "analog_solves": st["analog_solves"],
                "adc_conversions": st["conversions"], "sim_time_s": st["sim_time_s"]})
    out["wall_s"] = time.monotonic() - t0
    return out
