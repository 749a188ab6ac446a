"""``Client(checkpoint=...)`` in process, against the emulator on 127.0.0.1 port 0.

Each test runs two clients one after the other on the same :class:`FileCheckpoint`, as
two processes would (the subprocess versions with ``kill -9`` are in
``tests/cli/test_cli_checkpoint.py``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import fast_options, take

import rcstream
from rcstream.checkpoint import Checkpoint, CheckpointError, CheckpointLocked, FileCheckpoint
from rcstream.emulator import Emulator
from rcstream.models.lifecycle import Connected, Gap

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
LIMIT = 10.0


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(auth_rate_limit=None, seed=21) as emulator:
        yield emulator


def _client(emu: Emulator, path: Path, **overrides: Any) -> rcstream.Client:
    return rcstream.Client.from_env(
        emu.env(), options=fast_options(**overrides), checkpoint=FileCheckpoint(path)
    )


async def _publish(emu: Emulator, n: int) -> list[str]:
    event = f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}/presence"
    return [await emu.publish(event, {"presenceStatus": "Busy", "n": i}) for i in range(n)]


async def _take(events: Any, n: int) -> list[Any]:
    return await take(events, n, LIMIT)


async def _stored(path: Path) -> Checkpoint:
    store = FileCheckpoint(path)
    try:
        loaded = await store.load()
    finally:
        await store.aclose()
    assert loaded is not None
    return loaded


async def test_manual_ack_advances_progress_and_the_rest_is_pending(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt"
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, raw=True, ack="manual") as events:
            assert events.backpressure  # the default with a checkpoint
            sent = await _publish(emu, 4)
            got = await _take(events, 3)
            assert [e["uuid"] for e in got] == sent[:3]
            events.ack(got[1])  # cumulative: the first two are done, the third is not
            with pytest.raises(rcstream.UsageError):
                events.ack(got[0])  # acked already
            (sub,) = emu.subscriptions
    assert emu.subscriptions and emu.subscriptions[0].id == sub.id  # kept, not deleted
    stored = await _stored(path)
    assert stored.recent_uuids[-2:] == tuple(sent[:2])
    assert [body["uuid"] for body in stored.pending][:1] == [sent[2]]
    assert stored.disconnected_at is not None
    assert stored.subscription_id == sub.id
    more = await _publish(emu, 2)  # buffered by the detached gateway session
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, raw=True, lifecycle=True) as events:
            items = await _take(events, 5)
        assert client.stats.recoveries == 1
    uuids = [i["uuid"] for i in items if isinstance(i, dict)]
    assert uuids == sent[2:] + more  # pending first, then the replay; no duplicates
    assert not any(isinstance(i, Gap) for i in items)


async def test_recovery_refused_deletes_the_old_subscription_with_one_gap(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt"
    async with _client(emu, path) as client, client.subscribe(PRESENCE):
        (old,) = emu.subscriptions
    emu.fail_next_recovery("WSG-1005")
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await _take(events, 2)
            assert [type(i) for i in items] == [Connected, Gap]
            assert items[1].reason == "recovery_failed"
            await emu.wait_until(lambda e: old.id not in [s.id for s in e.subscriptions], LIMIT)
            sent = await _publish(emu, 1)
            (event,) = await _take(events, 1)
            assert event.uuid == sent[0]
        assert client.stats.orphans_deleted == 1


async def test_window_passed_skips_recovery_and_says_how_long(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt"
    async with _client(emu, path) as client, client.subscribe(PRESENCE):
        (old,) = emu.subscriptions
    # the process was "away" longer than the window: move the stored times back
    store = FileCheckpoint(path)
    stored = await store.load()
    assert stored is not None
    assert stored.disconnected_at is not None
    assert stored.last_frame_at is not None
    await store.save(
        stored.evolve(
            disconnected_at=stored.disconnected_at - 600, last_frame_at=stored.last_frame_at - 600
        )
    )
    await store.aclose()
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await _take(events, 2)
            gaps = [i for i in items if isinstance(i, Gap)]
            assert len(gaps) == 1
            assert gaps[0].reason == "recovery_window_expired"
            assert "away for 10 min" in gaps[0].message
            await emu.wait_until(lambda e: old.id not in [s.id for s in e.subscriptions], LIMIT)
        assert client.stats.recoveries == 0
        assert client.stats.recovery_failures == 0  # the doomed attempt was skipped


async def test_a_corrupt_checkpoint_starts_fresh_with_a_gap(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    path.write_text("not a checkpoint")
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await _take(events, 2)
            assert any(isinstance(i, Gap) for i in items)
    assert path.with_name("ckpt.corrupt").read_text() == "not a checkpoint"
    assert (await _stored(path)).subscription_id is not None


async def test_a_revoked_session_logs_in_again_with_a_gap(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "ckpt"
    async with _client(emu, path) as client, client.subscribe(PRESENCE):
        (old,) = emu.subscriptions
    await emu.revoke_oauth_sessions()
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await _take(events, 2)
            assert len([i for i in items if isinstance(i, Gap)]) == 1
            sent = await _publish(emu, 1)
            (event,) = await _take(events, 1)
            assert event.uuid == sent[0]
            await emu.wait_until(lambda e: old.id not in [s.id for s in e.subscriptions], LIMIT)


async def test_token_rotation_is_saved_and_a_second_owner_is_refused(
    emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "ckpt"
    async with _client(emu, path) as client:
        assert client._tokens is not None
        rotated = await client._tokens.refresh_now()
        # on disk before refresh_now() returned it to anyone
        stored = _read_raw(path)
        assert rotated.refresh_token is not None
        assert stored["refresh_token"] == rotated.refresh_token.get()
        with pytest.raises(CheckpointLocked):
            async with _client(emu, path):
                pass
        assert rotated.refresh_token.get() not in repr(client)


def _read_raw(path: Path) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def test_backpressure_holds_the_reader_instead_of_dropping(emu: Emulator) -> None:
    async with rcstream.Client.from_env(emu.env(), options=fast_options()) as client:
        async with client.subscribe(PRESENCE, buffer_size=2, backpressure=True) as events:
            sent = await _publish(emu, 12)
            got = await _take(events, 12)
            assert [e.uuid for e in got] == sent
            assert events.dropped == 0
        assert client.stats.dropped == 0


async def test_one_subscription_per_checkpointed_client(emu: Emulator, tmp_path: Path) -> None:
    async with _client(emu, tmp_path / "ckpt") as client, client.subscribe(PRESENCE):
        with pytest.raises(rcstream.UsageError):
            async with client.subscribe(PRESENCE):
                pass


async def test_the_backpressure_inbox_signals_full_instead_of_dropping() -> None:
    from rcstream.subscription import _Inbox

    inbox = _Inbox(2, block=True)
    assert inbox.room.is_set()
    for i in range(3):  # one frame may overshoot: the reader checks room between frames
        assert inbox.put({"uuid": str(i)})
    assert not inbox.room.is_set()
    assert inbox.dropped == 0
    assert [b["uuid"] for b in inbox.undelivered()] == ["0", "1", "2"]
    await inbox.get()
    assert not inbox.room.is_set()  # still 2 buffered: at the bound
    await inbox.get()
    assert inbox.room.is_set()
    inbox.put({"uuid": "3"})
    inbox.put({"uuid": "4"})
    assert not inbox.room.is_set()
    inbox.close()
    assert inbox.room.is_set()  # a closed consumer never holds the reader


async def test_the_default_inbox_still_drops_the_oldest() -> None:
    from rcstream.subscription import _Inbox

    inbox = _Inbox(2)
    assert [inbox.put({"uuid": str(i)}) for i in range(3)] == [True, True, False]
    assert inbox.dropped == 1
    assert inbox.room.is_set()
    assert [b["uuid"] for b in inbox.undelivered()] == ["1", "2"]


async def _age_access_token(path: Path) -> Checkpoint:
    """Make the stored access token look expired, so the next run must refresh."""
    import time

    store = FileCheckpoint(path)
    try:
        stored = await store.load()
        assert stored is not None
        await store.save(stored.evolve(access_expires_at=time.time() - 10))
    finally:
        await store.aclose()
    return stored


async def test_a_refreshed_token_recovers_the_same_session(emu: Emulator, tmp_path: Path) -> None:
    from rcstream.protocol.resume import ResumeAction, TokenAction

    path = tmp_path / "ckpt"
    async with _client(emu, path) as client, client.subscribe(PRESENCE):
        (sub,) = emu.subscriptions
    before = await _age_access_token(path)
    sent = await _publish(emu, 2)
    async with _client(emu, path) as client:
        plan = client.resume_plan
        assert plan is not None
        assert (plan.action, plan.tokens) == (ResumeAction.RECOVER, TokenAction.REFRESH)
        async with client.subscribe(PRESENCE, raw=True) as events:
            got = await _take(events, 2)
        assert [e["uuid"] for e in got] == sent
        assert client.stats.recoveries == 1
        assert client._tokens is not None
        assert client._tokens.logins == 0  # the same OAuth session, refreshed
    after = await _stored(path)
    assert before.refresh_token is not None
    assert after.refresh_token is not None
    assert after.refresh_token.get() != before.refresh_token.get()  # the rotation was saved
    assert [s.id for s in emu.subscriptions] == [sub.id]


async def test_a_rejected_refresh_token_logs_in_afresh_with_one_gap(
    emu: Emulator, tmp_path: Path
) -> None:
    from rcstream.protocol.resume import ResumeAction

    path = tmp_path / "ckpt"
    async with _client(emu, path) as client, client.subscribe(PRESENCE):
        (old,) = emu.subscriptions
    await _age_access_token(path)
    await emu.revoke_oauth_sessions()  # the stored refresh token no longer works
    async with _client(emu, path) as client:
        plan = client.resume_plan
        assert plan is not None
        assert plan.action is ResumeAction.RELOGIN
        async with client.subscribe(PRESENCE, lifecycle=True) as events:
            items = await _take(events, 2)
            gaps = [i for i in items if isinstance(i, Gap)]
            assert len(gaps) == 1
            assert "logged in again" in gaps[0].message
            await emu.wait_until(lambda e: old.id not in [s.id for s in e.subscriptions], LIMIT)
            sent = await _publish(emu, 1)
            (event,) = await _take(events, 1)
            assert event.uuid == sent[0]
        assert client.stats.recovery_failures == 0  # no doomed recovery attempt


async def test_progress_records_the_wsc_of_the_event_handed_out(tmp_path: Path) -> None:
    """Not the newest one received: a gateway that replays from the stored sequence then
    replays what was not handed out yet (phase-1 note in docs/restarts.md)."""
    path = tmp_path / "ckpt"
    async with Emulator(auth_rate_limit=None, seed=22, wsc_on_every_frame=True) as emu:
        async with _client(emu, path) as client:
            async with client.subscribe(PRESENCE, raw=True, ack="manual") as events:
                await _publish(emu, 5)
                got = await _take(events, 5)
                events.ack(got[1])
                writer = client._writer
                assert writer is not None
                await writer.flush()
                stored = _read_sequence(path)
                latest = client._state.wsc
                assert latest is not None
                assert stored is not None
                assert stored < latest.sequence  # the 2nd event's, not the 5th's
                assert stored == latest.sequence - 3  # one frame (and sequence) per event


def _read_sequence(path: Path) -> int | None:
    value = _read_raw(path).get("wsc_sequence")
    return value if isinstance(value, int) else None


async def test_pending_events_reach_a_typed_consumer_as_models(
    emu: Emulator, tmp_path: Path
) -> None:
    from rcstream.models import Notification

    path = tmp_path / "ckpt"
    async with _client(emu, path) as client:
        async with client.subscribe(PRESENCE, ack="manual") as events:
            sent = await _publish(emu, 2)
            got = await _take(events, 2)
            events.ack(got[0])  # the second is handed out but not done: pending
    async with _client(emu, path) as client, client.subscribe(PRESENCE) as events:
        (first,) = await _take(events, 1)
        assert isinstance(first, Notification)
        assert first.uuid == sent[1]


async def _until(check: Any) -> None:
    with anyio.fail_after(LIMIT):
        while not check():
            await anyio.sleep(0.01)


async def test_with_no_consumer_the_reader_waits_instead_of_dropping(
    emu: Emulator, tmp_path: Path
) -> None:
    # review of issue 14, item 2: past 10 * checkpoint_buffer they used to be dropped silently
    path = tmp_path / "ckpt"
    async with _client(emu, path, checkpoint_buffer=2) as client:  # keeps 20 with no consumer
        async with client.subscribe(PRESENCE, raw=True) as events:
            first = await _publish(emu, 1)
            assert [e["uuid"] for e in await _take(events, 1)] == first
        sent = await _publish(emu, 50)
        await _until(lambda: client.stats.notifications >= 21)
        async with client.subscribe(PRESENCE, raw=True, lifecycle=True) as events:
            got = await _take(events, 50)
            assert [e["uuid"] for e in got] == sent  # the 20 kept first, then the rest
        assert client.stats.gaps == 0
    stored = await _stored(path)
    assert stored.pending == ()
    assert stored.recent_uuids[-1] == sent[-1]


async def test_events_read_while_closing_all_become_pending(emu: Emulator, tmp_path: Path) -> None:
    # review of issue 14, item 2: a stop with a stalled consumer lost what the reader drained
    path = tmp_path / "ckpt"
    async with _client(emu, path, checkpoint_buffer=2) as client:
        async with client.subscribe(PRESENCE, raw=True) as events:
            sent = await _publish(emu, 60)
            got = await _take(events, 1)  # then the consumer stalls: the reader is held

    stored = await _stored(path)
    kept = [e["uuid"] for e in got] + [e["uuid"] for e in stored.pending]
    assert kept == sent


async def test_the_previous_runs_pending_stays_on_disk_until_handed_out(
    emu: Emulator, tmp_path: Path
) -> None:
    # review of issue 14, item 3: the first write of the next run used to erase pending
    path = tmp_path / "ckpt"
    async with _client(emu, path, checkpoint_buffer=2) as client:
        async with client.subscribe(PRESENCE, raw=True) as events:
            sent = await _publish(emu, 30)
            await _take(events, 1)  # then stop: the other 29 become pending
    assert [e["uuid"] for e in (await _stored(path)).pending] == sent[1:]
    async with _client(emu, path, checkpoint_interval=0.0, checkpoint_max_events=1) as client:
        async with client.subscribe(PRESENCE, raw=True, ack="manual") as events:
            got = await _take(events, 5)
            assert [e["uuid"] for e in got] == sent[1:6]
            events.ack(got[2])  # three are done; a kill -9 now must lose none of the rest

            def on_disk() -> dict[str, Any]:
                data: dict[str, Any] = json.loads(path.read_bytes())
                return data

            await _until(lambda: sent[3] in on_disk()["recent_uuids"])
            disk = on_disk()
            assert [e["uuid"] for e in disk["pending"]] == sent[4:]


async def test_a_rotated_pair_whose_save_failed_is_not_used_until_saved(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review of issue 14, item 4: the unsaved access token used to be handed out
    path = tmp_path / "ckpt"
    store = FileCheckpoint(path)
    client = rcstream.Client.from_env(emu.env(), options=fast_options(), checkpoint=store)
    async with client:
        async with client.subscribe(PRESENCE, raw=True):
            manager = client._tokens
            before = json.loads(path.read_bytes())
            real_save = store.save

            async def disk_full(checkpoint: Checkpoint) -> None:
                raise CheckpointError("disk full (simulated)")

            monkeypatch.setattr(store, "save", disk_full)
            with pytest.raises(CheckpointError):
                await manager.refresh_now()  # the server rotated the pair; the save failed
            assert manager.tokens is not None
            assert manager.tokens.refresh_token.get() == before["refresh_token"]
            assert await manager.access_token() == before["access_token"]  # the saved one
            with pytest.raises(CheckpointError):
                await manager.refresh_now()  # retries the save of the same pair, still full
            monkeypatch.setattr(store, "save", real_save)
            refreshes = emu.stats.grants.get("refresh_token", 0)
            renewed = await manager.refresh_now()  # saves the kept pair, no new token call
            after = json.loads(path.read_bytes())
            assert renewed.refresh_token.get() == after["refresh_token"] != before["refresh_token"]
            assert await manager.access_token() == after["access_token"]
            assert emu.stats.grants.get("refresh_token", 0) == refreshes


async def test_with_a_checkpoint_the_socket_read_ahead_is_small(
    emu: Emulator, tmp_path: Path
) -> None:
    # review of issue 14, item 5: the transport used to read 1024 messages / 4 MiB ahead
    import socket

    async with _client(emu, tmp_path / "ckpt", checkpoint_buffer=2) as client:
        async with client.subscribe(PRESENCE, raw=True) as events:
            await _publish(emu, 300)
            await _take(events, 1)  # then the consumer stalls
            assert client._round is not None
            conn = client._round.transport._conn
            await _until(lambda: conn.reading_paused)
            assert conn.high_water == 16 and len(conn.messages) <= 17
            sock = conn.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * 32 * 1024


async def test_read_ahead_limits_are_options(emu: Emulator, tmp_path: Path) -> None:
    async with _client(emu, tmp_path / "ckpt", read_ahead=50, read_ahead_bytes=10**6) as client:
        async with client.subscribe(PRESENCE, raw=True):
            assert client._round is not None
            conn = client._round.transport._conn
            assert (conn.high_water, conn.low_water) == (50, 12)
            assert (conn.high_bytes, conn.low_bytes) == (10**6, 250_000)


async def test_a_replay_of_events_handed_out_before_a_restart_is_dropped(
    tmp_path: Path,
) -> None:
    """Review of issue 14, item 7: cross-restart de-duplication, end to end. Under the other
    reading of recovery (``replay_from_sequence``) a gateway asked with an older ``wsc``
    replays events the previous run already handed out; the checkpoint's recent uuids let
    the next run drop them. The older ``wsc`` is injected: the one saved at subscribe time."""
    path = tmp_path / "ckpt"
    async with Emulator(auth_rate_limit=None, seed=22, replay_from_sequence=True) as emu:
        async with _client(emu, path) as client:
            async with client.subscribe(PRESENCE, raw=True) as events:
                early = json.loads(path.read_bytes())  # on disk before any event
                assert early["wsc"] and early["recent_uuids"] == []
                first = await _publish(emu, 20)
                assert [e["uuid"] for e in await _take(events, 20)] == first
        saved = json.loads(path.read_bytes())
        assert saved["recent_uuids"][-20:] == first
        saved["wsc"], saved["wsc_sequence"] = early["wsc"], early["wsc_sequence"]
        path.write_text(json.dumps(saved))  # rewind: the gateway will replay all 20
        async with _client(emu, path) as client:
            async with client.subscribe(PRESENCE, raw=True) as events:
                await emu.wait_for_stat("notifications_replayed", 20, LIMIT)
                second = await _publish(emu, 5)
                assert [e["uuid"] for e in await _take(events, 5)] == second
            assert client.stats.duplicates >= 20
        assert emu.stats.recoveries_succeeded == 1
