"""A NATS outage longer than the lease TTL, in one process: a real nats-server, the
emulator over real sockets, a :class:`FleetWorker` with the real bridge runner.

The worker's streams are fenced while NATS is down. The events the stream had read off the
socket but JetStream never acknowledged are in no checkpoint (KV is down and the fence
refuses the write), and the gateway counts them as delivered: the emulator's recovery
replays only what it buffered *after* the socket went (rcstream/emulator/gateway.py, the
session buffer), so the next owner's recovery does not replay them. They must
not vanish silently: the fenced worker publishes a ``gap`` (``owner_fenced``, ``at_most``)
on the account's lifecycle subject once NATS answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import nats
from cryptography.fernet import Fernet
from support import stored_messages

from rcstream.emulator import Emulator
from rcstream.fleet.accounts import FleetAccount
from rcstream.fleet.kvstore import make_fernet
from rcstream.fleet.runner import fleet_runner
from rcstream.fleet.server import NatsServer
from rcstream.fleet.subjects import ensure_stream
from rcstream.fleet.worker import FleetConfig, FleetWorker
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
