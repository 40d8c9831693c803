"""Losses on the readout and their gradient with respect to every node voltage.

Readout: the output neurons' node voltages v_out; classification logits = gain · v_out.
Both losses are means over the batch; `node_gradient` returns ∂ℓ/∂v for all n nodes (zero off
the outputs), which is what the adjoint (linearized) network is driven with.
"""

import numpy as np

__all__ = ["mse", "cross_entropy", "LOSSES", "network_loss"]


def mse(outputs, targets):
    """ℓ = mean over batch of Σ_k (y_k − t_k)²/2; returns (ℓ, ∂ℓ/∂y)."""
    outputs = np.atleast_2d(outputs)
    targets = np.asarray(targets, dtype=float).reshape(outputs.shape)
    diff = outputs - targets
    return 0.5 * float(np.sum(diff**2)) / len(outputs), diff / len(outputs)


def cross_entropy(logits, labels):
    """Softmax cross-entropy, mean over batch; returns (ℓ, ∂ℓ/∂logits)."""
    logits = np.atleast_2d(logits)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"{logits.shape[0]} samples but {labels.shape[0]} labels")
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= logits.shape[1]:
        raise ValueError(f"labels must lie in 0…{logits.shape[1] - 1}")
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    batch = len(logits)
    loss = -float(logp[np.arange(batch), labels].sum()) / batch
    grad = np.exp(logp)
    grad[np.arange(batch), labels] -= 1
    return loss, grad / batch


LOSSES = ("cross_entropy", "mse")


def network_loss(net, v, targets, kind="cross_entropy"):
    """(ℓ, ∂ℓ/∂v over all nodes, predictions) for node voltages v (batch, n)."""
    v = np.atleast_2d(v)
    dl_dv = np.zeros_like(v)
    if kind == "cross_entropy":
        logits = net.logits(v)
        loss, d_logits = cross_entropy(logits, targets)
        dl_dv[:, net.outputs] = net.readout_gain * d_logits
        prediction = np.argmax(logits, axis=1)
    elif kind == "mse":
        out = net.readout(v)
        loss, d_out = mse(out, targets)
        dl_dv[:, net.outputs] = d_out
        prediction = out
    else:
        raise ValueError(f"unknown loss {kind!r}; use one of {', '.join(LOSSES)}")
    return loss, dl_dv, prediction
