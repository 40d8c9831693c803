"""The one table of dev boards (boards/platforms.py): pins, platforms, programmers, configs."""

import pytest

from diodenet.boards.platforms import (AFE_SIGNALS, BOARDS, ControllerConfig, board, config_for,
                                       make_platform)


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_entry(name):
    b = BOARDS[name]
    assert set(b.pins) == set(AFE_SIGNALS)                        # every AFE signal placed once
    assert len(set(b.pins.values())) == len(b.pins)               # on distinct connector pins
    platform = make_platform(name)
    assert platform.device == b.fpga                              # the table names the real FPGA
    for signal in AFE_SIGNALS:                                    # resources added, one per signal
        assert platform.lookup(signal, 0).name == signal
    assert platform.default_clk_frequency == b.clk_hz
    c = config_for(name)
    assert isinstance(c, ControllerConfig) and c.board == name and c.clk_hz == b.clk_hz


def test_unknown_board_names_the_known_ones():
    with pytest.raises(ValueError, match="icebreaker"):
        board("icestick")
