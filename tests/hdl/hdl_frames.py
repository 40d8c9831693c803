"""Random, truncated and corrupted frames for the robustness tests, with the replies they must get."""

import random

from diodenet.hdl import protocol as P

GOOD_NO_SIDE_EFFECT = (P.Cmd.HELLO, P.Cmd.STATUS, P.Cmd.SEQ_CONFIG_READ)


def expected_replies(wire):
    """The controller's replies to `wire` (bytes, ending with 0x00) that are frame-level errors:
    list of (seq, cmd, status) for each frame the receiver sees (None status: ignored)."""
    out = []
    start = 0
    for i, b in enumerate(wire):
        if b == 0:
            status, dec = P.controller_frame_check(wire[start:i])
            start = i + 1
            if status is None:
                continue
            if status == P.Status.OK:
                out.append(("ok", dec))
            else:
                out.append((dec[0] if len(dec) >= 1 else 0, dec[1] if len(dec) >= 2 else 0, status))
    return out


def bad_frame(rng: random.Random, seq):
    """One bad frame (wire bytes, delimiter included) whose every piece is a frame-level error."""
    while True:
        kind = rng.randrange(6)
        good = P.request(seq, rng.choice(list(P.Cmd)[:-1]), bytes(rng.randrange(256)
                                                                  for _ in range(rng.randrange(12))))
        if kind == 0:       # random non-zero garbage
            wire = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 48))) + b"\0"
        elif kind == 1:     # truncated good frame
            cut = rng.randrange(1, len(good) - 1)
            wire = good[:cut] + b"\0"
        elif kind == 2:     # bit flips
            w = bytearray(good[:-1])
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(w))
                w[i] ^= 1 << rng.randrange(8)
            wire = bytes(w) + b"\0"
        elif kind == 3:     # random byte replaced (may be 0: splits the frame)
            w = bytearray(good[:-1])
            w[rng.randrange(len(w))] = rng.randrange(256)
            wire = bytes(w) + b"\0"
        elif kind == 4:     # too long: a valid encoding of a long body
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(P.MAX_REQUEST - 1, 80)))
            wire = P.encode_frame(body)
        else:               # a lone code byte / tiny frames
            wire = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 4))) + b"\0"
        exp = expected_replies(wire)
        if exp and all(e[0] != "ok" for e in exp):
            return wire, exp
