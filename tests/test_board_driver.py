"""The board driver without a board: structural checks, link errors."""

import pytest

from diodenet.boards.afe import SMALL_AFE
from diodenet.host.driver.board_driver import BoardDriver
from diodenet.host.driver.client import BoardError
from diodenet.boards.frontend import frontend_network


def test_a_network_without_a_frontend_is_refused():
    from diodenet.host.network import ResistorDiodeNetwork
    net = ResistorDiodeNetwork.layered(2, 3, 2, rng=0)
    with pytest.raises(ValueError, match="records no analog front-end"):
        BoardDriver(net, "loop://")


def test_no_reply_is_a_clear_error():
    # loop:// echoes our own requests: they are not replies, so HELLO times out, retried
    net = frontend_network(SMALL_AFE, rng=0)
    with pytest.raises(BoardError, match=r"HELLO at loop:// failed after 2 attempts: no reply"):
        BoardDriver(net, "loop://", timeout=0.1, retries=1)


def test_unopenable_port_is_a_clear_error():
    net = frontend_network(SMALL_AFE, rng=0)
    with pytest.raises(BoardError, match="cannot open the board at /dev/does-not-exist"):
        BoardDriver(net, "/dev/does-not-exist")
