"""Gradients measured on the array itself, through the measurement seam (docs/science.md §1.4).

Hardware linearization: a forward measurement gives every edge's drop V_e and the loss; a
perturbed measurement with currents ε·∂ℓ/∂v injected at the outputs gives, per sample, the settle
without and with the injection (`seam.Measurement.forward` and `.v`, one batch on a board: same
codes, same drift) and λ_e ≈ ΔV_e/ε between those two phases (centered: (V_e(+ε) − V_e(−ε))/2ε);
then ∂ℓ/∂g_e = −V_e·λ_e.  Exact for ideal diodes
while no diode changes state; for real diodes it differentiates the real device.

Equilibrium propagation (Scellier & Bengio 2017) as a baseline: nudge the outputs towards lower
loss with a finite β (currents −β·∂ℓ/∂v) and use the change of each element's dissipation,
∂ℓ/∂g_e ≈ (V_e(β)² − V_e(0)²)/(2β); its bias is O(β) even on a linear network.

Nothing here calls a reference solver: only `backend.measure`.

ε and β are relative: the injected current is scaled so that the largest node moves by about
ε × (the largest node voltage) — small enough that diodes keep their states, large enough that
the change stands above the converter noise (see `benchmarks/epsilon_tradeoff.py`).  By default
(epsilon=None) ε = max(1e-3, 100·LSB / V) for a backend that reads through a converter of
resolution LSB (its `resolution` attribute, or its ADC's `lsb`), V the largest node voltage: on an
exact backend 1e-3 keeps the linearization error near 1e-8, while behind a 12-bit ADC the
quantization error of a small ε dominates and ~0.1 is best (measured).
"""

from dataclasses import dataclass

import numpy as np

from .losses import network_loss

__all__ = ["MeasuredGradient", "measure_gradient", "measure_adjoint", "choose_epsilon", "resolution",
           "METHODS", "DEFAULT_EPSILON"]

METHODS = ("linearization", "eqprop")
DEFAULT_EPSILON = 1e-3
LSB_MULTIPLE = 100  # the perturbation should move the largest node by ~100 converter steps


def resolution(backend):
    """Voltage resolution of the backend's node readings (0 for an exact backend)."""
    res = getattr(backend, "resolution", None)
    if res is None:
        res = getattr(getattr(backend, "adc", None), "lsb", 0.0)
    return float(res or 0.0)


def choose_epsilon(backend, v, epsilon=None):
    """ε as given, or the default for this backend and node voltages v (see the module doc)."""
    if epsilon is not None:
        if not epsilon > 0:
            raise ValueError(f"epsilon must be > 0, got {epsilon}")
        return float(epsilon)
    vscale = max(float(np.nanmax(np.abs(v))) if np.size(v) else 0.0, 1e-9)
    return max(DEFAULT_EPSILON, LSB_MULTIPLE * resolution(backend) / vscale)


@dataclass
class MeasuredGradient:
    loss: float  # mean loss over the samples that measured ok
    conductance: np.ndarray  # (m,) ∂ℓ/∂g summed over the ok samples
    ok: np.ndarray  # (batch,) samples whose every measurement succeeded
    forward: object  # the forward Measurement
    extra: object = None  # loss-function extra output (e.g. predictions)

    @property
    def n_failed(self):
        return int((~self.ok).sum())


def _injection_scale(network, v, g, epsilon, limit=None):
    """Amperes per unit of ∂ℓ/∂v so that the response is ~epsilon of the voltage scale, and no
    injected current exceeds `limit` (the backend's `max_inject`, if it has one)."""
    H, _, _, _ = network.kernel()
    g_node = float(np.mean(np.diag(H)))
    vscale = max(float(np.nanmax(np.abs(v))), 1e-9)
    gmax = np.max(np.abs(g), axis=1, keepdims=True)
    gmax = np.where(gmax > 0, gmax, 1.0)
    amps = epsilon * vscale * g_node / gmax
    if limit is not None:
        amps = np.minimum(amps, limit / gmax)
    return amps


def measure_adjoint(backend, u, v, dl_dv, epsilon=None, centered=False):
    """Adjoint drops λ (batch, m) ≈ ΔV/ε from output-perturbed measurements at u, each against its
    own forward phase.

    v: the forward node voltages at u (they scale the perturbation).  Returns (λ, ok) with ok the
    samples whose perturbed measurement(s) succeeded."""
    network = backend.network
    amps = _injection_scale(network, v, dl_dv, choose_epsilon(backend, v, epsilon),
                            getattr(backend, "max_inject", None))
    plus = backend.measure(u, inject=amps * dl_dv)
    ok = plus.ok.copy()
    if centered:
        minus = backend.measure(u, inject=-amps * dl_dv)
        ok &= minus.ok
        return (plus.drops(network) - minus.drops(network)) / (2 * amps), ok
    # the perturbed batch's own forward phase; a backend that measures one phase: the forward batch
    reference = network.drops(v, u) if plus.forward is None else network.drops(plus.forward, plus.u)
    return (plus.drops(network) - reference) / amps, ok


def measure_gradient(backend, u, targets, *, loss="cross_entropy", method="linearization",
                     epsilon=None, centered=False):
    """∂ℓ/∂g for every edge from measurements of `backend` at source voltages u (batch, p).

    The loss (`losses.network_loss` of kind `loss`) is the mean over the samples whose forward
    measurement succeeded; samples whose forward or perturbed measurement failed are excluded and
    reported in `ok`, never used.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if epsilon is not None and not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    network = backend.network
    targets = np.asarray(targets)
    fwd = backend.measure(u)
    ok = fwd.ok.copy()
    m = network.n_edges
    if not ok.any():
        return MeasuredGradient(float("nan"), np.zeros(m), ok, fwd)
    rows = np.flatnonzero(ok)
    v, uu = fwd.v[rows], fwd.u[rows]
    value, dl_dv, extra = network_loss(network, v, targets[rows], loss)
    V = network.drops(v, uu)
    if method == "linearization":
        lam, good = measure_adjoint(backend, uu, v, dl_dv, epsilon, centered)
        per_sample = -V * lam
    else:  # equilibrium propagation: nudge towards lower loss
        amps = _injection_scale(network, v, dl_dv, choose_epsilon(backend, v, epsilon),
                                getattr(backend, "max_inject", None))
        nudged = backend.measure(uu, inject=-amps * dl_dv)
        good = nudged.ok.copy()
        per_sample = (nudged.drops(network) ** 2 - V**2) / (2 * amps)
    ok[rows[~good]] = False
    if not good.all():
        if not good.any():
            return MeasuredGradient(float("nan"), np.zeros(m), ok, fwd)
        # re-average over the samples that measured ok in every phase
        per_sample = per_sample[good] * (len(good) / good.sum())
    return MeasuredGradient(value, per_sample.sum(axis=0), ok, fwd, extra)
