"""The analog front-end board as plain data: netlist, KiCad export, BOM, drawing, power budget.

`board_netlist(afe)` builds every component of the board (reference designator, value, part
number, footprint, pins by package pin number) and every net from an `AFE` (boards/afe.py), so the
board, the host model and the gateware cannot drift apart.  Every pin of every part is either on a
net or listed as a deliberate no-connect with the reason.  `kicad_netlist` writes KiCad's
S-expression netlist (``(export (version "E") ...)``, the file Pcbnew reads through File -> Import
-> Netlist), `bom` / `write_bom_csv` the bill of materials, `draw_schematic` a drawing of one slice
of the front-end (matplotlib only), `power_budget` the current per rail.  `diodenet schematic`
writes all of them (docs/hardware.md "Building the board").

Design decisions (docs/hardware.md has the reasoning):
* One 3.3 V rail from an on-board LDO fed by its own USB 5 V connector (not from the FPGA board's
  3.3 V): the array's worst-case current is tens of mA and the FPGA rail is digitally noisy.  The
  FPGA connector carries ground and signals only.
* A 2.5 V reference (REF3025) drives AD7928 REF_IN and both AD5628 VREFIN pins; V_MID = V_REF / 2
  through two equal 0.1 % resistors, buffered by an op-amp with an NPN emitter follower inside the
  loop (the diodes' return current is up to ~30 mA, more than the quad op-amp's output is rated
  for) and a pull-down for the small sink current of the leaks.
* Every DAC output that drives a line goes through a unity-gain MCP6024 buffer with an isolation
  resistor and dual feedback (DC feedback from the line, HF feedback from the op-amp output):
  a line carries up to 8 rheostat terminals of 75 pF each.  Every neuron node goes to the AD7928
  through a unity-gain buffer.
* Rheostats: MCP4351 wiper W to the neuron (terminal a of `AFE.edges()`), terminal B to the line or
  other neuron (terminal b), terminal A open.  R_WB = R_W + code/256 * R_AB is the `Rheostat` map.

Pin numbers come from the parts' data sheets (package pinout figures / pin function tables), cited
at each part below.
"""

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
import csv
import datetime
import itertools
import math

import numpy as np

from .afe import AFE
from .platforms import AFE_SIGNALS, BOARDS


# --------------------------------------------------------------------------------------------------
# part library: package pin number -> pin name, with ordering data
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartType:
    """One orderable part: `pins` maps package pin number (str) -> pin name."""
    value: str
    mpn: str
    manufacturer: str
    description: str
    footprint: str
    pins: dict
    prefix: str = "U"


def _pins(*names):
    return {str(i + 1): n for i, n in enumerate(names)}


FP_TSSOP14 = "Package_SO:TSSOP-14_4.4x5mm_P0.65mm"
FP_TSSOP16 = "Package_SO:TSSOP-16_4.4x5mm_P0.65mm"
FP_TSSOP20 = "Package_SO:TSSOP-20_4.4x6.5mm_P0.65mm"
FP_TSSOP24 = "Package_SO:TSSOP-24_4.4x7.8mm_P0.65mm"
FP_SOT23 = "Package_TO_SOT_SMD:SOT-23"
FP_SOT23_5 = "Package_TO_SOT_SMD:SOT-23-5"
FP_R0603 = "Resistor_SMD:R_0603_1608Metric"
FP_C0603 = "Capacitor_SMD:C_0603_1608Metric"
FP_C0805 = "Capacitor_SMD:C_0805_2012Metric"

LIB = {
    # MCP4351 (Microchip DS22242 "MCP433X/435X", Package Types, 20-lead TSSOP, quad MCP43X1):
    # the SPI counterpart of the MCP4451's TSSOP-20 pinout (SCK/SDI/CS where the I2C part has
    # SCL/SDA/HVC-A0, SDO where it has A1).  Pin 14 is NC.
    "MCP4351": PartType(
        "MCP4351-103", "MCP4351-103E/ST", "Microchip Technology",
        "Quad 8-bit (257-tap) volatile digital potentiometer, 10 kOhm, SPI, used as 4 rheostats",
        FP_TSSOP20,
        _pins("P3A", "P3W", "P3B", "CS_N", "SCK", "SDI", "VSS", "P1B", "P1W", "P1A",
              "P0A", "P0W", "P0B", "NC", "RESET_N", "SDO", "VDD", "P2B", "P2W", "P2A")),
    # AD5628 (ADI "AD5628/AD5648/AD5668", Pin Configurations and Function Descriptions, 16-lead
    # TSSOP RU-16; LDAC and CLR exist on RU-16 only).  -1 grade: 2.7 V .. 5.5 V, powers up at zero
    # scale ("Ordering Guide"); the on-chip reference is off at power-up, VREFIN takes the 2.5 V.
    "AD5628": PartType(
        "AD5628-1", "AD5628BRUZ-1", "Analog Devices",
        "Octal 12-bit voltage-output DAC, SPI, LDAC/CLR, external 2.5 V reference (TSSOP-16)",
        FP_TSSOP16,
        _pins("LDAC_N", "SYNC_N", "VDD", "VOUTA", "VOUTC", "VOUTE", "VOUTG", "VREFIN",
              "CLR_N", "VOUTH", "VOUTF", "VOUTD", "VOUTB", "GND", "DIN", "SCLK")),
    # AD7928 (ADI "AD7908/AD7918/AD7928", Pin Configuration and Function Descriptions, 20-lead
    # TSSOP; the same pinout as the pin-compatible AD7927): AGND 4, 8, 17, 20; AVDD 5, 6;
    # VIN0..VIN7 on pins 16..9.
    "AD7928": PartType(
        "AD7928", "AD7928BRUZ", "Analog Devices",
        "8-channel 12-bit 1 MSPS SAR ADC, SPI (TSSOP-20)", FP_TSSOP20,
        _pins("SCLK", "DIN", "CS_N", "AGND", "AVDD", "AVDD", "REFIN", "AGND", "VIN7", "VIN6",
              "VIN5", "VIN4", "VIN3", "VIN2", "VIN1", "VIN0", "AGND", "DOUT", "VDRIVE", "AGND")),
    # 74HC154 (TI SN74HC154 data sheet, Pin Configuration and Functions, PW package; the same
    # pinout as Nexperia 74HC154): Y0..Y10 = 1..11, GND 12, Y11..Y15 = 13..17, G1/G2 (active-low
    # enables, here E0_N/E1_N) 18/19, D..A = 20..23 (A3..A0), VCC 24.
    "74HC154": PartType(
        "74HC154", "SN74HC154PWR", "Texas Instruments",
        "4-to-16 line decoder, active-low outputs (TSSOP-24)", FP_TSSOP24,
        _pins(*[f"Y{i}" for i in range(11)], "GND", *[f"Y{i}" for i in range(11, 16)],
              "E0_N", "E1_N", "A3", "A2", "A1", "A0", "VCC")),
    # SN74LVC1G04 (TI data sheet, Pin Configuration, DBV package): 1 NC, 2 A, 3 GND, 4 Y, 5 VCC
    "74LVC1G04": PartType(
        "74LVC1G04", "SN74LVC1G04DBVR", "Texas Instruments", "Single inverter (SOT-23-5)",
        FP_SOT23_5, _pins("NC", "A", "GND", "Y", "VCC")),
    # MCP6024 (Microchip DS21685 "MCP6021/1R/2/3/4", Package Types, 14-lead TSSOP): the standard
    # quad pinout.  Rail-to-rail in/out, 10 MHz GBW, 2.5 .. 5.5 V, Vos <= 500 uV; Absolute Maximum
    # Ratings: current at output and supply pins +-30 mA; Section 4 "Capacitive Loads": use an
    # isolation resistor above ~100 pF at G = +1.
    "MCP6024": PartType(
        "MCP6024", "MCP6024-I/ST", "Microchip Technology",
        "Quad rail-to-rail I/O op-amp, 10 MHz (TSSOP-14)", FP_TSSOP14,
        _pins("OUTA", "INA-", "INA+", "VDD", "INB+", "INB-", "OUTB", "OUTC", "INC-", "INC+",
              "VSS", "IND+", "IND-", "OUTD")),
    # REF3025 (TI REF30xx data sheet, Pin Configuration, DBZ SOT-23-3): 1 IN, 2 OUT, 3 GND
    "REF3025": PartType(
        "REF3025", "REF3025AIDBZR", "Texas Instruments",
        "2.5 V series voltage reference, 0.2 %, 50 ppm/C, 25 mA (SOT-23-3)", FP_SOT23,
        _pins("IN", "OUT", "GND")),
    # TLV757P (TI data sheet, Pin Configuration and Functions, DBV SOT-23-5): 1 IN, 2 GND, 3 EN,
    # 4 NC, 5 OUT; 1 A LDO, fixed 3.3 V output for TLV75733P
    "TLV75733P": PartType(
        "TLV75733P", "TLV75733PDBVR", "Texas Instruments",
        "3.3 V 1 A LDO regulator (SOT-23-5)", FP_SOT23_5, _pins("IN", "GND", "EN", "NC", "OUT")),
    # BAT54 (Nexperia BAT54 series data sheet, Pinning, SOT23 single): 1 anode, 2 n.c., 3 cathode
    "BAT54": PartType(
        "BAT54", "BAT54,215", "Nexperia", "30 V 200 mA Schottky diode, single (SOT-23)",
        FP_SOT23, _pins("A", "NC", "K"), prefix="D"),
    # MMBT3904 (onsemi MMBT3904LT1G data sheet, SOT-23 case 318): 1 base, 2 emitter, 3 collector
    "MMBT3904": PartType(
        "MMBT3904", "MMBT3904LT1G", "onsemi", "NPN transistor 40 V 200 mA (SOT-23)", FP_SOT23,
        _pins("B", "E", "C"), prefix="Q"),
    # USB Micro-B receptacle, power only (Amphenol 10118194-0001LF drawing: 1 VBUS, 2 D-, 3 D+,
    # 4 ID, 5 GND; pad 6 = shell in KiCad's footprint)
    "USB_MICRO_B": PartType(
        "USB_Micro-B", "10118194-0001LF", "Amphenol ICC",
        "USB Micro-B receptacle, used for 5 V power only",
        "Connector_USB:USB_Micro-B_Amphenol_10118194_Horizontal",
        _pins("VBUS", "D-", "D+", "ID", "GND", "SHIELD"), prefix="J"),
}

# Passives: (value text, MPN).  Resistors Yageo RC0603 1 % / RT0603 0.1 %, capacitors Murata.
RES_1PCT = {10e3: "RC0603FR-0710KL", 1e3: "RC0603FR-071KL", 100.0: "RC0603FR-07100RL",
            22.0: "RC0603FR-0722RL"}
RES_01PCT = {10e3: "RT0603BRD0710KL", 100e3: "RT0603BRD07100KL", 1e6: "RT0603BRD071ML"}
CAPS = {  # value -> (text, MPN, footprint, description)
    100e-9: ("100n", "GRM188R71H104KA93D", FP_C0603, "Capacitor 100 nF 50 V X7R 0603"),
    1e-6: ("1u", "GRM188R61E105KA12D", FP_C0603, "Capacitor 1 uF 25 V X5R 0603"),
    10e-6: ("10u", "GRM21BR61A106KE19L", FP_C0805, "Capacitor 10 uF 10 V X5R 0805"),
    47e-12: ("47p", "GRM1885C1H470JA01D", FP_C0603, "Capacitor 47 pF 50 V C0G 0603"),
}

# line buffer compensation (MCP6024 at G = +1 into a rheostat line of up to ~1 nF): R_ISO in series
# with the output, DC feedback R_F from the line, HF feedback C_F from the op-amp output.  C_F is
# chosen above 2 (R_O + R_ISO) C_L / R_F = 2 (50 + 22) 1 nF / 10 k = 14 pF (R_O ~ 50 Ohm open-loop
# output resistance, assumed); the loop's extra time constant R_F C_F = 0.47 us is inside the
# DAC settling budget (AD5628.t_settle = 10 us).
R_ISO, R_FB, C_FB = 22.0, 10e3, 47e-12
R_PULLUP = 10e3
R_VMID_DIV = 10e3        # each half of the V_MID divider (0.1 %)
R_VMID_BASE = 100.0      # op-amp output to the follower's base
R_VMID_PULLDOWN = 1e3    # V_MID to GND: the sink path of the follower (1.25 mA)
BAT54_VF_LOW = 0.2       # V: below the BAT54 card's V_F at 1 mA (0.22 V): a conservative clamp


#: MCP4351 resistance code in the order number (DS22242 "Product Identification System")
_POT_CODES = {5e3: "502", 10e3: "103", 50e3: "503", 100e3: "104"}


def pot_type(afe):
    """The MCP4351 of the front-end's resistance option (`AFE.pot_r_ab`)."""
    from dataclasses import replace
    code = _POT_CODES[afe.pot_r_ab]
    return replace(LIB["MCP4351"], value=f"MCP4351-{code}", mpn=f"MCP4351-{code}E/ST",
                   description=LIB["MCP4351"].description.replace(
                       "10 kOhm", f"{_fmt_ohms(afe.pot_r_ab).replace('k', ' kOhm')}"))


def _fmt_ohms(r):
    if r >= 1e6:
        return f"{r / 1e6:g}M"
    if r >= 1e3:
        return f"{r / 1e3:g}k"
    return f"{r:g}R"


# --------------------------------------------------------------------------------------------------
# netlist data
# --------------------------------------------------------------------------------------------------

@dataclass
class Component:
    ref: str
    value: str
    mpn: str
    manufacturer: str
    description: str
    footprint: str
    pins: dict                       # pin number -> pin name
    role: str = ""

    @property
    def kind(self):
        return self.mpn


@dataclass
class Netlist:
    """components: ref -> Component; nets: name -> [(ref, pin number)];
    no_connect: (ref, pin number) -> reason; roles: role -> ref (e.g. "pot3", "dac0", "adc")."""
    components: dict = field(default_factory=OrderedDict)
    nets: dict = field(default_factory=OrderedDict)
    no_connect: dict = field(default_factory=OrderedDict)
    roles: dict = field(default_factory=dict)
    board: str = "icebreaker"

    def net_of(self, ref, pin):
        for name, nodes in self.nets.items():
            if (ref, str(pin)) in nodes:
                return name
        return None

    def pin_net(self):
        """(ref, pin) -> net name."""
        return {node: name for name, nodes in self.nets.items() for node in nodes}

    def pin_by_name(self, ref, name):
        nums = [n for n, p in self.components[ref].pins.items() if p == name]
        if len(nums) != 1:
            raise KeyError(f"{ref} has {len(nums)} pins named {name!r}")
        return nums[0]


class _Builder:
    def __init__(self, board):
        self.nl = Netlist(board=board)
        self.count = Counter()

    def add(self, part, role="", value=None, mpn=None, manufacturer=None, description=None,
            footprint=None, pins=None, prefix=None):
        prefix = prefix or part.prefix
        self.count[prefix] += 1
        ref = f"{prefix}{self.count[prefix]}"
        self.nl.components[ref] = Component(
            ref, value or part.value, mpn or part.mpn, manufacturer or part.manufacturer,
            description or part.description, footprint or part.footprint,
            dict(pins or part.pins), role)
        if role:
            self.nl.roles[role] = ref
        return ref

    def _num(self, ref, pin):
        comp = self.nl.components[ref]
        if isinstance(pin, int):
            pin = str(pin)
        if pin in comp.pins:
            return pin
        nums = [n for n, name in comp.pins.items() if name == pin]
        if len(nums) != 1:
            raise KeyError(f"{ref} ({comp.mpn}) has {len(nums)} pins named {pin!r}")
        return nums[0]

    def connect(self, net, ref, pin):
        num = self._num(ref, pin)
        node = (ref, num)
        for other, nodes in self.nl.nets.items():
            if node in nodes:
                raise ValueError(f"{ref} pin {num} is already on net {other}, not {net}")
        if node in self.nl.no_connect:
            raise ValueError(f"{ref} pin {num} is marked no-connect")
        self.nl.nets.setdefault(net, []).append(node)

    def connect_all(self, net, ref, name):
        """Every pin of `ref` named `name` (e.g. the AD7928's four AGND pins)."""
        nums = [n for n, p in self.nl.components[ref].pins.items() if p == name]
        assert nums, (ref, name)
        for n in nums:
            self.connect(net, ref, n)

    def nc(self, ref, pin, reason):
        num = self._num(ref, pin)
        if self.nl.net_of(ref, num):
            raise ValueError(f"{ref} pin {num} is on a net")
        self.nl.no_connect[(ref, num)] = reason

    # passives ------------------------------------------------------------------------------------
    def resistor(self, ohms, a, b, role="", precision=False, note=""):
        table = RES_01PCT if precision else RES_1PCT
        tol = "0.1 %" if precision else "1 %"
        mpn = table.get(ohms)
        if mpn is None:
            raise ValueError(f"no stocked resistor for {ohms} Ohm")
        desc = f"Resistor {_fmt_ohms(ohms)} {tol} 0603" + (f" ({note})" if note else "")
        ref = self.add(_RES, role=role, value=_fmt_ohms(ohms) + (" 0.1%" if precision else ""),
                       mpn=mpn, manufacturer="Yageo", description=desc, footprint=FP_R0603,
                       prefix="R")
        self.connect(a, ref, "1")
        self.connect(b, ref, "2")
        return ref

    def capacitor(self, farads, a, b="GND", role=""):
        text, mpn, fp, desc = CAPS[farads]
        ref = self.add(_CAP, role=role, value=text, mpn=mpn, manufacturer="Murata",
                       description=desc, footprint=fp, prefix="C")
        self.connect(a, ref, "1")
        self.connect(b, ref, "2")
        return ref

    def decouple(self, net, n=1, bulk=None):
        for _ in range(n):
            self.capacitor(100e-9, net)
        if bulk:
            self.capacitor(bulk, net)


_RES = PartType("R", "", "", "", FP_R0603, {"1": "~", "2": "~"}, prefix="R")
_CAP = PartType("C", "", "", "", FP_C0603, {"1": "~", "2": "~"}, prefix="C")

OPAMP_CHANNELS = {  # MCP6024 channel -> (out, in-, in+) pin names
    "A": ("OUTA", "INA-", "INA+"), "B": ("OUTB", "INB-", "INB+"),
    "C": ("OUTC", "INC-", "INC+"), "D": ("OUTD", "IND-", "IND+"),
}

#: DAC channel index -> AD5628 output pin name
DAC_OUT = [f"VOUT{c}" for c in "ABCDEFGH"]


def line_net(line):
    """Net name of a source line (the AFE's names: x0+, x0-, bias+, bias-)."""
    return line


#: net name of an output's perturbation line: the AFE's own name
pert_net = AFE.pert_line


def _pmod_pad(pin):
    """Digilent Pmod pin number (1..6 on the top row, 7..12 below; 5/11 GND, 6/12 VCC) -> pad of
    KiCad's PinHeader_2x06 footprint (pads alternate rows: 1, 3, .. top; 2, 4, .. bottom)."""
    return str(2 * pin - 1) if pin <= 6 else str(2 * (pin - 6))


def board_netlist(afe=None, board="icebreaker"):
    """The whole front-end board for `afe` (default `AFE()`) and FPGA `board` as a `Netlist`."""
    afe = (afe or AFE()).check()
    if afe.kind != "board":
        raise ValueError("a schematic needs a board AFE (kind='board')")
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {', '.join(BOARDS)}")
    b = _Builder(board)

    # --- power: USB 5 V -> LDO -> +3V3 -------------------------------------------------------------
    j = b.add(LIB["USB_MICRO_B"], role="usb")
    b.connect("+5V", j, "VBUS")
    b.connect("GND", j, "GND")
    b.connect("GND", j, "SHIELD")
    for p in ("D-", "D+", "ID"):
        b.nc(j, p, "power-only USB input: no data, no OTG")
    ldo = b.add(LIB["TLV75733P"], role="ldo")
    b.connect("+5V", ldo, "IN")
    b.connect("+5V", ldo, "EN")                # always on
    b.connect("GND", ldo, "GND")
    b.connect("+3V3", ldo, "OUT")
    b.nc(ldo, "NC", "no internal connection (TLV757P DBV pin 4)")
    b.capacitor(10e-6, "+5V")                   # TLV757P: input/output capacitors >= 1 uF
    b.capacitor(10e-6, "+3V3")
    b.capacitor(10e-6, "+3V3")                  # bulk for the analog section

    # --- reference and V_MID ----------------------------------------------------------------------
    ref = b.add(LIB["REF3025"], role="vref")
    b.connect("+3V3", ref, "IN")
    b.connect("VREF_2V5", ref, "OUT")
    b.connect("GND", ref, "GND")
    b.capacitor(100e-9, "+3V3")                 # REF30xx input bypass
    b.capacitor(1e-6, "VREF_2V5")               # REF30xx output capacitor
    b.resistor(R_VMID_DIV, "VREF_2V5", "VMID_SET", role="vmid_div_top", precision=True)
    b.resistor(R_VMID_DIV, "VMID_SET", "GND", role="vmid_div_bot", precision=True)
    b.capacitor(100e-9, "VMID_SET")             # filters the divider's noise (5 k * 100 n = 0.5 ms)

    # --- op-amp channel allocator --------------------------------------------------------------------
    amps = []                                    # (ref, channel) handed out in order

    def opamp():
        if not amps or len(amps[-1][1]) == 0:
            u = b.add(LIB["MCP6024"], role=f"opamp{sum(1 for _ in _opamp_refs)}")
            _opamp_refs.append(u)
            b.connect("+3V3", u, "VDD")
            b.connect("GND", u, "VSS")
            b.decouple("+3V3")
            amps.append((u, list("ABCD")))
        u, free = amps[-1]
        return u, free.pop(0)
    _opamp_refs = []

    def buffer_line(name, src_net, out_net, role):
        """Unity-gain buffer with R_ISO and dual feedback: src_net -> out_net."""
        u, ch = opamp()
        o, m, p = OPAMP_CHANNELS[ch]
        b.nl.roles[f"buf:{role}"] = f"{u}{ch}"
        b.connect(src_net, u, p)
        b.connect(f"{name}_DRV", u, o)
        b.connect(f"{name}_FB", u, m)
        b.resistor(R_ISO, f"{name}_DRV", out_net, role=f"riso:{role}")
        b.resistor(R_FB, out_net, f"{name}_FB", role=f"rfb:{role}")
        b.capacitor(C_FB, f"{name}_DRV", f"{name}_FB", role=f"cfb:{role}")

    # V_MID: op-amp + NPN emitter follower in the loop, pull-down for the sink current
    u, ch = opamp()
    o, m, p = OPAMP_CHANNELS[ch]
    b.nl.roles["buf:V_MID"] = f"{u}{ch}"
    b.connect("VMID_SET", u, p)
    b.connect("VMID_DRV", u, o)
    b.connect("VMID_FB", u, m)
    b.resistor(R_VMID_BASE, "VMID_DRV", "VMID_BASE", role="vmid_rbase")
    q = b.add(LIB["MMBT3904"], role="vmid_q")
    b.connect("VMID_BASE", q, "B")
    b.connect("+3V3", q, "C")
    b.connect("V_MID", q, "E")
    b.resistor(R_VMID_PULLDOWN, "V_MID", "GND", role="vmid_pulldown")
    b.resistor(R_FB, "V_MID", "VMID_FB", role="vmid_rfb")
    b.capacitor(C_FB, "VMID_DRV", "VMID_FB", role="vmid_cfb")
    b.capacitor(100e-9, "V_MID")

    # --- DACs ---------------------------------------------------------------------------------------
    dacs = []
    for k in range(2):
        d = b.add(LIB["AD5628"], role=f"dac{k}")
        dacs.append(d)
        b.connect("+3V3", d, "VDD")
        b.connect("GND", d, "GND")
        b.connect("VREF_2V5", d, "VREFIN")
        b.connect("dac_sclk", d, "SCLK")
        b.connect("dac_copi", d, "DIN")
        b.connect(f"dac_sync{k}_n", d, "SYNC_N")
        b.connect("dac_ldac_n", d, "LDAC_N")
        b.connect("+3V3", d, "CLR_N")           # CLR is active low: tied high, never cleared
        b.decouple("+3V3")
        b.capacitor(100e-9, "VREF_2V5")         # at the VREFIN pin
    used = {0: {}, 1: {}}
    for line in afe.input_lines:
        k, ch = afe.line_dac(line)
        used[k][ch] = line
    for i, y in enumerate(afe.neurons[afe.n_hidden:]):
        used[1][afe.pert_dac_channels[i]] = pert_net(y)
    for k, d in enumerate(dacs):
        for ch in range(afe.dac.channels):
            pin = DAC_OUT[ch]
            if ch in used[k]:
                net = used[k][ch]
                src = f"DAC{k}_{pin}"
                b.connect(src, d, pin)
                buffer_line(f"BUF_{net}", src, net, role=net)
            else:
                b.nc(d, pin, f"DAC{k} channel {ch} unused by this AFE")

    # --- the array ------------------------------------------------------------------------------------
    edges = afe.edges()
    pots = []
    for c in range(afe.n_pot_chips):
        p = b.add(pot_type(afe), role=f"pot{c}")
        pots.append(p)
        b.connect("+3V3", p, "VDD")
        b.connect("GND", p, "VSS")
        b.connect("pot_sclk", p, "SCK")
        b.connect("pot_copi", p, "SDI")
        b.connect("pot_cipo", p, "SDO")
        b.connect(f"POT_CS{c}_N", p, "CS_N")
        b.connect("POT_RESET_N", p, "RESET_N")
        b.nc(p, "NC", "no internal connection (DS22242 pin 14)")
        b.decouple("+3V3")
    for e, (a, t) in enumerate(edges):
        c, w = afe.pot_location(e)
        p = pots[c]
        b.connect(a, p, f"P{w}W")               # wiper to the neuron (terminal a)
        b.connect(line_net(t), p, f"P{w}B")     # terminal B to the line / other neuron
        b.nc(p, f"P{w}A", "rheostat mode: terminal A open (R = R_W + code/256 R_AB between W and B)")
    for e in range(len(edges), afe.n_pot_chips * afe.pot.wipers):
        c, w = afe.pot_location(e)
        for t in "AWB":
            b.nc(pots[c], f"P{w}{t}", "spare wiper")
    b.resistor(R_PULLUP, "+3V3", "POT_RESET_N", role="pot_reset_pullup")
    b.resistor(R_PULLUP, "+3V3", "pot_cipo", role="pot_cipo_pullup")

    for j_, (a, ref_, r) in enumerate(afe.fixed_resistors()):
        if j_ < afe.n_neurons:
            b.resistor(r, a, "V_MID", role=f"leak:{a}", precision=True, note="leak")
    for i, y in enumerate(afe.neurons[afe.n_hidden:]):
        b.resistor(afe.r_inject, y, pert_net(y), role=f"inject:{y}", precision=True,
                   note="perturbation injection")
    for h in afe.diode_nodes:
        dd = b.add(LIB["BAT54"], role=f"diode:{h}")
        b.connect("V_MID", dd, "A")
        b.connect(h, dd, "K")
        b.nc(dd, "NC", "no internal connection (single BAT54, SOT23 pin 2)")

    # --- ADC ------------------------------------------------------------------------------------------
    adc = b.add(LIB["AD7928"], role="adc")
    b.connect_all("GND", adc, "AGND")
    b.connect_all("+3V3", adc, "AVDD")
    b.connect("+3V3", adc, "VDRIVE")
    b.connect("VREF_2V5", adc, "REFIN")
    b.connect("adc_sclk", adc, "SCLK")
    b.connect("adc_copi", adc, "DIN")
    b.connect("adc_cipo", adc, "DOUT")
    b.connect("adc_cs_n", adc, "CS_N")
    b.decouple("+3V3", n=2, bulk=10e-6)         # AVDD pins 5, 6 + 10 uF (typical connection)
    b.decouple("+3V3")                          # VDRIVE
    b.capacitor(100e-9, "VREF_2V5")             # REFIN
    for ch in range(afe.adc.channels):
        if ch < afe.n_neurons:
            node = afe.neurons[ch]
            u, c = opamp()
            o, m, p = OPAMP_CHANNELS[c]
            b.nl.roles[f"buf:adc{ch}"] = f"{u}{c}"
            b.connect(node, u, p)
            b.connect(f"ADC_VIN{ch}", u, o)
            b.connect(f"ADC_VIN{ch}", u, m)
            b.connect(f"ADC_VIN{ch}", adc, f"VIN{ch}")
        else:
            b.connect("GND", adc, f"VIN{ch}")   # data sheet: unused inputs to AGND

    # spare op-amp sections: follower with IN+ at ground
    for u, free in amps:
        for ch in free:
            o, m, p = OPAMP_CHANNELS[ch]
            b.connect(f"{u}_{ch}_SPARE", u, o)
            b.connect(f"{u}_{ch}_SPARE", u, m)
            b.connect("GND", u, p)

    # --- chip-select decoders -------------------------------------------------------------------------
    n_dec = math.ceil(afe.n_pot_chips / 16)
    decs = []
    for k in range(n_dec):
        dec = b.add(LIB["74HC154"], role=f"decoder{k}")
        decs.append(dec)
        b.connect("+3V3", dec, "VCC")
        b.connect("GND", dec, "GND")
        b.decouple("+3V3")
        for a in range(4):
            b.connect(f"pot_cs_addr{a}", dec, f"A{a}")
        b.connect("pot_cs_n", dec, "E0_N")
        b.connect("pot_cs_addr4" if k == 0 else "pot_cs_addr4_n", dec, "E1_N")
        for y in range(16):
            c = 16 * k + y
            if c < afe.n_pot_chips:
                b.connect(f"POT_CS{c}_N", dec, f"Y{y}")
            else:
                b.nc(dec, f"Y{y}", f"no MCP4351 at chip-select address {c}")
    if n_dec > 1:
        inv = b.add(LIB["74LVC1G04"], role="addr4_inverter")
        b.connect("pot_cs_addr4", inv, "A")
        b.connect("pot_cs_addr4_n", inv, "Y")
        b.connect("+3V3", inv, "VCC")
        b.connect("GND", inv, "GND")
        b.nc(inv, "NC", "no internal connection (DBV pin 1)")
        b.decouple("+3V3")
    # chip selects idle high while the FPGA is unconfigured (its pins float then)
    for sig in ("pot_cs_n", "dac_sync0_n", "dac_sync1_n", "dac_ldac_n", "adc_cs_n"):
        b.resistor(R_PULLUP, "+3V3", sig, role=f"pullup:{sig}")

    # --- FPGA connector(s) ------------------------------------------------------------------------------
    _connectors(b, board)
    return b.nl


def _connectors(b, board):
    pin_map = BOARDS[board].pins
    if board == "icebreaker":
        names = {0: "PMOD1A", 1: "PMOD1B", 2: "PMOD2"}
        hdr = PartType("Pmod_2x06", "PRPC006DBAN-M71RC", "Sullins Connector Solutions",
                       "2x6 2.54 mm right-angle male header (Pmod host plug)",
                       "Connector_PinHeader_2.54mm:PinHeader_2x06_P2.54mm_Horizontal",
                       {_pmod_pad(p): f"PMOD{p}" for p in range(1, 13)}, prefix="J")
        refs = {n: b.add(hdr, role=f"conn:{names[n]}", value=names[n]) for n in names}
        used = {}
        for sig, (_, n, pin) in pin_map.items():
            b.connect(sig, refs[n], _pmod_pad(pin))
            used[(n, pin)] = sig
        for n, r in refs.items():
            for pin in (5, 11):
                b.connect("GND", r, _pmod_pad(pin))
            for pin in (6, 12):
                b.nc(r, _pmod_pad(pin), "Pmod 3.3 V not used: the board has its own LDO "
                     "(never join two regulators)")
            for pin in (1, 2, 3, 4, 7, 8, 9, 10):
                if (n, pin) not in used:
                    b.nc(r, _pmod_pad(pin), f"{names[n]} pin {pin} not used by the controller")
    else:  # hx8k: a 2x20 socket onto header J2 (odd pins one row, even the other)
        hdr = PartType("J2_2x20", "PPTC202LFBN-RC", "Sullins Connector Solutions",
                       "2x20 2.54 mm female socket (mates the HX8K breakout's J2)",
                       "Connector_PinSocket_2.54mm:PinSocket_2x20_P2.54mm_Vertical",
                       {str(p): f"J2_{p}" for p in range(1, 41)}, prefix="J")
        r = b.add(hdr, role="conn:J2", value="J2")
        used = set()
        for sig, (_, _n, pin) in pin_map.items():
            b.connect(sig, r, str(pin))
            used.add(pin)
        for p in range(1, 41):
            if p not in used:
                b.nc(r, str(p), "not used by the controller (J2's supply/ground pins are "
                     "left open: ground comes through J_GND)")
        gnd = PartType("GND_2x1", "PRPC002SAAN-RC", "Sullins Connector Solutions",
                       "1x2 2.54 mm header: ground wire to a GND pin of the HX8K breakout",
                       "Connector_PinHeader_2.54mm:PinHeader_1x02_P2.54mm_Vertical",
                       {"1": "GND", "2": "GND"}, prefix="J")
        g = b.add(gnd, role="conn:gnd")
        b.connect("GND", g, "1")
        b.connect("GND", g, "2")


# --------------------------------------------------------------------------------------------------
# checks and exports
# --------------------------------------------------------------------------------------------------

def check_netlist(nl):
    """Problems with a netlist (empty list = none): unconnected pins, single-pin nets, pins on two
    nets or on a net and no-connect, nets naming unknown components."""
    problems = []
    seen = {}
    for name, nodes in nl.nets.items():
        if len(nodes) < 2:
            problems.append(f"net {name} has {len(nodes)} pin(s)")
        for ref, pin in nodes:
            if ref not in nl.components:
                problems.append(f"net {name}: unknown component {ref}")
                continue
            if pin not in nl.components[ref].pins:
                problems.append(f"net {name}: {ref} has no pin {pin}")
            if (ref, pin) in seen:
                problems.append(f"{ref} pin {pin} on {seen[(ref, pin)]} and {name}")
            seen[(ref, pin)] = name
    for node in nl.no_connect:
        if node in seen:
            problems.append(f"{node[0]} pin {node[1]} is no-connect and on {seen[node]}")
    for ref, comp in nl.components.items():
        for pin in comp.pins:
            if (ref, pin) not in seen and (ref, pin) not in nl.no_connect:
                problems.append(f"{ref} ({comp.mpn}) pin {pin} {comp.pins[pin]} unconnected")
    return problems


def _q(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def kicad_netlist(nl, source="diodenet boards.schematic"):
    """KiCad S-expression netlist text (``(export (version "E") ...)``), importable into Pcbnew
    (File -> Import -> Netlist).  Footprints are KiCad standard-library names; pin numbers are
    package pin numbers, which KiCad's footprints use as pad numbers."""
    out = ['(export (version "E")',
           "  (design",
           f"    (source {_q(source)})",
           f"    (date {_q(datetime.date.today().isoformat())})",
           f"    (tool {_q('diodenet boards.schematic')}))",
           "  (components"]
    for ref, c in nl.components.items():
        out.append(f"    (comp (ref {_q(ref)})")
        out.append(f"      (value {_q(c.value)})")
        out.append(f"      (footprint {_q(c.footprint)})")
        out.append(f"      (fields (field (name \"MPN\") {_q(c.mpn)}) "
                   f"(field (name \"Manufacturer\") {_q(c.manufacturer)}))")
        out.append(f"      (libsource (lib \"diodenet\") (part {_q(c.value)}) "
                   f"(description {_q(c.description)})))")
    out.append("  )")
    out.append("  (nets")
    for code, (name, nodes) in enumerate(nl.nets.items(), start=1):
        out.append(f"    (net (code {_q(code)}) (name {_q(name)})")
        for ref, pin in nodes:
            fn = nl.components[ref].pins[pin]
            out.append(f"      (node (ref {_q(ref)}) (pin {_q(pin)}) (pinfunction {_q(fn)}))")
        out.append("    )")
    out.append("  )")
    out.append(")")
    return "\n".join(out) + "\n"


def parse_sexpr(text):
    """Minimal S-expression reader (lists and atoms; quoted strings with backslash escapes)."""
    tokens = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "()":
            tokens.append(ch)
            i += 1
        elif ch.isspace():
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ValueError("unterminated string")
            tokens.append(("str", "".join(buf)))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()"':
                j += 1
            tokens.append(("atom", text[i:j]))
            i = j
    stack = [[]]
    for t in tokens:
        if t == "(":
            stack.append([])
        elif t == ")":
            if len(stack) < 2:
                raise ValueError("unbalanced ')'")
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(t[1])
    if len(stack) != 1:
        raise ValueError("unbalanced '('")
    return stack[0]


def bom(nl):
    """Rows grouped by manufacturer part number: dict(refs, qty, value, manufacturer, mpn,
    description, footprint)."""
    groups = OrderedDict()
    for ref, c in nl.components.items():
        key = (c.mpn, c.value)
        groups.setdefault(key, []).append(c)
    rows = []
    for (mpn, value), comps in groups.items():
        c = comps[0]
        rows.append({"refs": " ".join(x.ref for x in comps), "qty": len(comps), "value": value,
                     "manufacturer": c.manufacturer, "mpn": mpn, "description": c.description,
                     "footprint": c.footprint})
    return rows


BOM_COLUMNS = ("refs", "qty", "value", "manufacturer", "mpn", "description", "footprint")


def bom_csv(rows):
    """The BOM as CSV text."""
    import io
    f = io.StringIO(newline="")
    w = csv.DictWriter(f, fieldnames=BOM_COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in BOM_COLUMNS})
    return f.getvalue()


def write_bom_csv(rows, path):
    """Write the BOM as CSV, atomically (a temporary file renamed into place)."""
    atomic_write(path, bom_csv(rows).encode())


def atomic_write(path, data):
    """The kit's one atomic writer (`host.fileio.atomic_write_bytes`: the user's umask)."""
    from ..host.fileio import atomic_write_bytes
    atomic_write_bytes(path, data)


# --------------------------------------------------------------------------------------------------
# power budget
# --------------------------------------------------------------------------------------------------

#: supply current per part from +3V3 (amps, maximum at ~3.3 V) with its source
SUPPLY_CURRENT = {
    "MCP4351": (5e-6, "DS22242 DC characteristics: I_DD with the serial interface inactive "
                      "(one selected chip clocked at 6 MHz draws more; budgeted 1 mA below)"),
    "AD5628": (1.3e-3, "AD5628 Table 1/2 'Power Requirements': I_DD normal mode, internal "
                       "reference off, VDD = 2.7 .. 3.6 V (max)"),
    "AD7928": (2.0e-3, "AD7908/AD7918/AD7928 Features: 6.0 mW max at 1 MSPS with a 3 V supply"),
    "MCP6024": (4 * 1.35e-3, "DS21685 DC characteristics: quiescent current per amplifier "
                             "(max), four amplifiers"),
    "REF3025": (50e-6, "REF30xx Electrical Characteristics: quiescent current (max)"),
    "74HC154": (80e-6, "SN74HC154 Electrical Characteristics: I_CC static (max, full temperature)"),
    "74LVC1G04": (10e-6, "SN74LVC1G04 Electrical Characteristics: I_CC (max)"),
    "TLV75733P": (50e-6, "TLV757P Electrical Characteristics: ground-pin current (budget)"),
}


def _array_worst_case(afe):
    """Every rheostat at g_max, every driven line (inputs, bias, perturbation) at either end of the
    DAC range (0 or V_REF) in every combination; diodes as clamps V_MID - V_F (V_F low: more
    current).  Returns the largest currents: from +3V3 into the array (sum of sourcing buffers), per
    line buffer (|I|), and sourced by the V_MID stage."""
    G, B, gref, lines = afe.nodal_matrices(afe.g_max)
    n, m = G.shape[0], len(lines)
    vmid, clamp = afe.v_mid, afe.v_mid - BAT54_VF_LOW
    hidden = np.array([j < afe.n_hidden for j in range(n)])
    worst = {"rail": 0.0, "line": np.zeros(m), "vmid_source": 0.0, "vmid_sink": 0.0}
    for levels in itertools.product((0.0, afe.v_ref), repeat=m):
        vl = np.array(levels)
        rhs = B @ vl + gref * vmid
        clamped = np.zeros(n, bool)
        for _ in range(4 * n + 4):
            v = np.empty(n)
            free = ~clamped
            v[clamped] = clamp
            if free.any():
                v[free] = np.linalg.solve(G[np.ix_(free, free)],
                                          rhs[free] - G[np.ix_(free, clamped)] @ v[clamped])
            i_diode = G @ v - rhs                # current the diode must supply into each node
            new = clamped.copy()
            new |= hidden & (v < clamp - 1e-12)
            new &= ~(clamped & (i_diode < 0))
            if (new == clamped).all():
                break
            clamped = new
        i_diode = np.where(clamped, G @ v - rhs, 0.0)
        i_line = np.array([(B[:, k] * (vl[k] - v)).sum() for k in range(m)])
        i_vmid = (gref * (vmid - v)).sum() + i_diode.sum()
        rail = np.clip(i_line, 0, None).sum() + max(i_vmid, 0.0)
        worst["rail"] = max(worst["rail"], rail)
        worst["line"] = np.maximum(worst["line"], np.abs(i_line))
        worst["vmid_source"] = max(worst["vmid_source"], i_vmid)
        worst["vmid_sink"] = max(worst["vmid_sink"], -i_vmid)
    worst["lines"] = lines
    return worst


def power_budget(afe=None, nl=None):
    """Current per rail (amps) with the assumptions: dict(parts=[...], array={...},
    rails={...}, assumptions=[...])."""
    afe = afe or AFE()
    nl = nl or board_netlist(afe)
    counts = Counter(c.value.split("-")[0] if c.value.startswith(("MCP4351", "AD5628")) else c.value
                     for c in nl.components.values())
    parts = []
    for name, (amps, src) in SUPPLY_CURRENT.items():
        q = counts.get(name, 0)
        if q:
            parts.append({"part": name, "qty": q, "each_a": amps, "total_a": q * amps,
                          "source": src})
    parts.append({"part": "MCP4351 (selected, SPI active)", "qty": 1, "each_a": 1e-3,
                  "total_a": 1e-3, "source": "assumed budget for the one chip being clocked"})
    pullups = 6
    parts.append({"part": "10k pull-ups (asserted)", "qty": pullups, "each_a": 3.3 / R_PULLUP,
                  "total_a": pullups * 3.3 / R_PULLUP, "source": "3.3 V / 10 kOhm, all low"})
    parts.append({"part": "V_MID pull-down 1k", "qty": 1, "each_a": afe.v_mid / R_VMID_PULLDOWN,
                  "total_a": afe.v_mid / R_VMID_PULLDOWN,
                  "source": "V_MID / 1 kOhm, through the follower from +3V3"})
    quiescent = sum(p["total_a"] for p in parts)
    w = _array_worst_case(afe)
    ref_load = afe.v_ref / (2 * R_VMID_DIV) + 2 * afe.v_ref / 15e3 + 10e-6
    i3v3 = quiescent + w["rail"]
    return {
        "parts": parts,
        "quiescent_a": quiescent,
        "array": {"rail_a": w["rail"], "vmid_source_a": w["vmid_source"],
                  "vmid_sink_a": w["vmid_sink"],
                  "line_max_a": {l: float(x) for l, x in zip(w["lines"], w["line"])}},
        "rails": {"+5V (USB)": i3v3 + SUPPLY_CURRENT["TLV75733P"][0], "+3V3": i3v3,
                  "VREF_2V5": ref_load, "V_MID (source)": w["vmid_source"]},
        "assumptions": [
            f"array: every rheostat at g_max = {afe.g_max * 1e3:g} mS, every driven line "
            f"(inputs, bias, perturbation) at 0 V or V_REF = {afe.v_ref:g} V in every combination "
            "(the encoding itself stays within V_MID +- 1 V), BAT54 clamping at "
            f"V_MID - {BAT54_VF_LOW:g} V; current from +3V3 = the sum of what the buffers and the "
            "V_MID follower source",
            "part supply currents: data-sheet maxima at ~3.3 V (see each row)",
            "reference load: V_MID divider 2.5 V / 20 kOhm, two AD5628 VREFIN inputs (~15 kOhm "
            "each, AD5628 'Reference input impedance', assumed), AD7928 REF_IN (~10 uA)",
            "LDO: input current = output current + ground current",
        ],
    }


def format_power_budget(pb):
    lines = ["Power budget (maximum currents)"]
    for p in pb["parts"]:
        lines.append(f"  {p['part']:<32} x{p['qty']:<3} {p['total_a'] * 1e3:8.2f} mA")
    lines.append(f"  {'quiescent total':<36} {pb['quiescent_a'] * 1e3:8.2f} mA")
    a = pb["array"]
    lines.append(f"  {'array, worst case (from +3V3)':<36} {a['rail_a'] * 1e3:8.2f} mA")
    lines.append(f"  largest line-buffer current {max(a['line_max_a'].values()) * 1e3:.2f} mA "
                 f"({max(a['line_max_a'], key=a['line_max_a'].get)}); V_MID sources up to "
                 f"{a['vmid_source_a'] * 1e3:.2f} mA, sinks up to {a['vmid_sink_a'] * 1e3:.3f} mA")
    lines.append("Rails:")
    for k, v in pb["rails"].items():
        lines.append(f"  {k:<16} {v * 1e3:8.2f} mA")
    lines.append("Assumptions:")
    lines += [f"  - {s}" for s in pb["assumptions"]]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------------------------------

def draw_schematic(afe=None, path="schematic.png", nl=None):
    """A readable drawing of one slice of the front-end with the netlist's net names: reference and
    V_MID buffer, one line buffer, hidden neuron h0 with its rheostats / diode / leak / ADC buffer,
    output y0 with its injection resistor and perturbation buffer, and the converters, decoders and
    connectors as blocks.  `path` ending in .svg or .png picks the format."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle, Circle

    afe = afe or AFE()
    nl = nl or board_netlist(afe)
    roles = nl.roles
    fig, ax = plt.subplots(figsize=(22, 14))
    ax.set_xlim(0, 44)
    ax.set_ylim(0, 29.2)
    ax.set_aspect("equal")
    ax.axis("off")
    LW = 1.4
    FS = 9

    def wire(*pts, **kw):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, color="k", lw=LW, **kw)

    def dot(x, y):
        ax.add_patch(Circle((x, y), 0.09, color="k"))

    def text(x, y, s, size=FS, **kw):
        kw.setdefault("ha", "center")
        kw.setdefault("va", "center")
        ax.text(x, y, s, fontsize=size, **kw)

    def net(x, y, s, color="tab:blue", **kw):
        kw.setdefault("ha", "left")
        text(x, y, s, color=color, fontweight="bold", **kw)

    def axis(p1, p2):
        """A two-terminal symbol's frame: its length, unit vector p1 → p2 and left normal."""
        d = np.subtract(p2, p1, dtype=float)
        L = np.hypot(*d)
        u = d / L
        return L, u, np.array([-u[1], u[0]])

    def resistor(p1, p2, label="", arrow=False, lpos=0.35):
        L, u, nrm = axis(p1, p2)
        a, bb = 0.3 * L, 0.7 * L
        pts = [np.array(p1, float), np.array(p1) + u * a]
        k = 6
        for i in range(1, k):
            s = a + (bb - a) * i / k
            pts.append(np.array(p1) + u * s + nrm * (0.22 if i % 2 else -0.22))
        pts += [np.array(p1) + u * bb, np.array(p2, float)]
        wire(*[tuple(p) for p in pts])
        if arrow:
            c = np.array(p1) + u * L / 2
            s0, s1 = c - nrm * 0.5 - u * 0.5, c + nrm * 0.5 + u * 0.5
            ax.annotate("", xy=s1, xytext=s0,
                        arrowprops=dict(arrowstyle="->", lw=1.0, color="tab:red"))
        if label:
            c = np.array(p1) + u * L / 2 + nrm * lpos * 2
            text(c[0], c[1], label, size=FS - 1)

    def capacitor(p1, p2, label=""):
        L, u, nrm = axis(p1, p2)
        m1 = np.array(p1) + u * (L / 2 - 0.1)
        m2 = np.array(p1) + u * (L / 2 + 0.1)
        wire(p1, tuple(m1))
        wire(tuple(m2), p2)
        for m in (m1, m2):
            wire(tuple(m - nrm * 0.35), tuple(m + nrm * 0.35))
        if label:
            c = np.array(p1) + u * L / 2 + nrm * 0.8
            text(c[0], c[1], label, size=FS - 1)

    def ground(x, y):
        wire((x, y), (x, y - 0.3))
        for i, w_ in enumerate((0.35, 0.22, 0.09)):
            wire((x - w_, y - 0.3 - 0.12 * i), (x + w_, y - 0.3 - 0.12 * i))

    def opamp(x, y, label="", up=True):
        """Triangle pointing right, left edge at x, centre y; returns (in+, in-, out)."""
        ax.add_patch(Polygon([(x, y + 1), (x, y - 1), (x + 1.8, y)], closed=True, fill=False,
                             lw=LW))
        pplus, pminus = (x, y + 0.5), (x, y - 0.5)
        if not up:
            pplus, pminus = pminus, pplus
        text(x + 0.25, pplus[1], "+", size=FS)
        text(x + 0.25, pminus[1], "−", size=FS)
        if label:
            text(x + 0.8, y + 1.3, label, size=FS - 1)
        return pplus, pminus, (x + 1.8, y)

    def diode(p_anode, p_cathode, label=""):
        L, u, nrm = axis(p_anode, p_cathode)
        a = np.array(p_anode) + u * (L / 2 - 0.3)
        k = np.array(p_anode) + u * (L / 2 + 0.3)
        wire(p_anode, tuple(a))
        wire(tuple(k), p_cathode)
        ax.add_patch(Polygon([a + nrm * 0.35, a - nrm * 0.35, k], closed=True, fill=False, lw=LW))
        wire(tuple(k + nrm * 0.35), tuple(k - nrm * 0.35))
        wire(tuple(k + nrm * 0.35), tuple(k + nrm * 0.35 - u * 0.12))  # Schottky hook
        wire(tuple(k - nrm * 0.35), tuple(k - nrm * 0.35 + u * 0.12))
        if label:
            c = (a + k) / 2 + nrm * 1.0
            text(c[0], c[1], label, size=FS - 1)

    def box(x, y, w_, h, title, lines_=(), color="0.95"):
        ax.add_patch(Rectangle((x, y), w_, h, fill=True, facecolor=color, edgecolor="k", lw=LW))
        text(x + w_ / 2, y + h - 0.4, title, size=FS, fontweight="bold")
        for i, s in enumerate(lines_):
            text(x + 0.2, y + h - 1.0 - 0.5 * i, s, size=FS - 2, ha="left")

    def section(x, y, s):
        text(x, y, s, size=FS + 3, ha="left", fontweight="bold", color="0.25")

    # ---- 1. power, reference, V_MID (top left) --------------------------------------------------
    section(0.5, 27.3, "Power, reference and V_MID")
    box(0.5, 23.2, 3.0, 2.6, f"{roles['usb']} USB", ["Micro-B, 5 V only"])
    wire((3.5, 24.8), (4.5, 24.8))
    net(3.6, 25.15, "+5V")
    box(4.5, 23.2, 3.2, 2.6, f"{roles['ldo']}", ["TLV75733P", "LDO 3.3 V"])
    wire((7.7, 24.8), (9.0, 24.8))
    net(7.8, 25.15, "+3V3")
    box(9.0, 23.2, 3.2, 2.6, f"{roles['vref']}", ["REF3025", "2.500 V"])
    wire((12.2, 24.8), (13.5, 24.8))
    dot(13.5, 24.8)
    net(12.3, 25.15, "VREF_2V5")
    text(13.6, 26.2, "→ AD7928 REFIN, AD5628 VREFIN ×2", size=FS - 1, ha="left")
    resistor((13.5, 24.8), (13.5, 22.0), f"{roles['vmid_div_top']}\n10k 0.1%", lpos=0.9)
    dot(13.5, 22.0)
    resistor((13.5, 22.0), (13.5, 19.4), f"{roles['vmid_div_bot']}\n10k 0.1%", lpos=-0.9)
    ground(13.5, 19.4)
    net(13.3, 22.45, "VMID_SET", ha="right")
    wire((13.5, 22.0), (15.0, 22.0))
    u_vmid = roles["buf:V_MID"]
    pp, pm, po = opamp(15.0, 21.5, "")
    text(15.9, 20.1, f"{u_vmid} MCP6024", size=FS - 1)
    wire((15.0, 22.0), pp)
    resistor(po, (19.0, po[1]), f"{roles['vmid_rbase']} 100R", lpos=0.6)
    dot(17.2, po[1])
    net(16.9, 22.3, "VMID_DRV")
    ax.add_patch(Circle((19.6, po[1]), 0.55, fill=False, lw=LW))
    text(20.5, po[1] + 0.2, f"{roles['vmid_q']} MMBT3904", size=FS - 1, ha="left")
    wire((19.0, po[1]), (19.3, po[1]))
    wire((19.8, po[1] + 0.3), (19.8, 23.2))
    net(19.9, 23.0, "+3V3")
    wire((19.8, po[1] - 0.3), (19.8, 19.2), (23.5, 19.2))
    dot(19.8, 19.2)
    net(20.2, 19.55, "V_MID = 1.250 V", color="tab:red")
    dot(22.3, 19.2)
    resistor((22.3, 19.2), (22.3, 16.7), f"{roles['vmid_pulldown']}\n1k", lpos=-0.8)
    ground(22.3, 16.7)
    wire((19.8, 19.2), (19.8, 18.2))
    wire(pm, (14.6, pm[1]), (14.6, 18.2), (16.0, 18.2))
    resistor((16.0, 18.2), (19.8, 18.2), f"{roles['vmid_rfb']} 10k", lpos=-0.6)
    dot(17.2, 18.2)
    capacitor((17.2, po[1]), (17.2, 18.2), "")
    text(18.3, 19.85, f"{roles['vmid_cfb']} 47p", size=FS - 1)
    net(14.4, 17.6, "VMID_FB", ha="right")

    # ---- 2. one line buffer (middle left) ---------------------------------------------------------
    section(0.5, 16.6, "Line buffer (every driven line: x_i±, bias±, pert_y)")
    line0 = afe.input_lines[0]
    box(0.5, 10.4, 3.4, 3.6, f"{roles['dac0']} DAC0", ["AD5628-1", "VREFIN = 2.5 V", "ch0 VOUTA"])
    pp, pm, po = opamp(6.0, 12.5, "", up=False)
    text(6.9, 11.1, roles[f"buf:{line0}"] + " MCP6024", size=FS - 1)
    wire((3.9, 12.0), pp)
    net(4.0, 11.6, "DAC0_VOUTA")
    resistor(po, (11.0, po[1]), f"{roles['riso:' + line0]} 22R (R_ISO)", lpos=-0.55)
    wire((11.0, po[1]), (13.0, po[1]))
    dot(11.0, po[1])
    net(11.8, po[1] + 0.4, line0, color="tab:red")
    wire(pm, (5.5, pm[1]), (5.5, 15.2), (7.0, 15.2))
    dot(5.5, 14.2)
    resistor((7.0, 15.2), (11.0, 15.2), f"{roles['rfb:' + line0]} 10k (R_F)", lpos=0.45)
    wire((11.0, 15.2), (11.0, po[1]))
    wire((5.5, 14.2), (6.9, 14.2))
    capacitor((6.9, 14.2), (8.3, 14.2), "")
    wire((8.3, 14.2), (8.3, po[1]))
    dot(8.3, po[1])
    text(9.5, 14.2, f"{roles['cfb:' + line0]} 47p (C_F)", size=FS - 1)
    net(8.5, 12.95, f"BUF_{line0}_DRV", ha="left")
    net(5.3, 15.6, f"BUF_{line0}_FB", ha="right")

    # ---- 3. hidden neuron h0 (centre) -------------------------------------------------------------
    section(24.0, 27.3, "Hidden neuron h0 (each h_j)")
    hx, hy = 31.0, 21.5
    h_edges = [(e, t) for e, (a, t) in enumerate(afe.edges()) if a == "h0"]
    items = h_edges[:3] + [None] + h_edges[-2:] if len(h_edges) > 5 else h_edges
    ys = np.linspace(25.9, 16.8, len(items))
    for y, item in zip(ys, items):
        if item is None:
            text(27.5, y, "⋮  (every line: %s)" % ", ".join(afe.input_lines), size=FS - 1)
            continue
        e, t = item
        c, wpr = afe.pot_location(e)
        net(24.2, y, t, color="tab:red", ha="left")
        resistor((26.0, y), (hx - 0.5, y), f"{roles[f'pot{c}']} P{wpr}: B←{t}, W→h0", arrow=True,
                 lpos=-0.33)
        wire((hx - 0.5, y), (hx, y))
    wire((hx, ys[0]), (hx, 15.4))
    dot(hx, hy)
    net(hx + 0.2, 26.3, "h0", color="tab:red")
    # leak and diode to V_MID
    wire((hx, 16.0), (hx + 1.2, 16.0))
    resistor((hx + 1.2, 16.0), (hx + 1.2, 13.2), f"{roles['leak:h0']}\n{_fmt_ohms(afe.r_leak)} 0.1%", lpos=-1.0)
    diode((hx + 3.2, 13.2), (hx + 3.2, 16.0), f"{roles['diode:h0']}\nBAT54")
    wire((hx + 1.2, 16.0), (hx + 3.2, 16.0))
    dot(hx + 1.2, 16.0)
    wire((hx + 1.2, 13.2), (hx + 3.2, 13.2))
    net(hx + 1.4, 12.7, "V_MID", color="tab:red")
    text(hx + 5.8, 14.6, "anode at V_MID,\ncathode at h0", size=FS - 2)
    # ADC buffer
    wire((hx, 19.0), (hx + 1.0, 19.0))
    dot(hx, 19.0)
    pp, pm, po = opamp(hx + 1.0, 18.5, roles["buf:adc0"] + " MCP6024")
    wire((hx + 1.0, 19.0), pp)
    wire(po, (hx + 4.5, po[1]))
    wire((hx + 3.3, po[1]), (hx + 3.3, 17.1), (hx + 0.7, 17.1), (hx + 0.7, pm[1]), pm)
    dot(hx + 3.3, po[1])
    net(hx + 3.4, po[1] + 0.4, "ADC_VIN0 → AD7928 VIN0")

    # ---- 4. output y0 (right) -------------------------------------------------------------------
    section(24.0, 11.3, "Output y0 (each y_k)")
    yx, yy = 31.0, 7.0
    y_edges = [(e, t) for e, (a, t) in enumerate(afe.edges()) if a == "y0"]
    pick = [y_edges[0], y_edges[-2], y_edges[-1]]
    for k, (e, t) in enumerate(pick):
        y = 10.0 - 1.6 * k
        c, wpr = afe.pot_location(e)
        net(24.2, y, t, color="tab:red")
        resistor((26.0, y), (yx - 0.5, y), f"{roles[f'pot{c}']} P{wpr}: B←{t}, W→y0",
                 arrow=True, lpos=-0.33)
        wire((yx - 0.5, y), (yx, y))
        if k == 0:
            text(24.3, y - 0.8, "⋮ h1 .. h%d" % (afe.n_hidden - 1), size=FS - 1, ha="left")
    wire((yx, 10.0), (yx, 3.2))
    net(yx + 0.2, 10.4, "y0", color="tab:red")
    wire((yx, 5.0), (yx + 1.2, 5.0))
    dot(yx, 5.0)
    resistor((yx + 1.2, 5.0), (yx + 1.2, 2.2), f"{roles['leak:y0']}\n{_fmt_ohms(afe.r_leak)} 0.1%", lpos=0.9)
    net(yx + 0.6, 1.6, "V_MID", color="tab:red")
    wire((yx, 3.2), (yx - 0.1, 3.2))
    resistor((yx, 3.2), (yx - 4.0, 3.2), f"{roles['inject:y0']} {_fmt_ohms(afe.r_inject)} 0.1% (r_inject)", lpos=0.45)
    net(yx - 6.8, 3.6, "pert_y0", color="tab:red")
    wire((yx - 6.8, 3.2), (yx - 4.0, 3.2))
    text(yx - 5.5, 1.2, "from DAC1 VOUTB\nvia a line buffer", size=FS - 2)
    wire((yx, 7.0), (yx + 1.0, 7.0))
    dot(yx, 7.0)
    adc_y = afe.n_hidden
    pp, pm, po = opamp(yx + 1.0, 6.5, roles[f"buf:adc{adc_y}"] + " MCP6024")
    wire((yx + 1.0, 7.0), pp)
    wire(po, (yx + 4.5, po[1]))
    wire((yx + 3.3, po[1]), (yx + 3.3, 5.1), (yx + 0.7, 5.1), (yx + 0.7, pm[1]), pm)
    dot(yx + 3.3, po[1])
    net(yx + 3.4, po[1] + 0.4, f"ADC_VIN{adc_y} → VIN{adc_y}")

    # ---- 5. blocks (bottom left) ----------------------------------------------------------------
    section(0.5, 7.3, "Converters, decoders, connectors")
    box(0.5, 0.3, 4.9, 6.3, f"{roles['dac0']}/{roles['dac1']} AD5628 ×2",
        ["SCLK ← dac_sclk", "DIN ← dac_copi", "SYNC ← dac_sync0_n / 1_n", "LDAC ← dac_ldac_n",
         "CLR → +3V3", "VREFIN ← VREF_2V5", "DAC0: x0+ .. x%d-" % (afe.n_inputs - 1),
         "DAC1 A, D: bias+, bias-", "DAC1 B, C: pert_y0, _y1"])
    box(5.6, 0.3, 4.3, 6.3, f"{roles['adc']} AD7928",
        ["SCLK ← adc_sclk", "DIN ← adc_copi", "DOUT → adc_cipo", "CS ← adc_cs_n",
         "REFIN ← VREF_2V5", "VIN0..%d ← ADC_VIN*" % (afe.n_neurons - 1),
         "unused VIN → GND", "AVDD, VDRIVE ← +3V3"])
    n_dec = sum(1 for r in roles if r.startswith("decoder"))
    box(10.1, 0.3, 4.9, 6.3, "74HC154 ×%d" % n_dec,
        ["A0..A3 ← pot_cs_addr0..3", "E0 ← pot_cs_n", "E1 ← pot_cs_addr4 (#0)",
         "E1 ← pot_cs_addr4_n (#1)", "   (74LVC1G04 inverter)", "Y_k → POT_CS{k}_N",
         "chip = 16·dec + k"])
    box(15.2, 0.3, 5.0, 6.3, f"MCP4351 ×{afe.n_pot_chips}",
        ["SCK ← pot_sclk", "SDI ← pot_copi", "SDO → pot_cipo (10k up)", "CS ← POT_CS{k}_N",
         "RESET ← POT_RESET_N", "   (10k to +3V3)", "edge e: chip e//4, wiper e%4",
         "W → neuron, B → line, A open"])
    conn = [r for r in roles if r.startswith("conn:")]
    box(20.4, 0.3, 3.3, 6.3, "FPGA", [nl.board] + [r.split(":")[1] for r in conn] +
        ["GND only,", "no 3.3 V"])
    text(22.0, 28.6, f"diodenet AFE board — {afe.n_hidden} hidden, {afe.n_outputs} outputs, "
         f"{afe.n_inputs} inputs, {afe.n_pots} rheostats on {afe.n_pot_chips} MCP4351",
         size=FS + 4, fontweight="bold")
    import io
    from pathlib import Path
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write(path, buf.getvalue())
    return path
