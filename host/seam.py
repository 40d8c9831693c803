"""The measurement seam: one interface for "an array you can program and measure" (docs/science.md §2).

Training by hardware linearization is written once against `MeasurementBackend`; each fidelity
implements it:

* `IdealBackend` (here) — the exact reference solver;
* the spice backend (diodenet.analog) — the device-level circuit in ngspice, conductances quantized
  through the potentiometer part, readings through the ADC quantizer;
* the board driver (`host.driver`) — a controller over a pyserial URL (real or co-simulated board).

The protocol, in the array's own terms:
  program(g)        set every tunable conductance (siemens, one per edge of `network`); returns the
                    conductances actually realized (after projection / part quantization);
  measure(u, inject) apply source voltages u (batch, p), optionally inject currents (batch, n)
                    into the neuron nodes (the output perturbation of hardware linearization), let
                    the array settle and read every neuron node voltage → `Measurement`.
                    A perturbed measurement has two phases per sample, as the board's sequencer
                    measures them: the settle with the same source codes and no injection
                    (`Measurement.forward`), then the settle with the sample's own injection
                    (`Measurement.v`).  Hardware linearization differences the two (same codes,
                    same drift).
A backend never returns a reading it could not take: a sample whose measurement failed is marked
in `Measurement.ok` (and its voltages are NaN), never silently filled in.
"""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Measurement", "MeasurementBackend", "ForwardPhase", "IdealBackend"]


@dataclass
class Measurement:
    """Node voltages of a batch of settles, with the source voltages actually applied."""

    v: np.ndarray  # (batch, n) neuron node voltages, NaN where not ok
    u: np.ndarray  # (batch, p) source voltages as applied (after DAC quantization)
    ok: np.ndarray  # (batch,) bool: the measurement succeeded
    state: np.ndarray | None = None  # (batch, n) diode states where the backend knows them
    # (batch, n) a perturbed measurement's forward phase (the same sources, no injection); None
    # for a forward measurement (`v` is the forward phase) or a backend that measures one phase
    forward: np.ndarray | None = None

    def drops(self, network):
        """V_e, the voltage across every edge from terminal a to b: (batch, m)."""
        return network.drops(self.v, self.u)


@runtime_checkable
class MeasurementBackend(Protocol):
    network: object  # a ResistorDiodeNetwork: structure, ranges and the conductances programmed

    def program(self, conductance: np.ndarray) -> np.ndarray: ...

    def measure(self, u: np.ndarray, inject: np.ndarray | None = None) -> Measurement: ...

    def close(self) -> None: ...


class ForwardPhase:
    """A perturbed measurement's forward phase for a backend that settles one phase per call: the
    last forward measurement when it was of the same network and sources (hardware linearization
    measures the forward batch first), else a fresh one (`measure_forward(u)`)."""

    def __init__(self):
        self.last = None                 # (network, u, forward voltages)

    def keep(self, network, u, v):
        self.last = (network, u, v)

    def of(self, network, u, measure_forward):
        last = self.last
        if last is not None and last[0] is network and np.array_equal(last[1], u):
            return last[2]
        return measure_forward(u)


class IdealBackend:
    """The reference solver behind the seam: exact operating points, conductances projected onto
    their ranges (no quantization, no noise).  A perturbed measurement's forward phase is the
    last forward solve when it was of the same network and sources (hardware linearization
    measures the forward batch first), else a fresh one."""

    name = "ideal"

    def __init__(self, network):
        self.network = network
        self._forward = ForwardPhase()

    def program(self, conductance):
        g = self.network.project(np.asarray(conductance, dtype=float))  # a fresh array
        self.network = self.network.with_conductance(g, copy_values=False)
        return self.network.conductance

    def measure(self, u, inject=None):
        u = self.network._check_u(u)
        ok = np.ones(len(u), dtype=bool)
        if inject is None:
            eq = self.network.solve(u=u)
            self._forward.keep(self.network, u, eq.x)
            return Measurement(eq.x, u, ok, eq.state)
        forward = self._forward.of(self.network, u, lambda u: self.network.solve(u=u).x)
        eq = self.network.solve(u=u, inject=inject)
        return Measurement(eq.x, u, ok, eq.state, forward=forward)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
