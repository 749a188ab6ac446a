"""The clients under test, each run in its own process by the runner.

``python -m bench.clients KIND TASK --url URL [options]`` prints one JSON object (the result)
as its last stdout line. Kinds:

``floor``
    a bare ``websockets`` loop that only receives and ``json.loads`` each frame (REST calls by
    hand on raw asyncio streams). The lower bound for any Python client on this stack.
``sdk``
    the official ``ringcentral`` 0.9.2 SDK: ``platform().login(jwt=...)``,
    ``create_web_socket_client()``, a counting ``receiveSubscriptionNotification`` handler.
``rcstream``
    ``rcstream.Client`` with ``async for`` over typed notifications.
``sink``
    not a client: a raw socket that does the WebSocket handshake, subscribes and then only
    counts frame headers in what it receives, discarding the bytes. It measures how fast the
    flood server itself can push (the server's cost, not a client's).

(The CLI, ``rcstream listen``, is run by the runner as a subprocess.)

Tasks: ``throughput`` (consume ``n``), ``latency`` (consume ``n``, log receive times),
``reconnect`` (consume ``cycles + 1``, log receive times), ``idle`` (subscribe with
``filters`` filters, hold, report peak RSS), ``slow`` (consume with a per-event delay for
``duration`` seconds, sampling RSS once a second).

Every wait is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import sys
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

CLIENT_ID = "flood-client-id"
CLIENT_SECRET = "flood-client-secret"
JWT = "flood-jwt"
FILTER = "/restapi/v1.0/account/~/extension/~/telephony/sessions"


def filters_for(count: int) -> list[str]:
    """``count`` distinct, valid event filters (the first is the telephony one)."""
    extra = [f"/restapi/v1.0/account/~/extension/{100000 + i}/presence" for i in range(count - 1)]
    return [FILTER, *extra][:count]


def rss_kb() -> tuple[int, int]:
    """``(VmRSS, VmHWM)`` of this process in KiB, from ``/proc/self/status``."""
    rss = hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


@dataclass
class Consumer:
    """The consumer every client feeds: counts, optionally logs ``(uuid, monotonic ns)``."""

    n: int
    log: bool = False
    count: int = 0
    first_ns: int = 0
    last_ns: int = 0
    received: list[tuple[str, int]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    #: Process CPU time at the first and the last notification: the steady-state CPU per
    #: notification, without start-up and imports, and unaffected by other processes
    #: taking the CPU (which wall-clock rates on a shared machine are).
    first_cpu: float = 0.0
    last_cpu: float = 0.0

    def on(self, uuid: str) -> None:
        now = time.monotonic_ns()
        if not self.count:
            self.first_ns = now
            self.first_cpu = time.process_time()
        self.last_ns = now
        self.count += 1
        if self.log:
            self.received.append((uuid, now))
        if self.count >= self.n:
            self.last_cpu = time.process_time()
            self.done.set()


# --------------------------------------------------------------------------- raw HTTP helper


async def http_post(url: str, path: str, *, bearer: str | None = None) -> dict[str, Any]:
    """POST with an empty body on a fresh connection; return the JSON reply."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    auth = (
        f"Authorization: Bearer {bearer}\r\n"
        if bearer
        else "Authorization: Basic "
        + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        + "\r\n"
    )
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
        "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    writer.close()
    result: dict[str, Any] = json.loads(body)
    return result


def _sub_request(filters: list[str]) -> str:
    return json.dumps(
        [
            {
                "type": "ClientRequest",
                "messageId": str(uuidlib.uuid4()),
                "method": "POST",
                "path": "/restapi/v1.0/subscription",
            },
            {"eventFilters": filters, "deliveryMode": {"transportType": "WebSocket"}},
        ]
    )


# --------------------------------------------------------------------------- (a) floor


async def run_floor(
    url: str,
    consumer: Consumer,
    filters: list[str],
    *,
    delay: float = 0.0,
    reconnect: bool = False,
    subscribed: asyncio.Event | None = None,
) -> None:
    """The floor: receive, ``json.loads``, count. Reconnects with ``wsc`` if asked to."""
    import websockets

    token = (await http_post(url, "/restapi/oauth/token"))["access_token"]
    wsc: str | None = None
    while not consumer.done.is_set():
        ws_info = await http_post(url, "/restapi/oauth/wstoken", bearer=token)
        ws_url = f"{ws_info['uri']}?access_token={ws_info['ws_access_token']}"
        if wsc is not None:
            ws_url += f"&wsc={wsc}"
        # No keepalive pings: behind a slow consumer the pong waits in the socket behind
        # unread frames and websockets would drop the link (the SDK, with the defaults,
        # does). close_timeout only shortens the teardown after the measurement.
        async with websockets.connect(
            ws_url, max_size=None, close_timeout=0.2, ping_interval=None
        ) as ws:
            try:
                while not consumer.done.is_set():
                    frame = json.loads(await ws.recv())
                    kind = frame[0]["type"]
                    if kind == "ServerNotification":
                        consumer.on(frame[1]["uuid"])
                        if delay:
                            await asyncio.sleep(delay)
                    elif kind == "ConnectionDetails":
                        if frame[0].get("wsc"):
                            wsc = frame[0]["wsc"]["token"]
                        if frame[1].get("recoveryState") != "Successful":
                            await ws.send(_sub_request(filters))
                    elif kind == "ClientRequest" and subscribed is not None:
                        subscribed.set()
            except websockets.ConnectionClosed:
                if not reconnect:
                    raise


# --------------------------------------------------------------------------- (b) official SDK


async def run_sdk(
    url: str,
    consumer: Consumer,
    filters: list[str],
    *,
    delay: float = 0.0,
    subscribed: asyncio.Event | None = None,
) -> None:
    """The official SDK with a counting handler (sync ``requests`` for REST, as it ships)."""
    from ringcentral import SDK
    from ringcentral.websocket.events import WebSocketEvents

    sdk = SDK(CLIENT_ID, CLIENT_SECRET, url)
    sdk.platform().login(jwt=JWT)
    ws = sdk.create_web_socket_client()

    def handler(message: list[Any]) -> None:
        consumer.on(message[1]["uuid"])
        if delay:
            time.sleep(delay)  # the SDK's handlers are synchronous: a slow one blocks the loop

    ws.on(WebSocketEvents.receiveSubscriptionNotification, handler)
    ready = asyncio.Event()
    ws.on(WebSocketEvents.connectionCreated, lambda _client: ready.set())
    connection = asyncio.ensure_future(ws.create_new_connection())
    connection.add_done_callback(lambda t: t.cancelled() or t.exception())  # no "never retrieved"
    # Wait for the connection before subscribing: create_subscription() on a connection that
    # is not ready yet sleeps a whole second before it retries (ringcentral 0.9.2,
    # ringcentral/websocket/).
    ready_wait = asyncio.ensure_future(ready.wait())
    await asyncio.wait({connection, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
    ready_wait.cancel()
    if connection.done():
        connection.result()
    await ws.create_subscription(filters)
    if subscribed is not None:
        subscribed.set()
    done = asyncio.ensure_future(consumer.done.wait())
    await asyncio.wait({connection, done}, return_when=asyncio.FIRST_COMPLETED)
    if connection.done() and not consumer.done.is_set():
        connection.result()  # raise what ended the receive loop
    done.cancel()
    await ws.close_connection()
    connection.cancel()
    await asyncio.gather(connection, return_exceptions=True)


# --------------------------------------------------------------------------- (c) rcstream


def rcstream_options() -> Any:
    """``ClientOptions`` with no deliberately configured waits: zero backoff (the first retry
    is immediate anyway) and no client-side auth rate limiter; all else default."""
    from rcstream.client import ClientOptions

    # close_timeout only shortens the teardown after the measurement (--quick runs).
    common: dict[str, Any] = {"auth_rate_limit": None, "close_timeout": 0.2}
    try:
        return ClientOptions(backoff_base=0.0, backoff_cap=0.0, **common)
    except Exception:  # the options validate their values: fall back to the smallest accepted
        return ClientOptions(backoff_base=0.001, backoff_cap=0.001, **common)


async def run_rcstream(
    url: str,
    consumer: Consumer,
    filters: list[str],
    *,
    delay: float = 0.0,
    subscribed: asyncio.Event | None = None,
    raw: bool = False,
) -> None:
    """rcstream's public API: ``async with Client``, ``async with subscribe``, ``async for``
    (typed models, or the wire dicts with ``raw=True``)."""
    from rcstream.auth import JWTAuth
    from rcstream.client import Client

    auth = JWTAuth(CLIENT_ID, CLIENT_SECRET, JWT)
    client = Client(url, auth=auth, options=rcstream_options())
    async with client, client.subscribe(filters, raw=raw) as events:
        if subscribed is not None:
            subscribed.set()
        async for n in events:
            consumer.on(n["uuid"] if raw else n.uuid)
            if consumer.done.is_set():
                break
            if delay:
                await asyncio.sleep(delay)


# --------------------------------------------------------------------------- server sink


class _SinkProtocol(asyncio.Protocol):
    """Handshake, subscribe, then count frames by header only and discard the bytes."""

    def __init__(self, path: str, host: str, target: int, done: asyncio.Future[int]) -> None:
        self.path, self.host, self.target, self.done = path, host, target, done
        self.buf = bytearray()
        self.skip = 0
        self.frames = 0
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def _send_text(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        head = (
            bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
            if n >= 126
            else bytes([0x81, 0x80 | n])
        )
        assert self.transport is not None
        assert n < 65536
        self.transport.write(head + b"\0\0\0\0" + payload)  # an all-zero mask is legal

    def data_received(self, data: bytes) -> None:
        if not self.upgraded:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self.upgraded = True
            data = bytes(self.buf[end + 4 :])
            self.buf.clear()
            self._send_text(_sub_request([FILTER]))
        if self.skip:
            if len(data) <= self.skip:
                self.skip -= len(data)
                return
            data = data[self.skip :]
            self.skip = 0
        buf = self.buf
        buf += data
        pos, size, frames = 0, len(buf), self.frames
        while size - pos >= 2:
            n = buf[pos + 1] & 0x7F
            if n == 126:
                if size - pos < 4:
                    break
                n, h = (buf[pos + 2] << 8) | buf[pos + 3], 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, h = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            else:
                h = 2
            frames += 1
            end = pos + h + n
            if end > size:
                self.skip = end - size
                pos = size
                break
            pos = end
        del buf[:pos]
        self.frames = frames
        if frames >= self.target and not self.skip and not self.done.done():
            self.done.set_result(time.monotonic_ns())


async def run_sink(url: str, n: int) -> int:
    """Return the monotonic ns at which the ``n``-th notification's last byte arrived."""
    ws_info = await http_post(url, "/restapi/oauth/wstoken", bearer="x")
    parts = urlsplit(ws_info["uri"])
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    path = f"{parts.path}?access_token={ws_info['ws_access_token']}"
    # ConnectionDetails and the subscription reply precede the n notifications.
    transport, _ = await loop.create_connection(
        lambda: _SinkProtocol(path, parts.netloc, n + 2, done), parts.hostname, parts.port
    )
    try:
        return await done
    finally:
        transport.close()


# --------------------------------------------------------------------------- tasks

Runner = Callable[..., Awaitable[None]]


async def run_rcstream_raw(
    url: str,
    consumer: Consumer,
    filters: list[str],
    *,
    delay: float = 0.0,
    subscribed: asyncio.Event | None = None,
) -> None:
    """rcstream with ``subscribe(raw=True)``: wire dicts, no typing (what the CLI uses)."""
    await run_rcstream(url, consumer, filters, delay=delay, subscribed=subscribed, raw=True)


RUNNERS: dict[str, Runner] = {
    "floor": run_floor,
    "sdk": run_sdk,
    "rcstream": run_rcstream,
    "rcstream-raw": run_rcstream_raw,
}


async def _bounded(coro: Awaitable[Any], done: asyncio.Event, timeout: float) -> None:
    """Run ``coro`` until ``done`` is set (or it ends), at most ``timeout`` seconds.

    The client is left running: :func:`main` prints the result and exits the process
    without tearing the client down (a close handshake behind a backlog of unread frames
    can take websockets' whole ``close_timeout``, and is not what is measured).
    """
    task = asyncio.ensure_future(coro)
    waiter = asyncio.ensure_future(done.wait())
    finished, _ = await asyncio.wait(
        {task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    if not finished:
        raise TimeoutError(f"no result within {timeout} s")
    if task in finished and not done.is_set():
        task.result()
        raise RuntimeError("the client stopped before the expected events arrived")


async def task_main(kind: str, task: str, a: argparse.Namespace) -> dict[str, Any]:
    if kind == "sink":
        cpu0 = time.process_time()
        last_ns = await asyncio.wait_for(run_sink(a.url, a.n), a.timeout)
        return {"last_ns": last_ns, "count": a.n, "cpu_s": time.process_time() - cpu0}
    runner = RUNNERS[kind]
    result: dict[str, Any] = {"kind": kind, "task": task}
    if getattr(a, "patch", ""):
        from bench.patches import apply

        result["patches"] = apply(a.patch)
    if task in ("throughput", "latency"):
        consumer = Consumer(a.n, log=task == "latency")
        cpu0 = time.process_time()
        await _bounded(runner(a.url, consumer, [FILTER]), consumer.done, a.timeout)
        result.update(
            count=consumer.count,
            first_ns=consumer.first_ns,
            last_ns=consumer.last_ns,
            cpu_s=time.process_time() - cpu0,
            steady_cpu_s=consumer.last_cpu - consumer.first_cpu,
        )
        if consumer.log:
            result["received"] = consumer.received
    elif task == "reconnect":
        consumer = Consumer(a.cycles + 1, log=True)
        kwargs: dict[str, Any] = {"reconnect": True} if kind == "floor" else {}
        await _bounded(runner(a.url, consumer, [FILTER], **kwargs), consumer.done, a.timeout)
        result.update(count=consumer.count, received=consumer.received)
    elif task == "idle":
        consumer = Consumer(1)
        subscribed = asyncio.Event()
        run = asyncio.ensure_future(
            runner(a.url, consumer, filters_for(a.filters), subscribed=subscribed)
        )
        try:
            await asyncio.wait_for(subscribed.wait(), a.timeout)
            await asyncio.sleep(a.hold)
            if run.done():
                run.result()
            rss, hwm = rss_kb()
            result.update(rss_kb=rss, hwm_kb=hwm, filters=a.filters)
        except BaseException:
            run.cancel()
            raise
    elif task == "slow":
        consumer = Consumer(10**9)
        run = asyncio.ensure_future(runner(a.url, consumer, [FILTER], delay=a.delay))
        samples: list[tuple[float, int, int, int]] = []
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < a.duration:
                await asyncio.sleep(a.sample)
                if run.done():  # the client gave up: say when and why, stop sampling
                    exc = run.exception()
                    result["ended_after_s"] = round(time.monotonic() - t0, 3)
                    result["ended_by"] = f"{type(exc).__name__}: {exc}" if exc else "returned"
                    break
                samples.append((round(time.monotonic() - t0, 3), *rss_kb(), consumer.count))
        except BaseException:
            run.cancel()
            raise
        result.update(samples=samples, count=consumer.count)
    else:
        raise SystemExit(f"unknown task {task!r}")
    rss, hwm = rss_kb()
    result.setdefault("rss_kb", rss)
    result.setdefault("hwm_kb", hwm)
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.clients")
    p.add_argument("kind", choices=[*RUNNERS, "sink"])
    p.add_argument("task", choices=["throughput", "latency", "reconnect", "idle", "slow"])
    p.add_argument("--url", required=True)
    p.add_argument("-n", type=int, default=20_000)
    p.add_argument("--cycles", type=int, default=5)
    p.add_argument("--filters", type=int, default=1000)
    p.add_argument("--hold", type=float, default=2.0)
    p.add_argument("--delay", type=float, default=0.01)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--sample", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--patch", default="", help="bench.patches to apply (rcstream only)")
    return p


async def run_in_process(argv: list[str]) -> dict[str, Any]:
    """Run one client task in the running loop (``--quick``), then have the server drop the
    sockets so that the client's teardown is immediate."""
    a = build_parser().parse_args(argv)
    try:
        return await task_main(a.kind, a.task, a)
    finally:
        with contextlib.suppress(OSError, ValueError):
            await http_post(a.url, "/bench/abort")


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_main(build_parser().parse_args(argv)))


async def _main(a: argparse.Namespace) -> None:
    result = await task_main(a.kind, a.task, a)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # skip tearing the client down: not measured, and slow behind a backlog


if __name__ == "__main__":
    main()
