"""Datasets that need no download, with features ready to encode as voltages.

digits: scikit-learn's 8×8 handwritten digits (1797 samples, 10 classes, shipped inside the
package), pixel intensities scaled to [0, 1].  xor, moons: two-class toy problems with features in
about [−1, 1].  sine: a 1-D regression whose target is a nonnegative voltage.
A fixed seed makes every split reproducible.
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load_dataset", "DATASETS"]


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" or "regression"
    n_outputs: int

    @property
    def n_features(self):
        return self.x_train.shape[1]


def _split(x, y, test_fraction, rng, stratify):
    from sklearn.model_selection import train_test_split
    return train_test_split(x, y, test_size=test_fraction, random_state=int(rng.integers(2**31)),
                            stratify=y if stratify else None)


def _digits(rng, n_samples):
    from sklearn.datasets import load_digits
    data = load_digits()
    x = data.data / 16.0
    y = data.target.astype(np.int64)
    return x, y, "classification", 10


def _xor(rng, n_samples):
    n = n_samples or 400
    x = rng.uniform(-1, 1, size=(n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64)
    return x, y, "classification", 2


def _moons(rng, n_samples):
    from sklearn.datasets import make_moons
    x, y = make_moons(n_samples=n_samples or 600, noise=0.1, random_state=int(rng.integers(2**31)))
    x = (x - x.mean(axis=0)) / np.abs(x - x.mean(axis=0)).max(axis=0)
    return x, y.astype(np.int64), "classification", 2


def _sine(rng, n_samples):
    n = n_samples or 300
    x = rng.uniform(-1, 1, size=(n, 1))
    y = 0.25 + 0.2 * np.sin(3.0 * x)  # target voltage, volts
    return x, y, "regression", 1


DATASETS = {"digits": _digits, "xor": _xor, "moons": _moons, "sine": _sine}


def load_dataset(name, *, test_fraction=0.2, seed=0, n_samples=None):
    """Load a dataset by name: one of digits, xor, moons, sine."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    rng = np.random.default_rng(seed)
    x, y, task, k = DATASETS[name](rng, n_samples)
    x_tr, x_te, y_tr, y_te = _split(x, y, test_fraction, rng, task == "classification")
    return Dataset(name, x_tr, y_tr, x_te, y_te, task, k)
