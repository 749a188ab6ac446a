"""The RingCentral WebHook receiver over real HTTP on 127.0.0.1 port 0."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rcstream.models import Notification, PresenceNotification, parse_notification
from rcstream.models.lifecycle import Gap
from rcstream.webhooks import WebhookReceiver
from rcstream.webhooks.ringcentral import _envelope_ok

TOKEN = "s3cret-verification-token"
STEP = 5.0
PRESENCE = "/restapi/v1.0/account/123/extension/456/presence"


def notification(uid: str | None = None, **body: Any) -> dict[str, Any]:
    return {
        "uuid": uid or str(uuid.uuid4()),
        "event": PRESENCE,
        "timestamp": "2026-01-01T00:00:00.000Z",
        "subscriptionId": "sub-1",
        "ownerId": "456",
        "body": {
            "extensionId": 456,
            "telephonyStatus": "NoCall",
            "presenceStatus": "Available",
            **body,
        },
    }


async def post(
    url: str, body: bytes | dict[str, Any] | None = None, **headers: str
) -> aiohttp.ClientResponse:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, data=data, headers={k.replace("_", "-"): v for k, v in headers.items()}
        ) as resp:
            await resp.read()
            return resp


async def next_item(rx: WebhookReceiver) -> Any:
    async with asyncio.timeout(STEP):
        return await anext(rx)


async def test_handshake_echoes_token_in_a_small_json_response() -> None:
    async with WebhookReceiver(token=TOKEN) as rx:
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nValidation-Token: abc-123\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), STEP)
        writer.close()
        await writer.wait_closed()
    head = raw.decode()
    assert head.startswith("HTTP/1.1 200")
    assert "Validation-Token: abc-123\r\n" in head
    assert "Content-Type: application/json" in head
    assert len(raw) <= 1024, len(raw)
    assert rx.stats.handshakes == 1
    assert rx.stats.delivered == 0


async def test_handshake_needs_no_verification_token_but_delivers_nothing() -> None:
    async with WebhookReceiver(token=TOKEN) as rx:
        resp = await post(rx.url, None, Validation_Token="v-1")
        assert resp.status == 200
        assert resp.headers["Validation-Token"] == "v-1"
        # a notification then arrives and is the first item: the handshake queued nothing
        resp = await post(rx.url, notification(), Verification_Token=TOKEN)
        assert resp.status == 200
        item = await next_item(rx)
        assert isinstance(item, PresenceNotification)


@pytest.mark.parametrize("header", ["Verification-Token", "Validation-Token"])
async def test_notification_authenticated_by_either_header(header: str) -> None:
    async with WebhookReceiver(token=TOKEN) as rx:
        sent = notification()
        resp = await post(rx.url, sent, **{header.replace("-", "_"): TOKEN})
        assert resp.status == 200
        # with Validation-Token and a notification body it is not taken for a handshake
        assert "Validation-Token" not in resp.headers
        item = await next_item(rx)
        assert isinstance(item, Notification)
        assert item.to_wire() == sent


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Verification_Token": "wrong"},
        {"Validation_Token": "wrong"},
        {"Verification_Token": ""},
    ],
)
async def test_wrong_or_missing_token_is_refused_counted_and_loud(
    headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="rcstream.webhooks.ringcentral")
    async with WebhookReceiver(token=TOKEN, raw=True) as rx:
        resp = await post(rx.url, notification(), **headers)
        assert 400 <= resp.status < 500
        assert rx.stats.rejected == 1
        ok = notification()
        assert (await post(rx.url, ok, Verification_Token=TOKEN)).status == 200
        assert await next_item(rx) == ok  # the refused one was never queued
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings
    assert "blacklisting" in warnings[0].getMessage()
    assert TOKEN not in caplog.text


async def test_duplicates_by_uuid_answered_200_and_dropped() -> None:
    async with WebhookReceiver(token=TOKEN, raw=True) as rx:
        first = notification("dup-1")
        for _ in range(3):
            assert (await post(rx.url, first, Verification_Token=TOKEN)).status == 200
        last = notification("other")
        assert (await post(rx.url, last, Verification_Token=TOKEN)).status == 200
        assert await next_item(rx) == first
        assert await next_item(rx) == last
        assert rx.stats.duplicates == 2
        assert rx.stats.delivered == 2


async def test_overflow_answers_200_drops_oldest_and_reports_a_gap() -> None:
    async with WebhookReceiver(token=TOKEN, raw=True, lifecycle=True, queue_size=2) as rx:
        sent = [notification(f"n{i}") for i in range(5)]
        for n in sent:
            assert (await post(rx.url, n, Verification_Token=TOKEN)).status == 200
        gap = await next_item(rx)
        assert isinstance(gap, Gap)
        assert gap.reason == "buffer_overflow"
        assert gap.dropped == 3
        assert await next_item(rx) == sent[3]
        assert await next_item(rx) == sent[4]
        assert rx.stats.dropped == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2, 3]", 400),
        (b'{"uuid": 1, "event": 2}', 400),
        (b'{"no": "notification"}', 400),
        (b'{"uuid": "u", "event": "/x"}', 400),
        (b'{"uuid": "u", "event": "/x", "timestamp": 5}', 400),
        (b'{"uuid": "u", "event": "/x", "timestamp": "t", "ownerId": 7}', 400),
        # the models also read envelope fields by their Python names: these were answered
        # 200, then skipped by the typed consumer with a warning (acknowledged, then lost)
        (b'{"uuid": "u", "event": "/x", "timestamp": "t", "owner_id": 7}', 400),
        (b'{"uuid": "u", "event": "/x", "timestamp": "t", "subscription_id": [1]}', 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b"\xff\xfe\x00garbage", 400),
        (b"", 400),
    ],
)
async def test_hostile_bodies_get_400_and_never_crash(body: bytes, status: int) -> None:
    async with WebhookReceiver(token=TOKEN) as rx:
        resp = await post(rx.url, body, Verification_Token=TOKEN)
        assert resp.status == status
        assert rx.stats.malformed == 1
        ok = notification()
        assert (await post(rx.url, ok, Verification_Token=TOKEN)).status == 200
        assert (await next_item(rx)).uuid == ok["uuid"]


_FIELD = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=4)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)


@settings(max_examples=300, deadline=None)
@given(
    uid=_FIELD | st.text(min_size=1),
    event=st.sampled_from([PRESENCE, "/restapi/v1.0/some/future/event"]) | _FIELD,
    timestamp=_FIELD | st.just("2026-01-01T00:00:00Z"),
    rest=st.dictionaries(
        st.sampled_from(
            ["subscriptionId", "subscription_id", "ownerId", "owner_id", "body", "other"]
        ),
        _FIELD,
        max_size=4,
    ),
)
def test_every_envelope_the_receiver_accepts_parses(
    uid: Any, event: Any, timestamp: Any, rest: dict[str, Any]
) -> None:
    # what the handler queues, the typed iterator parses: it never meets a FrameDecodeError
    data = {"uuid": uid, "event": event, "timestamp": timestamp, **rest}
    if _envelope_ok(data):
        assert parse_notification(data).uuid == uid


async def test_body_over_the_cap_gets_413() -> None:
    async with WebhookReceiver(token=TOKEN, max_body=4096) as rx:
        big = notification(note="x" * 10_000)
        assert (await post(rx.url, big, Verification_Token=TOKEN)).status == 413

        # chunked (no Content-Length) is capped too
        async def chunks() -> Any:
            for _ in range(10):
                yield b"x" * 1000

        async with aiohttp.ClientSession() as http:
            async with http.post(rx.url, data=chunks(), headers={"Verification-Token": TOKEN}) as r:
                assert r.status == 413
        assert rx.stats.too_large == 2


async def test_other_methods_and_paths_are_refused() -> None:
    async with WebhookReceiver(token=TOKEN, path="/hooks/rc") as rx:
        assert rx.url.endswith("/hooks/rc")
        async with aiohttp.ClientSession() as http:
            async with http.get(rx.url) as r:
                assert r.status == 405
            async with http.post(rx.url.replace("/hooks/rc", "/other")) as r:
                assert r.status == 404


async def test_unknown_event_is_a_generic_notification_and_repr_hides_token() -> None:
    async with WebhookReceiver(token=TOKEN) as rx:
        sent = notification()
        sent["event"] = "/restapi/v1.0/some/future/event"
        assert (await post(rx.url, sent, Verification_Token=TOKEN)).status == 200
        item = await next_item(rx)
        assert type(item) is Notification
        assert TOKEN not in repr(rx)


async def test_iteration_ends_after_close_once_drained() -> None:
    rx = WebhookReceiver(token=TOKEN, raw=True)
    async with rx:
        sent = notification()
        assert (await post(rx.url, sent, Verification_Token=TOKEN)).status == 200
    items = [item async for item in rx]
    assert items == [sent]


async def test_a_large_body_under_the_cap_arrives_whole() -> None:
    async with WebhookReceiver(token=TOKEN, raw=True) as rx:
        sent = notification(note="y" * 600_000)
        assert (await post(rx.url, sent, Verification_Token=TOKEN)).status == 200
        assert await next_item(rx) == sent


async def test_a_body_that_does_not_decode_as_its_content_encoding_gets_400(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Review of issue 15: a corrupt gzip/deflate body was answered 500 with an ERROR
    # traceback (from the handler, then again from aiohttp draining it).
    import zlib

    caplog.set_level(logging.WARNING)
    good = {"uuid": "u1", "event": "/restapi/v1.0/x", "timestamp": "t", "body": {}}
    async with WebhookReceiver(token=TOKEN, raw=True) as rx, aiohttp.ClientSession() as http:
        for encoding, data in (
            ("gzip", b"not gzip at all"),
            ("deflate", b"not deflate either"),
            ("gzip", zlib.compress(json.dumps(good).encode())[:-6] + b"garbage!"),
        ):
            async with http.post(
                rx.url,
                data=data,
                headers={"Verification-Token": TOKEN, "Content-Encoding": encoding},
            ) as r:
                assert r.status == 400
        assert rx.stats.malformed == 3
        compressed = zlib.compress(json.dumps(good).encode())  # deflate done right still works
        async with http.post(
            rx.url,
            data=compressed,
            headers={"Verification-Token": TOKEN, "Content-Encoding": "deflate"},
        ) as r:
            assert r.status == 200
        async with asyncio.timeout(5):
            item = await anext(rx)
        assert item == good
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Content-Encoding" in caplog.text


async def test_the_validation_token_cap_counts_bytes_not_characters() -> None:
    # Review of issue 15: 300 two-byte characters are 600 bytes on the wire, past the
    # 512-byte cap that keeps the answer within RingCentral's 1,024 bytes.
    async with WebhookReceiver(token=TOKEN) as rx:
        reader, writer = await asyncio.open_connection("127.0.0.1", rx.port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nValidation-Token: "
            + "\u00e9".encode() * 300
            + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), STEP)
        writer.close()
        await writer.wait_closed()
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    assert rx.stats.handshakes == 0
