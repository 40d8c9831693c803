import numpy as np
import pytest
from finite_differences import central_differences

from diodenet.host.cascade import Cascade
from diodenet.host.datasets import load_dataset
from diodenet.host.gradcheck import agreement
from diodenet.host.modelio import load_model, save_model
from diodenet.host.train import TrainConfig, train


def random_cascade(rng, sizes=(3, 6, 5, 2)):
    c = Cascade.feedforward(list(sizes), rng=rng)
    g = np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), c.flat("conductance").size))
    return c.with_conductance(g)


def test_stagewise_linearization_matches_implicit_and_finite_differences(rng):
    c = random_cascade(rng)
    x = rng.uniform(-1, 1, (6, 3))
    y = rng.integers(0, 2, 6)
    exact = np.concatenate(c.implicit_gradient(x, y))
    loss, measured, failed = c.task().gradient(x, y, "cross_entropy",
                                               TrainConfig(method="linearization", epsilon=1e-6, centered=True))
    assert failed == 0 and loss == pytest.approx(c.loss(x, y), rel=1e-12)
    assert agreement(measured, exact)[1] < 1e-7
    g0 = c.flat("conductance")
    picks = np.union1d(rng.choice(g0.size, 20, replace=False), np.argsort(-np.abs(exact))[:10])
    fd = central_differences(lambda g: c.with_conductance(g).loss(x, y), g0, picks)
    assert agreement(exact[picks], fd)[1] < 1e-5
    # every stage receives gradient (the adjoint crossed the buffers)
    for k, g in enumerate(c.split(exact)):
        assert np.abs(g).max() > 0, f"stage {k} got no gradient"


def test_two_stage_cascade_trains_on_moons_by_hardware_linearization(tmp_path):
    data = load_dataset("moons")
    c = Cascade.feedforward([2, 16, 2], rng=0)
    result = train(c, data, TrainConfig(epochs=25, lr=0.01, method="linearization"), tmp_path, progress=False)
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    assert result.history[-1]["test_accuracy"] >= 0.95
    back = load_model(tmp_path / "model.npz")
    assert isinstance(back, Cascade)
    assert np.array_equal(back.flat("conductance"), result.network.flat("conductance"))


def test_cascade_shape_errors(rng):
    a = Cascade.feedforward([3, 4, 2], rng=rng)
    with pytest.raises(ValueError, match="stage 1 takes 3 features but stage 0 has 2 outputs"):
        Cascade([a.stages[1], a.stages[0]])
    with pytest.raises(ValueError, match="2 stages but 1 backends"):
        a.task([object()])
    with pytest.raises(ValueError, match="eqprop"):
        a.task().gradient(np.zeros((1, 3)), [0], "cross_entropy", TrainConfig(method="eqprop"))


def test_cascade_round_trip(tmp_path, rng):
    c = random_cascade(rng)
    save_model(tmp_path / "c.npz", c)
    back = load_model(tmp_path / "c.npz")
    assert [s.n_edges for s in back.stages] == [s.n_edges for s in c.stages]
    assert back.flat("conductance").tobytes() == c.flat("conductance").tobytes()
