"""Hostile input: oversized frames, deep JSON, invalid UTF-8, error floods, a gateway that
never says hello. Each case is bounded in time and memory and ends in a stated outcome.

REST (token, wstoken) is the emulator; the WebSocket side is either the emulator (with
``inject_raw``) or a small hostile gateway written here with python-websockets, reached by
pointing the emulator's ``wstoken`` answer at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from support import fast_options
from support import take as support_take
from websockets.asyncio.server import ServerConnection, serve

import rcstream
from rcstream.emulator import Emulator
from rcstream.models import Notification

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
EVENT = "/restapi/v1.0/account/1/extension/2/presence"
LIMIT = 10.0


def options(**kw: Any) -> rcstream.ClientOptions:
    return fast_options(**({"close_timeout": 1.0, "max_attempts": 5} | kw))


def notification(uid: str) -> str:
    return json.dumps(
        [
            {"type": "ServerNotification", "messageId": uid, "status": 200},
            {
                "uuid": uid,
                "event": EVENT,
                "timestamp": "2024-01-01T00:00:00Z",
                "subscriptionId": "sub-1",
                "ownerId": "2",
                "body": {"presenceStatus": "Available"},
            },
        ]
    )


async def take_until(events: rcstream.Subscription, uuid: str) -> list[Any]:
    """Every item up to and including the notification ``uuid``."""
    items: list[Any] = []
    with anyio.fail_after(LIMIT):
        async for item in events:
            items.append(item)
            if getattr(item, "uuid", None) == uuid:
                break
    return items


async def take(events: rcstream.Subscription[Any], n: int) -> list[Any]:
    return await support_take(events, n, LIMIT)


# ---- a hostile gateway ------------------------------------------------------------------

Scenario = Callable[[ServerConnection, int], Awaitable[None]]


class HostileGateway:
    """A WebSocket server on 127.0.0.1:0 that runs ``scenario(ws, n)`` for the n-th
    connection (from 1)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.connections = 0
        self.changed = asyncio.Event()
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.changed.set()
        try:
            await self.scenario(ws, self.connections)
        except Exception:
            pass

    async def wait_connections(self, n: int) -> None:
        with anyio.fail_after(LIMIT):
            while self.connections < n:
                self.changed.clear()
                await self.changed.wait()


async def hello(ws: ServerConnection, n: int) -> None:
    await ws.send(
        json.dumps(
            [
                {
                    "type": "ConnectionDetails",
                    "messageId": f"cd-{n}",
                    "status": 200,
                    "wsc": {"token": f"hostile-wsc-{n}", "sequence": n},
                },
                {"recoveryTimeout": 180, "idleTimeout": 1800, "maxActiveRequests": 10},
            ]
        )
    )


async def behave(ws: ServerConnection, after_subscribe: Callable[[], Awaitable[None]]) -> None:
    """Answer subscription requests and heartbeats like a gateway would."""
    async for text in ws:
        frame = json.loads(text)
        head = frame[0]
        if head.get("type") == "Heartbeat":
            await ws.send(json.dumps([{"type": "Heartbeat", "messageId": head["messageId"]}]))
        elif head.get("type") == "ClientRequest":
            method = head.get("method")
            body = None if method == "DELETE" else {"id": "sub-1", "eventFilters": [PRESENCE]}
            reply: list[Any] = [
                {
                    "type": "ClientRequest",
                    "messageId": head["messageId"],
                    "status": 204 if body is None else 200,
                }
            ]
            if body is not None:
                reply.append(body)
            await ws.send(json.dumps(reply))
            if method == "POST":
                await after_subscribe()


class RedirectingEmulator(Emulator):
    """The emulator for REST, whose ``wstoken`` answer points at another gateway."""

    redirect = ""

    @property
    def ws_url(self) -> str:
        return self.redirect


@pytest.fixture
async def hostile() -> AsyncIterator[
    Callable[[Scenario], Awaitable[tuple[HostileGateway, Emulator]]]
]:
    async with (
        RedirectingEmulator(auth_rate_limit=None, seed=31) as emu,
        contextlib.AsyncExitStack() as stack,
    ):

        async def start(scenario: Scenario) -> tuple[HostileGateway, Emulator]:
            gw = HostileGateway(scenario)
            server = await stack.enter_async_context(serve(gw.handler, "127.0.0.1", 0))
            port = next(iter(server.sockets)).getsockname()[1]
            emu.redirect = f"ws://127.0.0.1:{port}/ws"
            return gw, emu

        yield start


# ---- oversized frames -------------------------------------------------------------------


async def giant_frame_run(hostile: Any) -> tuple[list[Any], int, HostileGateway]:
    """A gateway that announces a 1 GiB text frame on the first connection."""

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                # a text frame header announcing 1 GiB, then the first 64 KiB of it
                header = bytes([0x81, 0x7F]) + (2**30).to_bytes(8, "big")
                assert ws.transport is not None
                ws.transport.write(header + b"x" * 65536)
            else:
                await ws.send(notification("after-the-giant"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    tracemalloc.start()
    try:
        client = rcstream.Client.from_env(emu.env(), options=options(max_frame_size=2**16))
        async with client, client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await take(events, 5)  # connected, disconnected, connected, gap, note
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return items, peak, gw


async def test_oversized_frame_reconnects_in_bounded_memory(hostile: Any) -> None:
    items, peak, gw = await giant_frame_run(hostile)
    assert peak < 16 * 2**20  # nowhere near the announced gigabyte
    assert sum(isinstance(i, rcstream.Disconnected) for i in items) == 1
    assert [i.uuid for i in items if isinstance(i, Notification)] == ["after-the-giant"]
    assert gw.connections == 2


async def test_oversized_frame_reason_names_max_frame_size(hostile: Any) -> None:
    items, _, _ = await giant_frame_run(hostile)
    disconnected = next(i for i in items if isinstance(i, rcstream.Disconnected))
    assert "max_frame_size" in disconnected.reason


async def test_oversized_frame_from_the_emulator_costs_one_reconnect() -> None:
    async with Emulator(auth_rate_limit=None, seed=32) as emu:
        client = rcstream.Client.from_env(emu.env(), options=options(max_frame_size=2**16))
        async with client, client.subscribe(PRESENCE) as events:
            await emu.inject_raw(notification("big") + " " * 2**17)
            await emu.wait_for_stat("recoveries_succeeded", 1, LIMIT)
            uid = await emu.publish_generated("presence")
            (note,) = await take(events, 1)
    assert note.uuid == uid
    assert client.stats.connects == 2


# ---- deeply nested JSON -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [50, 900, 5_000, 200_000])
async def test_deeply_nested_json_is_skipped_or_delivered_never_fatal(depth: int) -> None:
    async with Emulator(auth_rate_limit=None, seed=33) as emu:
        client = rcstream.Client.from_env(emu.env(), options=options())
        async with client, client.subscribe(PRESENCE) as events:
            nested = "[" * depth + "]" * depth
            body = '{"a":' * depth + "1" + "}" * depth
            deep_note = notification("deep").replace('{"presenceStatus": "Available"}', body)
            with anyio.fail_after(LIMIT):
                await emu.inject_raw(nested)
                await emu.inject_raw(deep_note)
                uid = await emu.publish_generated("presence")
                got = await take(events, 1)
                if got[0].uuid == "deep":  # a deep but decodable body is delivered first
                    got += await take(events, 1)
    assert got[-1].uuid == uid
    assert client.stats.connects == 1  # never worth the connection
    assert client.stats.bad_frames >= 1  # at least the bare nested array
    if depth >= 5_000:
        assert [n.uuid for n in got] == [uid]  # beyond the recursion limit: skipped


# ---- invalid UTF-8 ------------------------------------------------------------------------


async def test_binary_frames_with_invalid_utf8_are_skipped(hostile: Any) -> None:
    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            await ws.send(b"\xff\xfe[\x80\x81]")  # binary, not UTF-8
            await ws.send(notification("binary-ok").encode())  # binary, valid JSON
            await ws.send(notification("text-ok"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    async with client, client.subscribe(PRESENCE) as events:
        got = await take(events, 2)
    assert [n.uuid for n in got] == ["binary-ok", "text-ok"]
    assert client.stats.bad_frames == 1
    assert gw.connections == 1


async def test_text_frame_with_invalid_utf8_fails_the_connection_and_reconnects(
    hostile: Any,
) -> None:
    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                payload = b'["\xff\xfe"]'
                assert ws.transport is not None
                ws.transport.write(bytes([0x81, len(payload)]) + payload)  # text, bad UTF-8
            else:
                await ws.send(notification("after-bad-utf8"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    async with client, client.subscribe(PRESENCE, lifecycle=True) as events:
        items = await take(events, 5)
    disconnected = next(i for i in items if isinstance(i, rcstream.Disconnected))
    assert "1007" in disconnected.reason or "lost" in disconnected.reason
    assert [i.uuid for i in items if isinstance(i, Notification)] == ["after-bad-utf8"]
    assert gw.connections == 2


@pytest.mark.parametrize("then_what", ["close_in_same_read", "never_answer_the_close"])
async def test_invalid_utf8_when_the_close_cannot_be_sent_still_reconnects(
    hostile: Any, then_what: str
) -> None:
    """The 1007 close can fail to go out: the gateway's own close frame arrived in the same
    read, or it never reads again. Either way the connection is over: reconnect."""
    deaf: list[ServerConnection] = []

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                payload = b'["\xff\xfe"]'
                frame = bytes([0x81, len(payload)]) + payload
                assert ws.transport is not None
                if then_what == "close_in_same_read":
                    close = bytes([0x88, 2]) + (1000).to_bytes(2, "big")
                    ws.transport.write(frame + close)
                    ws.transport.close()
                else:
                    ws.transport.pause_reading()  # never sees the client's close frame
                    ws.transport.write(frame)
                    deaf.append(ws)
            else:
                await ws.send(notification("after-bad-utf8"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options(close_timeout=0.3))
    async with client, client.subscribe(PRESENCE, lifecycle=True) as events:
        items = await take_until(events, "after-bad-utf8")
    assert any(isinstance(i, rcstream.Disconnected) for i in items)
    assert gw.connections == 2
    for ws in deaf:  # or the server's shutdown waits out its own close timeout
        assert ws.transport is not None
        ws.transport.abort()


# ---- a flood of error frames ----------------------------------------------------------------


async def test_flood_of_error_frames_costs_one_reconnect(hostile: Any) -> None:
    flood = 20_000

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                frame = json.dumps(
                    [{"type": "Error", "status": 400}, {"errorCode": "WSG-500", "message": "x"}]
                )
                for _ in range(flood):
                    await ws.send(frame)
            else:
                await ws.send(notification("after-the-flood"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    with anyio.fail_after(LIMIT):
        async with client, client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await take(events, 5)
    assert [i.uuid for i in items if isinstance(i, Notification)] == ["after-the-flood"]
    # an undocumented code: the client keeps reading until the server closes or
    # close_timeout passes (as the official SDKs do), then closes once: one reconnect
    assert client.stats.gateway_errors >= 1
    assert gw.connections == 2


async def test_flood_of_unmatched_request_errors_is_survived(hostile: Any) -> None:
    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            for i in range(2_000):  # errors naming requests nobody made
                await ws.send(
                    json.dumps(
                        [
                            {"type": "ClientRequest", "messageId": f"nobody-{i}", "status": 500},
                            {"errorCode": "CMN-500", "message": "boom"},
                        ]
                    )
                )
            await ws.send(notification("after-the-noise"))

        await behave(ws, then)

    _, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    async with client, client.subscribe(PRESENCE) as events:
        (note,) = await take(events, 1)
    assert note.uuid == "after-the-noise"
    assert client.stats.connects == 1
    assert client._state.pending_count == 0


# ---- a gateway that never says hello ---------------------------------------------------------


async def test_gateway_without_connection_details_gives_up_with_a_sentence(
    hostile: Any,
) -> None:
    async def scenario(ws: ServerConnection, n: int) -> None:
        async for _ in ws:  # reads, never answers
            pass

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(
        emu.env(), options=options(connect_timeout=0.2, max_attempts=2)
    )
    with anyio.fail_after(LIMIT):
        async with client:
            with pytest.raises(rcstream.RecoveryFailedError) as info:
                async with client.subscribe(PRESENCE):
                    pass  # pragma: no cover
    message = str(info.value)
    assert "ConnectionDetails" in message
    assert "2 failed connection attempts" in message
    assert gw.connections == 3  # the first try and two retries, then it stops


# ---- replays ------------------------------------------------------------------------------------


async def test_replayed_uuid_is_dropped() -> None:
    async with Emulator(auth_rate_limit=None, seed=34) as emu:
        client = rcstream.Client.from_env(emu.env(), options=options())
        async with client, client.subscribe(PRESENCE) as events:
            uid = await emu.publish_generated("presence")
            (first,) = await take(events, 1)
            await emu.inject_raw(notification(uid))  # the same uuid again
            after = await emu.publish_generated("presence")
            (second,) = await take(events, 1)
    assert (first.uuid, second.uuid) == (uid, after)
    assert client.stats.notifications == 2


async def test_replayed_uuid_is_counted_in_stats() -> None:
    async with Emulator(auth_rate_limit=None, seed=35) as emu:
        client = rcstream.Client.from_env(emu.env(), options=options())
        async with client, client.subscribe(PRESENCE) as events:
            uid = await emu.publish_generated("presence")
            await take(events, 1)
            await emu.inject_raw(notification(uid))
            await emu.publish_generated("presence")
            await take(events, 1)
    assert client.stats.duplicates == 1


# ---- framing the client's receive path must get right ---------------------------------------


async def test_fragmented_message_with_a_ping_between_fragments_is_one_frame(
    hostile: Any,
) -> None:
    """RFC 6455 allows a text message in fragments (TEXT fin=0, CONT ..., CONT fin=1) with
    control frames in between: the client reassembles it and answers the ping."""
    pongs: list[bytes] = []

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            text = notification("fragmented").encode()
            third = len(text) // 3
            parts = [text[:third], text[third : 2 * third], text[2 * third :]]
            assert ws.transport is not None
            write = ws.transport.write
            write(bytes([0x01, len(parts[0])]) + parts[0])  # TEXT, not final
            pong = await ws.ping(b"mid-message")  # a control frame between fragments
            write(bytes([0x00, len(parts[1])]) + parts[1])  # CONT, not final
            write(bytes([0x80, len(parts[2])]) + parts[2])  # CONT, final
            await ws.send(notification("whole"))
            await pong
            pongs.append(b"mid-message")

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    async with client, client.subscribe(PRESENCE) as events:
        got = await take(events, 2)
    assert [n.uuid for n in got] == ["fragmented", "whole"]
    assert pongs == [b"mid-message"]
    assert client.stats.bad_frames == 0
    assert gw.connections == 1


async def test_messages_sent_just_before_a_close_are_all_delivered(hostile: Any) -> None:
    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                for i in range(50):
                    await ws.send(notification(f"before-close-{i}"))
                await ws.close(1001, "going away")
            else:
                await ws.send(notification("after-reconnect"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    async with client, client.subscribe(PRESENCE, lifecycle=True) as events:
        items = await take_until(events, "after-reconnect")
    uuids = [i.uuid for i in items if isinstance(i, Notification)]
    assert uuids == [f"before-close-{i}" for i in range(50)] + ["after-reconnect"]
    disconnected = next(i for i in items if isinstance(i, rcstream.Disconnected))
    assert "1001" in disconnected.reason
    assert gw.connections == 2


@pytest.mark.parametrize(
    "marks",
    [
        {"_HIGH_WATER": 4, "_LOW_WATER": 1},  # by message count
        {"_HIGH_BYTES": 1500, "_LOW_BYTES": 300},  # by queued bytes (~250 per message)
    ],
    ids=["messages", "bytes"],
)
async def test_reading_pauses_above_the_high_water_mark_and_resumes(
    hostile: Any, monkeypatch: pytest.MonkeyPatch, marks: dict[str, int]
) -> None:
    """A burst larger than the transport's queue pauses socket reads until the reader has
    caught up, then resumes: every message still arrives, in order."""
    import rcstream.transport as transport_mod

    for name, value in marks.items():
        monkeypatch.setattr(transport_mod, name, value)
    pauses: list[bool] = []
    real_push = transport_mod._GatewayConnection._push

    def spy(self: Any, is_text: bool, data: bytes) -> None:
        real_push(self, is_text, data)
        pauses.append(self.reading_paused)

    monkeypatch.setattr(transport_mod._GatewayConnection, "_push", spy)

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            burst = b""
            for i in range(40):
                payload = notification(f"burst-{i}").encode()
                burst += bytes([0x81, 126]) + len(payload).to_bytes(2, "big") + payload
            assert ws.transport is not None
            ws.transport.write(burst)  # one write: the client reads it in one go

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    async with client, client.subscribe(PRESENCE) as events:
        got = await take(events, 40)
    assert [n.uuid for n in got] == [f"burst-{i}" for i in range(40)]
    assert any(pauses)  # the queue went above the mark at least once
    assert gw.connections == 1


# ---- unsolicited Error frames end with a close handshake (issue 11 item 6) ---------------


def error_frame(code: str) -> str:
    return json.dumps([{"type": "Error", "status": 400}, {"errorCode": code, "message": "x"}])


async def test_documented_error_code_ends_the_connection_with_a_close_handshake(
    hostile: Any,
) -> None:
    closes: list[int | None] = []

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                await ws.send(error_frame("WSG-902"))
            else:
                await ws.send(notification("after-902"))

        try:
            await behave(ws, then)
        finally:
            closes.append(ws.close_code)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    with anyio.fail_after(LIMIT):
        async with client, client.subscribe(PRESENCE) as events:
            (item,) = await take(events, 1)
    assert item.uuid == "after-902"
    assert closes[0] == 1000  # the client said goodbye (an abort shows as 1006)
    assert gw.connections == 2


async def test_undocumented_error_code_keeps_reading_until_the_server_closes(
    hostile: Any,
) -> None:
    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)

        async def then() -> None:
            if n == 1:
                await ws.send(error_frame("XYZ-1"))
                await ws.send(notification("read-after-the-error"))
                await ws.close()
            else:
                await ws.send(notification("next-connection"))

        await behave(ws, then)

    gw, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options())
    with anyio.fail_after(LIMIT):
        async with client, client.subscribe(PRESENCE) as events:
            items = await take(events, 2)
    assert [i.uuid for i in items] == ["read-after-the-error", "next-connection"]
    assert gw.connections == 2


async def test_undocumented_error_code_then_silence_is_closed_cleanly_after_close_timeout(
    hostile: Any,
) -> None:
    closes: list[int | None] = []
    waited: list[float] = []

    async def scenario(ws: ServerConnection, n: int) -> None:
        await hello(ws, n)
        sent_at = time.monotonic()

        async def then() -> None:
            nonlocal sent_at
            if n == 1:
                await ws.send(error_frame("XYZ-2"))  # and never closes
                sent_at = time.monotonic()
            else:
                await ws.send(notification("after-the-wait"))

        try:
            await behave(ws, then)
        finally:
            closes.append(ws.close_code)
            if n == 1:
                waited.append(time.monotonic() - sent_at)

    _, emu = await hostile(scenario)
    client = rcstream.Client.from_env(emu.env(), options=options(close_timeout=0.3))
    with anyio.fail_after(LIMIT):
        async with client, client.subscribe(PRESENCE) as events:
            (item,) = await take(events, 1)
    assert item.uuid == "after-the-wait"
    assert closes[0] == 1000
    assert waited[0] >= 0.25  # the client kept reading for close_timeout (0.3 s) first
