"""What a measured or solved batch says beyond its loss: accuracy over every sample (a failed
measurement counts as wrong) and the fraction of diodes conducting (a network whose diodes all
conduct, or none, is linear: docs/science.md)."""

import numpy as np

from .losses import network_loss

__all__ = ["readout_metrics", "diode_on_fraction"]


def readout_metrics(net, v, ok, y, loss_kind):
    """Loss over the samples measured ok, accuracy over all (a failed sample counts as wrong)."""
    y = np.asarray(y)
    loss, _, pred = network_loss(net, v[ok], y[ok], loss_kind)
    out = {"loss": loss}
    if loss_kind == "cross_entropy":
        out["accuracy"] = float(np.sum(pred == y[ok]) / len(y))
    if not ok.all():
        out["failed"] = int((~ok).sum())
    return out


def diode_on_fraction(network, v, v_on=0.0):
    """Fraction of (sample, diode) pairs whose diode conducts: node voltage ≤ v_on (0 for ideal
    diodes, within the reading's resolution; about −V_f at 1 µA for a real diode)."""
    v = np.atleast_2d(np.asarray(v, dtype=float))
    d = network.diodes
    if not d.any() or not len(v):
        return float("nan")
    vals = v[:, d]
    vals = vals[np.all(np.isfinite(vals), axis=1)]
    return float(np.mean(vals <= v_on)) if vals.size else float("nan")
