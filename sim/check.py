"""The full-stack check through the co-simulated board (used by `diodenet cosim --check`, the tests
and `diodenet.sim.demo_stage`).

Host driver -> serial protocol (TCP socket) -> controller gateware (Icarus) -> SPI part models ->
ngspice array -> ADC model -> result frames -> host:

1. program the AFE network's rheostats, apply inputs, measure every node, compare with the
   reference solver (`network.solve`) on the realized (code-quantized) conductances and the applied
   (DAC-quantized) inputs: error in ADC LSB;
2. a hardware-linearization gradient through the board vs the spice backend's for the same codes
   (and converters): cosine; and vs the exact implicit gradient, for information;
3. a few training steps (method "linearization") through the board: loss before and after.
"""

import time

import numpy as np

__all__ = ["complementary", "toy_dataset", "voltage_check", "gradient_check", "training_check",
           "full_check"]


from ..host.encoding import complementary_pairs as complementary  # noqa: E402


def toy_dataset(n_inputs=2, n_train=32, n_test=16, seed=0, name="moons"):
    """A built-in two-class dataset, complementary-coded for an AFE with n_inputs line pairs."""
    from ..host.datasets import Dataset, load_dataset
    d = load_dataset(name, seed=seed, n_samples=max(400, 2 * (n_train + n_test)))
    if n_inputs < d.n_features:
        raise ValueError(f"{name} has {d.n_features} features, the AFE only {n_inputs} differential inputs")
    cols = [i % d.n_features for i in range(n_inputs)]     # repeat features to fill extra inputs
    return Dataset(f"{name} (complementary)", complementary(d.x_train[:n_train, cols]), d.y_train[:n_train],
                   complementary(d.x_test[:n_test, cols]), d.y_test[:n_test], d.task, d.n_outputs)


def voltage_check(backend, n=16, seed=0):
    rng = np.random.default_rng(seed)
    net = backend.network
    x = rng.uniform(0, 1, (n, net.encoding.n_features))
    m = backend.measure(net.source_voltages(x))
    ref = backend.network.solve(u=m.u).x
    err = np.abs(m.v[m.ok] - ref[m.ok]) / backend.adc_lsb
    return {"samples": n, "ok": int(m.ok.sum()),
            "max_voltage_error_lsb": float(err.max()) if err.size else float("nan"),
            "mean_voltage_error_lsb": float(err.mean()) if err.size else float("nan"),
            "v_range": [float(np.nanmin(m.v)), float(np.nanmax(m.v))]}


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def gradient_check(backend, data, batch=8, epsilon=None):
    """Hardware-linearization gradient through `backend` vs the spice backend on the same realized
    conductances with the AFE's converters (DAC and ADC quantization), and vs the exact gradient."""
    from ..analog.devices import adc_quantizer, dac_quantizer
    from ..analog.spice_backend import SpiceBackend
    from ..host.gradients import implicit_gradient
    from ..host.hwlin import measure_gradient
    from ..host.losses import network_loss
    net = backend.network
    x, y = data.x_train[:batch], data.y_train[:batch]
    u = net.source_voltages(x)
    g_board = measure_gradient(backend, u, y, epsilon=epsilon)
    with SpiceBackend(net, dac=dac_quantizer(), adc=adc_quantizer()) as spice:
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


def training_check(backend, data, steps=4, batch=8, lr=0.05, seed=0, epsilon=None):
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


def full_check(board, *, seed=0, steps=4, batch=8, n_voltage=16, lr=0.05, epsilon=None):
    """Run 1-3 on a started `CosimBoard`; returns one flat dict (plus the board's statistics).
    epsilon: hardware linearization's relative perturbation (None: its default)."""
    from ..host.board import BoardBackend, afe_network
    afe = board.cfg.afe
    t0 = time.monotonic()
    net = afe_network(afe, rng=seed)
    out = {"url": board.url, "afe": {"hidden": afe.n_hidden, "outputs": afe.n_outputs,
                                     "inputs": afe.n_inputs, "rheostats": afe.n_pots}}
    data = toy_dataset(afe.n_inputs, n_train=steps * batch, n_test=16, seed=seed)
    with BoardBackend(net, board.url) as be:
        out.update(voltage_check(be, n_voltage, seed))
        out.update(gradient_check(be, data, batch, epsilon))
        out.update(training_check(be, data, steps, batch, lr, seed, epsilon))
        out["link"] = dict(be.link.stats)
    st = board.stats()
    out.update({"early_conversions": st["early_conversions"], "violations": st["n_violations"],
                "ldac_missed": st["ldac_missed"], "ldac_missed_harmful": st["ldac_missed_harmful"],
                "analog_solves": st["analog_solves"],
                "adc_conversions": st["conversions"], "sim_time_s": st["sim_time_s"]})
    out["wall_s"] = time.monotonic() - t0
    return out
