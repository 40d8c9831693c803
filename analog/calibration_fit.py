"""In-place calibration of a board: the measurement design and the fits (`diodenet calibrate`).

Only the board's own converters and its fixed resistors are references (docs/hardware.md
"Calibration").  Everything is read through the array itself: a neuron node is the weighted
average of what it connects to, so with the diodes blocking, node k's KCL

    Σ_e g_e (V_e − V_k) + (V_MID − V_k)/R_leak [+ (V_pert − V_k)/R_inj at an output] + c_k = 0

(V_e the line or node at the rheostat's other end, c_k the blocking diode's reverse current at a
hidden node) ties the conductances to each other and, through R_inj = 100 kΩ and R_leak = 1 MΩ,
to ohms: every reading fixes the ratios g_e/Σg, the injection DAC's step through the known R_inj
fixes the outputs' scale, and the output–hidden rheostats carry it on to the hidden nodes.

Measurement (`measure`): K configurations of rheostat codes -- configuration c puts rheostat e
at codes[(c + s_e) mod K], s_e random per rheostat, so every rheostat takes every code once and
every node weights its neighbours differently (with one code everywhere the hidden nodes move
together and an output's rheostats to them cannot be told apart).  Per configuration a batch of
samples in groups (the bias lines are written between batches), the input lines near either end
of V_MID + [0.1, 1.2] V, the perturbation DACs at random codes over their range in the perturbed
phase (the forward phase holds them at mid-scale): the hidden nodes stay above V_MID and the
diodes block.  Each sample gives two readings of every node.  Then, in a few configurations,
samples with every line below V_MID pull the hidden nodes down until their diodes conduct.
A node's overall scale is seen only weakly within one configuration; the straight-line law
R = R_W + R_AB·code shared by configurations that mix the codes differently pins it (so at
least 4 configurations; two leave it free).

Fit 1 (`fit_resistors`), one nonlinear least squares over all diode-off readings:
unknowns R_W,e and R_AB,e of every rheostat (R_e = R_W,e + R_AB,e·code/256, several codes per
rheostat), gain and offset of every DAC channel used (V = (1 + γ)·code·LSB + β) and of every ADC
channel (reading = (1 + Γ)·V + B), and each hidden node's reverse diode current; the model
predicts every reading by solving the array's nodal equations (`boards.afe.AFE.nodal_matrices`
form); residuals in ADC LSB.  A common shift or scale of all converters against V_MID moves the
readings only through R_leak (≤ 1 % of a node's conductance): that direction is held by weak
priors at the converters' specified errors (`PRIOR`), and it does not change predicted
readings; weak datasheet priors on R_W and R_AB (`R_PRIOR`) keep a short plan physical.  Fit 2 (`fit_diodes`): with the rheostats and converters known, each conducting
diode's current is minus the resistor currents into its node (KCL on calibrated voltages) and
its voltage V_MID − V_node; per hidden node I_S and N of i = I_S·(exp(V_D/(N·V_t)) − 1) (the
junction form ngspice evaluates; the series resistance is folded into N over the currents
measured).
"""

from dataclasses import dataclass, field

import numpy as np

from ..boards.afe import REFERENCE
from .calibration import Calibration, board_identity, frontend_identity, now_iso

__all__ = ["Plan", "Readings", "measure", "fit_resistors", "diode_points", "fit_diodes", "calibrate",
           "calibration_from", "PRIOR", "R_PRIOR"]

#: prior spreads (1 sigma) of the converters' gain (relative) and offset (volts): of the order of
#: the AD5628's and AD7928's specified gain and offset errors; they only hold the common-mode
#: direction the readings cannot see (see the module doc)
PRIOR = {"dac_gain": 2e-3, "dac_offset": 5e-3, "adc_gain": 2e-3, "adc_offset": 3e-3}
#: weak priors on the rheostats (mean, 1 sigma): R_W in the part's 75..300 ohm spread at 3.3 V
#: (`MCP4351.r_w_range`, sigma wider than the range), R_AB within its ±20 % tolerance.  With the
#: default plan the readings determine R_W to ~40 ohm and R_AB to ~0.3 %, so the priors move a
#: fit by under 10 % of that; they keep a short plan from wandering to unphysical values.
R_PRIOR = {"r_w_sigma": 150.0, "r_ab_sigma": 0.2}
_Q = 1.0 / np.sqrt(12.0)        # rms quantization error in LSB


@dataclass(frozen=True)
class Plan:
    """What `measure` does.  codes: the rheostat codes; there are as many configurations, and
    in configuration c rheostat e is at codes[(c + s_e) mod K] with s_e drawn per rheostat, so
    every rheostat takes every code once and the nodes' weights differ (equal weights would make
    the hidden nodes move together and their rheostats to an output indistinguishable).
    samples: diode-off samples per configuration, in `bias_groups` groups of bias line voltages;
    diode_configs: how many configurations are measured again with the diodes conducting,
    `diode_samples` samples each; line_high: model-voltage range of the lines with the diodes
    off; seed: the code assignment and the random line voltages."""
    codes: tuple = (25, 35, 49, 68, 95, 132, 184, 256)
    samples: int = 16
    bias_groups: int = 8
    diode_configs: int = 2
    diode_samples: int = 12
    line_high: tuple = (0.1, 1.2)
    seed: int = 0

    def __post_init__(self):
        if len(set(self.codes)) < 2:
            raise ValueError("calibration needs at least two different rheostat codes (R_W and R_AB)")
        if not 1 <= self.diode_configs <= len(self.codes):
            raise ValueError(f"diode_configs must be 1..{len(self.codes)}")
        if self.samples < self.bias_groups or self.bias_groups < 2:
            raise ValueError("need at least 2 bias groups and one sample per group")
        if self.diode_samples < 4:
            raise ValueError("need at least 4 diode samples per configuration")

    @property
    def n_samples(self):
        return len(self.codes) * self.samples + self.diode_configs * self.diode_samples

    def configurations(self, n_pots):
        """(K, n_pots) codes: configuration c puts rheostat e at codes[(c + s_e) mod K]."""
        k = len(self.codes)
        s = np.random.default_rng([self.seed, 1]).integers(0, k, n_pots)
        return np.array([[self.codes[(c + s_e) % k] for s_e in s] for c in range(k)], dtype=np.int64)


@dataclass
class Readings:
    """Raw measurements: the configurations' codes (K, rheostats); per row, the configuration
    index, every source line's DAC code (the AFE's input lines, then the perturbation lines),
    and every ADC reading (code·LSB, volts)."""
    codes: np.ndarray
    config: list = field(default_factory=list)
    line_codes: list = field(default_factory=list)
    readings: list = field(default_factory=list)
    diode: list = field(default_factory=list)     # True: a diode-on row

    def add(self, config, line_codes, readings, diode):
        for lc, r in zip(line_codes, readings):
            if np.all(np.isfinite(r)):
                self.config.append(config), self.line_codes.append(lc), self.readings.append(r)
                self.diode.append(diode)

    def arrays(self, diode):
        sel = np.array(self.diode) == diode
        return (np.array(self.config)[sel], np.array(self.line_codes)[sel],
                np.array(self.readings)[sel])


# --- the array's nodal equations with per-rheostat conductances -------------------------------------

class _Array:
    """G(g) v = B(g) V_lines + g_ref·V_MID for physical voltages (the AFE's nodal form, one
    conductance per rheostat); lines = input lines then perturbation lines."""

    def __init__(self, afe):
        self.afe = afe
        n = afe.n_neurons
        lines = afe.input_lines + afe.pert_lines()
        idx = {name: j for j, name in enumerate(afe.neurons)}
        lidx = {name: k for k, name in enumerate(lines)}
        m = afe.n_pots
        self.SG = np.zeros((m, n, n))
        self.SB = np.zeros((m, n, len(lines)))
        self.other = []                          # per edge: ("node", j) or ("line", k)
        self.node = np.zeros(m, dtype=int)
        for e, (a, b) in enumerate(afe.edges()):
            ia = idx[a]
            self.node[e] = ia
            self.SG[e, ia, ia] += 1
            if b in idx:
                ib = idx[b]
                self.SG[e, ib, ib] += 1
                self.SG[e, ia, ib] -= 1
                self.SG[e, ib, ia] -= 1
                self.other.append(("node", ib))
            else:
                self.SB[e, ia, lidx[b]] += 1
                self.other.append(("line", lidx[b]))
        self.G0 = np.zeros((n, n))
        self.B0 = np.zeros((n, len(lines)))
        self.g_ref = np.zeros(n)
        for a, b, r in afe.fixed_resistors():
            assert b == REFERENCE
            self.G0[idx[a], idx[a]] += 1 / r
            self.g_ref[idx[a]] += 1 / r
        # the injection resistors go to their perturbation lines, not to V_MID
        for y, line in zip(afe.neurons[afe.n_hidden:], afe.pert_lines()):
            self.g_ref[idx[y]] -= 1 / afe.r_inject
            self.B0[idx[y], lidx[line]] += 1 / afe.r_inject
        self.line_k = np.array([d * afe.dac.channels + c for d, c in map(afe.line_dac, afe.input_lines)]
                               + [afe.dac.channels + c for c in afe.pert_dac_channels[:afe.n_outputs]])

    def solve(self, g, v_lines, current):
        """Node voltages (rows, n) for one conductance vector g, line voltages (rows, lines) and
        constant node currents (n,)."""
        G = self.G0 + np.tensordot(g, self.SG, 1)
        B = self.B0 + np.tensordot(g, self.SB, 1)
        rhs = v_lines @ B.T + self.g_ref * self.afe.v_mid + current
        return np.linalg.solve(G, rhs.T).T

    def resistor_currents(self, g, v_nodes, v_lines):
        """Current into every node from its resistors (rows, n)."""
        G = self.G0 + np.tensordot(g, self.SG, 1)
        B = self.B0 + np.tensordot(g, self.SB, 1)
        return v_lines @ B.T + self.g_ref * self.afe.v_mid - v_nodes @ G.T


# --- measurement ----------------------------------------------------------------------------------

def measure(port, afe, plan=Plan(), progress=None):
    """Run `plan` on `port` (a `host.driver.board_driver.BoardDriver`: write_codes, measure_codes) -> Readings."""
    rng = np.random.default_rng(plan.seed)
    lsb = afe.dac_lsb
    top = 2 ** afe.dac.bits - 1
    v_mid = afe.v_mid
    n_in, n_pert = afe.n_dac_inputs, afe.n_outputs
    rest = int(round(v_mid / lsb))
    configs = plan.configurations(afe.n_pots)
    data = Readings(configs)

    def codes_of(v):
        return np.clip(np.rint((v + v_mid) / lsb), 0, top).astype(np.int64)

    def run(config, x_v, bias_v, diode):
        k = len(x_v)
        x_c, b_c = codes_of(x_v), codes_of(bias_v)
        p_c = rng.integers(int(0.03 * top), int(0.97 * top), (k, len(afe.pert_dac_channels)))
        fwd, per = port.measure_codes(x_c, b_c, p_c)
        base = np.concatenate([x_c, np.broadcast_to(b_c, (k, 2))], axis=1)
        rows_f = np.concatenate([base, np.full((k, n_pert), rest)], axis=1)
        rows_p = np.concatenate([base, p_c[:, :n_pert]], axis=1)
        data.add(config, rows_f, fwd, diode)
        data.add(config, rows_p, per, diode)
        if progress is not None:
            progress.update(k)

    lo, hi = plan.line_high
    for c_i, codes in enumerate(configs):
        port.write_codes(codes)
        sizes = np.diff(np.linspace(0, plan.samples, plan.bias_groups + 1).round().astype(int))
        for k in sizes:
            run(c_i, _ends(rng, lo, hi, (k, n_in)), _ends(rng, lo, hi, 2), False)
    for c_i in range(plan.diode_configs):
        port.write_codes(configs[c_i])
        for half in (0, 1):
            k = plan.diode_samples // 2 + (half and plan.diode_samples % 2)
            # line levels from just below V_MID to the bottom of the range: currents from well
            # under a microamp to the rheostats' largest
            level = -np.geomspace(0.1, v_mid - 0.02, k)
            x_v = level[:, None] + rng.uniform(-0.02, 0.02, (k, n_in))
            b_v = np.full(2, -np.geomspace(0.1, v_mid - 0.02, 2)[half])
            run(c_i, x_v, b_v, True)
    return data


def _ends(rng, lo, hi, shape):
    """Voltages near either end of [lo, hi] (the most informative, +-10 % of the span jitter
    so that readings fall on different ADC codes)."""
    span = hi - lo
    return np.where(rng.random(shape) < 0.5, lo, hi - 0.1 * span) + rng.uniform(0, 0.1 * span, shape)


# --- fit 1: rheostats and converters ----------------------------------------------------------------

def _unpack(p, m, nk, n_adc, n_h, r_ab0, r_w0):
    """Parameters (scaled to order 1) -> r_w, r_ab, DAC gain/offset, ADC gain/offset, currents."""
    cut = np.cumsum([m, m, nk, nk, n_adc, n_adc])
    pw, pab, pdg, pdo, pag, pao, pc = np.split(p, cut)
    return (r_w0 + _S["r_w"] * pw, r_ab0 * (1.0 + _S["r_ab"] * pab), _S["conv"] * pdg,
            _S["conv"] * pdo, _S["conv"] * pag, _S["conv"] * pao, _S["current"] * pc)


#: parameter scales: R_W in 100 ohm, R_AB in 10 % of nominal, converters in 1e-3, currents in 0.1 uA
_S = {"r_w": 100.0, "r_ab": 0.1, "conv": 1e-3, "current": 1e-7}


def fit_resistors(afe, data):
    """Fit 1 (module doc): returns a dict of r_w, r_ab (per rheostat), DAC gain/offset per
    channel (length 2·8, unmeasured channels 0), ADC gain/offset, reverse currents, residuals.
    Gauss-Newton (scipy least_squares) with the exact Jacobian of the nodal solve:
    ∂v/∂g_e = G⁻¹(e_a − e_b)(V_b − V_a) for a rheostat from node a to b (a line: no e_b)."""
    from scipy.optimize import least_squares
    arr = _Array(afe)
    config, line_codes, readings = data.arrays(False)
    # a hidden node within 0.15 V of V_MID may leak forward current: not a diode-off row
    ok = np.all(readings[:, :afe.n_hidden] > afe.v_mid + 0.15, axis=1)
    config, line_codes, readings = config[ok], line_codes[ok], readings[ok]
    if len(config) < 8:
        raise ValueError(f"only {len(config)} readings with the diodes blocking: too few to calibrate")
    codes = np.asarray(data.codes, dtype=float) / 2 ** afe.pot.bits      # code fraction
    m, n_adc, n_h = afe.n_pots, afe.n_adc, afe.n_hidden
    n = afe.n_neurons
    uk, k_of = np.unique(arr.line_k, return_inverse=True)      # DAC channels used
    nk = len(uk)
    K1 = np.zeros((len(k_of), nk))
    K1[np.arange(len(k_of)), k_of] = 1.0
    r_ab0, r_w0 = afe.pot_r_ab, afe.pot.r_w
    lsb_d, lsb_a = afe.dac_lsb, afe.adc_lsb
    groups = [np.flatnonzero(config == c) for c in range(len(codes))]
    n_rows = len(config)
    prior_sigma = np.concatenate([np.full(nk, PRIOR["dac_gain"]), np.full(nk, PRIOR["dac_offset"]),
                                  np.full(n_adc, PRIOR["adc_gain"]), np.full(n_adc, PRIOR["adc_offset"])])
    n_p = 2 * m + 2 * nk + 2 * n_adc + n_h
    r_w_mid = 0.5 * sum(afe.pot.r_w_range)
    n_pr = 2 * m + len(prior_sigma)
    i_conv = 2 * m                                   # first converter parameter
    node_b = np.array([o[1] if o[0] == "node" else -1 for o in arr.other])
    line_b = np.array([o[1] if o[0] == "line" else -1 for o in arr.other])
    scale = 1.0 / (lsb_a * _Q)

    def model(p):
        r_w, r_ab, dg, do, ag, ao, c = _unpack(p, m, nk, n_adc, n_h, r_ab0, r_w0)
        v_lines = (1.0 + dg[k_of]) * line_codes * lsb_d + do[k_of]
        cur = np.concatenate([c, np.zeros(n - n_h)])
        pred = np.empty((n_rows, n_adc))
        J = np.zeros((n_rows, n_adc, n_p))
        for ci, rows in enumerate(groups):
            if not len(rows):
                continue
            g = 1.0 / (r_w + r_ab * codes[ci])
            G = arr.G0 + np.tensordot(g, arr.SG, 1)
            B = arr.B0 + np.tensordot(g, arr.SB, 1)
            Gi = np.linalg.inv(G)
            vl = v_lines[rows]
            v = (vl @ B.T + arr.g_ref * afe.v_mid + cur) @ Gi.T
            pred[rows] = v
            # rheostats: D = V_other − V_a, column G⁻¹(e_a − e_b)
            v_other = np.where(node_b >= 0, v[:, np.maximum(node_b, 0)], vl[:, np.maximum(line_b, 0)])
            D = v_other - v[:, arr.node]
            col = Gi[:, arr.node] - np.where(node_b >= 0, Gi[:, np.maximum(node_b, 0)], 0.0)
            dv_dg = D[:, None, :] * col[None, :, :]                          # (rows, n, m)
            g2 = -g * g
            J[rows, :, :m] = dv_dg * (g2 * _S["r_w"])
            J[rows, :, m:2 * m] = dv_dg * (g2 * codes[ci] * r_ab0 * _S["r_ab"])
            GB = Gi @ B                                                       # (n, lines)
            J[rows, :, i_conv:i_conv + nk] = np.einsum("nl,rl,lk->rnk", GB, line_codes[rows] * lsb_d,
                                                        K1) * _S["conv"]
            J[rows, :, i_conv + nk:i_conv + 2 * nk] = (GB @ K1)[None] * _S["conv"]
            J[rows, :, n_p - n_h:] = Gi[None, :, :n_h] * _S["current"]
        J *= (1.0 + ag)[None, :, None]
        ia = i_conv + 2 * nk
        J[:, np.arange(n_adc), ia + np.arange(n_adc)] = pred * _S["conv"]
        J[:, np.arange(n_adc), ia + n_adc + np.arange(n_adc)] = _S["conv"]
        out = (1.0 + ag) * pred + ao
        res = np.concatenate([(out - readings).ravel() * scale,
                              (r_w - r_w_mid) / R_PRIOR["r_w_sigma"],
                              (r_ab / r_ab0 - 1.0) / R_PRIOR["r_ab_sigma"],
                              np.concatenate([dg, do, ag, ao]) / prior_sigma])
        Jp = np.zeros((n_pr, n_p))
        Jp[np.arange(m), np.arange(m)] = _S["r_w"] / R_PRIOR["r_w_sigma"]
        Jp[m + np.arange(m), m + np.arange(m)] = _S["r_ab"] / R_PRIOR["r_ab_sigma"]
        Jp[2 * m + np.arange(len(prior_sigma)), i_conv + np.arange(len(prior_sigma))] = \
            _S["conv"] / prior_sigma
        return res, np.concatenate([J.reshape(n_rows * n_adc, n_p) * scale, Jp])

    cache = {}

    def fun(p):
        cache["p"], (cache["r"], cache["J"]) = p.copy(), model(p)
        return cache["r"]

    def jac(p):
        if "p" not in cache or not np.array_equal(cache["p"], p):
            fun(p)
        return cache["J"]

    sol = least_squares(fun, np.zeros(n_p), jac=jac, method="lm", xtol=1e-12, ftol=1e-12)
    r_w, r_ab, dg, do, ag, ao, c = _unpack(sol.x, m, nk, n_adc, n_h, r_ab0, r_w0)
    res = fun(sol.x)[:n_rows * n_adc] * _Q       # in LSB
    # parameter standard errors from the Jacobian at the solution (unit-variance residuals)
    J = cache["J"]
    try:
        cov = np.linalg.inv(J.T @ J)
        sd = np.sqrt(np.diag(cov))
    except np.linalg.LinAlgError:
        sd = np.full(n_p, np.inf)
    n_dac = 2 * afe.dac.channels
    dac_gain, dac_offset = np.zeros(n_dac), np.zeros(n_dac)
    dac_gain[uk], dac_offset[uk] = dg, do
    return {"r_w": r_w, "r_ab": r_ab, "dac_gain": dac_gain, "dac_offset": dac_offset,
            "adc_gain": ag, "adc_offset": ao, "reverse_current": c,
            "r_w_sd": sd[:m] * _S["r_w"], "r_ab_sd": sd[m:2 * m] * _S["r_ab"] * r_ab0,
            "residual_rms_lsb": float(np.sqrt(np.mean(res ** 2))),
            "residual_max_lsb": float(np.abs(res).max()), "rows": int(n_rows),
            "rows_rejected": int((~ok).sum())}


# --- fit 2: diodes ---------------------------------------------------------------------------------

def diode_points(afe, data, fit):
    """(current A, V_D V) of every hidden node's diode in every diode-on row (calibrated)."""
    arr = _Array(afe)
    config, line_codes, readings = data.arrays(True)
    codes = np.asarray(data.codes, dtype=float)
    k = arr.line_k
    v_lines = (1.0 + fit["dac_gain"][k]) * line_codes * afe.dac_lsb + fit["dac_offset"][k]
    v_nodes = (readings - fit["adc_offset"]) / (1.0 + fit["adc_gain"])
    pts = [[] for _ in range(afe.n_hidden)]
    for ci in np.unique(config):
        rows = config == ci
        g = 1.0 / (fit["r_w"] + fit["r_ab"] * codes[ci] / 2 ** afe.pot.bits)
        i_in = arr.resistor_currents(g, v_nodes[rows], v_lines[rows])
        for j in range(afe.n_hidden):
            for i_f, v in zip(-i_in[:, j], v_nodes[rows][:, j]):
                pts[j].append((float(i_f), float(afe.v_mid - v)))
    return pts


def fit_diodes(afe, points, temperature=27.0):
    """Per hidden node, (I_S, N) of i = I_S·(exp(V_D/(N·V_t)) − 1) fitted in voltage to the
    forward points (current above 0.2 µA); returns (I_S, N, rms residual V) arrays."""
    from scipy.optimize import least_squares
    from .devices import diode_card
    from ..host.diode_model import thermal_voltage
    vt = thermal_voltage(temperature)
    card = diode_card(afe.diode)
    i_s, n_e, rms = [], [], []
    for pts in points:
        p = np.array([q for q in pts if q[0] > 2e-7]) if pts else np.zeros((0, 2))
        if len(p) < 3:
            raise ValueError(f"only {len(p)} forward points on a diode: cannot fit its curve "
                             "(the lines could not pull its node below V_MID)")
        i, v = p[:, 0], p[:, 1]

        def res(q):
            return (q[1] * vt * np.log1p(i / np.exp(q[0])) - v) / afe.adc_lsb
        sol = least_squares(res, [np.log(card.IS), card.N], x_scale=[1.0, 0.05])
        i_s.append(float(np.exp(sol.x[0]))), n_e.append(float(sol.x[1]))
        rms.append(float(np.sqrt(np.mean((res(sol.x) * afe.adc_lsb) ** 2))))
    return np.array(i_s), np.array(n_e), np.array(rms)


# --- all of it ------------------------------------------------------------------------------------

def calibrate(port, afe, plan=Plan(), *, progress=True):
    """Measure and fit a board (`port`: a connected `host.driver.board_driver.BoardDriver` on `afe`) ->
    `Calibration` with the board's identity (its CAPS) and the date."""
    from tqdm.auto import tqdm
    bar = tqdm(total=plan.n_samples, desc="calibrate", unit="sample", disable=not progress)
    try:
        data = measure(port, afe, plan, bar)
    finally:
        bar.close()
    return calibration_from(afe, port.caps, data)


def calibration_from(afe, caps, data):
    """Fit 1 and 2 on measured `data` -> `Calibration` (identity from `caps`, dated now)."""
    fit = fit_resistors(afe, data)
    lowest = np.min(data.codes, axis=0) / 2 ** afe.pot.bits
    if np.any(fit["r_w"] + fit["r_ab"] * lowest <= 0) or np.any(fit["r_ab"] <= 0):
        raise ValueError("calibration fit gave a negative resistance: the readings do not fit the "
                         "front-end (check the board's wiring and that its front-end is the model's)")
    pts = diode_points(afe, data, fit)
    i_s, n_e, rms = fit_diodes(afe, pts)
    return Calibration(
        identity=board_identity(caps), frontend=frontend_identity(afe), date=now_iso(),
        r_ab=fit["r_ab"], r_w=fit["r_w"], dac_gain=fit["dac_gain"], dac_offset=fit["dac_offset"],
        adc_gain=fit["adc_gain"], adc_offset=fit["adc_offset"], diode_is=i_s, diode_n=n_e,
        diode_points=pts, reverse_current=fit["reverse_current"], v_ref=afe.v_ref,
        pot_bits=afe.pot.bits, dac_bits=afe.dac.bits, adc_bits=afe.adc.bits,
        code_max=afe.pot.code_max,
        fit={"codes": np.asarray(data.codes).tolist(), "rows": fit["rows"],
             "rows_rejected": fit["rows_rejected"], "residual_rms_lsb": fit["residual_rms_lsb"],
             "residual_max_lsb": fit["residual_max_lsb"],
             "diode_residual_rms_v": [float(x) for x in rms]})
