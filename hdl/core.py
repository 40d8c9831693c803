"""The controller core: host link + command processor + sequencer + SPI masters, on byte streams.

Board independent: `rx`/`tx` are byte streams (the UART sits outside), the part buses are plain pin
signals.  `diodenet.hdl.top` puts it on a board; the tests drive it at frame level.
"""

from amaranth import Module, Signal, Mux
from amaranth.lib import wiring, stream, memory, fifo
from amaranth.lib.wiring import In, Out

from . import protocol as P
from .controller import Controller
from .link import FrameReceiver, FrameSender
from .results import FrameArbiter, ResultFramer
from .sequencer import Sequencer
from .spi import SPIMaster, sclk_divisor, cs_idle_cycles
from ..boards.parts import MCP4351, AD5628, AD7928


class Core(wiring.Component):
    def __init__(self, config):
        """config: `diodenet.boards.afe.ControllerConfig`."""
        self.config = c = config
        afe = c.afe
        self.n_pot_cs_bits = max(1, (afe.n_pot_chips - 1).bit_length())
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
            n_pot_chips=afe.n_pot_chips, n_dacs=2, n_inputs=afe.n_dac_inputs, n_adc=afe.n_adc,
            sample_depth=c.sample_depth, hello=c.hello_bytes(), caps=c.caps().pack())
        m.submodules.sequencer = seq = Sequencer(
            n_inputs=afe.n_dac_inputs, n_adc=afe.n_adc, pert_channels=afe.pert_dac_channels,
            sample_depth=c.sample_depth)
        m.submodules.res_fifo = res_fifo = fifo.SyncFIFOBuffered(width=16, depth=c.result_fifo_depth)
        m.submodules.framer = framer = ResultFramer(afe.n_adc, c.result_fifo_depth)
        m.submodules.arbiter = arb = FrameArbiter()
        m.submodules.sender = snd = FrameSender(P.MAX_REPLY)
        m.submodules.samples = samples = memory.Memory(
            shape=16, depth=c.sample_depth * afe.n_dac_inputs, init=[])
        s_rd, s_wr = samples.read_port(), samples.write_port()

        pot = SPIMaster(MCP4351.spi, divisor=sclk_divisor(clk, MCP4351.spi),
                        n_cs=afe.n_pot_chips, cs_idle=cs_idle_cycles(clk, MCP4351.spi))
        dac = SPIMaster(AD5628.spi, divisor=sclk_divisor(clk, AD5628.spi), n_cs=2,
                        cs_idle=cs_idle_cycles(clk, AD5628.spi))
        adc = SPIMaster(AD7928.spi, divisor=sclk_divisor(clk, AD7928.spi), n_cs=1,
                        cs_idle=cs_idle_cycles(clk, AD7928.spi))
        m.submodules.pot_spi, m.submodules.dac_spi, m.submodules.adc_spi = pot, dac, adc

        # host link
        wiring.connect(m, wiring.flipped(self.rx), rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, rcv.rx)
        m.d.comb += [
            ctl.frame_valid.eq(rcv.frame_valid), ctl.frame_status.eq(rcv.frame_status),
            ctl.frame_len.eq(rcv.frame_len), rcv.frame_ack.eq(ctl.frame_ack),
            rcv.rd_addr.eq(ctl.rd_addr), ctl.rd_data.eq(rcv.rd_data),
        ]
        wiring.connect(m, ctl.reply, arb.a)
        wiring.connect(m, framer.body, arb.b)
        wiring.connect(m, arb.out, snd.body)
        wiring.connect(m, snd.tx, wiring.flipped(self.tx))

        # results path
        m.d.comb += [
            res_fifo.w_data.eq(seq.results_data), res_fifo.w_en.eq(seq.results_valid),
            seq.results_room.eq(c.result_fifo_depth - res_fifo.level),
            framer.level.eq(res_fifo.level), framer.batch_last.eq(ctl.batch_last),
        ]
        wiring.connect(m, res_fifo.r_stream, framer.words)

        # sample memory: controller writes, sequencer reads
        m.d.comb += [
            s_wr.addr.eq(ctl.sample_waddr), s_wr.data.eq(ctl.sample_wdata), s_wr.en.eq(ctl.sample_we),
            s_rd.addr.eq(seq.sample_addr), seq.sample_data.eq(s_rd.data),
        ]

        # sequencer configuration
        m.d.comb += [
            seq.start.eq(ctl.seq_start), seq.abort.eq(ctl.seq_abort), seq.first.eq(ctl.seq_first),
            seq.count.eq(ctl.seq_count), seq.settle.eq(ctl.seq_settle),
            seq.oversample_log2.eq(ctl.seq_oversample_log2),
            ctl.seq_busy.eq(seq.busy), ctl.seq_samples_done.eq(seq.samples_done),
            *(seq.pert_forward[i].eq(ctl.seq_pert_forward[i]) for i in range(2)),
            *(seq.pert_perturbed[i].eq(ctl.seq_pert_perturbed[i]) for i in range(2)),
        ]

        # potentiometer bus: controller only
        m.d.comb += [
            pot.start.eq(ctl.pot_start), pot.wdata.eq(ctl.pot_wdata), pot.cs.eq(ctl.pot_cs),
            ctl.pot_ready.eq(pot.ready), ctl.pot_done.eq(pot.done), ctl.pot_rdata.eq(pot.rdata),
            self.pot_sclk.eq(pot.sclk), self.pot_copi.eq(pot.copi), pot.cipo.eq(self.pot_cipo),
            self.pot_cs_n.eq(~pot.cs_active), self.pot_cs_addr.eq(pot.cs_index),
        ]
        # DAC and ADC buses: the sequencer while a batch runs, else the controller
        busy = seq.busy
        m.d.comb += [
            dac.start.eq(Mux(busy, seq.dac_start, ctl.dac_start)),
            dac.wdata.eq(Mux(busy, seq.dac_wdata, ctl.dac_wdata)),
            dac.cs.eq(Mux(busy, seq.dac_cs, ctl.dac_cs)),
            seq.dac_ready.eq(dac.ready), seq.dac_done.eq(dac.done),
            ctl.dac_ready.eq(dac.ready & ~busy), ctl.dac_done.eq(dac.done),
            self.dac_sclk.eq(dac.sclk), self.dac_copi.eq(dac.copi),
            self.dac_sync_n.eq(~(dac.cs_active << dac.cs_index)[:2]),
            self.dac_ldac_n.eq(~seq.ldac),
            adc.start.eq(Mux(busy, seq.adc_start, ctl.adc_start)),
            adc.wdata.eq(Mux(busy, seq.adc_wdata, ctl.adc_wdata)),
            seq.adc_ready.eq(adc.ready), seq.adc_done.eq(adc.done), seq.adc_rdata.eq(adc.rdata),
            ctl.adc_ready.eq(adc.ready & ~busy), ctl.adc_done.eq(adc.done),
            ctl.adc_rdata.eq(adc.rdata),
            self.adc_sclk.eq(adc.sclk), self.adc_copi.eq(adc.copi), adc.cipo.eq(self.adc_cipo),
            self.adc_cs_n.eq(~adc.cs_active),
            self.adc_busy.eq(~adc.ready | adc.start), self.seq_busy.eq(busy), self.rx_errors.eq(ctl.rx_errors),
        ]
        return m
