"""TCP <-> the co-simulated board's USB-UART adapter, with fault injection.

A server thread accepts one TCP client at a time on 127.0.0.1 (pyserial URL
``socket://127.0.0.1:PORT``).  Bytes from the client are queued into the adapter
(`sim.serial_adapter.CosimTop`), which clocks them onto the controller's `uart_rx` pin as 8N1
characters at the controller's bit time; the bytes the adapter receives from `uart_tx` go to the
client, a whole frame (up to its 0x00 delimiter) per send.  A second port takes JSON lines for
control ({"cmd": "stats"}, {"cmd": "faults", ...}, {"cmd": "shutdown"}).

Faults (`Faults`): every byte in the chosen direction is dropped, duplicated or has one bit flipped
with the given probabilities (seeded, reproducible).

Simulation cost (docs/cosim.md): one Python callback per byte in each direction (not per bit),
and while a batch runs with nothing to send the poll for host bytes backs off to
`BUSY_POLL_BYTES` byte times.  While nothing can happen (no byte to send or in flight, no batch
running, no part bus activity for a while) the simulation waits for the socket instead of
spinning, so an idle board costs no CPU.  Bytes are written on falling clock edges, one per
clock at most, so they never race the adapter's rising-edge logic.
"""

import collections
import json
import random
import socket
import threading

from cocotb.triggers import FallingEdge, ReadOnly, Timer
from cocotb.utils import get_sim_time

__all__ = ["Faults", "TcpSerial"]

#: longest wait between polls for host bytes while a batch runs (in byte times of the link)
BUSY_POLL_BYTES = 64
#: byte times of quiet after which an idle board may pause for the socket
IDLE_BYTES = 25


class Faults:
    def __init__(self, drop=0.0, dup=0.0, corrupt=0.0, direction="both", seed=0, **_):
        self.drop, self.dup, self.corrupt = float(drop), float(dup), float(corrupt)
        self.direction = direction
        self.rng = random.Random(seed)
        self.counts = {"dropped": 0, "duplicated": 0, "corrupted": 0}

    @property
    def active(self):
        return self.drop > 0 or self.dup > 0 or self.corrupt > 0

    def apply(self, byte, direction):
        """The bytes that go on for one byte sent in `direction` ('to_board' / 'to_host')."""
        if not self.active or self.direction not in ("both", direction):
            return [byte]
        r = self.rng.random()
        if r < self.drop:
            self.counts["dropped"] += 1
            return []
        r -= self.drop
        if r < self.dup:
            self.counts["duplicated"] += 1
            return [byte, byte]
        r -= self.dup
        if r < self.corrupt:
            self.counts["corrupted"] += 1
            return [byte ^ (1 << self.rng.randrange(8))]
        return [byte]


class TcpSerial:
    """The TCP side of the adapter.  `activity()`: a number that changes whenever a part bus did
    something (the board is not idle while it does)."""

    def __init__(self, dut, divisor, *, period_ps, port=0, control_port=0, faults=None, stats=None,
                 activity=None):
        self.dut, self.div = dut, divisor
        self.period_ps = int(period_ps)            # controller clock period
        self.faults = Faults(**(faults or {}))
        self.fault_totals = {"dropped": 0, "duplicated": 0, "corrupted": 0}
        self.stats_fn = stats or (lambda: {})
        self.activity = activity or (lambda: 0)
        self.rx = collections.deque()            # bytes for the controller
        self.out = bytearray()                   # bytes for the client, sent a frame at a time
        self.cond = threading.Condition()
        self.client = None
        self.stop = False
        self.bytes_to_board = 0
        self.bytes_to_host = 0
        self.last_rx_time = 0                    # sim time (ps) of the last byte from the board
        self.srv = socket.create_server(("127.0.0.1", port))
        self.ctl = socket.create_server(("127.0.0.1", control_port))
        self.port = self.srv.getsockname()[1]
        self.control_port = self.ctl.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._control, daemon=True).start()

    # --- threads ------------------------------------------------------------------------------
    def _accept(self):
        while not self.stop:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.cond:
                old, self.client = self.client, conn
            if old is not None:
                old.close()
            threading.Thread(target=self._reader, args=(conn,), daemon=True).start()

    def _reader(self, conn):
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                with self.cond:
                    if self.client is conn:
                        self.client = None
                    self.cond.notify_all()
                return
            with self.cond:
                for b in data:
                    self.rx.extend(self.faults.apply(b, "to_board"))
                self.cond.notify_all()

    def _control(self):
        while not self.stop:
            try:
                conn, _ = self.ctl.accept()
            except OSError:
                return
            with conn, conn.makefile("rw") as f:
                for line in f:
                    try:
                        req = json.loads(line)
                        cmd = req.get("cmd")
                        if cmd == "stats":
                            out = self.stats()
                        elif cmd == "faults":
                            with self.cond:
                                for k, v in self.faults.counts.items():
                                    self.fault_totals[k] += v
                                self.faults = Faults(**{k: v for k, v in req.items() if k != "cmd"})
                            out = {"ok": True}
                        elif cmd == "shutdown":
                            with self.cond:
                                self.stop = True
                                self.cond.notify_all()
                            out = {"ok": True}
                        else:
                            out = {"error": f"unknown command {cmd!r}"}
                    except Exception as exc:       # a bad control line must not kill the board
                        out = {"error": repr(exc)}
                    f.write(json.dumps(out) + "\n")
                    f.flush()

    def stats(self):
        s = dict(self.stats_fn())
        s.update({"bytes_to_board": self.bytes_to_board, "bytes_to_host": self.bytes_to_host,
                  "faults": {k: v + self.faults.counts[k] for k, v in self.fault_totals.items()}})
        return s

    def close(self):
        self.stop = True
        for s in (self.srv, self.ctl):
            try:
                s.close()
            except OSError:
                pass
        if self.client is not None:
            self.client.close()

    def _flush(self):
        """Send what the board said to the client (whole frames; the rest at idle)."""
        if self.out:
            data, self.out = bytes(self.out), bytearray()
            client = self.client
            if client is not None:
                try:
                    client.sendall(data)
                except OSError:
                    pass

    # --- cocotb coroutines --------------------------------------------------------------------
    async def drive(self):
        """Queue client bytes into the adapter; block on the socket when the board is idle."""
        from .serial_adapter import ADAPTER_FIFO
        d = self.dut
        byte_ps = 10 * self.div * self.period_ps
        d.host_tx_toggle.value = 0
        toggle = 0
        idle, poll, seen = 0, 1, None
        while not self.stop:
            with self.cond:
                room = ADAPTER_FIFO - 1 - int(d.host_tx_level.value)
                byte = self.rx.popleft() if self.rx and room > 0 else None
                if byte is None and not self.rx:
                    now = get_sim_time(unit="ps")
                    act = self.activity()
                    busy = str(d.seq_busy.value) == "1"
                    if act != seen or busy:
                        seen, idle = act, 0
                    if idle >= IDLE_BYTES and now - self.last_rx_time > IDLE_BYTES * byte_ps and not busy:
                        self._flush()
                        self.cond.wait(0.05)          # simulation pauses: nothing can happen
                        byte = self.rx.popleft() if self.rx else None
            if byte is None:
                if self.rx:                            # the adapter's queue is full
                    await Timer(byte_ps, unit="ps")
                    continue
                idle += 1
                self._flush()
                busy = str(d.seq_busy.value) == "1"
                poll = min(2 * poll, BUSY_POLL_BYTES) if busy else 1
                await Timer(poll * byte_ps, unit="ps")
                continue
            idle, poll = 0, 1
            self.bytes_to_board += 1
            # on the next falling edge: a Timer may end in the time step of a falling edge but
            # before the clock's own change, and two writes in one step would lose the first byte
            await FallingEdge(d.clk)
            d.host_tx_data.value = byte
            toggle ^= 1
            d.host_tx_toggle.value = toggle

    async def receive(self):
        """Each byte the adapter received from the controller: to the client (a frame at a time)."""
        d = self.dut
        count = int(d.host_rx_count.value)
        while not self.stop:
            await d.host_rx_count.value_change
            await ReadOnly()                           # host_rx_data settles in the same step
            new = int(d.host_rx_count.value)
            n, count = (new - count) & 0xFFFF, new
            value = int(d.host_rx_data.value)
            self.last_rx_time = get_sim_time(unit="ps")
            for _ in range(n):                         # (always 1: a byte takes 10 bit times)
                self.bytes_to_host += 1
                out = self.faults.apply(value, "to_host")
                self.out += bytes(out)
                if 0 in out:
                    self._flush()
