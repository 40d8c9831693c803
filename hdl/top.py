"""Top levels: `Top` (UART + core, every board pin a port) and `BoardTop` (Top on an Amaranth platform)."""

from amaranth import Module, Elaboratable
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .core import Core
from .uart import UARTRx, UARTTx


class Top(wiring.Component):
    """The controller with its UART: the ports are exactly the board's pins."""

    def __init__(self, config):
        self.config = config
        self.core = Core(config)
        sig = {"uart_rx": In(1, init=1), "uart_tx": Out(1, init=1)}
        for name, member in self.core.signature.members.items():
            if name in ("rx", "tx", "adc_busy", "seq_busy", "rx_errors"):
                continue
            sig[name] = member
        sig.update({"adc_busy": Out(1), "seq_busy": Out(1), "rx_errors": Out(16)})
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.submodules.uart_rx = urx = UARTRx(self.config.uart_divisor)
        m.submodules.uart_tx = utx = UARTTx(self.config.uart_divisor)
        m.d.comb += [urx.rx.eq(self.uart_rx), self.uart_tx.eq(utx.tx)]
        # the UART receiver cannot wait: core.rx is behind the core's RX FIFO, a full FIFO drops the
        # byte and the frame it belonged to then fails its CRC (and gets an error reply)
        m.d.comb += [core.rx.payload.eq(urx.data.payload), core.rx.valid.eq(urx.data.valid)]
        wiring.connect(m, core.tx, utx.data)
        for name in self.signature.members:
            if name.startswith(("pot_", "dac_", "adc_")) or name in ("seq_busy", "rx_errors"):
                if self.signature.members[name].flow == In:
                    m.d.comb += getattr(core, name).eq(getattr(self, name))
                else:
                    m.d.comb += getattr(self, name).eq(getattr(core, name))
        return m


class BoardTop(Elaboratable):
    """`Top` wired to a platform's UART and to the AFE pins added by `diodenet.boards.platforms`."""

    def __init__(self, config):
        self.config = config

    def elaborate(self, platform):
        from ..boards.platforms import AFE_SIGNALS
        m = Module()
        m.submodules.top = top = Top(self.config)
        uart = platform.request("uart", 0)
        m.d.comb += [top.uart_rx.eq(uart.rx.i), uart.tx.o.eq(top.uart_tx)]
        pins = {name: platform.request(name, 0) for name in AFE_SIGNALS}
        for name, direction in AFE_SIGNALS.items():
            if name.startswith("pot_cs_addr"):
                bit = int(name[-1])
                if bit < len(top.pot_cs_addr):
                    m.d.comb += pins[name].o.eq(top.pot_cs_addr[bit])
            elif name.startswith("dac_sync"):
                m.d.comb += pins[name].o.eq(top.dac_sync_n[int(name[8])])
            elif direction == "i":
                m.d.comb += getattr(top, name).eq(pins[name].i)
            else:
                m.d.comb += pins[name].o.eq(getattr(top, name))
        # a heartbeat on the first LED shows the bitstream runs; the second lights during a batch
        try:
            leds = [platform.request("led", i) for i in range(2)]
        except Exception:
            leds = []
        if leds:
            from amaranth import Signal
            count = Signal(24)
            m.d.sync += count.eq(count + 1)
            m.d.comb += [leds[0].o.eq(count[-1]), leds[1].o.eq(top.seq_busy)]
        return m
