"""The wired receive path against the real emulator: one parse per frame, one validation per
event shared by every typed consumer, raw consumers get the parsed dict (issue 13 item 1)."""

from __future__ import annotations

import json
import pickle
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from support import client_for, fast_options, take, telephony

import rcstream
from rcstream.emulator import Emulator
from rcstream.models import Notification, parse_notification
from rcstream.models.telephony import TelephonySessionsNotification

TELEPHONY = "/restapi/v1.0/account/~/extension/~/telephony/sessions"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(auth_rate_limit=None, seed=7) as emulator:
        yield emulator


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


# ---- one validate_json of the whole frame, for routes whose consumers are all typed ---------


class Spy:
    """Counts what the client's one-validate path answered (the real function runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import rcstream.client

        self.real = rcstream.client.validate_frame
        self.answered: list[str] = []
        self.declined = 0
        monkeypatch.setattr(rcstream.client, "validate_frame", self)

    def __call__(self, frame: bytes, event: str) -> Any:
        result = self.real(frame, event)
        if result is None:
            self.declined += 1
        else:
            self.answered.append(result[0].uuid)
        return result


def frame_of(note: dict[str, Any], **header: Any) -> str:
    return json.dumps([{"type": "ServerNotification", "messageId": "m-1", **header}, note])


async def test_typed_only_routes_validate_each_frame_once_from_its_bytes(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    async with (
        client_for(emu) as client,
        client.subscribe([TELEPHONY]) as first,
        client.subscribe([TELEPHONY]) as second,
    ):
        uids = [await telephony(emu) for _ in range(5)]
        got = await take(first, 5)
        again = await take(second, 5)
    assert [n.uuid for n in got] == uids
    assert all(a is b for a, b in zip(got, again, strict=True))  # one model per event
    # the first event learns the route (and the token's extension) on the general path;
    # every later one is validated straight from the frame's bytes
    assert spy.answered == uids[1:] and spy.declined == 0
    for n in got:
        assert isinstance(n, TelephonySessionsNotification)
        assert n == parse_notification(n.to_wire())  # what the general path would give


async def test_a_raw_consumer_on_the_route_keeps_the_dict_path(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    async with (
        client_for(emu) as client,
        client.subscribe([TELEPHONY]) as typed,
        client.subscribe([TELEPHONY], raw=True) as raw,
    ):
        uids = [await telephony(emu) for _ in range(3)]
        models = await take(typed, 3)
        dicts = await take(raw, 3)
    assert spy.answered == [] and spy.declined == 0  # never tried: a raw consumer needs a dict
    assert [n.uuid for n in models] == [d["uuid"] for d in dicts] == uids
    assert [n.to_wire() for n in models] == dicts


async def test_the_one_validate_path_degrades_dedupes_and_keeps_the_wsc(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    async with client_for(emu) as client, client.subscribe([TELEPHONY]) as events:
        first = await telephony(emu)
        await take(events, 1)  # the route is known from here on
        (sub,) = emu.subscriptions
        base = f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}"
        note = {
            "uuid": "fast-1",
            "event": base + "/telephony/sessions",
            "timestamp": "2026-01-01T00:00:00.000Z",
            "subscriptionId": sub.id,
            "body": {"sequence": 1, "parties": [{"status": {"code": "Brand-new"}}]},
        }
        bad = {**note, "uuid": "bad-2", "body": {"parties": 7}}
        dups = client._state.duplicates
        await emu.inject_raw(frame_of(note, wsc={"token": "w-99", "sequence": 99}))
        await emu.inject_raw(frame_of(note))  # the same uuid again: a replay, dropped
        await emu.inject_raw(frame_of(bad))
        last = await telephony(emu)
        got = await take(events, 3)
        assert client._state.wsc is not None and client._state.wsc.sequence >= 99
        assert client._state.duplicates == dups + 1  # counted once, as the general path does
    assert [n.uuid for n in got] == ["fast-1", "bad-2", last]
    fast, degraded, _ = got
    assert fast.body.parties[0].status.code == "Brand-new"  # an unknown enum value is kept
    assert type(degraded) is Notification and degraded.validation_error is not None
    assert degraded.to_wire() == bad
    # the frame with a wsc went the general path (no model may keep the session token);
    # its duplicate without one was validated, then dropped
    assert spy.answered == ["fast-1", last]
    assert spy.declined == 2  # the wsc frame, and the bad body the general path degraded
    assert b"w-99" not in pickle.dumps(fast)  # the session token does not travel with it
    assert client.stats.notifications == 4 and first not in spy.answered


async def test_with_a_checkpoint_every_event_takes_the_general_path(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # the checkpoint records each event's wsc and keeps pending events as dicts
    from rcstream.checkpoint import FileCheckpoint

    spy = Spy(monkeypatch)
    store = FileCheckpoint(tmp_path / "cp.json")
    client = rcstream.Client.from_env(emu.env(), options=fast_options(), checkpoint=store)
    async with client, client.subscribe([TELEPHONY]) as events:
        uids = [await telephony(emu) for _ in range(3)]
        got = await take(events, 3)
    assert [n.uuid for n in got] == uids
    assert spy.answered == [] and spy.declined == 0


async def test_held_lifecycle_items_come_before_the_next_event(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a Connected held back until the subscription is in place is announced by the first
    # notification that proves it is: the one-validate path leaves that event to the
    # general path, which flushes the held items first
    from rcstream.models.lifecycle import Connected

    spy = Spy(monkeypatch)
    async with (
        client_for(emu) as client,
        client.subscribe([TELEPHONY], lifecycle=True) as events,
    ):
        await telephony(emu)
        await telephony(emu)
        warm = [i for i in await take(events, 3) if isinstance(i, Notification)]
        assert len(warm) == 2 and spy.answered == [warm[1].uuid]  # the route is known
        client._hold(Connected(outcome="recovered", attempt=99))  # as after a reconnect
        uid = await telephony(emu)
        first, second = await take(events, 2)
    assert isinstance(first, Connected) and first.attempt == 99
    assert isinstance(second, Notification) and second.uuid == uid
    assert spy.answered == [warm[1].uuid]  # the event after the held item was not fast


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
async def test_a_superscript_wsc_sequence_is_a_bad_frame_not_the_end(
    emu: Emulator, raw: bool
) -> None:
    async with client_for(emu) as client, client.subscribe([TELEPHONY], raw=raw) as events:
        await telephony(emu)
        await take(events, 1)
        (sub,) = emu.subscriptions
        base = f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}"
        note = {
            "uuid": "w-1",
            "event": base + "/telephony/sessions",
            "timestamp": "t",
            "subscriptionId": sub.id,
            "body": {},
        }
        await emu.inject_raw(frame_of(note, wsc={"token": "w", "sequence": "\u00b2"}))
        last = await telephony(emu)
        (got,) = await take(events, 1)
        assert (got["uuid"] if raw else got.uuid) == last
        assert client.stats.bad_frames == 1
