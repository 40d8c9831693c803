"""A whole cascade compiled into one ngspice netlist with VCVS buffers vs the host's stage-by-stage
reference solve."""

import numpy as np

from diodenet.analog.cascade import cascade_circuit, node_names
from dataclasses import replace

from diodenet.analog.devices import diode_card
from diodenet.analog.netlist_writer import netlist_text
from diodenet.analog.ngspice_engine import get_engine
from diodenet.host.cascade import Cascade


def random_cascade(seed, element=None):
    rng = np.random.default_rng(seed)
    c = Cascade.feedforward([3, 6, 5, 2], rng=rng)
    g = np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), c.flat("conductance").size))
    c = c.with_conductance(g)
    if element is not None:
        for net in c.stages:
            net.element = element
    return c


def spice_nodes(cascade, x, diode):
    volts = get_engine().operating_point(netlist_text(cascade_circuit(cascade, x, diode=diode)))
    return [np.array([volts[name] for name in stage]) for stage in node_names(cascade)]


def test_ideal_cascade_netlist_matches_the_reference():
    for seed in range(3):
        c = random_cascade(seed)
        x = np.random.default_rng(seed + 10).uniform(-1, 1, (4, 3))
        ref = c.solve(x)
        for s in range(len(x)):
            got = spice_nodes(c, x[s], "ideal")
            for k, v in enumerate(got):
                # the ideal-diode card clamps at about −0.5 µV instead of 0, and each buffer
                # (gain 4) amplifies what the stage before left: a few µV at the last stage
                assert np.abs(v - ref[k][s]).max() <= 1e-5, (seed, s, k)


def test_1n4148_cascade_netlist_matches_the_host_diode_model():
    # the 1N4148 junction without its series resistance (the host element models the junction)
    card = replace(diode_card("1n4148"), name="D1N4148J", RS=0.0)
    c = random_cascade(7, element=card.element())
    x = np.random.default_rng(3).uniform(-1, 1, (3, 3))
    ref = c.solve(x)
    for s in range(len(x)):
        got = spice_nodes(c, x[s], card)
        for k, v in enumerate(got):
            assert np.abs(v - ref[k][s]).max() <= 1e-6 * np.abs(ref[k][s]).max(), (s, k)
    # the real diodes clamp below ground somewhere: the check is not trivially linear
    assert min(r.min() for r in ref) < -0.05
