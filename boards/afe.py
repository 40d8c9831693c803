"""The analog front-end (AFE): one definition of the board's resistor–diode array (pure Python).

Everything that two layers need to agree on about the analog side lives here and nowhere else:
topology, which edges are rheostats, the fixed resistors, the reference the diodes return to, how
features become line voltages, the converters and the rheostat part with its limits.  The host's
network (`diodenet.boards.frontend.frontend_network`), the spice backend, the co-simulated board,
the board driver, the schematic (`boards.schematic`) and the controller's capability reply are all
derived from an `AFE` (docs/hardware.md).

Why a mid-rail reference (docs/hardware.md "Why the array is referred to mid-rail"): the board has
one 3.3 V supply and converters spanning 0 .. V_REF = 2.5 V.  A node of a passive network is a
weighted average of its neighbours, so with every line in 0 .. 2.5 V and the diodes returning to
0 V no diode could ever conduct and the array would be linear.  Here the diodes' anodes and the
leak resistors return to V_MID = V_REF / 2 (a buffered divider of the reference), and each feature
x in [-1, 1] drives a line pair V_MID +- s*x.  Nodes then swing both sides of V_MID and the diodes
conduct.  All host-side voltages are *referred to V_MID*: the model's "ground" is V_MID, a model
voltage u is the physical voltage V_MID + u.

Topology (neurons h0.. hidden with diodes, y0.. outputs without, a linear readout):
* line pairs x_i+ / x_i- (DAC0 channels 0 .. 2d-1, in encoding order x0+ .. x{d-1}+, x0- ..) and
  two bias lines bias+ / bias- (DAC1 channels 0 and 3) at V_MID +- v_bias;
* a rheostat (MCP4351, terminal B to wiper) from every hidden node to every line, and from every
  output to every hidden node and to both bias lines -- in that order the potentiometer order
  (edge e = chip e // 4, wiper e % 4);
* fixed: a leak r_leak from every neuron to V_MID, an injection resistor r_inject from each output
  to its perturbation DAC (DAC1 channels 1, 2) that rests at V_MID (mid-scale code): a DAC step
  dV is a current dV / r_inject into the output (hardware linearization, docs/hardware.md);
* a BAT54 Schottky diode per hidden node, anode at V_MID, cathode at the node.
"""

from dataclasses import dataclass, asdict
import math

import numpy as np

from .parts import MCP4351, AD5628, AD7928, Rheostat

#: the array's reference (V_MID) as a terminal in `AFE.fixed_resistors`
REFERENCE = "ref"


@dataclass(frozen=True)
class AFE:
    """The analog front-end: topology, parts and analog constants (see the module doc).

    kind: "board" -- buildable, every part limit enforced (ADC channels, current through a
    rheostat at full span, chip-select decoder size); "simulation" -- the same kind of array for
    spice/ideal work beyond one board's channel counts (no channel limits), recorded as such in
    model files.  v_ref: converter reference (ADC REF_IN and DAC VREFIN, volts).  input_span:
    line swing for a feature of 1 (volts around V_MID).  v_bias: bias lines at V_MID +- v_bias.

    Resistance level (pot_r_ab, r_min, r_leak, r_inject): a diode clamps its node at
    -n·V_t·ln(I/I_S), so the smaller the currents it must sink, the sharper the ReLU it makes.  A
    BAT54 (I_S = 0.21 uA) clamping a node held through ~1 mS needs ~1 mA and sits ~0.2 V below
    V_MID with a soft knee; through ~0.1 mS it needs ~0.1 mA and the knee is twice as sharp
    relative to the ±1 V signals.  Measured on XOR with the BAT54 model (ideal solver, 6 hidden):
    mean test accuracy 0.91 with rheostats of 1..10 kOhm, 0.93 with 10..100 kOhm.  So the array
    uses the 100 kOhm part between r_min = 10 kOhm and its full 100 kOhm; the price is a 10x
    slower settle (`settle_time`).
    """
    n_hidden: int = 6
    n_outputs: int = 2
    n_inputs: int = 4                   # features: each drives a line pair x_i+ / x_i-
    kind: str = "board"
    r_leak: float = 1e6                 # fixed leak resistor from every neuron to V_MID
    r_inject: float = 100e3             # perturbation injection resistor per output node
    pot_r_ab: float = 100e3             # MCP4351 resistance option (-104: 100 kOhm end to end)
    r_min: float = 10e3                 # lowest rheostat resistance programmed (sets g_max)
    diode: str = "bat54"                # neuron diode (an analog.devices card name)
    v_ref: float = 2.5                  # REF3025 -> AD7928 REF_IN, AD5628 VREFIN
    v_supply: float = 3.3               # VDD of the potentiometers, converters and op-amps
    # host-side encoding choices (not compared against a board): the larger the swing, the
    # sharper the BAT54's soft ReLU relative to it; 1.2 V stays inside the DACs' +-V_MID
    input_span: float = 1.2             # volts per unit feature around V_MID
    v_bias: float = 1.2                 # bias lines at V_MID +- v_bias
    readout_gain: float = 300.0         # logits per volt of output node voltage
    c_extra: float = 20e-12             # per node: diode (BAT54 C_T ~10 pF), ADC buffer input, trace
    pert_dac_channels: tuple = (1, 2)   # DAC1 channels of the output perturbations
    bias_dac_channels: tuple = (0, 3)   # DAC1 channels of bias+ and bias-

    pot = MCP4351
    dac = AD5628
    adc = AD7928

    def __post_init__(self):
        for name in ("n_hidden", "n_outputs", "n_inputs"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"AFE {name} must be an integer >= 1, got {v!r}")
        if self.kind not in ("board", "simulation"):
            raise ValueError(f"AFE kind must be 'board' or 'simulation', got {self.kind!r}")
        if self.pot_r_ab not in self.pot.r_ab_options:
            raise ValueError(f"pot_r_ab {self.pot_r_ab!r}: the {self.pot.name} comes in "
                             f"{', '.join(f'{r:g}' for r in self.pot.r_ab_options)} ohms")
        for name in ("r_leak", "r_inject", "v_ref", "v_supply", "input_span", "v_bias", "r_min"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"AFE {name} must be a positive number, got {v!r}")
        if self.input_span > self.v_mid or self.v_bias > self.v_mid:
            raise ValueError(f"input_span and v_bias must be <= V_MID = {self.v_mid:g} V (the "
                             "DACs span 0 .. V_REF)")
        if len(self.pert_dac_channels) > 2:
            raise ValueError("the sequencer drives at most 2 perturbation DAC channels")
        if self.kind == "board" and self.n_outputs > len(self.pert_dac_channels):
            raise ValueError(f"a board AFE has {len(self.pert_dac_channels)} perturbation DACs: at "
                             f"most that many outputs, got {self.n_outputs}")

    # --- voltages ---------------------------------------------------------------------------------
    @property
    def v_mid(self):
        """The array's reference: diodes' anodes, leaks and the perturbation DACs' rest level."""
        return self.v_ref / 2

    @property
    def dac_converter(self):
        """The DACs' code <-> physical volts (`parts.Converter`, 0 .. V_REF - 1 LSB, raising on a
        voltage outside); `.referred(self.v_mid)` gives it in model voltages."""
        return self.dac.converter(self.v_ref)

    @property
    def adc_converter(self):
        """The ADC's code <-> physical volts (RANGE = 1: 0 .. V_REF, saturating)."""
        return self.adc.converter(self.v_ref)

    @property
    def line_range(self):
        """Model voltages (around V_MID) a DAC line can take: [-V_MID, V_MID - 1 LSB]."""
        dac = self.dac_converter.referred(self.v_mid)
        return dac.lo, dac.v_max

    @property
    def dac_lsb(self):
        return self.dac_converter.lsb

    @property
    def adc_lsb(self):
        return self.adc_converter.lsb

    # --- topology ---------------------------------------------------------------------------------
    @property
    def n_neurons(self):
        return self.n_hidden + self.n_outputs

    @property
    def neurons(self):
        return [f"h{j}" for j in range(self.n_hidden)] + [f"y{k}" for k in range(self.n_outputs)]

    @property
    def input_lines(self):
        """Source lines in the network's source order (the differential input encoding)."""
        d = self.n_inputs
        return [f"x{i}+" for i in range(d)] + [f"x{i}-" for i in range(d)] + ["bias+", "bias-"]

    def line_dac(self, line):
        """(DAC index, channel) driving a source line."""
        lines = self.input_lines
        s = lines.index(line)
        if s < 2 * self.n_inputs:
            return 0, s
        return 1, self.bias_dac_channels[s - 2 * self.n_inputs]

    def edges(self):
        """Tunable conductances as (terminal a, terminal b), in potentiometer order."""
        hidden, outputs = self.neurons[:self.n_hidden], self.neurons[self.n_hidden:]
        e = [(h, line) for h in hidden for line in self.input_lines]
        e += [(y, h) for y in outputs for h in hidden]
        e += [(y, b) for y in outputs for b in ("bias+", "bias-")]
        return e

    def fixed_resistors(self):
        """Fixed parts as (terminal a, terminal b, ohms): leaks, then injection resistors (the
        perturbation DAC rests at V_MID, so in the model it is a resistor to the reference)."""
        leaks = [(j, REFERENCE, self.r_leak) for j in self.neurons]
        inj = [(y, REFERENCE, self.r_inject) for y in self.neurons[self.n_hidden:]]
        return leaks + inj

    @property
    def diode_nodes(self):
        return self.neurons[:self.n_hidden]

    @property
    def n_pots(self):
        return len(self.edges())

    @property
    def n_pot_chips(self):
        return math.ceil(self.n_pots / self.pot.wipers)

    def pot_location(self, edge_index):
        """Edge index -> (chip, wiper)."""
        return divmod(edge_index, self.pot.wipers)

    @property
    def n_dac_inputs(self):
        """DAC0 channels the sequencer writes per sample (the x_i+ / x_i- lines)."""
        return 2 * self.n_inputs

    @property
    def n_adc(self):
        return self.n_neurons

    @property
    def rheostat(self):
        """The code <-> resistance map of this front-end's potentiometer option."""
        return Rheostat(self.pot_r_ab, self.pot.r_w, self.pot.bits, self.pot.code_max)

    # --- limits -----------------------------------------------------------------------------------
    @property
    def v_span_max(self):
        """Largest voltage across a rheostat: a line at one end of the DAC range, a node at the
        other (nodes stay within the lines' range; a conducting BAT54 sits ~0.3 V below V_MID,
        inside it)."""
        return self.v_ref

    @property
    def g_max(self):
        """Upper end of a tunable conductance: 1 / r_min, never above the rheostat's code 0 or the
        part's terminal current limit at full span (MCP4351 i_max / v_span_max = 1 mS)."""
        return min(1.0 / self.r_min, self.rheostat.g_max, self.pot.i_max / self.v_span_max)

    @property
    def g_min(self):
        return self.rheostat.g_min

    def node_capacitance(self):
        """Capacitance at every neuron node (farads): each rheostat's wiper (C_W) at the node
        (wiper to the neuron, terminal B to the line or the other neuron, so a node between two
        rheostats' B terminals sees C_BW) plus `c_extra`."""
        c = {j: self.c_extra for j in self.neurons}
        for a, b in self.edges():
            c[a] += self.pot.c_wiper
            if b in c:
                c[b] += self.pot.c_terminal
        return np.array([c[j] for j in self.neurons])

    @staticmethod
    def pert_line(output):
        """Name of an output's perturbation line (its DAC1 channel, behind r_inject)."""
        return f"pert_{output}"

    def pert_lines(self):
        return [self.pert_line(y) for y in self.neurons[self.n_hidden:]]

    def injection_current(self, v_line, *, v_mid=None, r_inject=None):
        """Current (A) into an output node from its perturbation line at v_line (volts): the
        injection resistor to a node held near V_MID is a resistor to V_MID plus the Norton
        current (v_line - V_MID) / R_inj (exact; docs/hardware.md).  v_mid, r_inject: a built
        board's own values (default the front-end's)."""
        v_mid = self.v_mid if v_mid is None else v_mid
        return (np.asarray(v_line, dtype=float) - v_mid) / (self.r_inject if r_inject is None else r_inject)

    def injection_line(self, current):
        """The perturbation line voltage (volts) that injects `current` (A): V_MID + i * R_inj."""
        return self.v_mid + np.asarray(current, dtype=float) * self.r_inject

    def nodal_matrices(self, g):
        """KCL of the neuron nodes with every rheostat at conductance g (one value, or one per
        rheostat in `edges` order) and every diode blocking:
        G v = B v_lines + g_ref·V_MID, with v_lines the input lines then the perturbation lines
        (`pert_lines`; the injection resistors go to them).  Returns (G, B, g_ref, line names)."""
        idx = {name: j for j, name in enumerate(self.neurons)}
        lines = self.input_lines + self.pert_lines()
        lidx = {name: k for k, name in enumerate(lines)}
        n = self.n_neurons
        G, B, g_ref = np.zeros((n, n)), np.zeros((n, len(lines))), np.zeros(n)
        pert = dict(zip(self.neurons[self.n_hidden:], self.pert_lines()))
        g_e = np.broadcast_to(np.asarray(g, dtype=float), (self.n_pots,))
        for (a, b), g in zip(self.edges(), g_e):
            ia = idx[a]
            G[ia, ia] += g
            if b in idx:
                G[idx[b], idx[b]] += g
                G[ia, idx[b]] -= g
                G[idx[b], ia] -= g
            else:
                B[ia, lidx[b]] += g
        for j in self.neurons:                             # leaks to V_MID
            G[idx[j], idx[j]] += 1.0 / self.r_leak
            g_ref[idx[j]] += 1.0 / self.r_leak
        for y, line in pert.items():                       # injection to its perturbation DAC
            G[idx[y], idx[y]] += 1.0 / self.r_inject
            B[idx[y], lidx[line]] += 1.0 / self.r_inject
        return G, B, g_ref, lines

    def slowest_time_constant(self, g=None):
        """Slowest time constant of the array (seconds) with its rheostats at conductances g (one
        per rheostat; default: every one at its highest resistance) and every diode blocking (a
        conducting diode only adds conductance, so this bounds the settling from above):
        1 / (smallest eigenvalue of C^-1/2 G C^-1/2), with G the nodal conductance matrix (lines
        and V_MID held by buffers)."""
        G = self.nodal_matrices(self.g_min if g is None else g)[0]
        c = self.node_capacitance()
        return 1.0 / float(np.linalg.eigvalsh(G / np.sqrt(np.outer(c, c)))[0])

    def settle_time(self, g=None):
        """Seconds from an LDAC edge to a conversion accurate to 1/2 LSB: the DAC's output
        settling plus ln(2^(bits+1)) slowest time constants of the array (first-order settling to
        1/2 LSB of a full-scale step), rounded up to a microsecond.  g: the rheostats'
        conductances (default: all at their highest resistance, the bound for any program)."""
        t = self.dac.t_settle + math.log(2 ** (self.adc.bits + 1)) * self.slowest_time_constant(g)
        return math.ceil(t * 1e6) / 1e6

    def check(self):
        """Refuse an AFE a board cannot carry (kind "board"); returns self."""
        if self.kind != "board":
            return self
        if self.n_dac_inputs > self.dac.channels:
            raise ValueError(f"{self.n_dac_inputs} input lines but DAC0 has {self.dac.channels} "
                             f"channels: a board AFE takes at most {self.dac.channels // 2} features")
        if self.n_adc > self.adc.channels:
            raise ValueError(f"{self.n_adc} neurons but the AD7928 has {self.adc.channels} channels "
                             "(add a multiplexer, or use kind='simulation')")
        if self.n_pot_chips > 32:
            raise ValueError(f"{self.n_pot_chips} potentiometer chips; the chip-select decoder "
                             "addresses 32")
        return self

    # --- plain data -------------------------------------------------------------------------------
    def to_dict(self):
        d = asdict(self)
        d["pert_dac_channels"] = list(self.pert_dac_channels)
        d["bias_dac_channels"] = list(self.bias_dac_channels)
        d["parts"] = {"pot": self.pot.name, "dac": self.dac.name, "adc": self.adc.name}
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        d.pop("parts", None)
        for k in ("pert_dac_channels", "bias_dac_channels"):
            if k in d:
                d[k] = tuple(d[k])
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown AFE fields {sorted(unknown)}")
        return cls(**d)

    def analog_constants(self):
        """The constants a built board must share with a model of it (compared by the driver
        against the controller's capability reply), in integer units: ohms, millivolts."""
        return {"r_leak": int(round(self.r_leak)), "r_inject": int(round(self.r_inject)),
                "v_ref_mv": int(round(self.v_ref * 1000)), "pot_r_ab": int(self.pot_r_ab),
                "pot_r_w": int(self.pot.r_w)}


#: the front-end the co-simulation tests and the small board use: 2 features, 6 hidden, 2 outputs
#: (all 8 ADC channels, 52 rheostats on 13 MCP4351)
SMALL_AFE = AFE(n_hidden=6, n_outputs=2, n_inputs=2)
