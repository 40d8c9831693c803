"""Amaranth platforms for the supported dev boards, with the AFE pins added as resources."""

from amaranth.build import Resource, Pins, Attrs

from .afe import AFE_SIGNALS, PIN_MAPS, config_for


def _platform_class(board):
    if board == "icebreaker":
        from amaranth_boards.icebreaker import ICEBreakerPlatform
        return ICEBreakerPlatform
    if board == "hx8k":
        from amaranth_boards.ice40_hx8k_b_evn import ICE40HX8KBEVNPlatform
        return ICE40HX8KBEVNPlatform
    raise ValueError(f"unknown board {board!r}; known: {', '.join(PIN_MAPS)}")


BOARD_LUTS = {"icebreaker": 5280, "hx8k": 7680}      # iCE40UP5K, iCE40HX8K logic cells


def afe_resources(board):
    pin_map = PIN_MAPS[board]
    res = []
    for name, direction in AFE_SIGNALS.items():
        conn, number, pin = pin_map[name]
        res.append(Resource(name, 0, Pins(str(pin), dir=direction, conn=(conn, number)),
                            Attrs(IO_STANDARD="SB_LVCMOS")))
    return res


def make_platform(board):
    platform = _platform_class(board)()
    platform.add_resources(afe_resources(board))
    return platform


def board_config(board):
    return config_for(board)
