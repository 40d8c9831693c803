"""8N1 UART receiver and transmitter (the FTDI serial port of the dev board)."""

from amaranth import Module, Signal, Cat
from amaranth.lib import wiring, stream
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


class UARTRx(wiring.Component):
    """Receives 8N1 bytes on `rx`; each good byte appears once on `data` (valid for one cycle, no
    back-pressure -- put a FIFO behind it).  A byte whose stop bit is low is dropped and counted as a
    framing error (`error` pulses)."""

    rx: In(1, init=1)
    data: Out(stream.Signature(8, always_ready=True))
    error: Out(1)

    def __init__(self, divisor):
        if divisor < 4:
            raise ValueError("UART divisor must be >= 4 clocks per bit")
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bits = Signal(range(9))
        shreg = Signal(8)
        m.d.sync += [self.data.valid.eq(0), self.error.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # first data bit centre is 1.5 bit times after the start edge
                    m.d.sync += [timer.eq(self.divisor * 3 // 2 - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), shreg.eq(Cat(shreg[1:], rx)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.error.eq(1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):          # wait for the line to return high
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Sends each byte accepted on `data` as 8N1 on `tx`."""

    tx: Out(1, init=1)
    data: In(stream.Signature(8))

    def __init__(self, divisor):
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(range(12))
        shreg = Signal(10)
        m.d.comb += self.data.ready.eq(bits == 0)
        with m.If(bits == 0):
            with m.If(self.data.valid):
                # start bit, 8 data bits LSB first, stop bit
                m.d.sync += [shreg.eq((self.data.payload << 1) | (1 << 9)), bits.eq(11),
                             timer.eq(0)]
        with m.Else():
            with m.If(timer == 0):
                # the 11th step only lets the stop bit last its full period
                m.d.sync += [self.tx.eq(shreg[0]), shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
