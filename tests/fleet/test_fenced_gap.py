"""A NATS outage longer than the lease TTL, in one process: a real nats-server, the
emulator over real sockets, a :class:`FleetWorker` with the real bridge runner.

The worker's streams are fenced while NATS is down. The events the stream had read off the
socket but JetStream never acknowledged are in no checkpoint (KV is down and the fence
refuses the write), and the gateway counts them as delivered: the emulator's recovery
replays only what it buffered *after* the socket went (rcstream/emulator/gateway.py, the
session buffer), so the next owner's recovery does not replay them. They must
not vanish silently: the fenced worker publishes a ``gap`` (``owner_fenced``, ``at_most``)
on the account's lifecycle subject once NATS answers again.

A fenced stream closes its gateway socket before it waits for its last acks, so what the
gateway sends during that wait is kept for the next owner's recovery instead of being read
by a stream that can only lose it (``test_a_fenced_stream_hangs_up_before_it_drains``:
one bridge, the lease lost by the test's hand, nothing timed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats
from cryptography.fernet import Fernet
from support import stored_messages

from rcstream.auth import JWTAuth
from rcstream.emulator import Emulator
from rcstream.fleet.accounts import FleetAccount
from rcstream.fleet.errors import LeaseLost
from rcstream.fleet.kvstore import KVCheckpoint, make_fernet
from rcstream.fleet.runner import AccountBridge, BridgeSettings, fleet_runner
from rcstream.fleet.server import NatsServer
from rcstream.fleet.subjects import ensure_stream
from rcstream.fleet.worker import AccountContext, AccountStats, FleetConfig, FleetWorker
from rcstream.redact import Secret

PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"
CONFIG = FleetConfig(ttl=2.0, renew_interval=0.3, margin=0.4, op_timeout=0.5)


async def test_outage_past_the_ttl_loses_nothing_silently(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream(timeout=1.0)
    await ensure_stream(js)
    async with Emulator() as emu:
        rec = emu.accounts[0]
        account = FleetAccount(
            "acme", rec.client_id, Secret(rec.client_secret), Secret(rec.jwt),
            emu.server_url, (PRESENCE,),
        )  # fmt: skip
        worker = FleetWorker(
            js,
            [account],
            fleet_runner(js, save_interval=0.2),
            fernet=make_fernet(Fernet.generate_key()),
            config=CONFIG,
            worker_id="w1",
        )
        task = asyncio.create_task(worker.run())
        ext = rec.extension_ids[0]
        event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"
        emitted: list[str] = []
        stop = asyncio.Event()

        async def traffic() -> None:  # a steady 25 events/s, also while NATS is down
            i = 0
            while not stop.is_set():
                emitted.append(await emu.publish(event, {"extensionId": ext, "seq": i}))
                i += 1
                await asyncio.sleep(0.04)

        feeder: asyncio.Task[None] | None = None
        try:
            async with asyncio.timeout(15):
                await emu.wait_for_subscription(timeout=15)
                feeder = asyncio.create_task(traffic())
                while worker.held and (await js.stream_info("RCSTREAM")).state.messages < 10:
                    await asyncio.sleep(0.05)
            await nats_server.stop()
            async with asyncio.timeout(15):  # the lease runs out: the stream is fenced
                while worker.fenced < 1:
                    await asyncio.sleep(0.05)
            await nats_server.start()
            async with asyncio.timeout(15):  # NATS is back: the worker takes the account again
                while worker.fenced and "acme" not in worker.held:
                    await asyncio.sleep(0.05)
            stop.set()
            await feeder
            last = emitted[-1]

            async def settled() -> tuple[set[str], list[dict[str, Any]]]:
                while True:
                    msgs = await stored_messages(js)
                    notes = {
                        json.loads(m.data)["uuid"] for m in msgs if "lifecycle" not in m.subject
                    }
                    records = [json.loads(m.data) for m in msgs if m.subject.endswith(".lifecycle")]
                    gaps = [r for r in records if r.get("type") == "gap"]
                    if last in notes and (set(emitted) <= notes or gaps):
                        return notes, records
                    await asyncio.sleep(0.2)

            notes, records = await asyncio.wait_for(settled(), 15)
        finally:
            stop.set()
            if feeder is not None:
                with contextlib.suppress(Exception):
                    await feeder
            worker.stop()
            await asyncio.wait_for(task, 15)
            await nc.close()
    lost = set(emitted) - notes
    gaps = [r for r in records if r.get("type") == "gap"]
    assert worker.fenced >= 1
    if lost:  # lost events are always covered by a gap that counts at least as many
        fenced = [g for g in gaps if g["reason"] == "owner_fenced"]
        assert fenced, f"{len(lost)} of {len(emitted)} events missing and no gap reported"
        assert sum(g["at_most"] for g in fenced) >= len(lost)
        assert all(g["account"] == str(rec.account_id) for g in fenced)
    print(f"\nemitted {len(emitted)}, lost {len(lost)}, gaps {[g['reason'] for g in gaps]}")


async def test_a_fenced_stream_hangs_up_before_it_drains(nats_server: NatsServer) -> None:
    # One bridge on a fenced KV checkpoint, as a fleet worker runs it. NATS goes down with
    # events in flight, then the lease is lost: the fence refuses every save and the
    # stream is cancelled. Its drain cannot end while NATS is down (60 s budget), so the
    # socket is still open during it unless the stream hangs up first. Events sent now
    # must wait in the gateway, be replayed to the next owner and be stored.
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream(timeout=1.0)
    await ensure_stream(js)
    key = Fernet.generate_key()
    lost = False

    async def fence() -> None:
        if lost:
            raise LeaseLost("The lease of acme was lost; this worker must not write.")

    settings = BridgeSettings(filters=(PRESENCE,), save_interval=0.05, drain_timeout=60.0)
    try:
        async with Emulator() as emu:
            rec = emu.accounts[0]
            ext = rec.extension_ids[0]
            event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"

            def bridge(store: KVCheckpoint, fenced: Any = None) -> AccountBridge:
                login = JWTAuth(rec.client_id, rec.client_secret, rec.jwt)
                return AccountBridge(
                    js,
                    server_url=emu.server_url,
                    login=login,
                    settings=settings,
                    store=store,
                    worker="w",
                    fenced=fenced,
                )

            store = KVCheckpoint(js, "CKPT", "ckpt.acme", key, fence=fence)
            old = bridge(store, fenced=lambda: lost)
            task = asyncio.create_task(old.run())
            await asyncio.wait_for(old.ready.wait(), 15)
            emitted = [await emu.publish(event, {"seq": 0})]
            async with asyncio.timeout(15):
                while old.published < 1 or store.revision is None or store.unsaved is not None:
                    await asyncio.sleep(0.02)  # acked, and the checkpoint saved after it
            await nats_server.stop()
            emitted += [await emu.publish(event, {"seq": i}) for i in range(1, 4)]
            async with asyncio.timeout(15):
                while old.in_flight < 3:
                    await asyncio.sleep(0.02)  # read and published, not acked
            lost = True
            task.cancel()  # what FleetWorker does to a fenced stream

            await emu.wait_for_connections(0, timeout=15)  # it hung up...
            assert not task.done()  # ...while its drain still waits for NATS
            late = [await emu.publish(event, {"seq": i}) for i in range(4, 9)]
            assert emu.stats.notifications_buffered == len(late)  # kept by the gateway

            await nats_server.start()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)  # the drain ends: the 3 are acked
            assert old.hung_up and old.unstored == 0
            assert store.unsaved is not None  # its final save was refused by the fence

            # the next owner resumes from the last checkpoint that was saved
            new = bridge(KVCheckpoint(js, "CKPT", "ckpt.acme", key))
            task = asyncio.create_task(new.run())
            try:
                async with asyncio.timeout(30):
                    while new.published < len(late):
                        await asyncio.sleep(0.02)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        msgs = await stored_messages(js)
    finally:
        await nc.close()
    notes = [json.loads(m.data)["uuid"] for m in msgs if "lifecycle" not in m.subject]
    assert sorted(notes) == sorted(emitted + late)  # each once: nothing lost, no copy
    records = [json.loads(m.data) for m in msgs if m.subject.endswith(".lifecycle")]
    assert [r["outcome"] for r in records if r["type"] == "connected"] == ["fresh", "recovered"]
    assert [r for r in records if r["type"] == "gap"] == []


async def test_the_fleet_runner_tells_its_bridge_when_the_lease_is_gone(monkeypatch: Any) -> None:
    # the wiring between FleetWorker (ctx.fenced, set before the cancel) and the bridge
    seen: list[bool] = []
    running = asyncio.Event()

    class Bridge:
        def __init__(self, js: Any, **kwargs: Any) -> None:
            self.fenced = kwargs["fenced"]
            self.hung_up = False

        async def run(self) -> None:
            seen.append(self.fenced())
            running.set()
            await ctx.stopping.wait()
            seen.append(self.fenced())

    monkeypatch.setattr("rcstream.fleet.runner.AccountBridge", Bridge)
    account = FleetAccount("acme", "cid", Secret("s"), Secret("j"), "http://127.0.0.1:1", ("/x",))
    store = KVCheckpoint(None, "CKPT", "ckpt.acme", Fernet.generate_key())
    ctx = AccountContext(account, "w1", store, AccountStats())
    task = asyncio.create_task(fleet_runner(None)(ctx))
    await asyncio.wait_for(running.wait(), 5)
    ctx.fenced = True  # as FleetWorker._stop_runner(release=False) does, then
    ctx.stopping.set()
    await asyncio.wait_for(task, 5)
    assert seen == [False, True]
