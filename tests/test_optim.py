"""Optimizers: Adam against its textbook formula, and the training loop's projected step."""

import numpy as np
import pytest

from diodenet.host.kernels import BLOCK
from diodenet.host.optim import Adam
from diodenet.host.train import _ProjectedStep


def textbook_adam(theta, grads, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return theta


def test_adam_follows_kingma_and_ba(rng):
    theta = rng.normal(size=50)
    grads = [rng.normal(size=50) for _ in range(4)]
    opt, out = Adam(0.01), theta
    for g in grads:
        out = opt.step(out, g)
    assert np.allclose(out, textbook_adam(theta, grads), rtol=1e-13, atol=1e-15)


def test_adam_in_place_equals_a_fresh_result(rng):
    theta, g = rng.normal(size=BLOCK + 7), rng.normal(size=BLOCK + 7)
    fresh = Adam(0.02).step(theta, g)
    inplace = theta.copy()
    Adam(0.02).step(inplace, g, out=inplace)
    assert np.array_equal(fresh, inplace)


@pytest.mark.parametrize("limits", ["per edge", "one range", "mixed"])
def test_projected_step_is_bit_identical_to_the_plain_formula(rng, limits):
    """Normalize, step, clip and rescale in cache-sized blocks == the whole-vector expression,
    whether the limits differ per edge or (scalar path) are one range for all."""
    n = 2 * BLOCK + 123
    g_max = rng.uniform(1e-4, 1e-3, n) if limits == "per edge" else np.full(n, 1e-3)
    g_min = g_max * 1e-2
    if limits == "mixed":
        g_min = rng.uniform(1e-7, 1e-5, n)
    scale, lower, upper = g_max, g_min / g_max, np.ones(n)
    shadow = rng.uniform(g_min, g_max)
    step, reference = _ProjectedStep(Adam(0.05), scale, lower, upper), Adam(0.05)
    expect = shadow.copy()
    for _ in range(3):
        grad = rng.normal(size=n) * 1e3
        shadow = step.take(shadow, grad)
        expect = np.clip(reference.step(expect / scale, grad * scale), lower, upper) * scale
        assert np.array_equal(shadow, expect)
    assert np.all((shadow >= g_min * (1 - 1e-15)) & (shadow <= g_max * (1 + 1e-15)))
