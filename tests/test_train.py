import json

import numpy as np
import pytest

import importlib

train_module = importlib.import_module("diodenet.host.train")
from diodenet.host.datasets import load_dataset
from diodenet.host.modelio import load_model
from diodenet.host.network import ResistorDiodeNetwork
from diodenet.host.train import TrainConfig, train


def moons_setup():
    data = load_dataset("moons")
    net = ResistorDiodeNetwork.layered(2, 12, 2, hidden_coupling=True, rng=0)
    return net, data


@pytest.mark.parametrize("method", ["implicit", "linearization", "eqprop"])
def test_training_lowers_the_loss_and_learns_moons(tmp_path, method):
    net, data = moons_setup()
    result = train(net, data, TrainConfig(epochs=12, lr=0.02, method=method), tmp_path, progress=False)
    h = result.history
    assert h[-1]["train_loss"] < 0.6 * h[0]["train_loss"]
    assert h[-1]["test_accuracy"] > 0.85
    assert np.all(result.network.conductance <= result.network.g_max)
    assert np.all(result.network.conductance >= result.network.g_min)
    for name in ("model.npz", "metrics.json", "training.png", "checkpoint.npz"):
        assert (tmp_path / name).stat().st_size > 0
    saved = load_model(tmp_path / "model.npz")
    assert np.array_equal(saved.conductance, result.network.conductance)
    assert json.loads((tmp_path / "metrics.json").read_text())["final"]["epoch"] == 12


def test_measured_and_implicit_gradients_train_identically():
    """Hardware linearization through the ideal backend follows the exact-gradient trajectory."""
    net, data = moons_setup()
    a = train(net, data, TrainConfig(epochs=2, method="implicit"), progress=False)
    b = train(net, data, TrainConfig(epochs=2, method="linearization", epsilon=1e-6), progress=False)
    assert np.allclose(a.network.conductance, b.network.conductance, rtol=1e-6)


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    net, data = moons_setup()
    config = TrainConfig(epochs=4, lr=0.02)
    straight = train(net, data, config, tmp_path / "a", progress=False)

    calls = {"n": 0}
    real_gradient = train_module.ArrayTask.gradient

    def crash_in_epoch_three(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2 * 15 + 3:  # 15 batches per epoch: crash three batches into epoch 3
            raise KeyboardInterrupt
        return real_gradient(self, *args, **kwargs)

    monkeypatch.setattr(train_module.ArrayTask, "gradient", crash_in_epoch_three)
    with pytest.raises(KeyboardInterrupt):
        train(net, data, config, tmp_path / "b", progress=False)
    monkeypatch.setattr(train_module.ArrayTask, "gradient", real_gradient)
    assert not (tmp_path / "b" / "model.npz").exists()
    resumed = train(net, data, config, tmp_path / "b", progress=False)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert np.array_equal(resumed.network.conductance, straight.network.conductance)


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    net, data = moons_setup()
    train(net, data, TrainConfig(epochs=1), tmp_path, progress=False)
    other = ResistorDiodeNetwork.layered(2, 5, 2, rng=0)
    with pytest.raises(ValueError, match="different configuration"):
        train(other, data, TrainConfig(epochs=2), tmp_path, progress=False)
    with pytest.raises(ValueError, match="features"):
        train(ResistorDiodeNetwork.layered(3, 5, 2, rng=0), data, TrainConfig(epochs=1), progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        train(net, data, TrainConfig(method="magic"), progress=False)


def test_frontend_training_reports_conducting_diodes_and_learns_xor(tmp_path):
    """On the board's front-end the diodes must conduct during training (a linear array would
    report 0 or 1) and XOR -- which no linear network learns -- must be learned."""
    from diodenet.boards.afe import SMALL_AFE
    from diodenet.boards.frontend import frontend_network
    from diodenet.host.datasets import feature_scale
    data = load_dataset("xor", seed=0)
    net = frontend_network(SMALL_AFE, x_scale=feature_scale(data.x_train), rng=0)
    result = train(net, data, TrainConfig(epochs=30, lr=0.03, batch_size=16, lr_schedule="cosine"),
                   tmp_path, progress=False)
    h = result.history
    assert all(0.05 < r["train_diode_on_fraction"] < 0.95 for r in h)
    assert h[-1]["test_accuracy"] >= 0.9
    assert "at_g_max" in h[-1]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "test_diode_on_fraction" in metrics["final"]


def test_running_training_metrics_instead_of_remeasuring(tmp_path):
    """eval_train=False (a board): the training split's figures come from the forward settles of
    the epoch's gradient steps; only the test split is measured again."""
    from diodenet.boards.afe import SMALL_AFE
    from diodenet.boards.frontend import frontend_network
    from diodenet.host.datasets import feature_scale
    data = load_dataset("moons", seed=0)
    net = frontend_network(SMALL_AFE, x_scale=feature_scale(data.x_train), rng=0)
    calls = []

    class Counting(train_module.IdealBackend):
        def measure(self, u, inject=None):
            calls.append(len(u))
            return super().measure(u, inject)

    backend = Counting(net)
    result = train(net, data, TrainConfig(epochs=2, lr=0.03, method="linearization", eval_train=False),
                   tmp_path, backend=backend, progress=False)
    last = result.history[-1]
    assert "train_loss" not in last and 0 <= last["train_accuracy_running"] <= 1
    assert 0 < last["train_diode_on_fraction"] < 1
    # per epoch: a forward and a perturbed settle per training sample, nothing more for the
    # training split (the ideal backend's test split is evaluated by the reference solver)
    assert sum(calls) == 2 * 2 * len(data.x_train)
    assert (tmp_path / "training.png").stat().st_size > 0
