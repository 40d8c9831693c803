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


def test_nominal_converter_codes_realize_what_was_asked_within_half_a_step():
    """The driver's code maps (`host.driver.codes`), checked against the front-end's physics
    directly: a line is within half a DAC step of the asked voltage; a perturbation current within
    half a DAC step over R_inj, or not realizable outside the DAC's range; a rheostat code is the
    nearest in resistance; the settle bound's conductances are at most the nominal ones; an ADC
    sum reads back the voltage it encodes."""
    import numpy as np
    from diodenet.host.driver.codes import FrontEndCodes
    a = SMALL_AFE
    conv = FrontEndCodes(a)
    rng = np.random.default_rng(0)
    lsb = a.v_ref / 2 ** a.dac.bits
    u = rng.uniform(-0.9 * a.v_mid, 0.9 * a.v_mid, (5, len(a.input_lines)))
    codes, clipped = conv.line_codes(u)
    assert clipped == 0 and np.all(np.abs(conv.line_volts(codes) - u) <= lsb / 2 + 1e-12)
    assert conv.line_codes(np.full((1, len(a.input_lines)), 2 * a.v_mid))[1] == len(a.input_lines)

    i_max = a.v_mid / a.r_inject
    inject = np.array([[0.5 * i_max, -0.3 * i_max], [0.0, 1e-9], [1.5 * i_max, 0.0]])
    pert, realizable, realized = conv.perturbation_codes(inject)
    assert realizable.tolist() == [True, True, False]
    assert np.all(np.abs(realized[:2] - inject[:2]) <= lsb / 2 / a.r_inject + 1e-15)
    assert conv.pad(pert[0][:1])[1:] == conv.rest_codes[1:]
    assert all(abs(c * lsb - a.v_mid) <= lsb / 2 for c in conv.rest_codes)     # rest: V_MID

    rh = a.rheostat
    g = 1.0 / rng.uniform(rh.resistance(0), rh.resistance(rh.code_max), 20)
    c = conv.rheostat_codes(g)
    for gi, ci in zip(g, c):
        miss = [abs(rh.resistance(k) - 1 / gi) for k in range(rh.code_max + 1)]
        assert miss[ci] == min(miss)
    assert np.allclose(conv.rheostat_conductance(c), 1.0 / rh.resistance(c))
    assert np.all(conv.slowest_conductance(c) <= conv.rheostat_conductance(c))

    v = rng.uniform(-a.v_mid, 0.9 * a.v_mid, (3, a.n_adc))
    for k in (0, 2):
        sums = (v + a.v_mid) / (a.v_ref / 2 ** a.adc.bits) * 2 ** k     # RANGE = 1: 0 .. V_REF
        assert np.allclose(conv.node_volts(sums, k), v)
    assert conv.full_scale(2) == (2 ** a.adc.bits - 1) * 4
