"""The board driver without a board: the AFE network, structural checks, link errors."""

import numpy as np
import pytest

from diodenet.boards.afe import AFE
from diodenet.host.board import BoardBackend, BoardError, afe_network, afe_of_network
from diodenet.host.network import GROUND


def test_afe_network_matches_the_afe():
    afe = AFE()
    net = afe_network(afe, rng=0)
    m = afe.n_pots
    assert m == 66 and net.n_edges == m + afe.n_neurons + afe.n_outputs
    assert net.n_sources == len(afe.input_lines) == 9
    # fixed parts: leaks to ground, injection resistors to the bias line
    assert (net.edges[m:m + 8, 1] == GROUND).all()
    assert (net.edges[m + 8:, 1] == net.n_neurons + 8).all()
    assert np.allclose(net.g_min[m:], net.g_max[m:])
    assert np.allclose(net.conductance[m + 8:], 1 / afe.r_inject)
    rh = afe.rheostat
    assert np.all(net.g_min[:m] == rh.g_min) and np.all(net.conductance[:m] <= 1e-3)
    assert net.outputs.tolist() == [6, 7] and net.diodes.all()
    # every node stays inside the ADC range for inputs in the DAC range
    u = net.source_voltages(np.random.default_rng(0).uniform(0, 2.4, (20, 8)))
    v = net.solve(u=u).x
    assert v.min() >= 0 and v.max() < 2.5


def test_afe_of_network_reads_size_and_fixed_parts():
    afe = AFE(n_hidden=3, n_outputs=2, n_inputs=2, r_inject=10e3)
    got = afe_of_network(afe_network(afe))
    assert (got.n_hidden, got.n_outputs, got.n_inputs) == (3, 2, 2)
    assert got.r_inject == pytest.approx(10e3) and got.r_leak == pytest.approx(100e3)


def test_a_network_that_is_not_an_afe_is_refused():
    from diodenet.host.network import ResistorDiodeNetwork
    net = ResistorDiodeNetwork.layered(2, 3, 2, rng=0)
    with pytest.raises(ValueError, match="afe_network"):
        BoardBackend(net, "loop://")


def test_no_reply_is_a_clear_error():
    # loop:// echoes our own requests: they are not replies, so HELLO times out, retried
    net = afe_network(AFE(n_hidden=3, n_outputs=2, n_inputs=2), rng=0)
    with pytest.raises(BoardError, match=r"HELLO at loop:// failed after 2 attempts: no reply"):
        BoardBackend(net, "loop://", timeout=0.1, retries=1)


def test_unopenable_port_is_a_clear_error():
    net = afe_network(AFE(n_hidden=3, n_outputs=2, n_inputs=2), rng=0)
    with pytest.raises(BoardError, match="cannot open the board at /dev/does-not-exist"):
        BoardBackend(net, "/dev/does-not-exist")
