"""Configuration of the co-simulated board: which controller, which AFE, which analog behaviour.

The gateware is the real controller (`diodenet.hdl.top.Top`) generated from a
`boards.platforms.ControllerConfig`; the co-simulation only changes parameters that the gateware already
takes (the AFE size and the UART divisor), never its logic:

* the UART runs at clk/4 (3 Mbaud at 12 MHz, the UART's fastest divisor) instead of 1 Mbaud:
  the host link is a TCP socket, so the baud rate only sets how many simulated clock cycles a
  byte costs, and at 1 Mbaud the link dominates simulation time 3:1;
* tests use the small front-end (`boards.afe.SMALL_AFE`, the same kind of board with 2 features,
  6 hidden neurons and 2 outputs): the number of pots sets how long programming takes.
"""

from dataclasses import asdict, dataclass, field, replace
import hashlib
import json
from pathlib import Path

from ..boards.afe import AFE, SMALL_AFE
from ..boards.platforms import ControllerConfig

__all__ = ["SimConfig", "SMALL_AFE", "controller_config"]


@dataclass(frozen=True)
class SimConfig:
    """Everything one co-simulation run is made of (picklable to JSON for the cocotb process).

    afe: the front-end the simulated board is built to (boards/afe.py; its diode, reference and
    part constants).  settle_time: seconds the analog array needs after a potentiometer or DAC
    change before a conversion is valid (the ADC model flags a conversion started earlier);
    None = the front-end's own `settle_time()`.  diode: None = the front-end's real diode card, or
    a card name ("ideal" = the kit's ideal-diode approximation, on request only).  pot_tolerance:
    0 = nominal parts; otherwise this board's parts deviate (seeded by `seed`), drawn from the
    front-end's tolerance table (`boards.tolerances`, via `sim.bridge.part_deviations`): R_AB within
    +-pot_tolerance per chip, R_W, converters, fixed resistors, diodes and V_MID by the table.
    adc_noise: rms noise added to every conversion, volts (0 = none).  faults: link fault
    injection probabilities per byte, {"drop": p, "dup": p, "corrupt": p, "direction":
    "both"|"to_board"|"to_host", "seed": int}.
    """
    afe: AFE = field(default_factory=lambda: SMALL_AFE)
    board: str = "icebreaker"
    uart_divisor: int = 4
    clk_hz: float = 12e6
    sample_depth: int = 64
    settle_time: float | None = None
    diode: str | None = None
    adc_noise: float = 0.0
    pot_tolerance: float = 0.0
    faults: dict | None = None
    seed: int = 0
    vcd: str | None = None
    port: int = 0                     # TCP port of the serial link (0: any free port)

    def controller(self):
        return controller_config(self)

    def to_json(self):
        d = asdict(self)
        d["afe"] = self.afe.to_dict()
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        d = json.loads(text)
        d["afe"] = AFE.from_dict(d["afe"])
        return cls(**d)

    def gateware_key(self):
        """A hash of what the Verilog depends on (the build cache key): the controller's
        configuration and the source of the gateware, the protocol and the part definitions."""
        c = self.controller()
        text = json.dumps([c.afe.to_dict(), c.board, c.clk_hz, c.baud, c.sample_depth,
                           c.rx_fifo_depth, c.result_fifo_depth], sort_keys=True)
        h = hashlib.sha256(text.encode())
        root = Path(__file__).resolve().parents[1]
        for path in sorted((root / "hdl").glob("*.py")) + [root / "boards" / name for name in
                                                          ("afe.py", "parts.py", "platforms.py")]:
            h.update(path.read_bytes())
        return h.hexdigest()[:16]

    def with_(self, **kw):
        return replace(self, **kw)


def controller_config(sim):
    baud = int(round(sim.clk_hz / sim.uart_divisor))
    return ControllerConfig(afe=sim.afe, board=sim.board, clk_hz=sim.clk_hz, baud=baud,
                            sample_depth=sim.sample_depth)
