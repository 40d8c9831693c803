"""The parts' frame-level behaviour (boards/part_behaviour.py) against the datasheets' rules, with
frames built by boards.parts and replies read back bit by bit as a pin-level model shifts them."""

from diodenet.boards.part_behaviour import AD5628Behaviour, AD7928Behaviour, MCP4351Behaviour
from diodenet.boards.parts import AD5628, AD7928, MCP4351


def sdo_stream(bank, chip, frame):
    """The 16 SDO bits of `frame`, each presented after the bits before it arrived (mode 0,0)."""
    word, bits = 0, []
    for i in range(16):
        bits.append(bank.sdo_bit(chip, i, word, i) if i >= 6 else bank.sdo_bit(chip, i, 0, 0))
        word = (word << 1) | (frame >> (15 - i)) & 1
    return sum(b << (15 - i) for i, b in enumerate(bits))


def test_mcp4351_write_read_back_and_full_scale():
    bank = MCP4351Behaviour(3)
    # power-on: mid-scale (DS22242 Table 4-1); a read's SDO is DS22060 Figure 7-4's reply
    # six 1s, CMDERR = 1, D8:D0 = 080h, bit by bit
    assert sdo_stream(bank, 2, MCP4351.read_wiper(1)) == 0b111111_1_010000000
    assert bank.frame(2, MCP4351.write_wiper(1, 0x0AB), 16) == (1, 0x0AB)
    assert sdo_stream(bank, 2, MCP4351.read_wiper(1)) == 0b111111_1_010101011
    assert MCP4351.parse_sdo(sdo_stream(bank, 1, MCP4351.read_wiper(1))) == (True, 0x80)
    # DS22060 7.2: D8:D0 of 100h or more is full scale
    assert bank.frame(0, MCP4351.frame(MCP4351.WIPER_ADDRESS[3], MCP4351.CMD_WRITE, 0x1FF), 16) \
        == (3, MCP4351.code_max)
    # a write's SDO: six 1s, CMDERR = 1, then 1s (Figure 7-2)
    assert sdo_stream(bank, 0, MCP4351.write_wiper(0, 5)) == 0xFFFF
    assert not bank.problems


def test_mcp4351_invalid_address_and_bad_frames():
    bank = MCP4351Behaviour(2)
    # address 0Fh is not in the memory map: CMDERR low and every following SDO bit low (7.3)
    assert sdo_stream(bank, 0, MCP4351.frame(0xF, MCP4351.CMD_READ, 0x3FF)) == 0b111111 << 10
    # a frame of the wrong length is not executed (7.3.1), a chip beyond the populated ones flagged
    assert bank.frame(0, MCP4351.write_wiper(0, 7) >> 1, 15) is None
    assert bank.frame(5, MCP4351.write_wiper(0, 7), 16) is None
    assert bank.wipers[(0, MCP4351.WIPER_ADDRESS[0])] == 0x80 and len(bank.problems) == 2


def test_ad5628_input_register_ldac_and_commands():
    bus = AD5628Behaviour(2)
    # write to input register: the output waits for /LDAC
    assert bus.frame(1, AD5628.frame(AD5628.CMD_WRITE_INPUT, 6, 0xFED), 32) == []
    assert bus.code(1, 6) == 0 and bus.input_reg[(1, 6)] == 0xFED
    bus.ldac()
    assert bus.code(1, 6) == 0xFED
    # write and update one channel; a write whose frame an LDAC pulse fell into is reported
    assert bus.frame(0, AD5628.frame(AD5628.CMD_WRITE_UPDATE, 2, 0x123), 32) == [(0, 2)]
    bus.frame(0, AD5628.frame(AD5628.CMD_WRITE_INPUT, 2, 0x456), 32, ldac_in_frame=True)
    assert bus.ldac_missed == [(0, 2, 0x456, True)] and bus.code(0, 2) == 0x123
    # 31-bit frame aborted; the internal reference is refused on this board (VREFIN driven)
    assert bus.frame(0, AD5628.frame(AD5628.CMD_WRITE_UPDATE, 3, 1), 31) == []
    bus.frame(0, AD5628.internal_reference_on(), 32)
    assert len(bus.problems) == 2 and "internal reference" in bus.problems[1]
    # software reset clears both registers of that DAC only
    bus.frame(0, AD5628.frame(AD5628.CMD_RESET, 0), 32)
    assert bus.code(0, 2) == 0 and bus.code(1, 6) == 0xFED


def test_ad7928_power_up_control_and_transfer():
    adc = AD7928Behaviour()
    # a control word before the two dummy conversions is ignored and flagged (Figure 24)
    adc.frame(AD7928.frame(5), 16)
    assert not adc.ready and adc.channel == 0 and len(adc.problems) == 1
    assert adc.dout(0x123) == 0                          # invalid data before power-up
    adc.frame(0xFFFF, 16), adc.frame(0xFFFF, 16)
    assert adc.ready
    adc.frame(AD7928.frame(5), 16)
    # DOUT: leading zero, ADD2..ADD0 = 101, D11..D0 (Figure 24)
    assert adc.channel == 5 and adc.dout(0x123) == 0b0_101_0001_0010_0011
    # straight binary over 0 .. REF_IN: code = V / (REF_IN / 4096), saturating; NaN reads 0
    lsb = 2.5 / 4096
    assert adc.code(1000.4 * lsb, 2.5) == 1000 and adc.code(3.0, 2.5) == 4095
    assert adc.code(-0.1, 2.5) == 0 and adc.code(float("nan"), 2.5) == 0
    # RANGE = 0 (0 .. 2 x REF_IN), twos complement (CODING = 0)
    adc.frame(AD7928.frame(1, range_ref=False, coding_binary=False), 16)
    assert adc.code(2.5, 2.5) == 2048 ^ 0x800 == 0
    assert len(adc.problems) == 1
