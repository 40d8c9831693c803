"""Datasets that need no download, with features ready to encode as voltages.

digits: scikit-learn's 8×8 handwritten digits (1797 samples, 10 classes, shipped inside the
package), pixel intensities scaled to [0, 1]; digits28: the same digits upsampled to MNIST's 28×28
with random shifts (784 features, for networks of MNIST's size without a download).  xor, moons: two-class toy problems with features in
about [−1, 1].  sine: a 1-D regression whose target is a nonnegative voltage.
A fixed seed makes every split reproducible.

A user's own data: an .npz file with arrays x_train (N×d, or N×… flattened per sample),
y_train (N integer class labels 0…k−1, or N or N×k float regression targets), x_test, y_test;
or a folder of the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz), whose 8-bit pixels are scaled
to [0, 1].  Features are used as given (scale them to about [−1, 1]).
"""

from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "load_dataset", "load_dataset_file", "read_idx", "feature_scale", "DATASETS"]

SPLITS = ("x_train", "y_train", "x_test", "y_test")


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


def feature_scale(x):
    """Largest |feature| of a training set: features are divided by it to land in [-1, 1]."""
    return max(float(np.max(np.abs(np.asarray(x, dtype=float)))), 1e-12)


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


def _digits28(rng, n_samples):
    """The 8×8 digits upsampled to 28×28 (MNIST's shape: 784 features) with a random shift of up
    to ±2 pixels per copy; n_samples copies drawn from the 1797 digits (default 2 per digit)."""
    from scipy.ndimage import shift as nd_shift
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    data = load_digits()
    n = n_samples or 2 * len(data.target)
    pick = rng.integers(len(data.target), size=n)
    images = zoom(data.images / 16.0, (1, 3.0, 3.0), order=1)  # 24×24, placed in a 28×28 frame
    out = np.zeros((n, 28, 28))
    for k, (i, dy, dx) in enumerate(zip(pick, rng.integers(-2, 3, n), rng.integers(-2, 3, n))):
        out[k, 2:26, 2:26] = images[i]
        out[k] = nd_shift(out[k], (dy, dx), order=0)
    return np.clip(out, 0, 1).reshape(n, 784), data.target[pick].astype(np.int64), "classification", 10


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


DATASETS = {"digits": _digits, "digits28": _digits28, "xor": _xor, "moons": _moons, "sine": _sine}


def load_dataset(name, *, test_fraction=0.2, seed=0, n_samples=None):
    """Load a dataset by name -- one of digits, xor, moons, sine -- or from a file or folder of
    the user's (`load_dataset_file`: an .npz with x_train, y_train, x_test, y_test, or a folder of
    MNIST-style IDX files)."""
    if name not in DATASETS:
        from pathlib import Path
        if Path(str(name)).exists():
            return load_dataset_file(name)
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}, or "
                         "name an existing .npz file or folder of IDX files")
    rng = np.random.default_rng(seed)
    x, y, task, k = DATASETS[name](rng, n_samples)
    x_tr, x_te, y_tr, y_te = _split(x, y, test_fraction, rng, task == "classification")
    return Dataset(name, x_tr, y_tr, x_te, y_te, task, k)


def _check_split(path, arrays):
    """A `Dataset` from the four arrays of a file, or a ValueError naming the array and the fix."""
    from pathlib import Path
    missing = [k for k in SPLITS if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks array(s) {', '.join(missing)}; a dataset file holds x_train, "
                         f"y_train, x_test, y_test (it has {', '.join(sorted(arrays)) or 'none'})")
    out = {}
    for k in SPLITS:
        a = np.asarray(arrays[k])
        if a.dtype.kind not in "biuf":
            raise ValueError(f"{path}: {k} has dtype {a.dtype}; it must hold real numbers")
        if a.ndim == 0 or len(a) == 0:
            raise ValueError(f"{path}: {k} has shape {a.shape}; it needs at least one sample")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{path}: {k} contains NaN or infinite values")
        out[k] = a
    for split in ("train", "test"):
        x, y = out[f"x_{split}"], out[f"y_{split}"]
        if x.ndim == 1:
            raise ValueError(f"{path}: x_{split} has shape {x.shape}; it must be (samples, features)")
        if len(y) != len(x):
            raise ValueError(f"{path}: x_{split} has {len(x)} samples but y_{split} has {len(y)}")
        out[f"x_{split}"] = x.reshape(len(x), -1).astype(float)
    if out["x_train"].shape[1] != out["x_test"].shape[1]:
        raise ValueError(f"{path}: x_train has {out['x_train'].shape[1]} features per sample, x_test "
                         f"{out['x_test'].shape[1]}; they must match")
    y_tr, y_te = out["y_train"], out["y_test"]
    if y_tr.ndim != y_te.ndim or y_tr.shape[1:] != y_te.shape[1:] or y_tr.ndim > 2:
        raise ValueError(f"{path}: y_train has shape {y_tr.shape} and y_test {y_te.shape}; use N class "
                         "labels or N×k targets, the same in both")
    if y_tr.dtype.kind in "biu" and y_tr.ndim == 1 and y_te.dtype.kind in "biu":
        if min(y_tr.min(), y_te.min()) < 0:
            raise ValueError(f"{path}: class labels must be 0, 1, …; found {min(y_tr.min(), y_te.min())}")
        k = int(max(y_tr.max(), y_te.max())) + 1
        if k < 2:
            raise ValueError(f"{path}: y_train and y_test hold a single class; a classifier needs ≥ 2")
        return Dataset(Path(path).stem, out["x_train"], y_tr.astype(np.int64), out["x_test"],
                       y_te.astype(np.int64), "classification", k)
    y_tr = y_tr.astype(float).reshape(len(y_tr), -1)
    y_te = y_te.astype(float).reshape(len(y_te), -1)
    if y_tr.shape[1] == 1:
        y_tr, y_te = y_tr[:, 0], y_te[:, 0]
    return Dataset(Path(path).stem, out["x_train"], y_tr, out["x_test"], y_te, "regression",
                   1 if y_tr.ndim == 1 else y_tr.shape[1])


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
              "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def read_idx(path):
    """One IDX file (LeCun's MNIST format, optionally gzipped): 2 zero bytes, a type byte, the
    number of dimensions, the dimensions as big-endian int32, then the data."""
    import gzip
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable IDX file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"{path} is truncated (header)")
    dims = tuple(int(v) for v in np.frombuffer(raw[4:head], ">u4"))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(dims)) if dims else 0
    if len(raw) != head + count * dtype.itemsize:
        raise ValueError(f"{path} is truncated or has extra bytes: the header says {dims} "
                         f"{dtype} values, the file holds {len(raw) - head} data bytes")
    a = np.frombuffer(raw, dtype, count, head).reshape(dims)
    return a.astype(a.dtype.newbyteorder("="))


def load_dataset_file(path):
    """A `Dataset` from an .npz file (x_train, y_train, x_test, y_test) or a folder of the four
    MNIST IDX files; errors name the missing or misshaped array."""
    from pathlib import Path
    path = Path(path)
    if path.is_dir():
        arrays = {}
        for key, name in _IDX_FILES.items():
            found = [p for p in (path / name, path / f"{name}.gz") if p.exists()]
            if not found:
                raise ValueError(f"{path} has no {name}[.gz]; an IDX dataset folder holds "
                                 f"{', '.join(_IDX_FILES.values())}")
            arrays[key] = read_idx(found[0])
        for key in ("x_train", "x_test"):
            if arrays[key].dtype == np.uint8:
                arrays[key] = arrays[key] / 255.0
        return _check_split(path, arrays)
    from .fileio import read_npz
    return _check_split(path, read_npz(path, "dataset file (.npz)", numeric=False))
