"""The wired receive path against the real emulator: one parse per frame, one validation per
event shared by every typed consumer, raw consumers get the parsed dict (issue 13 item 1)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from support import fast_options

import rcstream
from rcstream.emulator import Emulator
from rcstream.models import Notification, parse_notification
from rcstream.models.telephony import TelephonySessionsNotification

TELEPHONY = "/restapi/v1.0/account/~/extension/~/telephony/sessions"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(auth_rate_limit=None, seed=7) as emulator:
        yield emulator


def client_for(emulator: Emulator) -> rcstream.Client:
    return rcstream.Client.from_env(emulator.env(), options=fast_options())


async def telephony(emulator: Emulator) -> str:
    return await emulator.publish_generated("telephony-sessions")


async def take(events: rcstream.Subscription[Any], n: int) -> list[Any]:
    out: list[Any] = []
    with anyio.fail_after(10):
        async for item in events:
            out.append(item)
            if len(out) == n:
                break
    return out


async def test_typed_consumers_share_one_model_and_raw_gets_the_dict(emu: Emulator) -> None:
    async with (
        client_for(emu) as client,
        client.subscribe([TELEPHONY]) as first,
        client.subscribe([TELEPHONY]) as second,
        client.subscribe([TELEPHONY], raw=True) as raw,
    ):
        uid = await telephony(emu)
        (a,) = await take(first, 1)
        (b,) = await take(second, 1)
        (d,) = await take(raw, 1)
    assert a is b  # validated once, the same frozen model to every typed consumer
    assert isinstance(a, TelephonySessionsNotification)
    assert a.uuid == uid == d["uuid"]
    assert type(d) is dict
    assert a.to_wire() == d  # lossless: the received notification
    assert a == parse_notification(d)  # the slow path gives the same model


async def test_a_bad_body_degrades_once_for_every_typed_consumer(emu: Emulator) -> None:
    async with (
        client_for(emu) as client,
        client.subscribe([TELEPHONY]) as first,
        client.subscribe([TELEPHONY]) as second,
    ):
        (sub,) = emu.subscriptions
        base = f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}"
        event = base + "/telephony/sessions"
        bad = {
            "uuid": "bad-1",
            "event": event,
            "timestamp": "2026-01-01T00:00:00.000Z",
            "subscriptionId": sub.id,
            "body": {"parties": 7},
        }
        frame = json.dumps([{"type": "ServerNotification", "messageId": "m-1"}, bad])
        await emu.inject_raw(frame)
        (a,) = await take(first, 1)
        (b,) = await take(second, 1)
        assert client.stats.bad_frames == 0
    assert a is b
    assert type(a) is Notification  # degraded before it was yielded, never a crash
    assert a.validation_error is not None
    assert a.to_wire() == bad


async def test_non_ascii_frames_and_unreadable_envelopes(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe([TELEPHONY]) as first:
        async with client.subscribe([TELEPHONY]) as second:
            (sub,) = emu.subscriptions
            base = f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}"
            event = base + "/telephony/sessions"
            # an envelope without a usable uuid type: unreadable, logged and counted once
            broken = {
                "uuid": 5,
                "event": event,
                "timestamp": "2026-01-01T00:00:00.000Z",
                "subscriptionId": sub.id,
                "body": {},
            }
            await emu.inject_raw(json.dumps([{"type": "ServerNotification"}, broken]))
            note = {
                "uuid": "u-é",
                "event": event,
                "timestamp": "2026-01-01T00:00:00.000Z",
                "subscriptionId": sub.id,
                "body": {},
            }
            text = json.dumps([{"type": "ServerNotification"}, note], ensure_ascii=False)
            await emu.inject_raw(text)
            (a,) = await take(first, 1)
            (b,) = await take(second, 1)
            with anyio.fail_after(5):
                while client.stats.bad_frames < 1:
                    await anyio.sleep(0.01)
            assert client.stats.bad_frames == 1  # once for the event, not once per consumer
        uid = await telephony(emu)
        (c,) = await take(first, 1)
    assert a is b and a.uuid == "u-é"
    assert c.uuid == uid
