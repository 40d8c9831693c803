"""Tolerance-aware training (analog/tolerance_training.py): the gradient on a drawn built board is
the derivative of that board's loss with respect to the model's conductances (central finite
differences through the board's own maps), each step draws its own board, the objectives over K
boards combine the single boards' results as documented, and the options refuse what they cannot
do."""

import numpy as np
import pytest
from finite_differences import central_differences

from diodenet.boards.afe import SMALL_AFE
from diodenet.boards.tolerances import Tolerances
from diodenet.boards.frontend import frontend_network
from diodenet.host.losses import network_loss
from diodenet.host.train import TrainConfig


def _board_loss(net, dev, g, x, y):
    """The loss a built board gives for model conductances g, computed through the board's maps
    with the reference solver (continuous: no DAC/ADC codes)."""
    from diodenet.analog.built_board import BuiltBoard
    board = BuiltBoard(net, dev)
    built = board.network_of(g, quantize=False)
    u = board.sources(net.source_voltages(x), quantize=False)
    eq = built.solve(u=u, inject=board.injection(None, len(x)))
    return network_loss(net, board.readings(eq.x, quantize=False), y, "cross_entropy")[0]


def _task(net, table=None, boards=1, objective="mean"):
    from diodenet.analog.tolerance_training import ToleranceAware
    return ToleranceAware(net, table, boards, objective).task()


IMPLICIT = TrainConfig(method="implicit")


def test_the_implicit_gradient_on_a_built_board_is_its_loss_derivative():
    from diodenet.analog.tolerance_training import tolerant_gradient
    net = frontend_network(SMALL_AFE, rng=3)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (12, 2))
    y = rng.integers(0, 2, 12)
    dev = Tolerances.from_dict({"dac_offset": 0.02, "adc_gain": 0.05}).sample(SMALL_AFE, [9, 1])
    task = _task(net, {"dac_offset": 0.02, "adc_gain": 0.05})
    loss, grad, failed = tolerant_gradient(task, x, y, "cross_entropy", IMPLICIT, [9, 1])
    assert failed == 0 and loss == pytest.approx(_board_loss(net, dev, net.conductance, x, y), rel=1e-12)
    nominal = tolerant_gradient(_task(net, Tolerances().only()), x, y, "cross_entropy", IMPLICIT, [9, 1])[1]
    assert not np.allclose(grad, nominal)                  # the board changes the gradient
    g0 = net.conductance
    picks = np.argsort(-np.abs(grad[:SMALL_AFE.n_pots]))[:6]
    fd = central_differences(lambda g: _board_loss(net, dev, g, x, y), g0, picks)
    assert grad[picks] == pytest.approx(fd, rel=1e-4, abs=1e-6 * np.abs(grad).max())
    assert np.all(grad[SMALL_AFE.n_pots:] == 0)             # fixed resistors are not trained


def test_each_step_draws_its_own_board_and_a_run_is_reproducible(tmp_path):
    import json
    from diodenet.analog.tolerance_training import ToleranceAware
    from diodenet.host.datasets import load_dataset
    from diodenet.host.train import train
    data = load_dataset("moons", seed=0)
    net = frontend_network(SMALL_AFE, rng=0)
    cfg = TrainConfig(epochs=2, lr=0.1, batch_size=16, lr_schedule="cosine")
    a = train(ToleranceAware(net), data, cfg, tmp_path / "a", progress=False)
    b = train(ToleranceAware(net), data, cfg, progress=False)
    plain = train(net, data, cfg, progress=False)
    assert np.array_equal(a.network.conductance, b.network.conductance)
    assert not np.allclose(a.network.conductance, plain.network.conductance)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["tolerance_boards"] == 1 and metrics["tolerance"]["pot_r_ab"] == 0.2
    with pytest.raises(ValueError, match="tolerance"):     # a tolerance-aware checkpoint resumed plain
        train(net, data, TrainConfig(epochs=3, lr=0.1, batch_size=16), tmp_path / "a", progress=False)


def test_tolerance_aware_training_refuses_what_it_cannot_do(tmp_path):
    from diodenet.host.cli import main
    from diodenet.host.datasets import load_dataset
    from diodenet.host.network import ResistorDiodeNetwork
    from diodenet.host.train import train
    data = load_dataset("moons", seed=0)
    free = ResistorDiodeNetwork.layered(2, 4, 2, rng=0)
    from diodenet.analog.tolerance_training import ToleranceAware
    with pytest.raises(ValueError, match="front-end"):
        train(ToleranceAware(free), data, TrainConfig(epochs=1), progress=False)
    with pytest.raises(ValueError, match="objective 'best'"):
        ToleranceAware(frontend_network(SMALL_AFE, rng=0), objective="best")
    assert main(["train", "--dataset", "moons", "--tolerance-aware", "--epochs", "1",
                 "-o", str(tmp_path / "a"), "--quiet"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"pot_r_ab": 2}')
    assert main(["train", "--dataset", "moons", "--frontend", "board", "--tolerance-aware", str(bad),
                 "--epochs", "1", "-o", str(tmp_path / "b"), "--quiet"]) == 2


def test_several_boards_per_step_combine_by_their_objective():
    from diodenet.analog.tolerance_training import tolerant_gradient
    net = frontend_network(SMALL_AFE, rng=4)
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (8, 2)), rng.integers(0, 2, 8)
    one = [tolerant_gradient(_task(net), x, y, "cross_entropy", IMPLICIT, [3, 0, k]) for k in range(3)]
    assert not np.allclose(one[0][1], one[1][1])
    mean = tolerant_gradient(_task(net, None, 3), x, y, "cross_entropy", IMPLICIT, [3, 0])
    assert mean[0] == pytest.approx(np.mean([o[0] for o in one]), rel=1e-12)
    assert np.allclose(mean[1], np.mean([o[1] for o in one], axis=0), rtol=1e-12, atol=0)
    worst = tolerant_gradient(_task(net, None, 3, "worst"), x, y, "cross_entropy", IMPLICIT, [3, 0])
    k = int(np.argmax([o[0] for o in one]))
    assert worst[0] == one[k][0] and np.array_equal(worst[1], one[k][1])
    # split: sample i on board i mod 3, the loss and gradient weighted by each board's share
    split = tolerant_gradient(_task(net, None, 3, "split"), x, y, "cross_entropy", IMPLICIT, [3, 0])
    shares = [np.arange(j, 8, 3) for j in range(3)]
    each = [tolerant_gradient(_task(net), x[i], y[i], "cross_entropy", IMPLICIT, [3, 0, j])
            for j, i in enumerate(shares)]
    assert split[0] == pytest.approx(sum(len(i) * e[0] for i, e in zip(shares, each)) / 8, rel=1e-12)
    assert np.allclose(split[1], sum(len(i) * e[1] for i, e in zip(shares, each)) / 8, rtol=1e-10, atol=0)
