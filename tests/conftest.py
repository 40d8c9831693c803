import os

# Small dense solves dominate the suite; OpenBLAS's thread pool only adds contention on 2 cores.
# (Set before NumPy loads; subprocesses started by the tests inherit it.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
