"""Batch metrics (host/metrics.py): a failed sample counts as wrong, conducting diodes counted."""

import numpy as np

from diodenet.host.metrics import diode_on_fraction, readout_metrics
from diodenet.host.network import ResistorDiodeNetwork


def _net(rng):
    return ResistorDiodeNetwork.layered(3, 5, 4, rng=rng)


def test_accuracy_counts_failed_samples_as_wrong_and_the_loss_leaves_them_out(rng):
    net = _net(rng)
    v = rng.normal(size=(40, net.n_neurons))
    y = rng.integers(0, 4, size=40)
    ok = rng.random(40) > 0.25
    out = readout_metrics(net, v, ok, y, "cross_entropy")
    # independently: logits of the measured samples, softmax cross-entropy by hand
    z = net.readout_gain * v[ok][:, net.outputs]
    z = z - z.max(axis=1, keepdims=True)
    nll = -(z[np.arange(ok.sum()), y[ok]] - np.log(np.exp(z).sum(axis=1)))
    assert np.isclose(out["loss"], nll.mean(), rtol=1e-12)
    right = np.argmax(v[:, net.outputs], axis=1) == y
    assert out["accuracy"] == (right & ok).sum() / 40
    assert out["failed"] == (~ok).sum()
    assert "failed" not in readout_metrics(net, v, np.ones(40, bool), y, "cross_entropy")


def test_diode_on_fraction_counts_nodes_at_or_below_the_threshold(rng):
    net = _net(rng)
    v = rng.normal(size=(30, net.n_neurons))
    v[3] = np.nan                                          # a failed reading is left out
    d = np.flatnonzero(net.diodes)
    expected = np.mean([v[s, j] <= 0.1 for s in range(30) if s != 3 for j in d])
    assert diode_on_fraction(net, v, v_on=0.1) == expected
    assert np.isnan(diode_on_fraction(net, v[:0]))
