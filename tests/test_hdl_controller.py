"""The command processor's POT_PROGRAM (hdl/controller.py) in Amaranth's simulator: many rheostats in
one request, each written then read back by the controller, one reply; errors name the rheostat."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "hdl"))
from hdl_harness import simulate                       # noqa: E402

from diodenet.boards.platforms import ControllerConfig       # noqa: E402
from diodenet.boards.parts import MCP4351              # noqa: E402
from diodenet.hdl import protocol as P                 # noqa: E402

C, S = P.Cmd, P.Status


def test_pot_program_writes_and_verifies_every_code():
    config = ControllerConfig()
    n = config.afe.n_pot_chips * MCP4351.wipers
    first, codes = 3, [(37 * k + 5) % 257 for k in range(P.POT_PROGRAM_MAX)]
    assert first + len(codes) <= n

    async def script(host, parts, ctx):
        r = await host.request(C.POT_PROGRAM, P.pot_program_args(first, codes))
        assert (r.status, r.data) == (S.OK, b"")
        # every code landed where POT_READ finds it
        for k in (0, 1, len(codes) - 1):
            chip, wiper = divmod(first + k, MCP4351.wipers)
            r = await host.request(C.POT_READ, bytes([chip, wiper]))
            assert int.from_bytes(r.data, "big") == codes[k]
        # errors: a code past full scale stops there (ERR_ARG naming it), past the last rheostat,
        # and a body of the wrong length
        r = await host.request(C.POT_PROGRAM, P.pot_program_args(0, [1, 2, 300, 4]))
        assert (r.status, r.data[0]) == (S.ERR_ARG, 2)
        r = await host.request(C.POT_PROGRAM, P.pot_program_args(n - 1, [1, 2]))
        assert r.status == S.ERR_ARG
        r = await host.request(C.POT_PROGRAM, bytes([0, 1]))
        assert r.status == S.ERR_LENGTH
        return parts

    parts, _, _ = simulate(script)
    pot = parts["pot"]
    assert not pot.bad_frames
    # each code: one write frame then one read frame of the same wiper, in rheostat order
    writes = [(cs, addr, d) for cs, addr, d in pot.writes]
    want = [(divmod(first + k, 4)[0], MCP4351.WIPER_ADDRESS[(first + k) % 4], c) for k, c in enumerate(codes)]
    assert writes[:len(codes)] == want
    assert writes[len(codes):] == [(0, MCP4351.WIPER_ADDRESS[0], 1), (0, MCP4351.WIPER_ADDRESS[1], 2)]
    assert pot.reads[:len(codes)] == [(cs, addr) for cs, addr, _ in want]
