"""The transport's own frame splitter (``_GatewayConnection.data_received``) against a raw
socket server on 127.0.0.1:0 that writes hand-built RFC 6455 frames in chosen chunks.

Whatever the chunking, the messages received are the frames sent; control frames, fragments
and protocol errors still go through python-websockets, which answers and fails exactly as
it would without the splitter (ping → pong, masked server frame → 1002, too big → 1009).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from rcstream.exceptions import ConnectionFailedError
from rcstream.transport import Transport, connect

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """One server frame (RFC 6455 §5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        key = b"\x01\x02\x03\x04"
        return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


class RawServer:
    """Accepts one WebSocket client, then writes ``script``'s bytes in its chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.received = bytearray()
        self.got = asyncio.Event()
        self.done = asyncio.Event()
        self.connected = False
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connected = True
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        response = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        chunks = list(self.chunks)
        chunks[0] = response + chunks[0]  # the first frames share the response's segment
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0)
        try:
            while data := await reader.read(65536):
                self.received += data
                self.got.set()
                if self.received[:1] == b"\x88":
                    break  # the client's close frame: close the TCP connection, as servers do
        finally:
            writer.close()
            self.done.set()


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    raw = RawServer()
    srv = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    raw.url = f"ws://127.0.0.1:{port}/ws"
    async with srv:
        yield raw
        if raw.connected:
            await asyncio.wait_for(raw.done.wait(), 5)


async def open_client(raw: RawServer, max_size: int = 2**20) -> Transport:
    return await connect(
        raw.url,
        open_timeout=5,
        max_size=max_size,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=0.5,
    )


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


MESSAGES = [b'["a"]', b"x" * 125, b"y" * 126, b"z" * 70000, "é".encode() * 10]
STREAM = b"".join(frame(1, m) for m in MESSAGES)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 127, 1000, len(STREAM)])
async def test_any_chunking_gives_the_frames_sent(server: RawServer, size: int) -> None:
    server.chunks = split_every(STREAM, size)
    transport = await open_client(server)
    async with asyncio.timeout(5):
        got = [bytes(await transport.recv_frame()) for _ in MESSAGES]
    assert got == MESSAGES
    transport.abort()


async def test_ping_fragments_and_binary_go_through_websockets(server: RawServer) -> None:
    stream = (
        frame(1, b"one")
        + frame(9, b"are-you-there")  # ping: websockets answers with a pong
        + frame(1, b"fr", fin=False)
        + frame(0, b"ag", fin=False)
        + frame(0, b"ment")
        + frame(2, b"\x00\x01")
        + frame(1, b"two")
    )
    server.chunks = split_every(stream, 5)
    transport = await open_client(server)
    async with asyncio.timeout(5):
        got = [bytes(await transport.recv_frame()) for _ in range(4)]
        await server.got.wait()
    assert got == [b"one", b"fragment", b"\x00\x01", b"two"]
    # the pong (masked, as a client must) carries the ping's payload
    assert server.received[0] == 0x8A
    mask = server.received[2:6]
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(server.received[6:19]))
    assert payload == b"are-you-there"
    transport.abort()


def close_code_sent(received: bytes) -> int:
    """The code of the (masked) close frame a client sent first."""
    assert received[0] == 0x88
    mask = received[2:6]
    return int.from_bytes(bytes(b ^ mask[i] for i, b in enumerate(received[6:8])), "big")


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (lambda: frame(1, b"masked", mask=True), 1002),  # servers must not mask
        (lambda: frame(1, b"q" * 2000), 1009),  # over max_size
        (lambda: frame(1, b"x", fin=False) + frame(1, b"y"), 1002),  # no continuation
        (lambda: frame(0, b"x"), 1002),  # a continuation of nothing
    ],
)
async def test_protocol_errors_fail_as_websockets_does(
    server: RawServer, bad: Callable[[], bytes], code: int
) -> None:
    server.chunks = split_every(frame(1, b"ok") + bad() + frame(1, b"never"), 3)
    transport = await open_client(server, max_size=1000)
    async with asyncio.timeout(5):
        assert bytes(await transport.recv_frame()) == b"ok"
        while len(server.received) < 8:
            server.got.clear()
            await server.got.wait()
    # websockets failed the connection with its close code; nothing after the bad frame
    # was delivered
    assert close_code_sent(bytes(server.received)) == code
    assert not transport._conn.messages
    transport.abort()


async def test_close_frame_ends_the_stream_after_the_messages_before_it(
    server: RawServer,
) -> None:
    server.chunks = split_every(frame(1, b"last") + frame(8, struct.pack("!H", 1000)), 4)
    transport = await open_client(server)
    async with asyncio.timeout(5):
        assert bytes(await transport.recv_frame()) == b"last"
        with pytest.raises(ConnectionFailedError):
            await transport.recv_frame()
    assert transport.close_code == 1000
