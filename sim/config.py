"""Configuration of the co-simulated board: which controller, which AFE, which analog behaviour.

The gateware is the real controller (`diodenet.hdl.top.Top`) generated from a
`boards.afe.ControllerConfig`; the co-simulation only changes parameters that the gateware already
takes (the AFE size and the UART divisor), never its logic:

* the UART runs at clk/4 (3 Mbaud at 12 MHz, the UART's fastest divisor) instead of 1 Mbaud:
  the host link is a TCP socket, so the baud rate only sets how many simulated clock cycles a
  byte costs, and at 1 Mbaud the link dominates simulation time 3:1;
* tests use a reduced AFE (`SMALL_AFE`) with the same structure (hidden neurons on every input
  line and the bias line, outputs on every hidden neuron, leaks, injection resistors): the number
  of pots sets how long programming takes.
"""

from dataclasses import asdict, dataclass, field, replace
import hashlib
import json

from ..boards.afe import AFE, ControllerConfig

__all__ = ["SimConfig", "SMALL_AFE", "controller_config", "afe_to_dict", "afe_from_dict"]

#: the AFE the co-simulation tests use: 3 hidden, 2 outputs, 2 differential inputs + bias
#: (5 input lines -> 15 + 6 = 21 rheostats on 6 MCP4351, 5 ADC channels); R_inj = 10 kOhm so that
#: the perturbation DACs reach the currents hardware linearization asks for (see docs/cosim.md)
SMALL_AFE = AFE(n_hidden=3, n_outputs=2, n_inputs=2, r_inject=10e3)

_AFE_FIELDS = ("n_hidden", "n_outputs", "n_inputs", "bias", "r_leak", "r_inject", "diode",
               "pert_dac_channels", "bias_dac_channel")


def afe_to_dict(afe):
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in
            ((k, getattr(afe, k)) for k in _AFE_FIELDS)}


def afe_from_dict(d):
    d = dict(d)
    if "pert_dac_channels" in d:
        d["pert_dac_channels"] = tuple(d["pert_dac_channels"])
    return AFE(**d)


@dataclass(frozen=True)
class SimConfig:
    """Everything one co-simulation run is made of (picklable to JSON for the cocotb process).

    settle_time: seconds the analog array needs after a potentiometer or DAC output change before
    a conversion is valid (the ADC model flags a conversion started earlier).  diode: the diode
    card of the neuron diodes in ngspice ("ideal" = the kit's ideal-diode approximation, or
    "bat54").  adc_noise: rms noise added to every conversion, volts (0 = none).  faults: link
    fault injection probabilities per byte, {"drop": p, "dup": p, "corrupt": p, "direction":
    "both"|"to_board"|"to_host", "seed": int}.
    """
    afe: AFE = field(default_factory=lambda: SMALL_AFE)
    board: str = "icebreaker"
    uart_divisor: int = 4
    clk_hz: float = 12e6
    sample_depth: int = 64
    settle_time: float = 5e-6
    diode: str = "ideal"
    adc_noise: float = 0.0
    pot_tolerance: float = 0.0
    adc_ref: float = 2.5
    faults: dict | None = None
    seed: int = 0
    vcd: str | None = None
    port: int = 0                     # TCP port of the serial link (0: any free port)

    def controller(self):
        return controller_config(self)

    def to_json(self):
        d = asdict(self)
        d["afe"] = afe_to_dict(self.afe)
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        d = json.loads(text)
        d["afe"] = afe_from_dict(d["afe"])
        return cls(**d)

    def gateware_key(self):
        """A hash of what the Verilog depends on (the build cache key)."""
        c = self.controller()
        text = json.dumps([afe_to_dict(c.afe), c.board, c.clk_hz, c.baud, c.sample_depth,
                           c.rx_fifo_depth, c.result_fifo_depth], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_(self, **kw):
        return replace(self, **kw)


def controller_config(sim):
    baud = int(round(sim.clk_hz / sim.uart_divisor))
    return ControllerConfig(afe=sim.afe, board=sim.board, clk_hz=sim.clk_hz, baud=baud,
                            sample_depth=sim.sample_depth)
