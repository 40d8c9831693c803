"""First-order optimizers with projection onto the realizable conductance ranges.

Parameters are normalized conductances θ = g / g_max (the operating point depends only on
conductance ratios, so one learning rate fits any absolute scale); after every step θ is clipped
to [g_min/g_max, 1] — the projection onto what the parts can realize.
"""

import numpy as np

from .kernels import in_blocks

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

    def step(self, theta, grad, out=None):
        """θ − lr·m̂/(√v̂ + ε), into `out` when given (may be θ itself)."""
        theta = np.asarray(theta, dtype=float).reshape(-1)
        grad = np.asarray(grad, dtype=float).reshape(-1)
        out = np.empty_like(theta) if out is None else out.reshape(-1)
        self.begin(theta.size)
        in_blocks(lambda part: self.update(part, theta[part], grad[part], out[part]), theta.size)
        return out

    def begin(self, size):
        """Start a step over `size` parameters (then `update` every part of them once)."""
        if self.m is None:
            self.m, self.v = np.zeros(size), np.zeros(size)
        self.t += 1

    def update(self, part, theta, grad, out):
        """The step on the parameters `part` (a slice): θ, ∂ℓ/∂θ and out are that part's.

        In place through one scratch buffer per part (a cache-sized block, `kernels.in_blocks`)."""
        b1, b2 = self.beta1, self.beta2
        m, v, buf = self.m[part], self.v[part], np.empty_like(theta)
        np.multiply(grad, 1 - b1, out=buf)
        m *= b1
        m += buf
        np.square(grad, out=buf)
        buf *= 1 - b2
        v *= b2
        v += buf
        np.divide(v, 1 - b2**self.t, out=buf)
        np.sqrt(buf, out=buf)
        buf += self.eps
        np.divide(m, buf, out=buf)
        buf *= self.lr / (1 - b1**self.t)
        np.subtract(theta, buf, out=out)

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
