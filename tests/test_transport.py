"""Transport shutdown never hangs, over real sockets to a websockets server on 127.0.0.1:0.

Issue 11 item 9: a second SIGINT during shutdown landed inside websockets' frame parser,
so ``connection_lost`` failed its ``state is CLOSED`` assertion, never completed
``connection_lost_waiter``, and ``close()`` then waited on it for ever. These tests
interrupt shutdown at every step and bound it by ``close_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from rcstream.exceptions import ConnectionFailedError
from rcstream.transport import Transport, connect

CLOSE_TIMEOUT = 0.5
#: Scheduling slack on a loaded 2-core machine, on top of ``close_timeout``.
MARGIN = 1.5


@dataclass
class Peer:
    """The server side: how it answers a close, and what the loop reported."""

    server: Server
    #: "polite": answer the closing handshake; "mute": read but never answer or close.
    mode: str = "polite"
    connections: list[ServerConnection] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws?access_token=T"


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    stop = asyncio.Event()

    async def handler(conn: ServerConnection) -> None:
        state.connections.append(conn)
        if state.mode == "mute":
            conn.transport.pause_reading()  # never sees the close frame, never answers
            await stop.wait()
            conn.transport.abort()
            return
        await conn.send('{"greeting": 1}')
        with contextlib.suppress(Exception):
            async for _ in conn:
                pass

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    async with serve(handler, "127.0.0.1", 0, close_timeout=CLOSE_TIMEOUT) as server:
        state = Peer(server=server)
        loop.set_exception_handler(lambda _loop, context: state.errors.append(context))
        try:
            yield state
        finally:
            stop.set()
            loop.set_exception_handler(previous)


async def open_transport(peer: Peer) -> Transport:
    transport = await connect(
        peer.url,
        open_timeout=5.0,
        max_size=2**20,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=CLOSE_TIMEOUT,
    )
    assert bytes(await transport.recv_frame()) == b'{"greeting": 1}'
    return transport


async def bounded(coro: Any, limit: float = CLOSE_TIMEOUT + MARGIN) -> float:
    """Await ``coro``; fail (rather than hang) if it takes longer than ``limit``."""
    started = time.monotonic()
    async with asyncio.timeout(limit * 4):  # a hang fails the test instead of the suite
        await coro
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.2f} s, more than close_timeout + margin"
    return elapsed


def unexpected(peer: Peer, allowed: Callable[[BaseException], bool] = lambda e: False) -> list[str]:
    """What the event loop reported besides the fault a test injected."""
    return [
        str(c.get("message"))
        for c in peer.errors
        if not (isinstance(c.get("exception"), BaseException) and allowed(c["exception"]))
    ]


class Interrupted(Exception):
    """Stands for a KeyboardInterrupt raised by a second SIGINT inside websockets' parser."""


def kill_parser(protocol: Any) -> None:
    """Kill websockets' frame parser the way a KeyboardInterrupt raised inside it does
    (asyncio lets KeyboardInterrupt escape the loop, so the test re-raises a stand-in)."""
    try:
        protocol.parser.throw(KeyboardInterrupt())
    except KeyboardInterrupt:
        raise Interrupted from None


@pytest.mark.parametrize("where", ["eof_received", "data_received"])
async def test_interrupted_parser_does_not_hang_close(peer: Peer, where: str) -> None:
    """The reported hang: the parser dies mid-shutdown, then connection_lost asserts."""
    transport = await open_transport(peer)
    conn = transport._conn
    protocol = conn.protocol

    def interrupted_eof() -> None:
        protocol.reader.feed_eof()  # the signal lands after feed_eof, inside the parser
        kill_parser(protocol)

    def interrupted_data(data: bytes) -> None:
        protocol.reader.feed_data(data)  # the peer's close frame; the parser dies on it
        kill_parser(protocol)

    if where == "eof_received":
        protocol.receive_eof = interrupted_eof  # type: ignore[method-assign]
    else:
        protocol.receive_data = interrupted_data  # type: ignore[method-assign]
    await bounded(transport.close())
    assert conn.connection_lost_waiter.done()
    with pytest.raises(ConnectionFailedError):
        await bounded(transport.recv_frame())
    # asyncio reports the injected fault itself; nothing else (no AssertionError) may follow
    assert unexpected(peer, lambda e: isinstance(e, Interrupted)) == []


async def test_close_to_a_peer_that_never_answers_is_bounded(peer: Peer) -> None:
    peer.mode = "mute"
    transport = await connect(
        peer.url,
        open_timeout=5.0,
        max_size=2**20,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=CLOSE_TIMEOUT,
    )
    await bounded(transport.close())
    assert transport._conn.connection_lost_waiter.done()
    assert unexpected(peer) == []


async def cancel_close_after(peer: Peer, steps: int, delay: float) -> bool:
    """Open, start ``close()``, cancel it after ``steps`` loop iterations then ``delay``
    seconds; check the aftermath. True if close() had finished before the cancel."""
    transport = await connect(
        peer.url,
        open_timeout=5.0,
        max_size=2**20,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=CLOSE_TIMEOUT,
    )
    task = asyncio.create_task(transport.close())
    for _ in range(steps):
        await asyncio.sleep(0)
    if delay:
        await asyncio.sleep(delay)
    finished_alone = task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):  # the only exception allowed out
        await bounded(task)
    await bounded(transport.close())  # as Client.aclose does after an interrupt
    where = f"steps={steps} delay={delay}"
    assert transport._conn.connection_lost_waiter.done(), f"{where}: the socket is still open"
    return finished_alone


@pytest.mark.parametrize("mode", ["polite", "mute"])
async def test_cancelling_close_at_every_step(peer: Peer, mode: str) -> None:
    """Cancel ``close()`` after k loop iterations, for every k until it finishes by itself
    (a polite peer) or k = 60 (a mute peer, whose close waits on a timer); then at points
    across that timer and the abort after it.

    Each time: only CancelledError leaves, a second close ends within close_timeout, and
    the socket is really gone.
    """
    peer.mode = mode
    for k in range(500):
        if await cancel_close_after(peer, k, 0.0) or (mode == "mute" and k == 60):
            break
    else:
        pytest.fail("close() never finished on its own")
    if mode == "mute":
        for delay in (0.3 * CLOSE_TIMEOUT, CLOSE_TIMEOUT, CLOSE_TIMEOUT + 0.05, 2 * CLOSE_TIMEOUT):
            await cancel_close_after(peer, 0, delay)
    assert unexpected(peer) == []


async def test_cancelling_a_reader_then_closing(peer: Peer) -> None:
    """The read loop is cancelled at each step of a close racing with it."""
    for k in range(40):
        transport = await open_transport(peer)
        reader = asyncio.create_task(transport.recv_frame())
        closer = asyncio.create_task(transport.close())
        for _ in range(k):
            await asyncio.sleep(0)
        reader.cancel()
        results = await asyncio.gather(reader, closer, return_exceptions=True)
        for result in results:
            assert result is None or isinstance(
                result, asyncio.CancelledError | ConnectionFailedError
            ), f"k={k}: {result!r} leaked"
        await bounded(transport.close())
        assert transport._conn.connection_lost_waiter.done()
    assert unexpected(peer) == []
