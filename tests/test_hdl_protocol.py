"""diodenet.hdl.protocol: CRC-16/CCITT-FALSE, COBS, frames; importable without Amaranth."""

import dataclasses
import random
import subprocess
import sys

from diodenet.hdl import protocol as P


def test_crc16_ccitt_false_check_value():
    assert P.crc16(b"123456789") == 0x29B1          # the catalogue check value of CRC-16/CCITT-FALSE
    body = b"\x01\x02hello"
    assert P.crc16(body + P.crc16(body).to_bytes(2, "big")) == 0   # residue used by the gateware


def test_cobs_round_trip_and_no_zero():
    rng = random.Random(1)
    for n in list(range(0, 10)) + [253, 254, 255, 256, 600]:
        for _ in range(20):
            data = bytes(rng.choice([0, 0, rng.randrange(256)]) for _ in range(n))
            enc = P.cobs_encode(data)
            assert 0 not in enc
            assert P.cobs_decode(enc) == data
    assert P.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"   # Cheshire & Baker example


def test_frame_round_trip_and_errors():
    wire = P.request(7, P.Cmd.POT_WRITE, b"\x01\x02\x00\x80")
    assert wire.endswith(b"\0") and wire.count(0) == 1
    assert P.decode_frame(wire) == bytes([7, P.Cmd.POT_WRITE, 1, 2, 0, 0x80])
    assert P.controller_frame_check(wire[:-1])[0] == P.Status.OK
    bad = bytearray(wire)
    bad[3] ^= 0x40
    assert P.controller_frame_check(bytes(bad[:-1]))[0] == P.Status.ERR_CRC
    assert P.controller_frame_check(wire[:2])[0] in (P.Status.ERR_FRAMING, P.Status.ERR_TOO_SHORT)
    assert P.controller_frame_check(b"")[0] is None
    long = P.encode_frame(bytes(100))
    assert P.controller_frame_check(long[:-1])[0] == P.Status.ERR_TOO_LONG


def test_payload_layouts_round_trip():
    cfg = P.SeqConfig(123, 3, (1, 2))
    assert P.SeqConfig.unpack(cfg.pack()) == cfg
    assert len(cfg.pack()) == P.ARG_LENGTH[P.Cmd.SEQ_CONFIG] == 7     # protocol 2: no pert_perturbed


def test_caps_layout_round_trip_and_size():
    """CAPS (since protocol 2) carries n_pert after n_dac_inputs; the reply fits MAX_REPLY."""
    from diodenet.boards.platforms import ControllerConfig
    assert P.PROTOCOL_VERSION == 3
    caps = dataclasses.replace(P.Caps.of(ControllerConfig()), n_pert=2)
    data = caps.pack()
    assert P.Caps.unpack(data) == caps
    assert len(data) == 50 + len(caps.part_ids)
    assert data[32] == 2 and data[31] == caps.n_dac_inputs        # n_pert right after n_dac_inputs
    assert 3 + len(data) + 2 <= P.MAX_REPLY                       # seq cmd status + data + CRC


def test_result_frames_of_both_kinds_and_batch_arguments():
    """Protocol 3: a forward-only result frame carries n_adc sums, a two-phase one 2 n_adc; RUN_BATCH
    takes a flags byte; POT_PROGRAM fits MAX_REQUEST at its largest."""
    import struct
    n = 8
    fwd, per = list(range(100, 108)), list(range(200, 208))
    two = bytes([5, P.Cmd.RESULT, P.RESULT_LAST]) + struct.pack(">17H", 9, *fwd, *per)
    one = bytes([6, P.Cmd.RESULT, 0]) + struct.pack(">9H", 9, *fwd)
    assert P.parse_result(two, n) == (5, P.RESULT_LAST, 9, fwd, per)
    assert P.parse_result(one, n) == (6, 0, 9, fwd, [])
    for bad in (one[:-2], two + b"\0\0"):
        try:
            P.parse_result(bad, n)
            raise AssertionError("a result frame of the wrong length was accepted")
        except P.FrameError:
            pass
    assert P.run_batch_args(1, 2, True) == b"\x00\x01\x00\x02\x01"
    assert P.run_batch_args(1, 2) == b"\x00\x01\x00\x02\x00"
    longest = P.request(0, P.Cmd.POT_PROGRAM, P.pot_program_args(0, [256] * P.POT_PROGRAM_MAX))
    assert len(P.decode_frame(longest)) + 2 <= P.MAX_REQUEST
    for bad in ([], [1] * (P.POT_PROGRAM_MAX + 1)):
        try:
            P.pot_program_args(0, bad)
            raise AssertionError("an impossible POT_PROGRAM was built")
        except ValueError:
            pass


def test_protocol_and_parts_import_without_amaranth():
    code = ("import sys; import diodenet.hdl, diodenet.hdl.protocol, diodenet.boards, "
            "diodenet.boards.parts, diodenet.boards.afe; "
            "assert not any(m.startswith('amaranth') for m in sys.modules), 'amaranth imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
