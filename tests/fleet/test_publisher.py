"""Publishing to a real JetStream: subjects, ordered acks, dedup, and a NATS restart."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from rcstream.exceptions import ConfigurationError
from rcstream.fleet.errors import NatsUnavailable
from rcstream.fleet.publisher import Ack, Publisher
from rcstream.fleet.server import NatsServer
from rcstream.fleet.status import AccountStatus, FleetStatus, format_status
from rcstream.fleet.subjects import (
    MIN_DUPLICATE_WINDOW,
    ensure_stream,
    family_of,
    lifecycle_json,
    lifecycle_record,
    subject_for,
)
from rcstream.models.lifecycle import Gap, iso_utc


async def stream_msg_ids(js: Any, stream: str) -> list[str]:
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        ids.append(msg.headers["Nats-Msg-Id"])
    return ids


def test_subject_vocabulary() -> None:
    assert family_of("/restapi/v1.0/account/~/extension/~/telephony/sessions") == (
        "telephony-sessions"
    )
    assert family_of("/restapi/v1.0/something/nobody/knows") == "unknown"
    assert family_of(None) == "unknown"
    assert subject_for(37439510, "message-store") == "rcstream.37439510.message-store"
    assert subject_for("37439510", "lifecycle") == "rcstream.37439510.lifecycle"
    with pytest.raises(ConfigurationError, match="not numeric"):
        subject_for("acme", "fax")


def test_one_lifecycle_shape_and_one_timestamp_format() -> None:
    at = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z
    assert iso_utc(at) == "2026-01-01T00:00:00.250Z"
    record = lifecycle_record("37439510", "owner", at=at, worker="w1", resumed=True)
    assert record == {
        "type": "owner",
        "worker": "w1",
        "resumed": True,
        "account": "37439510",
        "at": "2026-01-01T00:00:00.250Z",
    }
    assert lifecycle_json(record) == (
        b'{"type":"owner","worker":"w1","resumed":true,"account":"37439510",'
        b'"at":"2026-01-01T00:00:00.250Z"}'
    )
    # a client lifecycle item keeps its own at (the same format)
    gap = Gap(reason="buffer_overflow", message="m", dropped=2).model_dump(mode="json")
    item = lifecycle_record("1", gap.pop("type"), at=gap.pop("at"), **gap)
    assert item["type"] == "gap" and item["account"] == "1" and item["dropped"] == 2
    assert len(item["at"]) == len("2026-01-01T00:00:00.250Z") and item["at"].endswith("Z")
    # fleet status prints the last gap in the same format
    row = AccountStatus("acme", "w1", "1", last_gap_at=at, last_gap_reason="owner_fenced")
    text = format_status(FleetStatus(at, ("w1",), (row,)))
    assert "2026-01-01T00:00:00.250Z owner_fenced" in text


async def test_stream_created_then_warned_about(js: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="rcstream.fleet")
    setup = await ensure_stream(js, "RCS")
    assert setup.created and setup.duplicate_window == MIN_DUPLICATE_WINDOW
    assert "created JetStream stream RCS" in caplog.text
    info = await js.stream_info("RCS")
    assert info.config.duplicate_window == MIN_DUPLICATE_WINDOW
    assert info.config.subjects == ["rcstream.>"]
    again = await ensure_stream(js, "RCS")
    assert not again.created and again.warning is None

    await js.delete_stream("RCS")  # streams may not overlap: SHORT takes rcstream.>
    await js.add_stream(name="SHORT", subjects=["rcstream.>"], duplicate_window=120)
    short = await ensure_stream(js, "SHORT")
    assert short.warning is not None and "120 s" in short.warning
    assert "dupe-window" in caplog.text


async def test_acks_in_order_and_duplicates_stored_once(js: Any) -> None:
    await ensure_stream(js, "RCS")
    acks: list[Ack] = []
    ids = [str(uuid.uuid4()) for _ in range(300)]
    async with Publisher(js, stream="RCS", max_in_flight=32, on_ack=acks.append) as pub:
        for i, mid in enumerate(ids):
            await pub.publish(subject_for(1, "fax"), f'{{"n":{i}}}'.encode(), mid, context=i)
        assert pub.in_flight <= 32
        # the same ids again, as a replay after a reconnect would send them
        for mid in ids[:50]:
            await pub.publish(subject_for(1, "fax"), b"replayed", mid)
    assert [a.index for a in acks] == list(range(350))
    assert [a.context for a in acks[:300]] == list(range(300))
    assert all(a.duplicate for a in acks[300:]) and not any(a.duplicate for a in acks[:300])
    assert sorted(await stream_msg_ids(js, "RCS")) == sorted(ids)
    msg = await js.get_msg("RCS", 1)
    assert msg.data == b'{"n":0}' and msg.subject == "rcstream.1.fax"


async def test_notification_and_lifecycle_helpers(js: Any) -> None:
    await ensure_stream(js, "RCS")
    raw = b'{"uuid":"u-1","event":"/restapi/v1.0/account/~/extension/~/telephony/sessions"}'
    async with Publisher(js, stream="RCS") as pub:
        ack = await pub.publish_notification(
            "37439510",
            raw,
            event="/restapi/v1.0/account/~/extension/~/telephony/sessions",
            uuid="u-1",
        )
        life = await pub.publish_lifecycle(37439510, {"type": "gap", "missed": 3})
    assert (await ack).subject == "rcstream.37439510.telephony-sessions"
    assert (await life).subject == "rcstream.37439510.lifecycle"
    first, second = await js.get_msg("RCS", 1), await js.get_msg("RCS", 2)
    assert first.data == raw and first.headers["Nats-Msg-Id"] == "u-1"
    assert second.data == b'{"type":"gap","missed":3}'


async def test_nats_restart_at_steady_rate_loses_nothing(nats_server: NatsServer, js: Any) -> None:
    """The server is killed for a few seconds mid-stream (SIGKILL, same port and store):
    publishing blocks instead of dropping, and every uuid ends up in the stream once."""
    await ensure_stream(js, "RCS")
    acked: list[Ack] = []
    sent: list[str] = []
    half = asyncio.Event()
    stop = asyncio.Event()
    enough = asyncio.Event()
    goal = [10**9]

    def on_ack(ack: Ack) -> None:
        acked.append(ack)
        if len(acked) >= goal[0]:
            enough.set()

    async def producer(pub: Publisher) -> None:
        i = 0
        while not stop.is_set():
            mid = str(uuid.uuid4())
            sent.append(mid)
            await pub.publish(subject_for(7, "message-store"), str(i).encode(), mid)
            i += 1
            if i == 100:
                half.set()
            await asyncio.sleep(0.01)  # the steady event rate (100/s) is the point of the test

    async with Publisher(js, stream="RCS", max_in_flight=64, ack_timeout=0.5, on_ack=on_ack) as pub:
        task = asyncio.create_task(producer(pub))
        await asyncio.wait_for(half.wait(), 30)
        await nats_server.stop()
        down_at = len(sent)
        await asyncio.sleep(3.0)  # the outage itself: the server is gone for 3 s
        assert len(sent) - len(acked) <= 64 + 1  # publishing blocked: bounded, nothing dropped
        await nats_server.start()
        goal[0] = down_at + 200  # keep publishing well past the restart
        await asyncio.wait_for(enough.wait(), 60)
        stop.set()
        await task
    assert pub.retries > 0
    assert [a.index for a in acked] == list(range(len(sent)))
    stored = await stream_msg_ids(js, "RCS")
    assert len(stored) == len(set(stored)) == len(sent)
    assert set(stored) == set(sent)


async def test_connection_closed_for_good_fails_blocked_publishers(js: Any, nc: Any) -> None:
    """A closed connection is not an outage: waiting publishers and pending acks get one
    NatsUnavailable each instead of blocking forever."""
    from rcstream.fleet.errors import NatsUnavailable

    await ensure_stream(js, "RCS")
    pub = Publisher(js, stream="RCS", max_in_flight=2, ack_timeout=0.2)
    await nc.close()
    first = await pub.publish(subject_for(1, "fax"), b"1", "m1")
    await pub.publish(subject_for(1, "fax"), b"2", "m2")
    with pytest.raises(NatsUnavailable, match="resume from the checkpoint"):
        await asyncio.wait_for(pub.publish(subject_for(1, "fax"), b"3", "m3"), 10)
    with pytest.raises(NatsUnavailable):
        await first
    with pytest.raises(NatsUnavailable):
        await pub.aclose()


async def test_stream_not_covering_our_subjects_is_refused(js: Any) -> None:
    from nats.js import api

    from rcstream.fleet.subjects import covers_ours

    await js.add_stream(api.StreamConfig(name="RCSTREAM", subjects=["other.>"]))
    with pytest.raises(ConfigurationError, match=r"add rcstream\.> to its subjects"):
        await ensure_stream(js, "RCSTREAM")
    assert covers_ours(["rcstream.>"]) and covers_ours([">"]) and covers_ours(["rcstream.*.*"])
    assert covers_ours(["x.>", "rcstream.*.>"])
    assert not covers_ours(["rcstream.123.>"]) and not covers_ours(["rcstream.*"])
    assert not covers_ours(["rcstream.*.lifecycle"]) and not covers_ours([])


async def test_no_stream_for_the_subject_fails_with_one_sentence(js: Any) -> None:
    # nothing stores rcstream.>: a moment of this is a JetStream restart, longer is a mistake
    pub = Publisher(js, ack_timeout=0.5, no_stream_grace=0.3)
    fut = await pub.publish_notification("123", b"{}", event=None, uuid="u1")
    with pytest.raises(ConfigurationError, match=r"No JetStream stream stores rcstream\.123"):
        await asyncio.wait_for(pub.flush(), 5)
    with pytest.raises(NatsUnavailable):
        fut.result()
    with pytest.raises(ConfigurationError):
        await pub.publish_notification("123", b"{}", event=None, uuid="u2")
