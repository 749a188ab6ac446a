"""A lean flood gateway: just enough of the RingCentral REST + WebSocket gateway to benchmark
clients, at the lowest possible cost to the server itself.

It is a hand-written HTTP/1.1 + RFC 6455 server on plain asyncio streams (no aiohttp, no
websockets, no per-frame JSON): every notification frame is built and **pre-encoded as wire
bytes before timing starts**, so pushing a notification is one ``transport.write`` of a
ready-made ``bytes`` object. Its own cost is measured (CPU seconds per flood, and the rate at
which it can fill a client that discards at socket level: see :func:`bench.clients.sink`) and
reported next to the clients' figures.

Run it in its **own process** (the clients under test must not share its GIL or loop)::

    python -m bench.flood --mode flood -n 20000

It binds ``127.0.0.1`` on a free port and prints one JSON line, ``{"port": P, "url": ...}``,
on stdout once it is listening; it exits on SIGTERM/SIGINT or on ``POST /bench/shutdown``.

Endpoints (the same wire shapes as :mod:`rcstream.emulator`, trimmed to what a throughput
run needs):

* ``POST /restapi/oauth/token`` (any grant) -> a bearer token; ``POST /restapi/oauth/revoke``.
* ``POST /restapi/oauth/wstoken`` -> ``{"uri": "ws://127.0.0.1:P/ws", ...}``.
* ``GET /ws`` (upgrade): ``ConnectionDetails`` first (with ``wsc``; with ``recoveryState`` when
  the client sent ``wsc``), answers subscription ``ClientRequest`` POST/PUT/DELETE with
  ``SubscriptionInfo``, echoes ``Heartbeat``, answers pings and closes.
* ``GET /bench/stats`` -> what the server measured (JSON), used by the runner.

Modes (what happens once a subscription is created on a connection):

``flood``
    push the ``n`` pre-encoded notifications as fast as the socket takes them.
``rate``
    push ``n`` notifications at ``--rate`` per second, logging the monotonic send time of each
    (``time.monotonic_ns`` is system-wide on Linux, so the client's receive times, taken in
    another process, are comparable). Backpressure from a slow client stalls the producer.
``idle``
    push nothing.
``reconnect``
    push one notification, then after ``--gap`` seconds drop the socket without a close frame
    (logging the drop time); on the client's reconnect with ``wsc`` answer ``recoveryState``
    ``Successful`` (and at once push the next notification) or ``Failed`` (and push it once the
    client has re-subscribed), according to ``--recovery``; ``--cycles`` drops in all.

Every loop is bounded by ``n``/``cycles`` and the runner's timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from rcstream.emulator.catalog import generate

__all__ = ["FloodConfig", "FloodServer", "build_notifications", "ws_frame"]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ACCOUNT_ID = "809646016"
EXTENSION_ID = "62264425016"
SUBSCRIPTION_ID = "5b7a1c9e-0000-4000-8000-0000000005b1"
#: Notification uuids are numeric strings like the live gateway's; frame ``i`` has
#: ``UUID_BASE + i`` so the runner can map a uuid back to its index.
UUID_BASE = 2661273919712500000
#: Drained whenever this many bytes are waiting in the transport.
_HIGH_WATER = 256 * 1024
_CHUNK_FRAMES = 32


@dataclass
class FloodConfig:
    """What the server does once a client subscribes (see the module docstring)."""

    mode: str = "flood"
    n: int = 20_000
    rate: float = 1000.0
    cycles: int = 5
    gap: float = 0.05
    recovery: str = "success"
    family: str = "telephony-sessions"
    seed: int = 1


@dataclass
class Stats:
    """What the server measured; served as JSON by ``GET /bench/stats``."""

    prepare_s: float = 0.0
    frame_bytes: int = 0
    frames: int = 0
    connections: int = 0
    subscriptions: int = 0
    flood_start_ns: int = 0
    flood_end_ns: int = 0
    flood_cpu_s: float = 0.0
    sent: int = 0
    #: ``rate`` mode: monotonic ns at which frame ``i`` was written.
    send_ns: list[int] = field(default_factory=list)
    #: total time the ``rate`` producer was blocked by a full socket (backpressure).
    stalled_s: float = 0.0
    #: ``reconnect`` mode: monotonic ns of each deliberate drop, and the uuid of the first
    #: notification pushed on the connection that follows it.
    drop_ns: list[int] = field(default_factory=list)
    post_drop_uuid: list[str] = field(default_factory=list)
    recoveries: dict[str, int] = field(default_factory=dict)


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """An unmasked, final server frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def _text(obj: Any) -> bytes:
    return ws_frame(json.dumps(obj, separators=(",", ":")).encode())


def build_notifications(n: int, *, family: str, seed: int) -> list[bytes]:
    """``n`` ``ServerNotification`` wire frames with distinct uuids and catalogue bodies."""
    rng = random.Random(seed)
    frames = []
    for i in range(n):
        event, body = generate(family, account_id=ACCOUNT_ID, extension_id=EXTENSION_ID, rng=rng)
        uuid = str(UUID_BASE + i)
        header = {
            "type": "ServerNotification",
            "messageId": uuid,
            "status": 200,
            "headers": {"RCRequestId": f"9f1e2d3c-0000-4000-8000-{i:012d}"},
        }
        envelope = {
            "uuid": uuid,
            "event": event,
            "timestamp": "2025-04-01T10:00:00.169Z",
            "subscriptionId": SUBSCRIPTION_ID,
            "ownerId": EXTENSION_ID,
            "body": body,
        }
        frames.append(_text([header, envelope]))
    return frames


def _connection_details(seq: int, recovery: str | None) -> bytes:
    header = {
        "type": "ConnectionDetails",
        "messageId": f"a1b2c3d4-0000-4000-8000-{seq:012d}",
        "status": 200,
        "wsc": {"token": f"flood-wsc-{seq}", "sequence": seq},
        "headers": {"RCRequestId": f"a1b2c3d4-0000-4000-8000-{seq:012d}"},
    }
    body: dict[str, Any] = {
        "creationTime": "2025-04-01T10:00:00.000Z",
        "maxConnectionsPerSession": 50,
        "recoveryBufferSize": 100,
        "recoveryTimeout": 180,
        "idleTimeout": 1800,
        "absoluteTimeout": 86400,
        "maxActiveRequests": 10,
    }
    if recovery == "success":
        body["recoveryState"] = "Successful"
    elif recovery == "fail":
        body["recoveryState"] = "Failed"
        body["recoveryErrorCode"] = "WSG-1003"
    return _text([header, body])


def _subscription_reply(message_id: str, filters: list[str], status: int = 200) -> bytes:
    header = {
        "type": "ClientRequest",
        "messageId": message_id,
        "status": status,
        "headers": {
            "Server": "flood",
            "Content-Type": "application/json",
            "RCRequestId": f"0e4b1f7a-{message_id[:8]}",
        },
    }
    if status == 204:
        return _text([header])
    body = {
        "uri": f"/restapi/v1.0/subscription/{SUBSCRIPTION_ID}",
        "id": SUBSCRIPTION_ID,
        "creationTime": "2025-04-01T10:00:00.169Z",
        "status": "Active",
        "eventFilters": filters,
        "expirationTime": "2025-04-02T10:00:00.169Z",
        "expiresIn": 86399,
        "deliveryMode": {"transportType": "WebSocket", "encryption": False},
    }
    return _text([header, body])


def _unmask(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if not n:
        return data
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


async def _read_ws_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client message (continuations joined): ``(opcode, unmasked payload)``."""
    parts: list[bytes] = []
    first_opcode = 0
    while True:
        b1, b2 = await reader.readexactly(2)
        opcode = b1 & 0x0F
        n = b2 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if b2 & 0x80 else b""
        data = await reader.readexactly(n)
        if mask:
            data = _unmask(data, mask)
        if opcode >= 0x8:  # control frames may arrive between fragments
            return opcode, data
        if opcode:
            first_opcode = opcode
        parts.append(data)
        if b1 & 0x80:
            return first_opcode, b"".join(parts)


class FloodServer:
    """The server. ``async with FloodServer(cfg) as srv`` serves on ``srv.port``."""

    def __init__(self, cfg: FloodConfig) -> None:
        self.cfg = cfg
        self.stats = Stats()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._frames: list[bytes] = []
        self._chunks: list[bytes] = []
        self._cycle = 0
        self._next_index = 0
        self._conn_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[asyncio.StreamWriter] = set()
        self.stopped = asyncio.Event()

    def prepare(self) -> None:
        """Build and pre-encode every frame (not timed as part of any flood)."""
        t0 = time.perf_counter()
        total = self.cfg.n + (self.cfg.cycles + 1 if self.cfg.mode == "reconnect" else 0)
        self._frames = build_notifications(total, family=self.cfg.family, seed=self.cfg.seed)
        self._chunks = [
            b"".join(self._frames[i : i + _CHUNK_FRAMES])
            for i in range(0, self.cfg.n, _CHUNK_FRAMES)
        ]
        self.stats.prepare_s = time.perf_counter() - t0
        self.stats.frames = len(self._frames)
        self.stats.frame_bytes = sum(len(f) for f in self._frames[: self.cfg.n])

    async def __aenter__(self) -> FloodServer:
        self.prepare()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.abort_all()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def abort_all(self) -> None:
        """Drop every open WebSocket without a close frame (``POST /bench/abort``)."""
        for writer in list(self._sockets):
            writer.transport.abort()
        self._sockets.clear()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                path, _, query = target.partition("?")
                if method == "GET" and path == "/ws" and "upgrade" in headers:
                    await self._ws_session(reader, writer, headers, parse_qs(query))
                    return
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                status, payload = self._route(method, path, body)
                out = json.dumps(payload).encode() if payload is not None else b""
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status < 300 else 'Error'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(out)}\r\n"
                    "Connection: keep-alive\r\n\r\n".encode()
                    + out
                )
                await writer.drain()
                if path == "/bench/shutdown":
                    self.stopped.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "POST" and path == "/restapi/oauth/token":
            return 200, {
                "access_token": "flood-access-token",
                "token_type": "bearer",
                "expires_in": 3600,
                "refresh_token": "flood-refresh-token",
                "refresh_token_expires_in": 604800,
                "scope": "SubscriptionWebSocket ReadMessages ReadPresence ReadAccounts",
                "owner_id": EXTENSION_ID,
                "endpoint_id": "flood-endpoint",
            }
        if method == "POST" and path == "/restapi/oauth/revoke":
            return 200, None
        if method == "POST" and path == "/restapi/oauth/wstoken":
            return 200, {
                "uri": f"ws://127.0.0.1:{self.port}/ws",
                "ws_access_token": "flood-ws-token",
                "expires_in": 600,
            }
        if path == "/bench/stats":
            return 200, self.stats.__dict__
        if path == "/bench/shutdown":
            return 200, {}
        if path == "/bench/abort":
            self.abort_all()
            return 200, {}
        return 404, {"errorCode": "CMN-102", "message": f"Resource for {path} is not found"}

    # ------------------------------------------------------------------ WebSocket

    async def _ws_session(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: dict[str, str],
        query: dict[str, list[str]],
    ) -> None:
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode()
        writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        self.stats.connections += 1
        self._sockets.add(writer)
        self._conn_seq += 1
        recovering = "wsc" in query
        started = False  # a producer runs on this connection
        recovery = self.cfg.recovery if recovering else None
        writer.write(_connection_details(self._conn_seq, recovery))
        if recovering:
            self.stats.recoveries[recovery or ""] = self.stats.recoveries.get(recovery or "", 0) + 1
            if self.cfg.mode == "reconnect" and recovery == "success":
                started = True
                self._start(self._reconnect_cycle(writer))
        await writer.drain()
        try:
            while True:
                opcode, data = await _read_ws_message(reader)
                if opcode == 0x8:  # close: echo it and hang up
                    writer.write(ws_frame(data[:2], 0x8))
                    await writer.drain()
                    return
                if opcode == 0x9:
                    writer.write(ws_frame(data, 0xA))
                    continue
                if opcode != 0x1:
                    continue
                started = self._on_text(writer, data, started)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self._sockets.discard(writer)

    def _on_text(self, writer: asyncio.StreamWriter, data: bytes, started: bool) -> bool:
        """Answer one client text frame; return whether a producer now runs."""
        frame = json.loads(data)
        header = frame[0]
        kind = header.get("type")
        if kind == "Heartbeat":
            reply = [{"type": "Heartbeat", "messageId": header.get("messageId"), "status": 200}]
            writer.write(_text(reply))
            return started
        if kind != "ClientRequest":
            return started
        method = header.get("method")
        message_id = str(header.get("messageId"))
        body = frame[1] if len(frame) > 1 and isinstance(frame[1], dict) else {}
        filters = list(body.get("eventFilters", []))
        if method == "DELETE":
            writer.write(_subscription_reply(message_id, filters, 204))
            return started
        writer.write(_subscription_reply(message_id, filters))
        if method != "POST":
            return started
        self.stats.subscriptions += 1
        if started:
            return True
        mode = self.cfg.mode
        if mode == "flood":
            self._start(self._flood(writer))
        elif mode == "rate":
            self._start(self._rate(writer))
        elif mode == "reconnect":
            self._start(self._reconnect_cycle(writer))
        return mode != "idle"

    def _start(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        cpu0 = time.process_time()
        self.stats.flood_start_ns = time.monotonic_ns()
        try:
            for chunk in self._chunks:
                if transport.is_closing():
                    break
                transport.write(chunk)
                if transport.get_write_buffer_size() > _HIGH_WATER:
                    await writer.drain()
            await writer.drain()
        except ConnectionError:
            pass
        self.stats.flood_end_ns = time.monotonic_ns()
        self.stats.flood_cpu_s = time.process_time() - cpu0
        self.stats.sent = self.cfg.n

    async def _rate(self, writer: asyncio.StreamWriter) -> None:
        transport = writer.transport
        interval_ns = int(1e9 / self.cfg.rate)
        send_ns = self.stats.send_ns
        frames = self._frames
        cpu0 = time.process_time()
        t0 = time.monotonic_ns()
        self.stats.flood_start_ns = t0
        try:
            for i in range(self.cfg.n):
                if transport.is_closing():
                    break
                delay = t0 + i * interval_ns - time.monotonic_ns()
                if delay > 0:
                    await asyncio.sleep(delay / 1e9)
                now = time.monotonic_ns()
                send_ns.append(now)
                transport.write(frames[i])
                self.stats.sent = i + 1
                if transport.get_write_buffer_size() > _HIGH_WATER:
                    await writer.drain()
                    self.stats.stalled_s += (time.monotonic_ns() - now) / 1e9
        except ConnectionError:
            pass
        self.stats.flood_end_ns = time.monotonic_ns()
        self.stats.flood_cpu_s = time.process_time() - cpu0

    async def _reconnect_cycle(self, writer: asyncio.StreamWriter) -> None:
        """Push the next notification, wait ``gap``, then drop (until ``cycles`` drops)."""
        index = self.cfg.n + self._next_index
        self._next_index += 1
        if self._cycle:
            self.stats.post_drop_uuid.append(str(UUID_BASE + index))
        writer.write(self._frames[index])
        await writer.drain()
        if self._cycle >= self.cfg.cycles:
            return
        await asyncio.sleep(self.cfg.gap)
        self._cycle += 1
        self.stats.drop_ns.append(time.monotonic_ns())
        writer.transport.abort()


async def serve(cfg: FloodConfig) -> None:
    """Serve until SIGTERM/SIGINT or ``POST /bench/shutdown``; print the port first."""
    async with FloodServer(cfg) as srv:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, srv.stopped.set)
        print(
            json.dumps({"port": srv.port, "url": srv.url, "prepare_s": srv.stats.prepare_s}),
            flush=True,
        )
        await srv.stopped.wait()


def parse_config(argv: list[str] | None = None) -> FloodConfig:
    """Parse the command line (see ``python -m bench.flood --help``) into a config."""
    p = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=["flood", "rate", "idle", "reconnect"], default="flood")
    p.add_argument("-n", type=int, default=20_000, help="notifications per subscription")
    p.add_argument("--rate", type=float, default=1000.0, help="events/s in rate mode")
    p.add_argument("--cycles", type=int, default=5, help="drops in reconnect mode")
    p.add_argument("--gap", type=float, default=0.05, help="s between event and drop")
    p.add_argument("--recovery", choices=["success", "fail"], default="success")
    p.add_argument("--family", default="telephony-sessions")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    return FloodConfig(a.mode, a.n, a.rate, a.cycles, a.gap, a.recovery, a.family, a.seed)


def main(argv: list[str] | None = None) -> None:
    cfg = parse_config(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cfg))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
