"""Contract: the python-websockets internals ``rcstream/transport.py`` overrides or reads.

``_GatewayConnection`` subclasses websockets' ``ClientConnection`` and relies on
undocumented details of it (websockets 15). A release that changes one of them must fail
here, with a message naming the override to review, not as a hang or lost messages in
production (issue 11 item 9).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from importlib.metadata import version
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol, State

from rcstream import transport as ours

REVIEW = "review rcstream/transport.py ({}) against websockets " + version("websockets")


def params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def test_overridden_methods_keep_their_signatures() -> None:
    overrides = {
        # name: the parameters websockets calls it with
        "process_event": ["self", "event"],
        "connection_lost": ["self", "exc"],
    }
    for name, expected in overrides.items():
        base = getattr(ClientConnection, name, None)
        assert base is not None, REVIEW.format(f"_GatewayConnection.{name}: gone from websockets")
        assert params(base) == expected, REVIEW.format(
            f"_GatewayConnection.{name}: websockets now has {inspect.signature(base)}"
        )
        assert getattr(ours._GatewayConnection, name) is not base  # still overridden


def test_methods_and_attributes_transport_py_uses_exist() -> None:
    methods = {
        "send_context": ["self", "expected_state"],  # fail_invalid_utf8
        "set_recv_exc": ["self", "exc"],  # _finish_connection_lost
        "close": ["self", "code", "reason"],  # Transport.close
        "send": ["self", "message", "text"],  # Transport.send
    }
    for name, expected in methods.items():
        method = getattr(Connection, name, None)
        assert method is not None, REVIEW.format(f"Connection.{name} is gone")
        assert params(method) == expected, REVIEW.format(
            f"Connection.{name} is now {inspect.signature(method)}"
        )
    assert inspect.isasyncgenfunction(inspect.unwrap(Connection.send_context)), REVIEW.format(
        "fail_invalid_utf8: send_context is no longer an async context manager"
    )
    assert params(Protocol.fail) == ["self", "code", "reason"], REVIEW.format("protocol.fail")
    assert params(Protocol.receive_eof) == ["self"], REVIEW.format("protocol.receive_eof")
    for prop in ("state", "close_exc", "close_code"):
        assert isinstance(getattr(Protocol, prop, None), property), REVIEW.format(
            f"protocol.{prop} is no longer a property"
        )
    state: Any = Protocol.state
    assert state.fset is not None, REVIEW.format(
        "_finish_connection_lost sets protocol.state = CLOSED: the setter is gone"
    )
    assert State.CLOSED, REVIEW.format("websockets.protocol.State.CLOSED")
    assert {"create_connection", "logger", "proxy", "close_timeout"} <= set(
        params(connect.__init__)
    ), REVIEW.format("connect(): a keyword transport.connect passes is gone")
    for attr in ("sent", "rcvd", "rcvd_then_sent"):
        assert attr in params(ConnectionClosed.__init__) or hasattr(ConnectionClosed, attr), (
            REVIEW.format(f"_closed_error reads ConnectionClosed.{attr}")
        )
    assert "response" in params(InvalidStatus.__init__), REVIEW.format("InvalidStatus.response")
    assert int(CloseCode.INVALID_DATA) == 1007, REVIEW.format("fail_invalid_utf8's close code")
    assert {op.name for op in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)} == {
        "TEXT",
        "BINARY",
        "CONT",
    }


def test_receive_eof_is_idempotent() -> None:
    """``_finish_connection_lost`` calls websockets' connection_lost a second time; that is
    only safe because ``receive_eof`` does nothing once the reader saw EOF."""
    source = inspect.getsource(Protocol.receive_eof)
    assert "if self.reader.eof" in source, REVIEW.format(
        "_finish_connection_lost: Protocol.receive_eof may no longer be idempotent"
    )
    source = inspect.getsource(Connection.connection_lost)
    for needle in ("receive_eof()", "connection_lost_waiter.set_result(None)", "set_recv_exc"):
        assert needle in source, REVIEW.format(
            f"_GatewayConnection.connection_lost: websockets' connection_lost no longer "
            f"does {needle!r}"
        )
    source = inspect.getsource(Connection.data_received)
    assert "self.process_event(event)" in source, REVIEW.format(
        "_GatewayConnection.process_event: data_received no longer calls process_event"
    )


@pytest.fixture
async def server_url() -> AsyncIterator[str]:
    async def handler(conn: ServerConnection) -> None:
        await conn.send("text")
        await conn.send(b"binary")
        await conn.send(["frag", "mented"])  # one message in a TEXT + CONT frames
        async for _ in conn:
            pass

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


async def test_process_event_sees_every_data_frame_after_the_handshake(server_url: str) -> None:
    """What ``_GatewayConnection.process_event`` relies on, on a real connection."""
    seen: list[tuple[type, Any]] = []

    class Spy(ours._GatewayConnection):
        def process_event(self, event: Any) -> None:
            seen.append((type(event), self.response is not None))
            super().process_event(event)

    async with connect(server_url, create_connection=Spy, ping_interval=None) as conn:
        assert isinstance(conn, Spy)
        assert isinstance(conn.connection_lost_waiter, asyncio.Future), REVIEW.format(
            "connection_lost_waiter is no longer a Future"
        )
        assert conn.recv_exc is None, REVIEW.format("next_message reads recv_exc")
        assert conn.loop is asyncio.get_running_loop() and conn.transport is not None
        messages = [await conn.next_message() for _ in range(3)]
    assert messages == [(True, b"text"), (False, b"binary"), (True, b"fragmented")], REVIEW.format(
        "_GatewayConnection.process_event: data frames arrive differently"
    )
    frames = [has_response for kind, has_response in seen if kind is Frame]
    assert len(frames) >= 4 and all(frames), REVIEW.format(
        "_GatewayConnection.process_event: frames no longer arrive as Frame events "
        "after the handshake response"
    )
    assert conn.connection_lost_waiter.done()
    assert isinstance(conn.protocol.close_exc, ConnectionClosed), REVIEW.format(
        "next_message raises protocol.close_exc"
    )
