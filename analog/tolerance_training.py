"""Tolerance-aware training: every gradient step on freshly drawn built boards (docs/montecarlo.md).

A board's parts differ from the model's (`boards.tolerances`): a network trained on the nominal
parts only can sit on a knife's edge that most built boards fall off.  As analog-AI toolkits train
with device noise, `diodenet train --tolerance-aware [FILE]` draws new boards for every step
(seed [seed, epoch, step, k], so a resumed run draws the same boards) and takes the step's
gradient on them, so the conductances move towards settings that work on all of them; the
nominal board still reports the epoch's figures.  `host.train.train` knows nothing of this: it
takes a `ToleranceAware` in place of the network and trains the task it hands out.

Objectives over the K boards of a step (`--tolerance-boards K`, `--tolerance-objective`):

* "mean": the mean loss over the K boards (each sees the whole batch), an estimate of the
  expected loss over built boards;
* "worst": the loss of the worst of the K boards (a minimax step);
* "split": the batch dealt over the K boards, each sample on one board (K = the batch size: a
  board per sample), the same estimate as "mean" for the cost of one board's samples.

How a board's gradient is taken:

* ideal backend (implicit gradients): the reference solver on the board's conductances (the
  continuous map `BuiltBoard.conductance(quantize=False)`), its DAC-deviated sources and
  perturbation-DAC currents at rest; the loss on its ADC-deviated readings; by the chain rule
  ∂ℓ/∂g = ∂ℓ/∂g' · dg'/dg and ∂ℓ/∂v = ∂ℓ/∂reading · ADC gain.  An ideal diode has no forward
  voltage to spread: the diodes stay nominal here.
* spice backend (measured gradients): hardware linearization measured on the built board in
  ngspice (`BuiltBoardArray`: its rheostats, fixed resistors, diodes, converters and V_MID),
  taken as the gradient of the programmed conductance times dg'/dg.
"""

import json

import numpy as np

from ..boards.frontend import afe_of_network
from ..boards.tolerances import Tolerances
from ..host.gradients import implicit_gradient
from ..host.hwlin import measure_gradient
from ..host.losses import network_loss
from ..host.network import ResistorDiodeNetwork
from ..host.seam import IdealBackend
from ..host.train import ArrayTask
from .built_board import BuiltBoard, BuiltBoardArray

__all__ = ["OBJECTIVES", "ToleranceAware", "ToleranceTask", "tolerant_gradient"]

OBJECTIVES = ("mean", "worst", "split")


class ToleranceAware:
    """A front-end network to train tolerance-aware: pass it to `host.train.train` in place of
    the network.  tolerance: overrides of the tolerance table ({} or None: the default table);
    boards: K boards drawn per step; objective: one of `OBJECTIVES`.  ValueError naming the
    problem for a network without a front-end, K < 1 or an unknown objective."""

    def __init__(self, network, tolerance=None, boards=1, objective="mean"):
        if not isinstance(network, ResistorDiodeNetwork):
            raise ValueError("tolerance-aware training takes one front-end network, not a cascade")
        try:
            afe_of_network(network)
        except ValueError as exc:
            raise ValueError(f"tolerance-aware training draws a front-end's parts: {exc}") from None
        if int(boards) != boards or boards < 1:
            raise ValueError(f"tolerance-aware training draws K >= 1 boards per step, got {boards}")
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown tolerance objective {objective!r}; use one of {', '.join(OBJECTIVES)}")
        self.network = network
        self.table = tolerance if isinstance(tolerance, Tolerances) else Tolerances.from_dict(dict(tolerance or {}))
        self.boards = int(boards)
        self.objective = objective

    def task(self, backend=None):
        """The training task on `backend` (ideal by default, or spice)."""
        backend = backend or IdealBackend(self.network)
        if not isinstance(backend, IdealBackend) and getattr(backend, "name", "") != "spice":
            raise ValueError("tolerance-aware training draws parts on the ideal and spice backends; "
                             "a board's parts are its own")
        return ToleranceTask(backend, self.table, self.boards, self.objective)


class ToleranceTask(ArrayTask):
    """`ArrayTask` whose gradient is taken on the step's drawn boards (`tolerant_gradient`); the
    training loop sets `board_seed` = [seed, epoch, step] before each step."""

    def __init__(self, backend, table, boards=1, objective="mean"):
        super().__init__(backend)
        self.table = table
        self.boards = boards
        self.objective = objective
        self.board_seed = [0]

    @property
    def settings(self):
        """What the run's record (checkpoint fingerprint, metrics.json) notes of this task."""
        return json.loads(json.dumps({"tolerance": self.table.to_dict(), "tolerance_boards": self.boards,
                                      "tolerance_objective": self.objective}))

    def gradient(self, x, y, loss_kind, config):
        return tolerant_gradient(self, x, y, loss_kind, config, self.board_seed)


def tolerant_gradient(task, x, y, loss_kind, config, seed):
    """(loss, ∂ℓ/∂g, failed samples) of one step on `task.boards` boards drawn with [*seed, k]
    (one board: `seed` itself), combined by `task.objective`."""
    k = task.boards
    if k == 1:
        return _one_board(task, x, y, loss_kind, config, seed)
    if task.objective == "split":
        deal = [np.arange(j, len(x), k) for j in range(min(k, len(x)))]
        parts = [_one_board(task, x[i], y[i], loss_kind, config, [*seed, j]) for j, i in enumerate(deal)]
        w = np.array([len(i) for i in deal], dtype=float) / len(x)
        return (float(w @ [p[0] for p in parts]), np.tensordot(w, [p[1] for p in parts], axes=1),
                sum(p[2] for p in parts))
    parts = [_one_board(task, x, y, loss_kind, config, [*seed, j]) for j in range(k)]
    if task.objective == "worst":
        return max(parts, key=lambda p: p[0])
    return (float(np.mean([p[0] for p in parts])), np.mean([p[1] for p in parts], axis=0),
            max(p[2] for p in parts))


def _one_board(task, x, y, loss_kind, config, seed):
    net = task.backend.network
    dev = task.table.sample(afe_of_network(net), seed)
    g = net.conductance
    board = BuiltBoard(net, dev)
    u = net.source_voltages(x)
    if config.method == "implicit":
        return _implicit(task, net, board, g, u, y, loss_kind)
    return _measured(task, net, dev, board, g, u, y, loss_kind, config)


def _implicit(task, net, board, g, u, y, loss_kind):
    built = board.network_of(g, quantize=False)
    u_b = board.sources(u, quantize=False)
    eq = built.solve(u=u_b, inject=board.injection(None, len(u)))
    v = board.readings(eq.x, quantize=False)
    loss, dl_dread, _ = network_loss(net, v, y, loss_kind)
    grad = implicit_gradient(built, dl_dread * board.reading_slope(), u=u_b, equilibrium=eq).conductance
    task.last_forward = (net, v, np.ones(len(v), dtype=bool), 1e-9)
    return loss, grad * board.conductance_slope(g), 0


def _measured(task, net, dev, board, g, u, y, loss_kind, config):
    with BuiltBoardArray(net, dev) as array:
        grad = measure_gradient(array, u, y, loss=loss_kind, method=config.method,
                                epsilon=config.epsilon, centered=config.centered)
    v_on = max(float(getattr(array.adc, "lsb", 0.0)) / 2, 1e-9)
    task.last_forward = (net, grad.forward.v, grad.forward.ok & grad.ok, v_on)
    return grad.loss, grad.conductance * board.conductance_slope(g), grad.n_failed
