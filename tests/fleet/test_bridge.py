"""``rcstream bridge`` against a real nats-server and the emulator over real sockets.

* the CLI process bridges a steady stream while nats-server is stopped for 2 s and started
  again on the same port and store: every event is in the stream exactly once, no gap;
* a checkpoint whose gateway session has expired makes the next bridge publish a ``gap``
  (``recovery_window_expired``) instead of silently missing events;
* a bridge resumed from its checkpoint recovers the session: the events sent while it was
  down are replayed by the gateway and stored once;
* a gateway link drop during a NATS outage, with more events than the gateway's recovery
  buffer holds: everything the gateway kept is stored once, plus a
  ``recovery_buffer_full`` gap record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
from support import stored_messages

from rcstream.auth import JWTAuth
from rcstream.checkpoint import FileCheckpoint
from rcstream.emulator import Emulator
from rcstream.fleet.runner import AccountBridge, BridgeSettings
from rcstream.fleet.server import NatsServer
from rcstream.fleet.subjects import ensure_stream

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


def _check_once(msgs: list[Any], emitted: list[str]) -> list[dict[str, Any]]:
    """Every emitted uuid stored exactly once; returns the lifecycle records."""
    notes = Counter(json.loads(m.data)["uuid"] for m in msgs if "lifecycle" not in m.subject)
    assert set(notes) == set(emitted), f"missing: {len(set(emitted) - set(notes))}"
    assert max(notes.values()) == 1
    return [json.loads(m.data) for m in msgs if m.subject.endswith(".lifecycle")]


async def test_nats_restart_mid_stream_loses_nothing(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with Emulator() as emu:
        rec = emu.accounts[0]
        env = dict(os.environ)
        env.update(
            RINGCENTRAL_SERVER_URL=emu.server_url,
            RINGCENTRAL_CLIENT_ID=rec.client_id,
            RINGCENTRAL_CLIENT_SECRET=rec.client_secret,
            RINGCENTRAL_JWT=rec.jwt,
        )
        nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        seen: set[str] = set()
        lifecycle: list[dict[str, Any]] = []
        changed = asyncio.Event()

        async def watch(msg: Any) -> None:
            if msg.subject.endswith(".lifecycle"):
                lifecycle.append(json.loads(msg.data))
            else:
                seen.add(json.loads(msg.data)["uuid"])
            changed.set()

        await nc.subscribe("rcstream.>", cb=watch)
        log = (tmp_path / "bridge.log").open("wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rcstream",
            "-v",
            "bridge",
            "--nats",
            nats_server.url,
            "-f",
            PRESENCE,
            "--checkpoint",
            str(tmp_path / "bridge.ckpt"),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
        emitted: list[str] = []
        try:

            async def until(predicate: Any) -> None:
                async with asyncio.timeout(15.0):
                    while not predicate():
                        changed.clear()
                        await changed.wait()

            await until(lambda: any(r.get("type") == "connected" for r in lifecycle))
            ext = rec.extension_ids[0]
            event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"
            stop = asyncio.Event()

            async def traffic() -> None:  # a steady 25 events/s
                i = 0
                while not stop.is_set():
                    emitted.append(await emu.publish(event, {"extensionId": ext, "seq": i}))
                    i += 1
                    await asyncio.sleep(0.04)

            feeder = asyncio.create_task(traffic())
            await until(lambda: len(seen) >= 25)
            await nats_server.stop()
            await asyncio.sleep(2.0)  # the outage itself: events keep arriving meanwhile
            during = len(emitted)
            await nats_server.start()
            await until(lambda: len(seen) >= during + 25)
            stop.set()
            await feeder
            # wait on the stream itself: the watcher above is a core NATS subscription, which
            # misses what is published while it re-subscribes after the restart
            js = nc.jetstream(timeout=5.0)
            async with asyncio.timeout(15.0):
                while True:
                    msgs = await stored_messages(js)
                    stored = {
                        json.loads(m.data)["uuid"] for m in msgs if "lifecycle" not in m.subject
                    }
                    if set(emitted) <= stored:
                        break
                    await asyncio.sleep(0.1)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10.0)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            log.close()
            await nc.close()
    records = _check_once(msgs, emitted)
    assert [r for r in records if r.get("type") == "gap"] == []
    assert proc.returncode == 130  # interrupted by SIGTERM, after a clean shutdown
    assert rec.jwt not in (tmp_path / "bridge.log").read_text()


def _bridge(
    js: Any, emu: Emulator, store: FileCheckpoint, settings: BridgeSettings | None = None
) -> AccountBridge:
    rec = emu.accounts[0]
    return AccountBridge(
        js,
        server_url=emu.server_url,
        login=JWTAuth(rec.client_id, rec.client_secret, rec.jwt),
        settings=settings or BridgeSettings(filters=(PRESENCE,), save_interval=0.05),
        store=store,
        worker="test",
    )


#: 4 publishes in flight and 8 events buffered: an outage fills them quickly
_SMALL = BridgeSettings(filters=(PRESENCE,), max_in_flight=4, buffer_size=8, ack_timeout=0.5)


def _presence_path(emu: Emulator) -> str:
    rec = emu.accounts[0]
    return f"/restapi/v1.0/account/{rec.account_id}/extension/{rec.extension_ids[0]}/presence"


@contextlib.asynccontextmanager
async def _outage_bridge(
    nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[tuple[Any, Emulator, AccountBridge, str]]:
    """A NATS connection that survives restarts of ``nats_server``, an emulator, and a
    small bridge on a checkpoint: ``(nc, emu, bridge, presence event path)``."""
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream(timeout=1.0)
    await ensure_stream(js)
    try:
        async with Emulator() as emu, FileCheckpoint(tmp_path / "ckpt") as store:
            yield nc, emu, _bridge(js, emu, store, _SMALL), _presence_path(emu)
    finally:
        await nc.close()


async def _until(cond: Any, timeout: float = 20.0) -> None:
    """Poll ``cond`` (bridge and emulator counters have no event to wait on), bounded."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


async def _run_until(bridge: AccountBridge, done: Any) -> None:
    task = asyncio.create_task(bridge.run())
    try:
        await asyncio.wait_for(bridge.ready.wait(), 10.0)
        await done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_resume_from_checkpoint_replays_what_was_missed(js: Any, tmp_path: Path) -> None:
    await ensure_stream(js)
    async with Emulator() as emu, FileCheckpoint(tmp_path / "ckpt") as store:
        rec = emu.accounts[0]
        ext = rec.extension_ids[0]
        event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"
        emitted: list[str] = []
        first = _bridge(js, emu, store)

        async def five() -> None:
            for i in range(5):
                emitted.append(await emu.publish(event, {"seq": i}))
            while first.published < 5:
                await asyncio.sleep(0.01)  # acked by JetStream: polled, bounded above

        await asyncio.wait_for(_run_until(first, five), 20.0)
        # the bridge is gone (graceful stop, session kept); events arrive meanwhile
        for i in range(5, 10):
            emitted.append(await emu.publish(event, {"seq": i}))
        second = _bridge(js, emu, store)

        async def replayed() -> None:
            while second.published < 5:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(_run_until(second, replayed), 20.0)
    records = _check_once(await stored_messages(js), emitted)
    outcomes = [r["outcome"] for r in records if r.get("type") == "connected"]
    assert outcomes == ["fresh", "recovered"]
    # one time format on the lifecycle subject: ISO-8601 UTC, the owner item's too
    assert [r["type"] for r in records if not str(r["at"]).endswith("Z")] == []
    assert [r["resumed"] for r in records if r["type"] == "owner"] == [False, True]
    assert [r for r in records if r.get("type") == "gap"] == []


async def test_expired_session_in_checkpoint_is_reported_as_a_gap(js: Any, tmp_path: Path) -> None:
    await ensure_stream(js)
    async with Emulator() as emu, FileCheckpoint(tmp_path / "ckpt") as store:
        first = _bridge(js, emu, store)

        async def saved() -> None:
            while store.revision is None:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(_run_until(first, saved), 20.0)
        stored = await store.load()
        assert stored is not None and stored.wsc is not None
        # the old session's last frame was 10 minutes ago: past the 180 s recovery window
        old = stored.last_frame_at - 600.0 if stored.last_frame_at else None
        await store.save(stored.evolve(last_frame_at=old, disconnected_at=old))
        second = _bridge(js, emu, store)

        async def gap_published() -> None:
            while not any(
                json.loads(m.data).get("type") == "gap" for m in await stored_messages(js)
            ):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(_run_until(second, gap_published), 20.0)
    gaps = [
        json.loads(m.data)
        for m in await stored_messages(js)
        if json.loads(m.data).get("type") == "gap"
    ]
    assert [g["reason"] for g in gaps] == ["recovery_window_expired"]


async def test_lone_surrogate_escape_is_published_not_a_crash(js: Any, tmp_path: Path) -> None:
    # the client accepts a lone surrogate escape on purpose (frames._lenient_loads); it has
    # no UTF-8 form, so the bridge must still publish it (as a \u escape) and keep going
    await ensure_stream(js)
    async with Emulator() as emu, FileCheckpoint(tmp_path / "ckpt") as store:
        rec = emu.accounts[0]
        ext = rec.extension_ids[0]
        event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"
        bridge = _bridge(js, emu, store)
        emitted: list[str] = []

        async def both() -> None:
            (sub,) = emu.subscriptions
            odd = {
                "uuid": "surrogate-1",
                "event": event,
                "timestamp": "2026-01-01T00:00:00.000Z",
                "subscriptionId": sub.id,
                "body": {"extensionId": ext, "note": "caf\u00e9 \ud83d"},
            }
            frame = json.dumps([{"type": "ServerNotification", "messageId": "m-1"}, odd])
            assert "\\ud83d" in frame
            assert await emu.inject_raw(frame) == 1
            emitted.append("surrogate-1")
            emitted.append(await emu.publish(event, {"extensionId": ext, "seq": 1}))
            while bridge.published < 2:
                await asyncio.sleep(0.01)  # acked by JetStream: polled, bounded above

        await asyncio.wait_for(_run_until(bridge, both), 20.0)
    msgs = await stored_messages(js)
    _check_once(msgs, emitted)
    (odd_msg,) = [m for m in msgs if b"surrogate-1" in m.data]
    assert json.loads(odd_msg.data)["body"]["note"] == "caf\u00e9 \ud83d"


async def test_checkpoint_never_covers_an_event_jetstream_did_not_ack(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # what a kill -9 leaves behind is the file on disk at that moment: read it while acks
    # are held (NATS down) and the events are in flight
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream(timeout=1.0)
    await ensure_stream(js)
    path = tmp_path / "ckpt"

    def on_disk() -> tuple[set[str], set[str]]:
        data = json.loads(path.read_bytes()) if path.exists() else {}
        pending = {p.get("uuid") for p in data.get("pending", ())}
        return set(data.get("recent_uuids", ())), pending

    async def until(cond: Any) -> None:
        async with asyncio.timeout(15):
            while not cond():
                await asyncio.sleep(0.02)

    try:
        async with Emulator() as emu, FileCheckpoint(path) as store:
            rec = emu.accounts[0]
            ext = rec.extension_ids[0]
            event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"
            bridge = _bridge(js, emu, store)

            async def scenario() -> None:
                acked = [await emu.publish(event, {"seq": i}) for i in range(3)]
                await until(lambda: set(acked) <= on_disk()[0])  # saved once acked
                await nats_server.stop()
                held = [await emu.publish(event, {"seq": i}) for i in range(3, 8)]
                await until(lambda: bridge.in_flight == 5)  # read, published, not acked
                for _ in range(20):  # 20 save intervals: a checkpoint written on receipt shows
                    await asyncio.sleep(0.05)
                    covered, _ = on_disk()
                    assert not set(held) & covered, "the checkpoint covers unacked events"
                await nats_server.start()
                await until(lambda: set(held) <= on_disk()[0])  # acked: now it advances

            await asyncio.wait_for(_run_until(bridge, scenario), 40.0)
    finally:
        await nc.close()


async def test_nats_outage_pauses_the_reader_instead_of_dropping(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # 4 publishes in flight and 8 events buffered: the 30 events sent during the outage do
    # not fit, so the client's reader must stop reading (they wait on the socket and in
    # the gateway) instead of dropping the oldest, as a normal subscription would
    emitted: list[str] = []
    async with _outage_bridge(nats_server, tmp_path) as (nc, emu, bridge, event):

        async def scenario() -> None:
            # acks come in order: once this one is acked, so is the "owner" item, and
            # all 4 slots are free for the outage
            emitted.append(await emu.publish(event, {"seq": -1}))
            await _until(lambda: bridge.published == 1)
            await nats_server.stop()
            emitted.extend([await emu.publish(event, {"seq": i}) for i in range(30)])
            await _until(lambda: bridge.in_flight == 4 and bridge.buffered >= 8)
            for _ in range(10):  # it stays paused: nothing is dropped to make room
                await asyncio.sleep(0.05)
                assert bridge.in_flight == 4 and bridge.dropped == 0
            await nats_server.start()
            await _until(lambda: bridge.published == 31)

        await asyncio.wait_for(_run_until(bridge, scenario), 40.0)
        assert bridge.dropped == 0
        msgs = await stored_messages(nc.jetstream(timeout=5.0))
    records = _check_once(msgs, emitted)
    assert [r for r in records if r.get("type") == "gap"] == []


async def test_a_link_drop_beyond_the_recovery_buffer_during_a_nats_outage_is_a_stored_gap(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    # NATS is down (the bridge holds what it read and stops reading) when the gateway link
    # drops too, and more events than the gateway's recovery buffer holds are sent before
    # the client gets back: the gateway drops the oldest without a word, the client infers
    # it from a full replay, and once NATS is back the bridge stores every event it got
    # plus a gap record saying so
    emitted: list[str] = []
    async with _outage_bridge(nats_server, tmp_path) as (nc, emu, bridge, event):
        extra = emu.recovery_buffer_size + 40

        async def scenario() -> None:
            emitted.append(await emu.publish(event, {"seq": -1}))
            await _until(lambda: bridge.published == 1)
            await nats_server.stop()
            emitted.extend([await emu.publish(event, {"seq": i}) for i in range(3)])
            await _until(lambda: bridge.in_flight == 3)  # read, not stored
            # keep the client away long enough to publish past the recovery buffer
            emu.rate_limit_next("wstoken", retry_after=1.0)
            await emu.abort_connections()
            await emu.wait_for_stat("rate_limited", 1, 10)
            emitted.extend([await emu.publish(event, {"seq": 100 + i}) for i in range(extra)])
            await nats_server.start()
            await _until(lambda: bridge.published + emu.stats.notifications_dropped >= len(emitted))

        await asyncio.wait_for(_run_until(bridge, scenario), 60.0)
        dropped = emu.stats.notifications_dropped
        msgs = await stored_messages(nc.jetstream(timeout=5.0))
    assert dropped == 40  # the gateway's own drop: the oldest beyond its buffer
    notes = Counter(json.loads(m.data)["uuid"] for m in msgs if "lifecycle" not in m.subject)
    assert max(notes.values()) == 1  # nothing stored twice
    assert len(set(emitted) - set(notes)) == dropped  # only what the gateway dropped
    gaps = [
        json.loads(m.data)
        for m in msgs
        if m.subject.endswith(".lifecycle") and json.loads(m.data).get("type") == "gap"
    ]
    assert [g["reason"] for g in gaps] == ["recovery_buffer_full"]
