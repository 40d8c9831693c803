"""CRC-16/CCITT-FALSE, one byte per clock (polynomial 0x1021, init 0xFFFF, MSB first, no xorout)."""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .protocol import CRC16_INIT, CRC16_POLY


def crc16_next(crc, byte):
    """Amaranth expression: `crc` advanced by one byte (8 unrolled shift/XOR steps)."""
    value = crc ^ (byte << 8)
    for _ in range(8):
        value = ((value << 1) ^ (CRC16_POLY * value[15]))[:16]
    return value


class CRC16(wiring.Component):
    """Running CRC over a byte stream.  `clear` restarts at 0xFFFF (and wins over `valid`).

    A frame whose two trailing bytes are its own CRC (big-endian) leaves `crc == 0` (residue check).
    """

    clear: In(1)
    valid: In(1)
    data: In(8)
    crc: Out(16, init=CRC16_INIT)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.clear):
            m.d.sync += self.crc.eq(CRC16_INIT)
        with m.Elif(self.valid):
            m.d.sync += self.crc.eq(crc16_next(self.crc, self.data))
        return m
