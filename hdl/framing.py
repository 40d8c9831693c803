"""Frames on the serial byte stream: COBS decode + CRC check into a frame buffer (`FrameReceiver`),
and frame build + CRC + COBS encode (`FrameSender`).

Byte-level streams on both sides, so the same logic runs behind the UART on a board and directly
under a frame-level testbench.  Formats: `diodenet.hdl.protocol`; the CRC is `amaranth.lib.crc`'s
`Processor` built from the protocol's `crc16_parameters()` (the host computes with the same ones).
"""

from amaranth import Module, Signal, Mux
from amaranth.lib import wiring, stream, data, memory
from amaranth.lib.wiring import In, Out

from . import protocol as P


def frame_buffer(max_len):
    """A received frame handed over in its buffer (the receiver's side; its reader `In(...)`):
    `valid` with `status` (a `protocol.Status`: OK or the frame-level error) and `length` (decoded
    bytes stored, CRC included, at most `max_len`); the reader reads byte `rd_addr` at `rd_data`
    (one cycle latency) and releases the buffer with `ack`."""
    return wiring.Signature({
        "valid": Out(1), "status": Out(8), "length": Out(range(max_len + 1)),
        "ack": In(1), "rd_addr": In(range(max_len)), "rd_data": Out(8),
    })


class FrameReceiver(wiring.Component):
    """COBS-decodes bytes from `rx` into a buffer, checks length and CRC, and hands over one frame
    on `frame` (a `frame_buffer`) when a delimiter ends a non-empty one.  `rx` is not accepted
    until the reader acks (back-pressure).  Bytes beyond `max_len` are counted but not stored, so
    an endless frame cannot overrun anything.
    """

    def __init__(self, max_len=P.MAX_REQUEST):
        self.max_len = max_len
        super().__init__({"rx": In(stream.Signature(8)), "frame": Out(frame_buffer(max_len))})

    def elaborate(self, platform):
        m = Module()
        n = self.max_len
        m.submodules.buf = buf = memory.Memory(shape=8, depth=n, init=[])
        wr = buf.write_port()
        rd = buf.read_port()
        m.submodules.crc = crc = P.crc16_parameters().create()
        m.d.comb += [rd.addr.eq(self.frame.rd_addr), self.frame.rd_data.eq(rd.data)]

        count = Signal(range(n + 2))      # decoded bytes; n + 1 means "too long"
        remaining = Signal(8)             # bytes left in the current COBS block
        code = Signal(8)                  # code byte of the current block
        started = Signal()
        store = Signal()
        store_byte = Signal(8)

        m.d.comb += [wr.addr.eq(count), wr.data.eq(store_byte),
                     wr.en.eq(store & (count < n)),
                     crc.data.eq(store_byte), crc.valid.eq(store)]
        with m.If(store & (count <= n)):
            m.d.sync += count.eq(count + 1)

        with m.FSM():
            with m.State("RECEIVE"):
                m.d.comb += self.rx.ready.eq(1)
                with m.If(self.rx.valid):
                    b = self.rx.payload
                    with m.If(b == 0):
                        with m.If(started):
                            with m.If(remaining != 0):
                                m.d.sync += self.frame.status.eq(P.Status.ERR_FRAMING)
                            with m.Elif(count > n):
                                m.d.sync += self.frame.status.eq(P.Status.ERR_TOO_LONG)
                            with m.Elif(count < 4):
                                m.d.sync += self.frame.status.eq(P.Status.ERR_TOO_SHORT)
                            with m.Elif(~crc.match_detected):
                                m.d.sync += self.frame.status.eq(P.Status.ERR_CRC)
                            with m.Else():
                                m.d.sync += self.frame.status.eq(P.Status.OK)
                            m.d.sync += [self.frame.valid.eq(1),
                                         self.frame.length.eq(Mux(count > n, n, count))]
                            m.next = "HOLD"
                    with m.Elif(remaining == 0):
                        # a code byte; the block before it (if any, and not a 0xFF block) ends in a zero
                        with m.If(started & (code != 0xFF)):
                            m.d.comb += [store.eq(1), store_byte.eq(0)]
                        m.d.sync += [code.eq(b), remaining.eq(b - 1), started.eq(1)]
                    with m.Else():
                        m.d.comb += [store.eq(1), store_byte.eq(b)]
                        m.d.sync += remaining.eq(remaining - 1)
            with m.State("HOLD"):
                with m.If(self.frame.ack):
                    m.d.sync += [self.frame.valid.eq(0), count.eq(0), remaining.eq(0),
                                 started.eq(0), code.eq(0)]
                    m.d.comb += crc.start.eq(1)
                    m.next = "RECEIVE"
        return m


#: what a frame source hands to FrameSender: one body byte, `last` on the final one
FrameByte = data.StructLayout({"data": 8, "last": 1})


class FrameSender(wiring.Component):
    """Builds one frame from the body bytes on `body` (the final one flagged `last`): appends the
    CRC, COBS-encodes in place into a buffer, then sends it on `tx` followed by the 0x00 delimiter.
    Bodies must be at most `max_len - 2` bytes (so no COBS block reaches 254 bytes)."""

    body: In(stream.Signature(FrameByte))
    tx: Out(stream.Signature(8))
    busy: Out(1)

    def __init__(self, max_len=P.MAX_REPLY):
        assert max_len <= 250
        self.max_len = max_len
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        depth = self.max_len + 2          # code bytes
        m.submodules.buf = buf = memory.Memory(shape=8, depth=depth, init=[])
        wr = buf.write_port()
        rd = buf.read_port()
        m.submodules.crc = crc = P.crc16_parameters().create()

        out_ptr = Signal(range(depth + 1), init=1)
        code_ptr = Signal(range(depth))
        code = Signal(8, init=1)
        send_ptr = Signal(range(depth + 1))
        byte = Signal(8)
        put = Signal()

        # one COBS step for `byte` when `put`
        with m.If(put):
            with m.If(byte == 0):
                m.d.comb += [wr.addr.eq(code_ptr), wr.data.eq(code), wr.en.eq(1)]
                m.d.sync += [code_ptr.eq(out_ptr), out_ptr.eq(out_ptr + 1), code.eq(1)]
            with m.Else():
                m.d.comb += [wr.addr.eq(out_ptr), wr.data.eq(byte), wr.en.eq(1)]
                m.d.sync += [out_ptr.eq(out_ptr + 1), code.eq(code + 1)]

        crc_lo = Signal(8)
        m.d.comb += self.busy.eq(1)
        with m.FSM():
            with m.State("FILL"):
                m.d.comb += [self.busy.eq(0), self.body.ready.eq(1),
                             byte.eq(self.body.payload.data), put.eq(self.body.valid),
                             crc.data.eq(self.body.payload.data), crc.valid.eq(self.body.valid)]
                with m.If(self.body.valid & self.body.payload.last):
                    m.next = "CRC_HI"
            with m.State("CRC_HI"):
                m.d.comb += [byte.eq(crc.crc[8:]), put.eq(1)]
                m.d.sync += crc_lo.eq(crc.crc[:8])
                m.next = "CRC_LO"
            with m.State("CRC_LO"):
                m.d.comb += [byte.eq(crc_lo), put.eq(1)]
                m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += [wr.addr.eq(code_ptr), wr.data.eq(code), wr.en.eq(1), crc.start.eq(1)]
                m.d.sync += send_ptr.eq(0)
                m.next = "READ"
            with m.State("READ"):
                m.d.comb += rd.addr.eq(send_ptr)
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.tx.valid.eq(1),
                             self.tx.payload.eq(Mux(send_ptr == out_ptr, 0, rd.data)),
                             rd.addr.eq(send_ptr)]
                with m.If(self.tx.ready):
                    with m.If(send_ptr == out_ptr):
                        m.d.sync += [out_ptr.eq(1), code_ptr.eq(0), code.eq(1)]
                        m.next = "FILL"
                    with m.Else():
                        m.d.sync += send_ptr.eq(send_ptr + 1)
                        m.next = "READ"
        return m
