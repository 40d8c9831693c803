"""The controller core: host link + command processor + sequencer + SPI masters, on byte streams.

Board independent: `rx`/`tx` are byte streams (the UART sits outside), the part buses are plain pin
signals.  `diodenet.hdl.top` puts it on a board; the tests drive it at frame level.
"""

import dataclasses
import math

from amaranth import Module
from amaranth.lib import wiring, stream, memory, fifo
from amaranth.lib.wiring import In, Out

from . import protocol as P
from .controller import ADC_POWERUP_WORD, Controller
from .framing import FrameReceiver, FrameSender
from .results import FrameArbiter, ResultFramer
from .sequencer import Sequencer
from .spi import SPIMaster, SPIShare, sclk_divisor, cs_idle_cycles
from ..boards.parts import MCP4351, AD5628, AD7928


# --- potentiometer bus timing -----------------------------------------------------------------------
#
# Chip selects.  The MCP4351 /CS lines are the outputs of two 74HC154 4-to-16 decoders: pot_cs_addr
# drives A0..A3 (and, through the 74HC04, the second enable), pot_cs_n drives /E0 of both.  The
# 74HC154 data sheet (Nexperia/NXP, section 1 "General description") strobes the decoder with its
# enable precisely to hide the decoding glitches of a changing address: the address must be stable
# for one address-to-output delay before /E0 falls, and stay stable for one enable-to-output delay
# after /E0 rises.  Its "Dynamic characteristics" table (C_L = 50 pF) gives t_pd An -> Yn and
# En -> Yn at VCC = 2.0 / 4.5 / 6.0 V; the slowest, An -> Yn at 2.0 V over -40..+85 degC, is 220 ns
# max (44 ns at 4.5 V).  HC delays fall as VCC rises, so that figure bounds the board's 3.3 V supply
# from above (interpolated, ~100..130 ns at 3.3 V).  3 clocks at 12 MHz = 250 ns.
DECODER_T_PD = 220e-9


def decoder_guard_cycles(clk_hz):
    """System clocks the chip-select address is held stable before /E0 falls and after it rises
    (>= 2: 3 at 12 MHz = 250 ns)."""
    return max(2, math.ceil(DECODER_T_PD * clk_hz))


# Potentiometer SCLK.  All MCP4351 SDO pins share one CIPO line (tri-stated when deselected), so on
# a read-back the selected part drives the whole bus.  In SPI mode 0,0 the part shifts SDO out after
# each SCK falling edge and the controller samples CIPO one half period later, at the rising edge
# (hdl/spi.py samples at the system clock that raises SCLK).  Half an SCK period must cover:
#   * FPGA SCLK clock-to-pad plus CIPO pad-to-register setup: ~15 ns (an allowance for the iCE40's
#     I/O; nextpnr's timing report covers only the inside of the chip);
#   * MCP4351 "SDO data output valid after SCK falling edge" (T_scL2doV; MCP4351 data sheet DS22242,
#     section 1 "Electrical Characteristics", SPI requirements table, mode 0,0 / 1,1, VDD = 2.7 to
#     5.5 V): 70 ns max;
#   * the shared line: every MCP4351 pin is C_IN/C_OUT = 10 pF (same section, "AC/DC
#     Characteristics", "Pin Capacitance"); count 10 pF per chip with its trace plus 10 pF for the
#     FPGA pin and connector (19 chips: 200 pF).  The SDO driver is specified as V_OH >= 0.7 VDD at
#     I_OH = -2.5 mA and V_OL <= 0.3 VDD at I_OL = 5 mA (VDD = 5.5 V; same table, "Output High /
#     Low Voltage (SDO)"): at most 0.3 * 5.5 V / 2.5 mA = 660 Ohm of output resistance.  Reaching
#     the iCE40's LVCMOS33 input thresholds (V_IH 2.0 V rising: 0.93 tau; V_IL 0.8 V falling:
#     1.42 tau; iCE40 UltraPlus data sheet, "sysI/O Single-Ended DC Electrical Characteristics")
#     takes at most 1.5 tau, tau = 660 Ohm * 200 pF = 132 ns: 198 ns.
# 19 chips: 15 + 70 + 198 = 283 ns per half period -> SCLK <= 1.77 MHz, i.e. 1.5 MHz at 12 MHz
# (divisor 4: a 333 ns half period, 50 ns spare).  The 6 MHz the part itself would take (10 MHz max)
# leaves 83 ns: not enough.  A POT_WRITE (write, then read back) spends ~22 us on the SPI bus at
# 1.5 MHz, a tenth of its ~0.2 ms of UART traffic at 1 Mbaud.
POT_T_IO = 15e-9
POT_T_SDO_VALID = 70e-9
POT_C_PER_CHIP = 10e-12
POT_C_FPGA = 10e-12
POT_R_SDO = 0.3 * 5.5 / 2.5e-3
POT_THRESHOLD_TAUS = 1.5


def pot_read_half_period(n_chips):
    """Shortest SCK half period (seconds) at which the controller reads SDO of `n_chips` MCP4351
    sharing CIPO reliably (derivation above)."""
    c_bus = n_chips * POT_C_PER_CHIP + POT_C_FPGA
    return POT_T_IO + POT_T_SDO_VALID + POT_THRESHOLD_TAUS * POT_R_SDO * c_bus


def pot_sclk_limit(n_chips):
    """Highest potentiometer SCLK (Hz) for `n_chips` on the bus: the read-back budget, and never above
    the part's own maximum."""
    return min(MCP4351.spi.max_sclk, 1.0 / (2 * pot_read_half_period(n_chips)))


def pot_sclk_divisor(clk_hz, n_chips):
    """System clocks per potentiometer SCLK half period so that SCLK <= `pot_sclk_limit`."""
    return max(sclk_divisor(clk_hz, MCP4351.spi), math.ceil(clk_hz / (2 * pot_sclk_limit(n_chips))))


class Core(wiring.Component):
    def __init__(self, config, *, adc_powerup_frames=AD7928.POWERUP_DUMMIES):
        """config: `diodenet.boards.platforms.ControllerConfig`.  adc_powerup_frames: AD7928 dummy
        conversions with DIN high at start-up (the data sheet's 2; 0 only to check that the part
        models catch a controller without them)."""
        self.config = c = config
        afe = c.afe
        self.adc_powerup_frames = adc_powerup_frames
        self.n_pot_cs_bits = max(1, (afe.n_pot_chips - 1).bit_length())
        self.n_pert = len(afe.pert_dac_channels)
        self.words_per_sample = afe.n_dac_inputs + self.n_pert
        self.pot_divisor = pot_sclk_divisor(c.clk_hz, afe.n_pot_chips)
        self.pot_cs_guard = decoder_guard_cycles(c.clk_hz)
        # the capability ROM, with the perturbation channel count the sequencer really drives
        self.caps = dataclasses.replace(P.Caps.of(c), n_pert=self.n_pert)
        assert 3 + len(self.caps.pack()) <= P.MAX_REPLY - 2, "CAPS reply longer than MAX_REPLY"
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "pot_sclk": Out(1), "pot_copi": Out(1), "pot_cipo": In(1),
            "pot_cs_n": Out(1, init=1), "pot_cs_addr": Out(self.n_pot_cs_bits),
            "dac_sclk": Out(1, init=AD5628.spi.cpol), "dac_copi": Out(1),
            "dac_sync_n": Out(2, init=3), "dac_ldac_n": Out(1, init=1),
            "adc_sclk": Out(1, init=AD7928.spi.cpol), "adc_copi": Out(1), "adc_cipo": In(1),
            "adc_cs_n": Out(1, init=1),
            # observability (tests, duty measurement)
            "adc_busy": Out(1), "seq_busy": Out(1), "rx_errors": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        c, afe = self.config, self.config.afe
        clk = c.clk_hz

        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=c.rx_fifo_depth)
        m.submodules.receiver = rcv = FrameReceiver(P.MAX_REQUEST)
        m.submodules.controller = ctl = Controller(
            n_pot_chips=afe.n_pot_chips, n_dacs=2, n_inputs=afe.n_dac_inputs, n_pert=self.n_pert,
            n_adc=afe.n_adc, sample_depth=c.sample_depth, hello=P.HELLO_BYTES,
            caps=self.caps.pack(), adc_powerup_frames=self.adc_powerup_frames)
        m.submodules.sequencer = seq = Sequencer(
            n_inputs=afe.n_dac_inputs, n_adc=afe.n_adc, pert_channels=afe.pert_dac_channels,
            sample_depth=c.sample_depth)
        m.submodules.res_fifo = res_fifo = fifo.SyncFIFOBuffered(width=16, depth=c.result_fifo_depth)
        m.submodules.framer = framer = ResultFramer(afe.n_adc, c.result_fifo_depth)
        m.submodules.arbiter = arb = FrameArbiter()
        m.submodules.sender = snd = FrameSender(P.MAX_REPLY)
        # sample s: words s*W .. s*W+W-1, W = n_dac_inputs + n_pert (inputs, then perturbed codes)
        m.submodules.samples = samples = memory.Memory(
            shape=16, depth=c.sample_depth * self.words_per_sample, init=[])
        s_rd, s_wr = samples.read_port(), samples.write_port()

        # SCLK slow enough to read SDO back over the shared CIPO line; the decoder address settles
        # before /E0 falls and holds after it rises (see the timing notes above)
        pot = SPIMaster(MCP4351.spi, divisor=self.pot_divisor, n_cs=afe.n_pot_chips,
                        cs_idle=cs_idle_cycles(clk, MCP4351.spi),
                        cs_setup=self.pot_cs_guard, cs_hold=self.pot_cs_guard)
        dac = SPIMaster(AD5628.spi, divisor=sclk_divisor(clk, AD5628.spi), n_cs=2,
                        cs_idle=cs_idle_cycles(clk, AD5628.spi))
        adc = SPIMaster(AD7928.spi, divisor=sclk_divisor(clk, AD7928.spi), n_cs=1,
                        cs_idle=cs_idle_cycles(clk, AD7928.spi), wdata_init=ADC_POWERUP_WORD)
        m.submodules.pot_spi, m.submodules.dac_spi, m.submodules.adc_spi = pot, dac, adc
        # DAC and ADC buses: the sequencer while a batch runs, else the controller
        m.submodules.dac_share = dac_share = SPIShare(AD5628.spi.width, 2)
        m.submodules.adc_share = adc_share = SPIShare(AD7928.spi.width, b_init=ADC_POWERUP_WORD)

        # host link: bytes -> frames -> controller -> replies (and results) -> frames -> bytes
        wiring.connect(m, wiring.flipped(self.rx), rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, rcv.rx)
        wiring.connect(m, rcv.frame, ctl.frame)
        wiring.connect(m, ctl.reply, arb.a)
        wiring.connect(m, framer.body, arb.b)
        wiring.connect(m, arb.out, snd.body)
        wiring.connect(m, snd.tx, wiring.flipped(self.tx))

        # the controller runs batches on the sequencer out of the sample memory it fills
        wiring.connect(m, ctl.seq, seq.ctrl)
        wiring.connect(m, ctl.sample, s_wr)
        wiring.connect(m, seq.sample, s_rd)

        # results path (the sequencer checks the FIFO's room before a phase, not `ready`)
        m.d.comb += [
            res_fifo.w_data.eq(seq.results_data), res_fifo.w_en.eq(seq.results_valid),
            seq.results_room.eq(c.result_fifo_depth - res_fifo.level),
            framer.level.eq(res_fifo.level), framer.batch_last.eq(ctl.batch_last),
        ]
        wiring.connect(m, res_fifo.r_stream, framer.words)

        # SPI buses: the potentiometers are the controller's alone
        wiring.connect(m, ctl.pot, pot.ctrl)
        m.d.comb += [dac_share.select.eq(seq.ctrl.busy), adc_share.select.eq(seq.ctrl.busy)]
        wiring.connect(m, seq.dac, dac_share.a)
        wiring.connect(m, ctl.dac, dac_share.b)
        wiring.connect(m, dac_share.out, dac.ctrl)
        wiring.connect(m, seq.adc, adc_share.a)
        wiring.connect(m, ctl.adc, adc_share.b)
        wiring.connect(m, adc_share.out, adc.ctrl)

        # pins: decoder address and enable for the potentiometers, one SYNC per DAC, LDAC
        m.d.comb += [
            self.pot_sclk.eq(pot.sclk), self.pot_copi.eq(pot.copi), pot.cipo.eq(self.pot_cipo),
            self.pot_cs_n.eq(~pot.cs_active), self.pot_cs_addr.eq(pot.cs_index),
            self.dac_sclk.eq(dac.sclk), self.dac_copi.eq(dac.copi),
            self.dac_sync_n.eq(~(dac.cs_active << dac.cs_index)[:2]),
            self.dac_ldac_n.eq(~seq.ldac),
            self.adc_sclk.eq(adc.sclk), self.adc_copi.eq(adc.copi), adc.cipo.eq(self.adc_cipo),
            self.adc_cs_n.eq(~adc.cs_active),
            self.adc_busy.eq(~adc.ctrl.ready | adc.ctrl.start), self.seq_busy.eq(seq.ctrl.busy),
            self.rx_errors.eq(ctl.rx_errors),
        ]
        return m
