"""Measurement sequencer: forward and perturbed phases for a batch of samples, no host round trips.

Per sample s and phase (forward, then perturbed).  The sample memory holds W = n_inputs + n_pert
words per sample: s*W + i (i < n_inputs) is input DAC channel i, s*W + n_inputs + k the sample's
own perturbed-phase code for perturbation channel k (`pert_channels[k]`); the forward phase drives
the perturbation channels with `pert_forward` (the rest codes, the same for every sample).

1. pulse LDAC: every DAC output takes the value preloaded in its input register (AD5628 "LDAC" pin);
2. wait `settle` clocks;
3. convert every ADC channel 2**oversample_log2 times and push the per-channel sums to `results`;
   meanwhile, on the DAC bus, preload the next phase's codes into the DAC input registers
   (perturbed phase: sample s's perturbed codes; next forward phase: sample s+1's inputs and the
   forward perturbation codes) -- so DAC traffic never stalls the ADC.

The AD7928 pipelines its channel select: each frame's DIN chooses the channel of the *next* conversion
and DOUT carries the result of the channel chosen one frame earlier, tagged with its address.  The
sequencer selects channel 0 in a dummy frame at batch start and always ends a phase by selecting
channel 0 again.  A sum whose channel tag differs from the expected one gets bit 15 set.

A forward-only batch (`forward_only` at start, RUN_BATCH's BATCH_FORWARD_ONLY flag) measures only
the forward phase of each sample: the perturbation channels take their rest codes once, at the
batch's first preload, and each later preload writes only the next sample's inputs.

Results (16-bit words): per sample, the sample index (bit 15 = `protocol.INDEX_FORWARD_ONLY` for a
forward-only batch), then n_adc forward sums, then (unless forward-only) n_adc perturbed sums.  A phase starts only when the results FIFO has room for all its words (`results_room`), so
pushes never fail.
"""

from amaranth import Module, Signal, Mux, Cat, Const, Value
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from . import protocol as P
from .spi import spi_control
from ..boards.parts import AD5628, AD7928


def ad5628_word(command, channel, code):
    """The AD5628 frame `boards.parts.AD5628.frame(command, channel, code)` as gateware: X*4
    C3..C0 A3..A0 D11..D0 X*8, each field zero-extended to its width."""
    return (Const(command << 24, 32) | (Value.cast(channel)[:4] << 20) |
            (Value.cast(code)[:12] << 8))


def ad7928_control_word(channel):
    """The AD7928 DIN frame `boards.parts.AD7928.frame(channel)` as gateware (channel a value)."""
    return Const(AD7928.frame(0), AD7928.spi.width) | (Value.cast(channel)[:3] << (4 + AD7928.ADD_SHIFT))


def batch_control():
    """Running a batch, as the controller sees it (the sequencer's `ctrl` is its flip): `start`
    runs `count` samples from sample `first` (`forward_only`: one phase each) with the SEQ_CONFIG
    settings `settle`, `oversample_log2` and `pert_forward` (per perturbation channel; the
    protocol carries two); `abort` stops it; `busy` and `samples_done` report back."""
    return wiring.Signature({
        "start": Out(1), "abort": Out(1), "first": Out(16), "count": Out(16),
        "forward_only": Out(1),
        "settle": Out(16, init=P.SeqConfig.settle),
        "oversample_log2": Out(2, init=P.SeqConfig.oversample_log2),
        "pert_forward": Out(12, init=P.SeqConfig.pert_forward[0]).array(2),
        "busy": In(1), "samples_done": In(16),
    })


class Sequencer(wiring.Component):
    def __init__(self, *, n_inputs=8, n_adc=8, pert_channels=(1, 2), input_dac=0, pert_dac=1,
                 sample_depth=256):
        assert n_adc <= AD7928.channels and n_inputs <= AD5628.channels
        self.n_inputs = n_inputs
        self.n_adc = n_adc
        self.pert_channels = pert_channels
        self.input_dac = input_dac
        self.pert_dac = pert_dac
        self.sample_depth = sample_depth
        self.words_per_sample = n_inputs + len(pert_channels)
        addr_w = (sample_depth * self.words_per_sample - 1).bit_length()
        assert len(pert_channels) <= 2
        super().__init__({
            "ctrl": In(batch_control()),
            # sample memory read port (sync, 1 cycle)
            "sample": In(memory.ReadPort.Signature(addr_width=addr_w, shape=16)),
            # DAC bus (SPIMaster of AD5628 format, n_cs = 2) and LDAC
            "dac": Out(spi_control(AD5628.spi.width, 2)),
            "ldac": Out(1),
            # ADC bus (SPIMaster of AD7928 format)
            "adc": Out(spi_control(AD7928.spi.width)),
            # results FIFO
            "results_valid": Out(1), "results_data": Out(16),
            "results_room": In(range(1024)),
        })

    def elaborate(self, platform):
        m = Module()
        n_in, n_adc, n_p = self.n_inputs, self.n_adc, len(self.pert_channels)

        sample = Signal(16)           # sample being measured
        end = Signal(16)
        phase = Signal()              # 0 forward, 1 perturbed
        settle = Signal(16)
        aborting = Signal()
        fwd_only = Signal()           # this batch measures the forward phase only

        # ---- ADC converter: conversions k = 0 .. n_adc * 2**os - 1 of one phase ---------------------
        conv_total = Signal(range(n_adc * 8 + 1))
        issued = Signal(range(n_adc * 8 + 1))
        completed = Signal(range(n_adc * 8 + 1))
        conv_run = Signal()
        conv_go = Signal()
        dummy = Signal()              # the batch's first frame only selects channel 0
        acc = Signal(16)
        mismatch = Signal()
        os_ = self.ctrl.oversample_log2

        def channel_of(k):
            return Mux(os_ == 0, k, Mux(os_ == 1, k >> 1, Mux(os_ == 2, k >> 2, k >> 3)))[:3]

        rep_mask = Mux(os_ == 0, 0, Mux(os_ == 1, 1, Mux(os_ == 2, 3, 7)))
        next_k = issued + 1
        next_ch = Mux(next_k == conv_total, 0, channel_of(next_k))
        control = ad7928_control_word(next_ch)
        dummy_word = AD7928.frame(0)

        m.d.comb += self.adc.wdata.eq(Mux(dummy, dummy_word, control))
        with m.If(conv_go):
            m.d.sync += [conv_run.eq(1), issued.eq(0), completed.eq(0), acc.eq(0), mismatch.eq(0),
                         conv_total.eq(n_adc << os_)]
        with m.If(conv_run & (issued != conv_total) & self.adc.ready & ~dummy):
            m.d.comb += self.adc.start.eq(1)
            m.d.sync += issued.eq(issued + 1)
        with m.If(conv_run & self.adc.done & ~dummy):
            k = completed
            tag, code = self.adc.rdata[12:15], self.adc.rdata[:12]
            bad = tag != channel_of(k)
            last_rep = (k & rep_mask) == rep_mask
            with m.If(last_rep):
                m.d.comb += [self.results_valid.eq(1),
                             self.results_data.eq(Cat((acc + code)[:15], mismatch | bad))]
                m.d.sync += [acc.eq(0), mismatch.eq(0)]
            with m.Else():
                m.d.sync += [acc.eq(acc + code), mismatch.eq(mismatch | bad)]
            m.d.sync += completed.eq(completed + 1)
            with m.If(completed + 1 == conv_total):
                m.d.sync += conv_run.eq(0)

        # ---- DAC preloader: writes j = 0 .. n-1 of "input registers for the next phase" -------------
        dac_run = Signal()
        dac_go = Signal()
        dac_inputs = Signal()         # this preload includes the sample inputs (next forward phase)
        dac_pert_sel = Signal()       # 0: forward (rest) codes, 1: the sample's perturbed codes
        dac_sample = Signal(16)
        j = Signal(range(n_in + n_p + 1))
        j_end = Signal(range(n_in + n_p + 1))
        dac_wait = Signal()           # sample memory read in flight
        pert_codes = Signal(12)
        pert_ch = Signal(4)
        for i, ch in enumerate(self.pert_channels):
            with m.If(j == n_in + i):
                m.d.comb += [pert_ch.eq(ch),
                             pert_codes.eq(Mux(dac_pert_sel, self.sample.data[:12],
                                               self.ctrl.pert_forward[i]))]
        is_input = j < n_in
        m.d.comb += [
            self.sample.addr.eq(dac_sample[:max(1, (self.sample_depth - 1).bit_length())] *
                                self.words_per_sample + j),
            self.dac.cs.eq(Mux(is_input, self.input_dac, self.pert_dac)),
            self.dac.wdata.eq(Mux(is_input,
                                  ad5628_word(AD5628.CMD_WRITE_INPUT, j, self.sample.data),
                                  ad5628_word(AD5628.CMD_WRITE_INPUT, pert_ch, pert_codes))),
        ]
        with m.If(dac_go):
            m.d.sync += [dac_run.eq(1), dac_wait.eq(1)]
        with m.Elif(dac_run):
            with m.If(j == j_end):
                m.d.sync += dac_run.eq(0)
            with m.Elif(dac_wait):
                m.d.sync += dac_wait.eq(0)          # sample_data valid from the next cycle
            with m.Elif(self.dac.ready):
                m.d.comb += self.dac.start.eq(1)
                m.d.sync += [j.eq(j + 1), dac_wait.eq(1)]

        # ---- phase control ----------------------------------------------------------------------
        room_needed = Mux(phase, n_adc, n_adc + 1)
        m.d.comb += self.ctrl.busy.eq(1)
        with m.If(self.ctrl.abort):
            m.d.sync += aborting.eq(1)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.ctrl.busy.eq(0)
                with m.If(self.ctrl.start):
                    m.d.sync += [sample.eq(self.ctrl.first), end.eq(self.ctrl.first + self.ctrl.count),
                                 phase.eq(0), aborting.eq(0), self.ctrl.samples_done.eq(0),
                                 fwd_only.eq(self.ctrl.forward_only),
                                 # preload sample `first` and the forward perturbation
                                 dac_sample.eq(self.ctrl.first), j.eq(0), j_end.eq(n_in + n_p),
                                 dac_pert_sel.eq(0), dummy.eq(1)]
                    m.d.comb += dac_go.eq(1)
                    m.next = "DUMMY"
            with m.State("DUMMY"):      # select channel 0 for the first conversion
                with m.If(self.adc.ready):
                    m.d.comb += self.adc.start.eq(1)
                    m.next = "DUMMY_WAIT"
            with m.State("DUMMY_WAIT"):
                with m.If(self.adc.done):
                    m.d.sync += dummy.eq(0)
                    m.next = "WAIT"
            with m.State("WAIT"):       # previous phase's conversions and DAC preload finished
                # dac_ready: the last preload frame has been shifted out, not only started (an
                # LDAC pulse during that frame would latch the channel one phase late)
                with m.If(~conv_run & ~dac_run & ~conv_go & ~dac_go & self.dac.ready &
                          (self.results_room >= room_needed)):
                    m.d.sync += [self.ldac.eq(1), settle.eq(self.ctrl.settle)]
                    m.next = "SETTLE"
            with m.State("SETTLE"):
                m.d.sync += self.ldac.eq(0)
                last_phase = phase | fwd_only
                with m.If(settle != 0):
                    m.d.sync += settle.eq(settle - 1)
                with m.Else():
                    m.d.comb += conv_go.eq(1)
                    with m.If(~phase):
                        m.d.comb += [self.results_valid.eq(1),
                                     self.results_data.eq(Cat(sample[:15], fwd_only))]
                    with m.If(~last_phase):
                        # preload this sample's perturbed codes (sample memory) for its perturbed phase
                        m.d.sync += [j.eq(n_in), j_end.eq(n_in + n_p), dac_pert_sel.eq(1)]
                        m.d.comb += dac_go.eq(1)
                        m.d.sync += phase.eq(1)
                        m.next = "WAIT"
                    with m.Else():
                        m.d.sync += [phase.eq(0), sample.eq(sample + 1),
                                     self.ctrl.samples_done.eq(self.ctrl.samples_done + 1)]
                        with m.If((sample + 1 != end) & ~aborting & ~self.ctrl.abort):
                            # preload the next sample's inputs and the forward perturbation
                            # (forward-only: the perturbation channels still hold the rest codes)
                            m.d.sync += [dac_sample.eq(sample + 1), j.eq(0),
                                         j_end.eq(Mux(fwd_only, n_in, n_in + n_p)),
                                         dac_pert_sel.eq(0)]
                            m.d.comb += dac_go.eq(1)
                            m.next = "WAIT"
                        with m.Else():
                            m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(~conv_run & ~conv_go):
                    m.next = "IDLE"
        return m
