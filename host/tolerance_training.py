"""Tolerance-aware training: every gradient step on a freshly drawn built board (docs/montecarlo.md).

A board's parts differ from the model's (`boards.tolerances`): a network trained on the nominal
parts only can sit on a knife's edge that most built boards fall off.  As analog-AI toolkits train
with device noise, `diodenet train --tolerance-aware [FILE]` draws a new board for every step
(seed [seed, epoch, step], so a resumed run draws the same boards) and takes the step's gradient
on that board, so the conductances move towards settings that work on all of them; the nominal
board still reports the epoch's figures.

* ideal backend (implicit gradients): the reference solver on the board's conductances (the
  continuous map `BuiltBoard.conductance(quantize=False)`), its DAC-deviated sources and
  perturbation-DAC currents at rest; the loss on its ADC-deviated readings; by the chain rule
  ∂ℓ/∂g = ∂ℓ/∂g' · dg'/dg and ∂ℓ/∂v = ∂ℓ/∂reading · ADC gain.  An ideal diode has no forward
  voltage to spread: the diodes stay nominal here.
* spice backend (measured gradients): hardware linearization measured on the built board in
  ngspice (`analog.built_board.BuiltBoardArray`: its rheostats, fixed resistors, diodes,
  converters and V_MID), taken as the gradient of the programmed conductance times dg'/dg.
"""

import numpy as np

__all__ = ["tolerant_gradient", "check_tolerance"]


def check_tolerance(network, tolerance):
    """The table (`Tolerances`) of a tolerance-aware run; ValueError when the model has no front-end."""
    from ..boards.tolerances import Tolerances
    from .frontend import afe_of_network
    try:
        afe_of_network(network)
    except ValueError as exc:
        raise ValueError(f"tolerance-aware training draws a front-end's parts: {exc}") from None
    return Tolerances.from_dict(dict(tolerance or {}))


def tolerant_gradient(task, x, y, loss_kind, config, seed):
    """(loss, ∂ℓ/∂g, failed samples) of one step: on the built board drawn with `seed`, or the
    mean over `config.tolerance_boards` boards drawn with [*seed, k]."""
    k = int(getattr(config, "tolerance_boards", 1) or 1)
    if k == 1:
        return _one_board(task, x, y, loss_kind, config, seed)
    parts = [_one_board(task, x, y, loss_kind, config, [*seed, j]) for j in range(k)]
    return (float(np.mean([p[0] for p in parts])), np.mean([p[1] for p in parts], axis=0),
            max(p[2] for p in parts))


def _one_board(task, x, y, loss_kind, config, seed):
    from ..analog.built_board import BuiltBoard
    from .frontend import afe_of_network
    net = task.backend.network
    table = check_tolerance(net, config.tolerance)
    dev = table.sample(afe_of_network(net), seed)
    g = net.conductance
    board = BuiltBoard(net, dev)
    u = net.source_voltages(x)
    if config.method == "implicit":
        return _implicit(task, net, board, g, u, y, loss_kind)
    return _measured(task, net, dev, board, g, u, y, loss_kind, config)


def _implicit(task, net, board, g, u, y, loss_kind):
    from .gradients import implicit_gradient
    from .losses import network_loss
    built = board.network_of(g, quantize=False)
    u_b = board.sources(u, quantize=False)
    eq = built.solve(u=u_b, inject=board.injection(None, len(u)))
    v = board.readings(eq.x, quantize=False)
    loss, dl_dread, _ = network_loss(net, v, y, loss_kind)
    grad = implicit_gradient(built, dl_dread * board.reading_slope(), u=u_b, equilibrium=eq).conductance
    task.last_forward = (net, v, np.ones(len(v), dtype=bool), 1e-9)
    return loss, grad * board.conductance_slope(g), 0


def _measured(task, net, dev, board, g, u, y, loss_kind, config):
    from ..analog.built_board import BuiltBoardArray
    from .hwlin import measure_gradient
    with BuiltBoardArray(net, dev) as array:
        grad = measure_gradient(array, u, y, loss=loss_kind, method=config.method,
                                epsilon=config.epsilon, centered=config.centered)
    v_on = max(float(getattr(array.adc, "lsb", 0.0)) / 2, 1e-9)
    task.last_forward = (net, grad.forward.v, grad.forward.ok & grad.ok, v_on)
    return grad.loss, grad.conductance * board.conductance_slope(g), grad.n_failed
