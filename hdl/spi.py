"""SPI master parameterized by a part's frame format (`diodenet.boards.parts.SPIFormat`), the
interface that starts its frames (`spi_control`), and `SPIShare` (one master, two initiators)."""

import math

from amaranth import Module, Signal, Cat, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


def sclk_divisor(clk_hz, fmt):
    """System clocks per SCLK half period so that SCLK <= the part's maximum."""
    return max(1, math.ceil(clk_hz / (2 * fmt.max_sclk)))


def cs_idle_cycles(clk_hz, fmt):
    """System clocks chip select stays high between frames (>= the part's minimum, >= 1)."""
    return max(1, math.ceil(fmt.min_cs_high * clk_hz))


def spi_control(width, n_cs=1, *, wdata_init=0):
    """The initiator's side of an `SPIMaster` (`wiring.connect` it to the master's `ctrl`): when
    `ready`, a cycle with `start` runs one frame of `wdata` on chip select `cs`; `done` pulses when
    it ended, with the received bits in `rdata`.  wdata_init: the word `wdata` holds from reset."""
    return wiring.Signature({
        "start": Out(1), "wdata": Out(width, init=wdata_init), "cs": Out(range(max(2, n_cs))),
        "ready": In(1), "done": In(1), "rdata": In(width),
    })


class SPIShare(wiring.Component):
    """One SPI master shared by two initiators: `a` while `select` is high, else `b` (start, wdata
    and cs pass from the selected one).  Both see `done` and `rdata`; `a` sees `ready` as is, `b`
    only while `a` is not selected.  a_init, b_init: the words each initiator's `wdata` holds from
    reset; `out` starts with b's (select is low at reset)."""

    def __init__(self, width, n_cs=1, *, a_init=0, b_init=0):
        b = spi_control(width, n_cs, wdata_init=b_init)
        super().__init__({"select": In(1), "a": In(spi_control(width, n_cs, wdata_init=a_init)),
                          "b": In(b), "out": Out(b)})

    def elaborate(self, platform):
        m = Module()
        a, b, out, sel = self.a, self.b, self.out, self.select
        m.d.comb += [
            out.start.eq(Mux(sel, a.start, b.start)), out.wdata.eq(Mux(sel, a.wdata, b.wdata)),
            out.cs.eq(Mux(sel, a.cs, b.cs)),
            a.ready.eq(out.ready), b.ready.eq(out.ready & ~sel),
            a.done.eq(out.done), b.done.eq(out.done), a.rdata.eq(out.rdata), b.rdata.eq(out.rdata),
        ]
        return m


class SPIMaster(wiring.Component):
    """One SPI frame of `fmt.width` bits per `start`, in the part's mode and bit order.

    Control (`ctrl`, a `spi_control` interface): when `ready`, a cycle with `start` latches `wdata`
    and `cs` (which chip select) and runs a frame; `done` pulses for one cycle when chip select has
    been released, with the received bits in `rdata` (kept until the next frame ends).  `ready`
    returns after the part's minimum chip-select high time, so frames can run back to back.

    Pins: `sclk`, `copi`, `cipo`, and `cs_active` + `cs_index`; the board maps those onto one-hot
    active-low selects or onto a decoder's address lines.

    Decoded chip selects (`cs_setup`, `cs_hold`, in system clocks): when `cs_index` drives a
    decoder's address inputs and `cs_active` its enable, the address must settle through the decoder
    before the enable asserts and stay put until the enable has propagated after release, or the
    decoder briefly selects another chip.  `cs_index` changes at least `cs_setup` clocks before
    `cs_active` rises and at least `cs_hold` clocks after it falls (never while it is high).

    Timing (div = system clocks per SCLK half period): chip select asserts, one half period later the
    leading SCLK edge, 2*width edges in all, one half period of hold, chip select releases.  With
    cpha = 0 the first bit is on COPI when chip select asserts and the part's bit is sampled at each
    leading edge; with cpha = 1 COPI changes at leading edges and CIPO is sampled at trailing edges.
    CIPO is sampled at the system clock that moves SCLK, i.e. just before the edge.
    """

    def __init__(self, fmt, *, divisor=1, n_cs=1, cs_idle=1, cs_setup=0, cs_hold=0, wdata_init=0):
        self.fmt = fmt
        self.divisor = divisor
        self.n_cs = n_cs
        self.cs_idle = cs_idle
        self.cs_setup = cs_setup
        # chip select stays released for max(cs_idle, cs_hold) clocks: the next frame may change
        # the address only after that
        self.cs_gap = max(1, cs_idle, cs_hold)
        super().__init__({
            "ctrl": In(spi_control(fmt.width, n_cs, wdata_init=wdata_init)),
            "sclk": Out(1, init=fmt.cpol),
            "copi": Out(1),
            "cipo": In(1),
            "cs_active": Out(1),
            "cs_index": Out(range(max(2, n_cs))),
        })

    def elaborate(self, platform):
        m = Module()
        fmt, w = self.fmt, self.fmt.width
        shreg = Signal(w)
        inreg = Signal(w)
        edges = Signal(range(2 * w + 1))
        timer = Signal(range(max(self.divisor, self.cs_setup) + 1))
        idle = Signal(range(self.cs_gap + 1))

        def out_bit(value):
            return value[w - 1] if fmt.msb_first else value[0]

        def shifted(value):
            return (value << 1)[:w] if fmt.msb_first else (value >> 1)

        def sampled(value):
            return Cat(self.cipo, value[:w - 1]) if fmt.msb_first else Cat(value[1:], self.cipo)

        m.d.sync += self.ctrl.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.ctrl.ready.eq(idle == 0)
                with m.If(idle != 0):
                    m.d.sync += idle.eq(idle - 1)
                with m.Elif(self.ctrl.start):
                    m.d.sync += [
                        shreg.eq(self.ctrl.wdata), self.cs_index.eq(self.ctrl.cs),
                        self.copi.eq(out_bit(self.ctrl.wdata)), edges.eq(2 * w),
                    ]
                    if self.cs_setup:
                        m.d.sync += timer.eq(self.cs_setup - 1)
                        m.next = "SETUP"
                    else:
                        m.d.sync += [self.cs_active.eq(1), timer.eq(self.divisor - 1)]
                        m.next = "SHIFT"
            with m.State("SETUP"):                  # address out, enable not yet
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [self.cs_active.eq(1), timer.eq(self.divisor - 1)]
                    m.next = "SHIFT"
            with m.State("SHIFT"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), edges.eq(edges - 1)]
                    leading = edges[0] == 0          # edges counts down from 2w: even = leading
                    with m.If(leading):
                        m.d.sync += self.sclk.eq(~fmt.cpol & 1)
                        if fmt.cpha == 0:
                            m.d.sync += inreg.eq(sampled(inreg))
                        else:
                            m.d.sync += [self.copi.eq(out_bit(shreg)), shreg.eq(shifted(shreg))]
                    with m.Else():
                        m.d.sync += self.sclk.eq(fmt.cpol)
                        if fmt.cpha == 0:
                            m.d.sync += [shreg.eq(shifted(shreg)),
                                         self.copi.eq(out_bit(shifted(shreg)))]
                        else:
                            m.d.sync += inreg.eq(sampled(inreg))
                        with m.If(edges == 1):
                            m.next = "HOLD"
            with m.State("HOLD"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [self.cs_active.eq(0), self.ctrl.done.eq(1), self.ctrl.rdata.eq(inreg),
                                 self.copi.eq(0), idle.eq(self.cs_gap - 1)]
                    m.next = "IDLE"
        return m
