"""First-order optimizers with projection onto the realizable conductance ranges.

Parameters are normalized conductances θ = g / g_max (the operating point depends only on
conductance ratios, so one learning rate fits any absolute scale); after every step θ is clipped
to [g_min/g_max, 1] — the projection onto what the parts can realize.
"""

import numpy as np

__all__ = ["SGD", "Adam", "make_optimizer"]


class SGD:
    def __init__(self, lr=0.01, momentum=0.0):
        self.lr, self.momentum = lr, momentum
        self.velocity = None

    def step(self, theta, grad):
        if self.velocity is None:
            self.velocity = np.zeros_like(theta)
        self.velocity = self.momentum * self.velocity + grad
        return theta - self.lr * self.velocity

    def state(self):
        return {"velocity": self.velocity if self.velocity is not None else np.zeros(0)}

    def load_state(self, state):
        v = state["velocity"]
        self.velocity = v if v.size else None


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, theta, grad):
        if self.m is None:
            self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.t += 1
        # in place, through one kept scratch buffer: a few passes over the parameters (1.6 M of
        # them for a 784-1024-10 network) and no fresh temporaries (each costs page faults)
        buf = getattr(self, "_buf", None)
        if buf is None or buf.shape != theta.shape:
            buf = self._buf = np.empty_like(theta)
        np.multiply(grad, 1 - self.beta1, out=buf)
        self.m *= self.beta1
        self.m += buf
        np.square(grad, out=buf)
        buf *= 1 - self.beta2
        self.v *= self.beta2
        self.v += buf
        np.divide(self.v, 1 - self.beta2**self.t, out=buf)
        np.sqrt(buf, out=buf)
        buf += self.eps
        np.divide(self.m, buf, out=buf)
        buf *= self.lr / (1 - self.beta1**self.t)
        return theta - buf

    def state(self):
        empty = np.zeros(0)
        return {"m": self.m if self.m is not None else empty,
                "v": self.v if self.v is not None else empty, "t": np.array(self.t)}

    def load_state(self, state):
        self.m = state["m"] if state["m"].size else None
        self.v = state["v"] if state["v"].size else None
        self.t = int(state["t"])


def make_optimizer(name, lr):
    if name == "adam":
        return Adam(lr)
    if name == "sgd":
        return SGD(lr, momentum=0.9)
    raise ValueError(f"unknown optimizer {name!r}; use 'adam' or 'sgd'")
