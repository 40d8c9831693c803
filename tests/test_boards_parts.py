"""Part frame formats (pure Python) against the datasheets, and the rheostat map."""

import pytest

from diodenet.boards.afe import AFE
from diodenet.boards.platforms import config_for
from diodenet.boards.parts import MCP4351, AD5628, AD7928, Rheostat


def test_mcp4351_command_format():
    # DS22060 section 7.1, Figure 7-1: AD3:AD0 C1:C0 D9:D8 | D7:D0; wiper 2 lives at 06h (DS22242 Table 4-1)
    assert MCP4351.write_wiper(2, 0x100) == 0b0110_00_01_0000_0000
    assert MCP4351.read_wiper(3) == 0b0111_11_11_1111_1111
    with pytest.raises(ValueError):
        MCP4351.write_wiper(0, 257)
    # section 7.6, Figure 7-4: SDO = six 1s, CMDERR, D8:D0
    assert MCP4351.sdo_read_reply(0x1A5) == 0b111111_1_110100101
    assert MCP4351.parse_sdo(MCP4351.sdo_read_reply(0x1A5)) == (True, 0x1A5)


def test_ad5628_input_register_format():
    # Figure 59: X X X X C3..C0 A3..A0 D11..D0 X*8
    w = AD5628.frame(AD5628.CMD_WRITE_UPDATE, 5, 0xABC)
    assert w == 0x0_3_5_ABC_00
    assert AD5628.parse(w) == (3, 5, 0xABC)
    assert AD5628.internal_reference_on() == 0x0800_0001


def test_ad7928_control_and_dout():
    # Table 7: WRITE SEQ X ADD2 ADD1 ADD0 PM1 PM0 SHADOW X RANGE CODING, then 4 don't-care bits
    f = AD7928.frame(6)
    assert f >> 4 == 0b1_0_0_110_11_0_0_1_1
    assert AD7928.parse_din(f)["channel"] == 6
    assert AD7928.dout(5, 0x123) == 0b0_101_0001_0010_0011     # leading zero, ADD2..ADD0, D11..D0
    assert AD7928.parse_dout(AD7928.dout(5, 0x123)) == (5, 0x123)


def test_rheostat_map():
    r = Rheostat.of(MCP4351)
    r_w = MCP4351.r_w           # at the board's 3.3 V supply, inside the datasheet's spread
    assert MCP4351.r_w_range[0] <= r_w <= MCP4351.r_w_range[1]
    assert r.resistance(0) == pytest.approx(r_w)
    assert r.resistance(256) == pytest.approx(r_w + 10_000.0)
    assert r.resistance(128) == pytest.approx(r_w + 5_000.0)
    for code in (0, 1, 17, 128, 255, 256):
        assert r.code_for_conductance(r.conductance(code)) == code
    assert r.g_min < r.g_max


def test_default_afe():
    afe = AFE().check()
    assert afe.n_neurons == 8 and afe.n_pots == 76 and afe.n_pot_chips == 19
    assert afe.n_dac_inputs == 8 and afe.n_adc == 8
    assert config_for("icebreaker").uart_divisor == 12


def test_converters():
    """AD5628 "D/A Section": V_OUT = V_REFIN * D / 2**12; AD7928 "ADC Transfer Function": 1 LSB =
    REF_IN / 4096 (RANGE = 1) or 2 x REF_IN / 4096 (RANGE = 0), saturating at the end codes."""
    import numpy as np
    from diodenet.boards.parts import PartRangeError
    dac = AD5628.converter(2.5)
    assert dac.lsb == 2.5 / 4096 and dac.code_max == 4095 and dac.v_max == 2.5 - 2.5 / 4096
    v = np.array([0.0, 1.0, 1.25, 2.5 - 2.5 / 4096])
    assert dac.codes(v).tolist() == [0, 1638, 2048, 4095]
    assert np.allclose(dac.volts(dac.codes(v)), [0.0, 1638 * 2.5 / 4096, 1.25, v[-1]])
    with pytest.raises(PartRangeError, match="AD5628"):
        dac.codes([2.5])
    assert dac.codes([2.5, -1.0], clip=True).tolist() == [4095, 0]
    assert dac.nearest([2.5]).tolist() == [4096.0] and not dac.in_range([4096]).any()
    mid = dac.referred(1.25)                      # model voltages around V_MID
    assert (mid.lo, mid.hi) == (-1.25, 1.25) and mid.codes([0.0]).tolist() == [2048]
    adc = AD7928.converter(2.5)
    assert adc.codes([-0.3, 1.0, 9.0]).tolist() == [0, 1638, 4095]
    assert AD7928.converter(2.5, range_ref=False).lsb == 5.0 / 4096
    afe = AFE()
    assert afe.dac_lsb == afe.dac_converter.lsb == afe.v_ref / 4096
    assert afe.line_range == (-afe.v_mid, afe.v_ref - afe.v_ref / 4096 - afe.v_mid)


def test_rheostat_arrays_and_deviation():
    import numpy as np
    r = AFE().rheostat
    codes = np.array([0, 128, 256])
    assert np.allclose(r.resistance(codes), [r.resistance(int(c)) for c in codes])
    d = r.deviated(1.1, 90.0)
    assert d.resistance(128) == pytest.approx(90.0 + 128 / 256 * r.r_ab * 1.1)
    with pytest.raises(ValueError):
        r.resistance(np.array([0, 257]))
