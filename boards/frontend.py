"""The network an analog front-end realizes, and the checks that tie a model to a front-end.

An `AFE` (`diodenet.boards.afe`, docs/hardware.md) is the one definition of the board's array;
this module (boards/ builds on the host core, docs/layers.md) turns it into the host's
`ResistorDiodeNetwork` -- the same network on every backend
(ideal, spice, board) -- and back:

* voltages are referred to the array's reference V_MID (the model's "ground"), so a model source
  voltage u is the physical line voltage V_MID + u and a node voltage v is read as V_MID + v;
* sources are the differential encoding x_i+ = +s·x_i, x_i- = -s·x_i, bias+ = +v_bias,
  bias- = -v_bias, clipped to the DACs' range (`InputEncoding.line_range`);
* edges: the AFE's rheostats in potentiometer order, range [g_min, g_max] of the part (g_max also
  keeps every rheostat under its current limit at full span), then the fixed leaks and
  injection resistors (g_min = g_max);
* the hidden nodes carry the diode, the outputs are linear readout nodes.

The network records its front-end (`network.frontend`, saved in model files), so a model trained
on any backend can be checked against, and loaded onto, a board.
"""

import numpy as np

from ..host.elements import IdealDiode
from ..host.encoding import InputEncoding
from ..host.network import GROUND, ResistorDiodeNetwork
from .afe import AFE, REFERENCE

__all__ = ["frontend_network", "kink_init", "frontend_of", "afe_of_network", "check_same_frontend",
           "FrontEndMismatch"]


class FrontEndMismatch(ValueError):
    """A model and a board (or two front-ends) differ in a constant that matters."""


#: where a hidden unit's kink sits at initialization: its open-circuit node voltage this far
#: below V_MID (the board's Schottky diode, `AFE.diode`, turns on around there at the array's
#: tens of uA; an ideal diode at 0 V sees it as a slightly shifted kink)
KINK_V = 0.05


def kink_init(afe, x_scale, rng, *, kink_v=KINK_V, spread=0.5, steep=0.9):
    """Initial rheostat conductances with every hidden unit's ReLU kink inside the data.

    The board's diode (a BAT54) is a soft ReLU: its node follows the weighted average z of its
    lines down to about -0.1 V and only then flattens logarithmically.  A unit whose z spans only
    +-0.1 V over the data (what small random conductances give) is therefore almost linear; all
    units then receive the same gradient -- the linear discriminant's -- and training settles on a
    linear model (docs/science.md §1.3).  So each hidden unit starts as a steep ReLU across the
    data: a random unit direction u sets its line pairs (g_i+ - g_i- ~ 0.9·|u_i|·g_max, the other
    side at g_min), its bias pair puts the kink (z = -KINK_V) through a random point within half
    the features' range, and the output rheostats start near g_min so that they do not load (and
    dilute) the hidden nodes.  Returns the conductances in potentiometer order (`AFE.edges`)."""
    lo, hi = afe.g_min, afe.g_max
    d, h, k = afe.n_inputs, afe.n_hidden, afe.n_outputs
    n_lines = 2 * d + 2
    g_out = np.exp(rng.uniform(np.log(lo), np.log(2 * lo), size=(k, h)))
    g_in = np.full((h, n_lines), lo)
    s = afe.input_span / float(x_scale)                  # volts per unit feature
    for j in range(h):
        u = rng.normal(size=d)
        u /= np.linalg.norm(u)
        big = np.minimum(lo + steep * np.abs(u) * hi, hi)
        g_in[j, :d] = np.where(u > 0, big, lo)
        g_in[j, d:2 * d] = np.where(u > 0, lo, big)
        # KCL with the bias pair at g_min + (D, 0) or (0, -D):
        #   s·Σ(g_i+ - g_i-)·p_i + v_bias·D = -KINK_V·(G0 + |D|)
        g0 = g_in[j].sum() + g_out[:, j].sum() + 1.0 / afe.r_leak
        p = rng.uniform(-spread, spread, size=d) * float(x_scale)
        num = -kink_v * g0 - s * float((g_in[j, :d] - g_in[j, d:2 * d]) @ p)
        D = num / (afe.v_bias + kink_v) if num > 0 else num / (afe.v_bias - kink_v)
        D = float(np.clip(D, -(hi - lo), hi - lo))
        g_in[j, 2 * d + (0 if D > 0 else 1)] += abs(D)
    return np.concatenate([g_in.ravel(), g_out.ravel(), np.full(2 * k, lo)])


def frontend_network(afe=None, *, x_scale=1.0, element=None, rng=None, init="kinks", init_fraction=0.6):
    """The `ResistorDiodeNetwork` an AFE realizes (see the module doc).

    x_scale: the features' own scale (a feature of x_scale drives a line by afe.input_span).
    init: "kinks" (default, `kink_init`: every hidden unit a ReLU with its kink inside the data)
    or "uniform" (log-uniform in the lower `init_fraction` of [g_min, g_max])."""
    afe = AFE() if afe is None else afe
    afe.check()
    n = afe.n_neurons
    index = {name: j for j, name in enumerate(afe.neurons)}
    index.update({line: n + s for s, line in enumerate(afe.input_lines)})
    index[REFERENCE] = GROUND
    tunable = [(index[a], index[b]) for a, b in afe.edges()]
    fixed = [(index[a], index[b]) for a, b, _ in afe.fixed_resistors()]
    g_fixed = np.array([1.0 / r for _, _, r in afe.fixed_resistors()])
    m = len(tunable)
    rng = np.random.default_rng(rng)
    if init == "kinks":
        g_t = kink_init(afe, x_scale, rng)
    elif init == "uniform":
        lo, hi = np.log(afe.g_min), np.log(afe.g_max)
        g_t = np.exp(rng.uniform(lo, lo + init_fraction * (hi - lo), size=m))
    else:
        raise ValueError(f"unknown init {init!r}: use 'kinks' or 'uniform'")
    enc = InputEncoding(afe.n_inputs, differential=True, scale=afe.input_span / float(x_scale),
                        bias=afe.v_bias, line_range=afe.line_range)
    diodes = np.zeros(n, dtype=bool)
    diodes[:afe.n_hidden] = True
    return ResistorDiodeNetwork(
        n, enc, tunable + fixed, np.concatenate([g_t, g_fixed]),
        np.concatenate([np.full(m, afe.g_min), g_fixed]), np.concatenate([np.full(m, afe.g_max), g_fixed]),
        np.arange(afe.n_hidden, n), element or IdealDiode(), afe.readout_gain, diodes, afe.to_dict())


def frontend_of(network):
    """The AFE a network records, or None."""
    return None if network.frontend is None else AFE.from_dict(network.frontend)


def afe_of_network(network):
    """The AFE of a front-end network; ValueError naming the problem when it is not one."""
    afe = frontend_of(network)
    if afe is None:
        raise ValueError("this network records no analog front-end: build it with "
                         "diodenet.boards.frontend.frontend_network(AFE(...)) (diodenet train "
                         "--frontend board does), or train it on the ideal backend only")
    ref = frontend_network(afe)
    if network.edges.shape != ref.edges.shape or not np.array_equal(network.edges, ref.edges):
        raise ValueError(f"the network's edges are not those of its recorded front-end "
                         f"({afe.n_hidden} hidden, {afe.n_outputs} outputs, {afe.n_inputs} inputs)")
    m = afe.n_pots
    if not np.allclose(network.conductance[m:], ref.conductance[m:], rtol=1e-12, atol=0):
        raise ValueError("the network's fixed resistors differ from its front-end's r_leak / r_inject")
    return afe


def check_same_frontend(model_afe, board_afe, what="the board"):
    """Raise FrontEndMismatch naming every constant in which two front-ends differ."""
    a, b = model_afe.to_dict(), board_afe.to_dict()
    skip = {"readout_gain", "input_span", "v_bias", "kind"}   # host-side choices, not the board's
    diff = [f"{k}: model {a[k]!r}, {what} {b.get(k)!r}" for k in a if k not in skip and a[k] != b.get(k)]
    if diff:
        raise FrontEndMismatch(f"the model's analog front-end differs from {what}'s: " + "; ".join(diff)
                               + " -- retrain for this front-end (diodenet train --backend board) or "
                               "use a board built to the model's")
