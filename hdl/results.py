"""Result frames and the sharing of the frame sender between replies and results."""

from amaranth import Module, Signal, Mux
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from . import protocol as P
from .framing import FrameByte


class ResultFramer(wiring.Component):
    """Turns the sequencer's words (index, n_adc forward sums, n_adc perturbed sums) into result frame
    bodies: rseq, RESULT, status, index:u16, sums:u16...  An index word with
    `protocol.INDEX_FORWARD_ONLY` set starts a forward-only sample: n_adc sums, and the flag is not
    sent.  Starts a frame only once all of a sample's words are in the FIFO (`level`, the index word
    seen at the FIFO's output), so it never holds the sender while the ADC is still converting."""

    def __init__(self, n_adc=8, fifo_depth=256):
        self.n_adc = n_adc
        super().__init__({
            "words": In(stream.Signature(16)),
            "level": In(range(fifo_depth + 1)),
            "batch_last": In(16),
            "body": Out(stream.Signature(FrameByte)),
        })

    def elaborate(self, platform):
        m = Module()
        rseq = Signal(8)
        word = Signal(16)
        k = Signal(range(2 * self.n_adc + 2))
        status = Signal(8)
        flag_bit = P.INDEX_FORWARD_ONLY.bit_length() - 1
        head_fwd = self.words.payload[flag_bit]              # the index word at the FIFO's output
        n_words = Signal(range(2 * self.n_adc + 2))          # words of the frame being sent
        with m.FSM():
            with m.State("WAIT"):
                need = Mux(head_fwd, 1 + self.n_adc, 1 + 2 * self.n_adc)
                with m.If(self.words.valid & (self.level >= need)):
                    m.d.sync += n_words.eq(need)
                    m.next = "SEQ"
            with m.State("SEQ"):
                m.d.comb += [self.body.valid.eq(1), self.body.payload.data.eq(rseq)]
                with m.If(self.body.ready):
                    m.next = "CMD"
            with m.State("CMD"):
                m.d.comb += [self.body.valid.eq(1), self.body.payload.data.eq(P.Cmd.RESULT)]
                with m.If(self.body.ready):
                    m.d.sync += k.eq(0)
                    m.next = "POP"
            with m.State("POP"):
                m.d.comb += self.words.ready.eq(1)
                with m.If(self.words.valid):
                    m.d.sync += word.eq(self.words.payload)
                    with m.If(k == 0):
                        index = self.words.payload[:flag_bit]
                        m.d.sync += [word.eq(index),
                                     status.eq(Mux(index == self.batch_last, P.RESULT_LAST, 0))]
                        m.next = "STATUS"
                    with m.Else():
                        m.next = "HI"
            with m.State("STATUS"):
                m.d.comb += [self.body.valid.eq(1), self.body.payload.data.eq(status)]
                with m.If(self.body.ready):
                    m.next = "HI"
            with m.State("HI"):
                m.d.comb += [self.body.valid.eq(1), self.body.payload.data.eq(word[8:])]
                with m.If(self.body.ready):
                    m.next = "LO"
            with m.State("LO"):
                last = k == n_words - 1
                m.d.comb += [self.body.valid.eq(1), self.body.payload.data.eq(word[:8]),
                             self.body.payload.last.eq(last)]
                with m.If(self.body.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(last):
                        m.d.sync += rseq.eq(rseq + 1)
                        m.next = "WAIT"
                    with m.Else():
                        m.next = "POP"
        return m


class FrameArbiter(wiring.Component):
    """Two frame-body sources onto one sender, a whole frame at a time; replies win ties."""

    a: In(stream.Signature(FrameByte))      # replies
    b: In(stream.Signature(FrameByte))      # results
    out: Out(stream.Signature(FrameByte))

    def elaborate(self, platform):
        m = Module()
        owner = Signal()        # 0: a, 1: b
        locked = Signal()
        sel = Mux(locked, owner, ~self.a.valid & self.b.valid)
        with m.If(sel):
            m.d.comb += [self.out.valid.eq(self.b.valid), self.out.payload.eq(self.b.payload),
                         self.b.ready.eq(self.out.ready)]
        with m.Else():
            m.d.comb += [self.out.valid.eq(self.a.valid), self.out.payload.eq(self.a.payload),
                         self.a.ready.eq(self.out.ready)]
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += [owner.eq(sel), locked.eq(~self.out.payload.last)]
        return m
