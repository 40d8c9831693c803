"""The supported FPGA dev boards, in one table: what each carries, where the AFE plugs in, how it is
programmed, and the controller configuration its gateware is generated from.

`BOARDS` (name -> `DevBoard`) is the only list of boards; the gateware (`diodenet.hdl`), the
bitstream build (`boards.build`), the schematic's connector pin-out (`boards.schematic`) and the
`gateware`/`build`/`flash` commands all read it.  Amaranth (`amaranth.build`, `amaranth_boards`) is
imported only when a platform is made.
"""

from dataclasses import dataclass, field
import importlib

from .afe import AFE

#: logical AFE signal -> direction ("o" from the FPGA, "i" into it)
AFE_SIGNALS = {
    # potentiometer bus (MCP4351 behind two 74HC154 decoders, SPI mode 0)
    "pot_sclk": "o", "pot_copi": "o", "pot_cipo": "i", "pot_cs_n": "o",
    "pot_cs_addr0": "o", "pot_cs_addr1": "o", "pot_cs_addr2": "o", "pot_cs_addr3": "o",
    "pot_cs_addr4": "o",
    # DAC bus (AD5628 x2, SPI mode 1) and LDAC
    "dac_sclk": "o", "dac_copi": "o", "dac_sync0_n": "o", "dac_sync1_n": "o", "dac_ldac_n": "o",
    # ADC bus (AD7928, SPI mode 2)
    "adc_sclk": "o", "adc_copi": "o", "adc_cipo": "i", "adc_cs_n": "o",
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


@dataclass(frozen=True)
class DevBoard:
    """One dev board.  platform: the `amaranth_boards` class ("module:Class"); fpga, logic_cells:
    its FPGA and the logic cells it has (the build report's denominator); openfpgaloader: the
    `-b` name openFPGALoader programs it by (iceprog needs none); pins: AFE signal -> (connector,
    number, pin); clk_hz: its oscillator."""
    name: str
    description: str
    platform: str
    fpga: str
    logic_cells: int
    openfpgaloader: str
    pins: dict
    clk_hz: float = 12e6
    sample_depth: int = 256

    def controller(self):
        """The controller configuration this board's bitstream is built from."""
        return ControllerConfig(board=self.name, clk_hz=self.clk_hz, sample_depth=self.sample_depth)

    def platform_class(self):
        module, cls = self.platform.split(":")
        return getattr(importlib.import_module(module), cls)


BOARDS = {b.name: b for b in (
    DevBoard(
        name="icebreaker", description="iCEBreaker (iCE40UP5K)",
        platform="amaranth_boards.icebreaker:ICEBreakerPlatform", fpga="iCE40UP5K",
        logic_cells=5280, openfpgaloader="ice40_generic",
        # PMOD1A, PMOD1B, PMOD2 (snap off the button/LED PMOD from PMOD2 first)
        pins={
            "pot_sclk": ("pmod", 0, 1), "pot_copi": ("pmod", 0, 2), "pot_cipo": ("pmod", 0, 3),
            "pot_cs_n": ("pmod", 0, 4), "pot_cs_addr0": ("pmod", 0, 7),
            "pot_cs_addr1": ("pmod", 0, 8), "pot_cs_addr2": ("pmod", 0, 9),
            "pot_cs_addr3": ("pmod", 0, 10), "pot_cs_addr4": ("pmod", 1, 1),
            "dac_sclk": ("pmod", 1, 2), "dac_copi": ("pmod", 1, 3), "dac_sync0_n": ("pmod", 1, 4),
            "dac_sync1_n": ("pmod", 1, 7), "dac_ldac_n": ("pmod", 1, 8),
            "adc_sclk": ("pmod", 2, 1), "adc_copi": ("pmod", 2, 2), "adc_cipo": ("pmod", 2, 3),
            "adc_cs_n": ("pmod", 2, 4),
        }),
    # the iCEstick's HX1K (1280 logic cells) is too small for this controller (~2500 cells);
    # the iCE40-HX8K breakout (7680 cells) is the second supported board
    DevBoard(
        name="hx8k", description="iCE40-HX8K breakout board (ICE40HX8K-B-EVN)",
        platform="amaranth_boards.ice40_hx8k_b_evn:ICE40HX8KBEVNPlatform", fpga="iCE40HX8K",
        logic_cells=7680, openfpgaloader="ice40_generic",
        # header J2, pins 4.. (2.54 mm, 3.3 V bank)
        pins={
            "pot_sclk": ("j", 2, 4), "pot_copi": ("j", 2, 5), "pot_cipo": ("j", 2, 6),
            "pot_cs_n": ("j", 2, 9), "pot_cs_addr0": ("j", 2, 10), "pot_cs_addr1": ("j", 2, 11),
            "pot_cs_addr2": ("j", 2, 12), "pot_cs_addr3": ("j", 2, 13),
            "pot_cs_addr4": ("j", 2, 14),
            "dac_sclk": ("j", 2, 17), "dac_copi": ("j", 2, 18), "dac_sync0_n": ("j", 2, 19),
            "dac_sync1_n": ("j", 2, 20), "dac_ldac_n": ("j", 2, 21),
            "adc_sclk": ("j", 2, 22), "adc_copi": ("j", 2, 25), "adc_cipo": ("j", 2, 26),
            "adc_cs_n": ("j", 2, 27),
        }),
)}

#: for a --board option's help
BOARD_CHOICES = " or ".join(BOARDS)


def board(name):
    """The `DevBoard` called `name`; ValueError naming the known ones otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


def config_for(name):
    """The controller configuration of board `name`."""
    return board(name).controller()


def afe_resources(name):
    """The AFE pins of board `name` as Amaranth resources (one per `AFE_SIGNALS` entry)."""
    from amaranth.build import Attrs, Pins, Resource
    pins = board(name).pins
    res = []
    for signal, direction in AFE_SIGNALS.items():
        conn, number, pin = pins[signal]
        res.append(Resource(signal, 0, Pins(str(pin), dir=direction, conn=(conn, number)),
                            Attrs(IO_STANDARD="SB_LVCMOS")))
    return res


def make_platform(name):
    """The board's Amaranth platform with the AFE pins added."""
    platform = board(name).platform_class()()
    platform.add_resources(afe_resources(name))
    return platform
