import numpy as np
import pytest

from diodenet.host.losses import cross_entropy, mse


def test_loss_gradients_match_finite_differences(rng):
    logits = rng.normal(size=(4, 5))
    labels = rng.integers(0, 5, 4)
    targets = rng.normal(size=(4, 5))
    for fn, arg in ((cross_entropy, labels), (mse, targets)):
        _, grad = fn(logits, arg)
        fd = np.zeros_like(logits)
        for idx in np.ndindex(*logits.shape):
            p, m = logits.copy(), logits.copy()
            p[idx] += 1e-6
            m[idx] -= 1e-6
            fd[idx] = (fn(p, arg)[0] - fn(m, arg)[0]) / 2e-6
        assert np.allclose(grad, fd, atol=1e-8)


def test_cross_entropy_is_stable_and_checks_labels():
    loss, _ = cross_entropy(np.array([[1000.0, 0.0]]), np.array([0]))
    assert loss == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="labels"):
        cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="2 samples but 1 labels"):
        cross_entropy(np.zeros((2, 3)), np.array([0]))
