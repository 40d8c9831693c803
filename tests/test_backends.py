"""The backend registry (host/backends.py): names and URLs to backends, clear refusals, the board
driver loaded only for a board's URL."""

import subprocess
import sys

import numpy as np
import pytest

from diodenet.host.backends import BACKENDS, is_board_url, open_backend
from diodenet.host.gradcheck import random_network
from diodenet.host.seam import IdealBackend, MeasurementBackend


def test_names_and_urls():
    assert is_board_url("socket://127.0.0.1:5000") and is_board_url("/dev/ttyUSB1")
    assert is_board_url("COM3") and is_board_url("rfc2217://host:1")
    assert not any(is_board_url(n) for n in BACKENDS)
    net = random_network(6, n_features=2, n_outputs=2, seed=1)
    be = open_backend("ideal", net)
    assert isinstance(be, IdealBackend) and isinstance(be, MeasurementBackend)
    with pytest.raises(ValueError, match="takes no options"):
        open_backend("ideal", net, timeout=1)
    with pytest.raises(ValueError, match="unknown backend 'spic'.*ideal, spice"):
        open_backend("spic", net)


def test_a_board_url_reaches_the_driver_and_its_error():
    """Nothing listens on the port: the driver's BoardError names the URL."""
    from diodenet.boards.afe import SMALL_AFE
    from diodenet.boards.frontend import frontend_network
    from diodenet.host.driver.client import BoardError
    with pytest.raises(BoardError, match="socket://127.0.0.1:9"):
        open_backend("socket://127.0.0.1:9", frontend_network(SMALL_AFE), timeout=0.2, retries=0)


def test_the_registry_does_not_import_the_driver_or_the_protocol():
    code = ("import sys, diodenet.host.backends, diodenet.host.train; "
            "print(any(m.startswith(('diodenet.host.driver', 'diodenet.hdl', 'diodenet.sim')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.spice
def test_the_spice_backend_carries_its_forward_phase():
    net = random_network(6, n_features=2, n_outputs=2, seed=3)
    be = open_backend("spice", net)
    rng = np.random.default_rng(0)
    u = net.source_voltages(rng.uniform(0, 1, (3, 2)))
    inject = np.zeros((3, net.n_neurons))
    inject[:, -2:] = 1e-3 * np.mean(net.conductance)
    fresh = be.measure(u, inject=inject)                 # no forward measured before: its own
    fwd = be.measure(u)
    cached = be.measure(u, inject=inject)                # the forward just measured
    assert fresh.forward is not None and np.allclose(fresh.forward, fwd.v, atol=1e-9)
    assert np.allclose(cached.forward, fwd.v, atol=1e-12)
    assert np.allclose(fresh.v, cached.v, atol=1e-9) and not np.allclose(fresh.v, fwd.v)
    be.close()


@pytest.mark.spice
def test_linearization_on_spice_measures_the_forward_batch_once():
    """Hardware linearization on the spice backend: two batches per gradient (the forward batch
    and the perturbed one, whose forward phase is the forward batch just measured), not three."""
    from diodenet.boards.afe import SMALL_AFE
    from diodenet.boards.frontend import frontend_network
    from diodenet.host.hwlin import measure_gradient
    net = frontend_network(SMALL_AFE, rng=0)
    be = open_backend("spice", net)
    rng = np.random.default_rng(1)
    u = net.source_voltages(rng.uniform(-1, 1, (4, SMALL_AFE.n_inputs)))
    calls = []
    measure = be.measure
    be.measure = lambda uu, inject=None: calls.append(inject is None) or measure(uu, inject)
    g = measure_gradient(be, u, rng.integers(0, 2, 4))
    assert g.ok.all() and calls == [True, False]
    assert be.sweeps == 2
    be.close()
