import numpy as np
import pytest

from diodenet.host.datasets import DATASETS, load_dataset


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_datasets_load_without_download(name):
    d = load_dataset(name)
    assert len(d.x_train) > len(d.x_test) > 0
    assert d.x_train.shape[1] == d.x_test.shape[1] == d.n_features
    assert np.all(np.isfinite(d.x_train)) and np.abs(d.x_train).max() <= 1.0 + 1e-12
    if d.task == "classification":
        assert set(np.unique(d.y_train)) == set(range(d.n_outputs))
    again = load_dataset(name)
    assert np.array_equal(again.x_test, d.x_test)  # reproducible split


def test_digits_shape_and_unknown_name():
    d = load_dataset("digits")
    assert d.n_features == 64 and d.n_outputs == 10 and len(d.x_train) + len(d.x_test) == 1797
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; choose one of"):
        load_dataset("mnist")
