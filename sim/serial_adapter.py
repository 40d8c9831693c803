"""The co-simulated board's top level: the controller (`hdl.top.Top`) with the dev board's USB-UART
adapter (the FTDI chip between the host's USB and the FPGA's UART pins) modelled at byte level.

The controller's `uart_rx`/`uart_tx` pins still carry real 8N1 waveforms at the controller's bit
time: the adapter's side of the line is an 8N1 transmitter with a 16-byte FIFO and an 8N1
receiver (the UART of `hdl.uart`, the same timing as the controller's own).  The testbench talks
to the adapter a byte at a time (`host_tx_*`, `host_rx_*`) instead of a bit at a time: one Python
callback per byte on the link instead of ten (docs/cosim.md).  Every other port is the
controller's own pin, under its own name.
"""

from amaranth import Module, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.top import Top
from ..hdl.uart import UARTRx, UARTTx

__all__ = ["CosimTop", "ADAPTER_FIFO"]

ADAPTER_FIFO = 16      # bytes the adapter holds for the line (the FT2232H holds more; 16 is enough)


class CosimTop(wiring.Component):
    """`Top` + the USB-UART adapter.  host_tx_toggle: flip it (with host_tx_data set) to queue a
    byte for the controller; host_tx_level: bytes queued.  host_rx_count counts the bytes the
    adapter received from the controller (the last in host_rx_data); host_rx_errors counts the
    ones whose stop bit was low (dropped)."""

    def __init__(self, config):
        self.config = config
        self.top = Top(config)
        sig = {name: member for name, member in self.top.signature.members.items()
               if name not in ("uart_rx", "uart_tx")}
        sig.update({"host_tx_data": In(8), "host_tx_toggle": In(1),
                    "host_tx_level": Out(range(ADAPTER_FIFO + 1)),
                    "host_rx_data": Out(8), "host_rx_count": Out(16), "host_rx_errors": Out(16),
                    "uart_rx": Out(1, init=1), "uart_tx": Out(1, init=1)})   # the line, observed
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        div = self.config.uart_divisor
        m.submodules.top = top = self.top
        m.submodules.queue = queue = fifo.SyncFIFOBuffered(width=8, depth=ADAPTER_FIFO)
        m.submodules.tx = tx = UARTTx(div)
        m.submodules.rx = rx = UARTRx(div)
        seen = Signal()
        m.d.sync += seen.eq(self.host_tx_toggle)
        m.d.comb += [queue.w_data.eq(self.host_tx_data), queue.w_en.eq(self.host_tx_toggle != seen),
                     self.host_tx_level.eq(queue.level)]
        wiring.connect(m, queue.r_stream, tx.data)
        m.d.comb += [top.uart_rx.eq(tx.tx), rx.rx.eq(top.uart_tx),
                     self.uart_rx.eq(tx.tx), self.uart_tx.eq(top.uart_tx)]
        with m.If(rx.data.valid):
            m.d.sync += [self.host_rx_data.eq(rx.data.payload), self.host_rx_count.eq(self.host_rx_count + 1)]
        with m.If(rx.error):
            m.d.sync += self.host_rx_errors.eq(self.host_rx_errors + 1)
        for name, member in self.top.signature.members.items():
            if name in ("uart_rx", "uart_tx"):
                continue
            if member.flow == In:
                m.d.comb += getattr(top, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(top, name))
        return m
