"""The host's serial framing client: stop-and-wait requests to the controller over a pyserial URL.

Every request carries a fresh sequence number; replies are matched on (seq, cmd); frames that fail
COBS/CRC are discarded (the next 0x00 resynchronizes); a request that times out or gets a
frame-level error reply (CRC, FRAMING, TOO_SHORT, TOO_LONG) is resent, up to `retries` times.
Result frames that arrive meanwhile are kept in `results`.  When retries run out a `BoardError`
names the command, the URL and every problem seen.  Wire format: `diodenet.hdl.protocol`.
"""

import struct
import time


__all__ = ["SerialClient", "BoardError", "BoardTimeout", "status_name"]


def _protocol():
    """The controller protocol (hdl/), imported when first used: the driver reaches above the host
    core only lazily (docs/layers.md)."""
    from ...hdl import protocol
    return protocol


class BoardError(RuntimeError):
    """The board did not do what was asked (after retries); the message says what and where."""


class BoardTimeout(BoardError):
    pass


def status_name(status):
    P = _protocol()
    try:
        return P.Status(status).name
    except ValueError:
        return f"status 0x{status:02x}"


class SerialClient:
    """Stop-and-wait request/reply over a pyserial port, with resynchronization and retries."""

    def __init__(self, url, *, baudrate=1_000_000, timeout=2.0, retries=4):
        import serial
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        try:
            self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.02)
        except Exception as exc:  # pyserial raises SerialException / ValueError / OSError
            raise BoardError(f"cannot open the board at {url}: {exc}") from None
        self.seq = 0
        self.buf = bytearray()
        self.results = []           # RESULT bodies received
        self.stats = {"requests": 0, "retries": 0, "timeouts": 0, "bad_frames": 0,
                      "stale_replies": 0, "error_replies": 0}

    def close(self):
        try:
            self.port.close()
        except Exception:
            pass

    def handshake(self):
        """HELLO (the protocol version must be this driver's) then CAPS: the controller's `Caps`."""
        P = _protocol()
        self.drain(0.02)
        hello = self.request(P.Cmd.HELLO).data
        if not hello or hello[0] != P.PROTOCOL_VERSION:
            raise BoardError(f"{self.url}: the controller speaks protocol {hello[:1].hex() or '?'}, "
                             f"this driver protocol {P.PROTOCOL_VERSION}")
        data = self.request(P.Cmd.CAPS).data
        try:
            return P.Caps.unpack(data)
        except (struct.error, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise BoardError(f"{self.url}: the controller's capability reply is malformed ({exc}; "
                             f"{len(data)} bytes)") from None

    def next_seq(self):
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    def send(self, cmd, args=b"", *, resync=False):
        """Write one request (a leading delimiter first when `resync`); returns its seq."""
        P = _protocol()
        seq = self.next_seq()
        self.port.write((b"\x00" if resync else b"") + P.request(seq, cmd, args))
        self.stats["requests"] += 1
        return seq

    def drain(self, quiet=0.05):
        """Discard input until the line has been quiet for `quiet` seconds (max 1 s)."""
        end = time.monotonic() + 1.0
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            data = self.port.read(4096)
            if data:
                last = time.monotonic()
        self.buf.clear()
        self.results.clear()

    def read_frame(self, deadline):
        """The next frame body that decodes (COBS + CRC), or None at the deadline."""
        P = _protocol()
        while True:
            i = self.buf.find(0)
            while i >= 0:
                wire = bytes(self.buf[:i])
                del self.buf[:i + 1]
                if wire:
                    try:
                        return P.decode_frame(wire)
                    except P.FrameError:
                        self.stats["bad_frames"] += 1
                i = self.buf.find(0)
            if time.monotonic() >= deadline:
                return None
            data = self.port.read(max(1, self.port.in_waiting or 1))
            if data:
                self.buf += data

    def match(self, body, seq, cmd):
        """The reply to (seq, cmd) in frame `body`, or None (a result frame, kept in `results`;
        a stale or undecodable reply, counted).  A reply carrying our seq and a frame-level error
        is ours even when its cmd differs (our request arrived damaged)."""
        P = _protocol()
        if len(body) >= 2 and body[1] == P.Cmd.RESULT:
            self.results.append(body)
            return None
        try:
            reply = P.parse_reply(body)
        except P.FrameError:
            self.stats["bad_frames"] += 1
            return None
        if reply.seq != seq or reply.cmd != int(cmd):
            if not (reply.seq == seq and reply.status in P.FRAME_ERRORS):
                self.stats["stale_replies"] += 1
                return None
        return reply

    def request(self, cmd, args=b"", *, retries=None, timeout=None, what=None):
        """Send a request, return the reply (status OK) or raise BoardError."""
        P = _protocol()
        retries = self.retries if retries is None else retries
        timeout = self.timeout if timeout is None else timeout
        what = what or P.Cmd(cmd).name
        problems = []
        for attempt in range(retries + 1):
            if attempt:
                self.stats["retries"] += 1
            # on a retry, a leading delimiter ends whatever partial frame a lost 0x00 left in the
            # controller's receiver (it answers that fragment with an error, which we discard);
            # an empty frame gets no reply
            seq = self.send(cmd, args, resync=bool(attempt))
            deadline = time.monotonic() + timeout
            while True:
                body = self.read_frame(deadline)
                if body is None:
                    self.stats["timeouts"] += 1
                    problems.append(f"no reply within {timeout:g} s")
                    break
                reply = self.match(body, seq, cmd)
                if reply is None:
                    continue
                if reply.status == P.Status.OK:
                    return reply
                self.stats["error_replies"] += 1
                name = status_name(reply.status)
                if reply.status in P.FRAME_ERRORS:
                    problems.append(f"the controller received a damaged request ({name})")
                    break
                if reply.status == P.Status.ERR_VERIFY and attempt < retries:
                    problems.append(f"read-back verify failed ({reply.data.hex()})")
                    break
                raise BoardError(f"{what} at {self.url}: the controller answered {name}"
                                 + (f" {reply.data.hex()}" if reply.data else "")
                                 + (f" (after: {'; '.join(problems)})" if problems else ""))
        raise BoardError(f"{what} at {self.url} failed after {retries + 1} attempts: "
                         + "; ".join(problems[-4:]))

    def status(self):
        P = _protocol()
        return P.ControllerStatus.unpack(self.request(P.Cmd.STATUS).data)

    def wait_idle(self, limit=None):
        end = time.monotonic() + (limit or 5 * self.timeout)
        while time.monotonic() < end:
            if not self.status().busy:
                return
            time.sleep(0.01)
        raise BoardTimeout(f"{self.url}: the controller stayed busy after ABORT")
