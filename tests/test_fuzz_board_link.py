"""Fuzzing the host side of the board link: a fake board that answers the handshake (HELLO,
CAPS) with byte-level faults -- random bytes, truncated or corrupted frames, well-framed replies
with random payloads (a valid CRC around nonsense), capability blocks with random fields.  The
driver must return a front-end or raise a named `BoardError` (never another exception, never
hang); through the command line the same ends as ``diodenet train: error: …``.

Fixed seed, small budget; ``DIODENET_FUZZ_LONG=1`` for 25× as many cases."""

import os
import socket
import struct
import threading

import numpy as np
import pytest

from diodenet.boards.platforms import BOARDS, config_for
from diodenet.hdl import protocol as P
from diodenet.host.driver.board_driver import board_frontend
from diodenet.host.driver.client import BoardError

LONG = os.environ.get("DIODENET_FUZZ_LONG", "") not in ("", "0")
SEED = int(os.environ.get("DIODENET_FUZZ_SEED", "0"))
CONFIG = config_for(next(iter(BOARDS)))


class FakeBoard:
    """A TCP 'board' answering each request frame with reply(seq, cmd) -> wire bytes."""

    def __init__(self, reply):
        self.reply = reply
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            rest = b""
            while True:
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                frames, rest = P.split_frames(rest + data)
                for f in frames:
                    try:
                        body = P.decode_frame(f)
                    except P.FrameError:
                        continue
                    try:
                        conn.sendall(self.reply(body[0], body[1]))
                    except OSError:
                        return

    def close(self):
        self.server.close()
        self.thread.join(timeout=5)


def honest(seq, cmd):
    data = P.HELLO_BYTES if cmd == P.Cmd.HELLO else P.Caps.of(CONFIG).pack()
    return P.encode_frame(bytes([seq, cmd, P.Status.OK]) + data)


def faulty(rng):
    """A reply function with one kind of fault, drawn at random."""
    kind = int(rng.integers(6))

    def reply(seq, cmd):
        good = honest(seq, cmd)
        body = P.decode_frame(good)
        if kind == 0:                                   # noise
            return rng.bytes(int(rng.integers(0, 80)))
        if kind == 1:                                   # flipped bytes on the wire
            b = bytearray(good)
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
            return bytes(b)
        if kind == 2:                                   # truncated reply data, valid CRC
            return P.encode_frame(body[:int(rng.integers(0, len(body)))])
        if kind == 3:                                   # random data, valid CRC
            return P.encode_frame(body[:3] + rng.bytes(int(rng.integers(0, 80))))
        if kind == 4 and cmd == P.Cmd.CAPS:              # random capability fields
            n = struct.calcsize(P.Caps.LAYOUT)
            data = bytearray(body[3:])
            for _ in range(int(rng.integers(1, 6))):
                data[int(rng.integers(n))] = int(rng.integers(256))
            return P.encode_frame(body[:3] + bytes(data))
        if kind == 5:                                   # wrong status / seq / cmd
            b = bytearray(body)
            b[int(rng.integers(3))] = int(rng.integers(256))
            return P.encode_frame(bytes(b))
        return good
    return reply


def test_honest_fake_board_gives_its_frontend():
    board = FakeBoard(honest)
    try:
        afe = board_frontend(board.url, 2, timeout=0.3, retries=1)
    finally:
        board.close()
    assert afe.n_adc == CONFIG.afe.n_adc and afe.n_inputs == CONFIG.afe.n_inputs


def test_fuzz_handshake_faults():
    rng = np.random.default_rng([SEED, 21])
    n = 40 * (25 if LONG else 1)
    outcomes = {"front-end": 0, "BoardError": 0}
    for _ in range(n):
        board = FakeBoard(faulty(rng))
        try:
            afe = board_frontend(board.url, 2, timeout=0.15, retries=1)
            assert afe.n_adc > 2 and afe.n_inputs >= 1
            outcomes["front-end"] += 1
        except BoardError as exc:
            assert str(exc) and board.url in str(exc), exc
            outcomes["BoardError"] += 1
        finally:
            board.close()
    print(f"fuzz board link handshake {n:5d} cases, all holding: {outcomes}")


def test_cli_reports_a_garbled_board(capsys, tmp_path):
    from diodenet.host.cli import main

    def garbled(seq, cmd):
        body = P.decode_frame(honest(seq, cmd))
        return P.encode_frame(body[:3] + (body[3:10] if cmd == P.Cmd.CAPS else body[3:]))
    board = FakeBoard(garbled)
    try:
        code = main(["train", "--dataset", "xor", "--backend", "board", "--port", board.url, "-o",
                     str(tmp_path), "--quiet"])
    finally:
        board.close()
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("diodenet train: error:") and "unexpected" not in err, err
