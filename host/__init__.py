"""diodenet.host — models, reference solvers, gradients and training of resistor–diode networks.

The public API, importable from here:

    ResistorDiodeNetwork, InputEncoding, GROUND      circuit form (network, encoding)
    MonDEQ, mondeq_from_network, network_from_mondeq monDEQ form and exact conversions
    IdealDiode, ShiftedDiode, Clip, ShockleyDiode,   elements (activation = resolvent)
    DiodeReLU, SeriesResistanceDiode
    solve_exact, forward_backward, peaceman_rachford equilibrium solvers
    implicit_gradient, hardware_linearization_gradient
    network_loss, cross_entropy, mse                 losses
    TrainConfig, train, evaluate                     training
    load_dataset                                     datasets
    save_model, load_model                           plain-data model files
"""

from .conversions import NotRealizableError, mondeq_from_network, network_from_mondeq
from .datasets import load_dataset
from .elements import Clip, DiodeReLU, IdealDiode, SeriesResistanceDiode, ShiftedDiode, ShockleyDiode
from .encoding import InputEncoding
from .gradients import hardware_linearization_gradient, implicit_gradient
from .losses import cross_entropy, mse, network_loss
from .modelio import load_model, save_model
from .mondeq import MonDEQ
from .network import GROUND, IllPosedNetworkError, ResistorDiodeNetwork
from .solvers import ConvergenceError, forward_backward, peaceman_rachford, solve_exact
from .train import TrainConfig, evaluate, train

__all__ = [
    "NotRealizableError", "mondeq_from_network", "network_from_mondeq", "load_dataset", "Clip",
    "DiodeReLU", "IdealDiode", "SeriesResistanceDiode", "ShiftedDiode", "ShockleyDiode",
    "InputEncoding", "hardware_linearization_gradient", "implicit_gradient", "cross_entropy", "mse",
    "network_loss", "load_model", "save_model", "MonDEQ", "GROUND", "IllPosedNetworkError",
    "ResistorDiodeNetwork", "ConvergenceError", "forward_backward", "peaceman_rachford",
    "solve_exact", "TrainConfig", "evaluate", "train",
]
