"""The analog front-end (AFE) reference design as data (pure Python, no Amaranth).

Default array: 8 neurons -- 6 hidden and 2 outputs -- with 4 differential inputs plus a bias.
* Every hidden neuron connects to every input line (+u_p, -u_p for p = 0..3) and to the bias line
  through an MCP4351 rheostat: 6 x 9 = 54 tunable conductances.
* Every output neuron connects to every hidden neuron: 2 x 6 = 12 tunable conductances.
* Each neuron node has a fixed leak resistor to ground and a diode (anode at ground, cathode at the
  node; BAT54 Schottky, so a conducting node sits near -0.3 V).
* Input lines are driven by DAC0 (AD5628) channels 0..7 through unity-gain buffers; the bias line by
  DAC1 channel 0; the output perturbation by DAC1 channels 1 and 2 through injection resistors into
  the two output nodes (a small DAC step is a small current step: hardware linearization, DESIGN 1.4).
* The 8 neuron node voltages go to the AD7928's VIN0..VIN7 through buffers; drops across each
  tunable conductance are differences of node (and known input) voltages, so no multiplexer is needed.
66 tunable conductances -> 17 MCP4351 (4 rheostats each, 2 spare), selected through a 5-bit
chip-select address decoded by two 74HC154 (see docs/hardware.md).
"""

from dataclasses import dataclass, field
import math

from .parts import MCP4351, AD5628, AD7928, Rheostat


@dataclass(frozen=True)
class AFE:
    n_hidden: int = 6
    n_outputs: int = 2
    n_inputs: int = 4                   # differential inputs: each drives a +u and a -u line
    bias: bool = True
    r_leak: float = 100e3               # fixed leak resistor per neuron node
    r_inject: float = 47e3              # perturbation injection resistor per output node
    diode: str = "BAT54"
    pert_dac_channels: tuple = (1, 2)   # DAC1 channels of the two output perturbations
    bias_dac_channel: int = 0           # DAC1 channel of the bias line

    pot = MCP4351
    dac = AD5628
    adc = AD7928

    @property
    def n_neurons(self):
        return self.n_hidden + self.n_outputs

    @property
    def input_lines(self):
        lines = [f"u{p}{s}" for p in range(self.n_inputs) for s in "+-"]
        return lines + (["bias"] if self.bias else [])

    @property
    def neurons(self):
        return [f"h{j}" for j in range(self.n_hidden)] + [f"y{k}" for k in range(self.n_outputs)]

    def edges(self):
        """Tunable conductances as (terminal a, terminal b), in potentiometer order."""
        e = [(h, line) for h in self.neurons[:self.n_hidden] for line in self.input_lines]
        e += [(y, h) for y in self.neurons[self.n_hidden:] for h in self.neurons[:self.n_hidden]]
        return e

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
        """DAC0 channels the sequencer writes per sample (the +u/-u lines)."""
        return 2 * self.n_inputs

    @property
    def n_adc(self):
        return self.n_neurons

    @property
    def rheostat(self):
        return Rheostat.of(self.pot)

    def check(self):
        if self.n_dac_inputs > self.dac.channels:
            raise ValueError("more input lines than DAC0 channels")
        if self.n_adc > self.adc.channels:
            raise ValueError("more neurons than ADC channels (add a multiplexer)")
        if self.n_pot_chips > 32:
            raise ValueError("more than 32 potentiometer chips")
        return self


# --- pin maps ------------------------------------------------------------------------------------
#: logical AFE signal -> (connector name, connector number, pin) per board; "dir" o/i
AFE_SIGNALS = {
    # potentiometer bus (MCP4351 x17, SPI mode 0)
    "pot_sclk": "o", "pot_copi": "o", "pot_cipo": "i", "pot_cs_n": "o",
    "pot_cs_addr0": "o", "pot_cs_addr1": "o", "pot_cs_addr2": "o", "pot_cs_addr3": "o",
    "pot_cs_addr4": "o",
    # DAC bus (AD5628 x2, SPI mode 1) and LDAC
    "dac_sclk": "o", "dac_copi": "o", "dac_sync0_n": "o", "dac_sync1_n": "o", "dac_ldac_n": "o",
    # ADC bus (AD7928, SPI mode 2)
    "adc_sclk": "o", "adc_copi": "o", "adc_cipo": "i", "adc_cs_n": "o",
}

PIN_MAPS = {
    # iCEBreaker: PMOD1A, PMOD1B, PMOD2 (snap off the button/LED PMOD from PMOD2 first)
    "icebreaker": {
        "pot_sclk": ("pmod", 0, 1), "pot_copi": ("pmod", 0, 2), "pot_cipo": ("pmod", 0, 3),
        "pot_cs_n": ("pmod", 0, 4), "pot_cs_addr0": ("pmod", 0, 7), "pot_cs_addr1": ("pmod", 0, 8),
        "pot_cs_addr2": ("pmod", 0, 9), "pot_cs_addr3": ("pmod", 0, 10),
        "pot_cs_addr4": ("pmod", 1, 1),
        "dac_sclk": ("pmod", 1, 2), "dac_copi": ("pmod", 1, 3), "dac_sync0_n": ("pmod", 1, 4),
        "dac_sync1_n": ("pmod", 1, 7), "dac_ldac_n": ("pmod", 1, 8),
        "adc_sclk": ("pmod", 2, 1), "adc_copi": ("pmod", 2, 2), "adc_cipo": ("pmod", 2, 3),
        "adc_cs_n": ("pmod", 2, 4),
    },
    # iCE40-HX8K breakout board (ICE40HX8K-B-EVN): header J2, pins 4.. (2.54 mm, 3.3 V bank)
    "hx8k": {
        "pot_sclk": ("j", 2, 4), "pot_copi": ("j", 2, 5), "pot_cipo": ("j", 2, 6),
        "pot_cs_n": ("j", 2, 9), "pot_cs_addr0": ("j", 2, 10), "pot_cs_addr1": ("j", 2, 11),
        "pot_cs_addr2": ("j", 2, 12), "pot_cs_addr3": ("j", 2, 13),
        "pot_cs_addr4": ("j", 2, 14),
        "dac_sclk": ("j", 2, 17), "dac_copi": ("j", 2, 18), "dac_sync0_n": ("j", 2, 19),
        "dac_sync1_n": ("j", 2, 20), "dac_ldac_n": ("j", 2, 21),
        "adc_sclk": ("j", 2, 22), "adc_copi": ("j", 2, 25), "adc_cipo": ("j", 2, 26),
        "adc_cs_n": ("j", 2, 27),
    },
}


@dataclass(frozen=True)
class ControllerConfig:
    """Everything the gateware is generated from."""
    afe: AFE = field(default_factory=AFE)
    board: str = "icebreaker"
    clk_hz: float = 12e6
    baud: int = 1_000_000
    sample_depth: int = 256            # samples held in the sample memory
    rx_fifo_depth: int = 128
    result_fifo_depth: int = 256

    @property
    def uart_divisor(self):
        return round(self.clk_hz / self.baud)

    def hello_bytes(self):
        from ..hdl import protocol as P
        return bytes([P.PROTOCOL_VERSION, *P.GATEWARE_VERSION])

    def caps(self):
        from ..hdl import protocol as P
        a = self.afe
        return P.Caps(
            protocol=P.PROTOCOL_VERSION, board=self.board, clock_hz=int(self.clk_hz),
            baud=self.baud, n_pot_chips=a.n_pot_chips, wipers_per_chip=a.pot.wipers,
            pot_bits=a.pot.bits, pot_r_ab=int(a.pot.r_ab), pot_r_w=int(a.pot.r_w), n_dacs=2,
            n_dac_inputs=a.n_dac_inputs, dac_bits=a.dac.bits, n_adc=a.n_adc, adc_bits=a.adc.bits,
            sample_depth=self.sample_depth, max_request=P.MAX_REQUEST, max_reply=P.MAX_REPLY,
            part_ids=f"{a.pot.name},{a.dac.name},{a.adc.name}")


BOARDS = {
    "icebreaker": ControllerConfig(board="icebreaker", sample_depth=256),
    # the iCEstick's HX1K (1280 logic cells) is too small for this controller (~2500 cells);
    # the iCE40-HX8K breakout (7680 cells) is the second supported board
    "hx8k": ControllerConfig(board="hx8k", sample_depth=256),
}


def config_for(board):
    try:
        return BOARDS[board]
    except KeyError:
        raise ValueError(f"unknown board {board!r}; known: {', '.join(BOARDS)}") from None
