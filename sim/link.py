"""UART <-> TCP bridge inside the co-simulation, with fault injection.

A server thread accepts one TCP client at a time on 127.0.0.1 (pyserial URL
``socket://127.0.0.1:PORT``).  Bytes from the client are driven onto the controller's `uart_rx` pin
as 8N1 characters at the controller's bit time (its UART divisor, in clock cycles); characters the
controller sends on `uart_tx` are sampled mid-bit and sent to the client.  A second port takes JSON
lines for control ({"cmd": "stats"}, {"cmd": "faults", ...}, {"cmd": "shutdown"}).

Faults (`Faults`): every byte in the chosen direction is dropped, duplicated or has one bit flipped
with the given probabilities (seeded, reproducible).

While nothing is pending (no byte to send, the transmitter idle for a while, no batch running)
the simulation waits for the socket instead of spinning, so an idle board costs no CPU.

Timing: bit times are waited with one `Timer` each (not `ClockCycles`, which costs a Python
callback per clock edge and made the link the simulation's bottleneck).  The receiver samples half
a clock after the mid-bit edge and the driver changes `uart_rx` on falling clock edges, so neither
races the controller's rising-edge logic.
"""

import collections
import json
import random
import socket
import threading

from cocotb.triggers import FallingEdge, Timer

__all__ = ["Faults", "TcpUart"]


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


class TcpUart:
    def __init__(self, dut, divisor, *, period_ps, port=0, control_port=0, faults=None, stats=None):
        self.dut, self.div = dut, divisor
        self.period_ps = int(period_ps)            # controller clock period
        self.faults = Faults(**(faults or {}))
        self.fault_totals = {"dropped": 0, "duplicated": 0, "corrupted": 0}
        self.stats_fn = stats or (lambda: {})
        self.rx = collections.deque()            # bytes for the controller
        self.cond = threading.Condition()
        self.client = None
        self.stop = False
        self.tx_idle_cycles = 0
        self.bytes_to_board = 0
        self.bytes_to_host = 0
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

    # --- cocotb coroutines --------------------------------------------------------------------
    async def drive(self):
        """Send queued bytes on uart_rx; block on the socket when the board is idle."""
        d, div = self.dut, self.div
        bit = self.period_ps * div
        d.uart_rx.value = 1
        await FallingEdge(d.clk)                      # from here on, every wait is whole clocks
        idle = 0
        while not self.stop:
            with self.cond:
                byte = self.rx.popleft() if self.rx else None
                if byte is None and idle >= 25 and self.tx_idle_cycles > 250 * div \
                        and str(d.seq_busy.value) != "1":
                    self.cond.wait(0.05)             # simulation pauses: nothing can happen
                    byte = self.rx.popleft() if self.rx else None
            if byte is None:
                idle += 1
                await Timer(10 * bit, unit="ps")
                self.tx_idle_cycles += 10 * div
                continue
            idle = 0
            self.bytes_to_board += 1
            bits = [0] + [(byte >> i) & 1 for i in range(8)] + [1]
            for b in bits:
                d.uart_rx.value = b
                await Timer(bit, unit="ps")

    async def receive(self):
        """Sample uart_tx mid-bit; forward each character to the client."""
        d, div = self.dut, self.div
        bit = self.period_ps * div
        while not self.stop:
            await FallingEdge(d.uart_tx)              # just after a rising clock edge
            self.tx_idle_cycles = 0
            await Timer(bit + (div // 2) * self.period_ps + self.period_ps // 2, unit="ps")
            value = 0
            for i in range(8):
                value |= int(d.uart_tx.value) << i
                await Timer(bit, unit="ps")
            if not int(d.uart_tx.value):
                continue                              # framing error: no stop bit
            self.tx_idle_cycles = 0
            self.bytes_to_host += 1
            out = bytes(self.faults.apply(value, "to_host"))
            client = self.client
            if out and client is not None:
                try:
                    client.sendall(out)
                except OSError:
                    pass
