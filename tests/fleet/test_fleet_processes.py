"""The fleet as it runs in production: three ``rcstream fleet`` worker processes, a real
nats-server, and the emulator serving 20 accounts over real sockets on 127.0.0.1.

One worker is SIGKILLed in the middle of a steady stream. The others must re-own its
accounts within the lease TTL plus one renewal interval, resume each account's gateway
session from the KV checkpoint (``connected`` with ``outcome: recovered``, never a
``gap`` on the lifecycle subjects), and every event must be in the JetStream stream
exactly once. Timings: TTL 2 s, renewal 0.4 s, 1 event/s per account (so a take-over
costs each account about 3 events, well under the gateway's 100-event buffer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import nats
from cryptography.fernet import Fernet
from support import stored_messages

from rcstream.emulator import Emulator
from rcstream.fleet.demo import write_accounts_file
from rcstream.fleet.server import NatsServer
from rcstream.fleet.status import fleet_status

ACCOUNTS = 20
TTL = 2.0
RENEW = 0.4
RATE_PER_ACCOUNT = 1.0  # events per second per account


async def _spawn_worker(url: str, accounts: Path, env: dict[str, str], log: Path) -> Any:
    with log.open("wb") as fh:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rcstream",
            "-v",
            "fleet",
            "--nats",
            url,
            "--accounts",
            str(accounts),
            "--lease-ttl",
            str(TTL),
            "--renew-interval",
            str(RENEW),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=fh,
        )


def _pid_of(worker_id: str) -> int:
    """Worker ids are ``<host>-<pid>-<random>`` (rcstream.fleet.worker.default_worker_id)."""
    return int(worker_id.rsplit("-", 2)[-2])


async def test_sigkill_one_of_three_workers_loses_nothing(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env["RCSTREAM_FLEET_KEY"] = Fernet.generate_key().decode()
    procs: list[Any] = []
    async with Emulator(accounts=ACCOUNTS) as emu:
        accounts_file = tmp_path / "accounts.toml"
        write_accounts_file(accounts_file, emu.accounts, server_url=emu.server_url, env=env)
        assert emu.accounts[0].jwt not in accounts_file.read_text()  # names only, no secrets

        nc = await nats.connect(nats_server.url)
        js = nc.jetstream(timeout=5.0)
        seen: Counter[str] = Counter()  # core-NATS view: what the workers publish, live
        seen_uuids: set[str] = set()
        connected = asyncio.Event()
        changed = asyncio.Event()

        async def watch(msg: Any) -> None:
            if msg.subject.endswith(".lifecycle"):
                record = json.loads(msg.data)
                seen[f"{record.get('type')}:{record.get('outcome', '')}"] += 1
                if seen["connected:fresh"] + seen["connected:recovered"] >= ACCOUNTS:
                    connected.set()
            else:
                seen["events"] += 1
                seen_uuids.add(json.loads(msg.data)["uuid"])
            changed.set()

        await nc.subscribe("rcstream.>", cb=watch)
        try:
            for n in range(3):
                procs.append(
                    await _spawn_worker(
                        nats_server.url, accounts_file, env, tmp_path / f"worker{n}.log"
                    )
                )
            labels = [f"acct-{i:03d}" for i in range(ACCOUNTS)]

            async def owners() -> dict[str, str | None]:
                status = await fleet_status(js, labels)
                return {a.label: a.owner for a in status.accounts}

            async def settled() -> dict[str, str | None]:
                # every account owned, by all three workers (the fair share is 7/7/6)
                while True:
                    current = await owners()
                    per = Counter(current.values())
                    if None not in per and len(per) == 3 and max(per.values()) <= 7:
                        return current
                    await asyncio.sleep(0.1)

            before = await asyncio.wait_for(settled(), 25.0)
            await asyncio.wait_for(connected.wait(), 15.0)

            emitted: list[str] = []
            stop_traffic = asyncio.Event()

            async def traffic() -> None:
                i = 0
                per_tick = 1.0 / (RATE_PER_ACCOUNT * ACCOUNTS)
                while not stop_traffic.is_set():
                    rec = emu.accounts[i % ACCOUNTS]
                    ext = rec.extension_ids[0]
                    uid = await emu.publish(
                        f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence",
                        {"extensionId": ext, "presenceStatus": "Busy", "sequence": i},
                    )
                    emitted.append(uid)
                    i += 1
                    await asyncio.sleep(per_tick)

            feeder = asyncio.create_task(traffic())
            while seen["events"] < ACCOUNTS:  # a second of steady traffic flowed
                changed.clear()
                await changed.wait()

            victim_id = Counter(before.values()).most_common(1)[0][0]
            assert victim_id is not None
            victim = next(p for p in procs if p.pid == _pid_of(victim_id))
            orphans = {label for label, owner in before.items() if owner == victim_id}
            killed_at = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            await victim.wait()

            async def reowned() -> float:
                while True:
                    current = await owners()
                    if all(current[a] not in (None, victim_id) for a in orphans):
                        return time.monotonic() - killed_at
                    await asyncio.sleep(0.05)

            takeover = await asyncio.wait_for(reowned(), TTL + RENEW + 10.0)
            target = seen["events"] + ACCOUNTS
            while seen["events"] < target:  # another second after the take-over
                changed.clear()
                await asyncio.wait_for(changed.wait(), 10.0)
            stop_traffic.set()
            await feeder

            # wait until every emitted event was published (a loss shows in the asserts)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10.0):
                    while not set(emitted) <= seen_uuids:
                        changed.clear()
                        await changed.wait()
            msgs = await stored_messages(js)
        finally:
            for p in procs:
                if p.returncode is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(p.wait(), 10.0)
                if p.returncode is None:
                    p.kill()
                    await p.wait()
            await nc.close()

    ids = Counter(m.headers["Nats-Msg-Id"] for m in msgs)
    assert all(n == 1 for n in ids.values()), "a Nats-Msg-Id is stored twice"
    notes = [m for m in msgs if not m.subject.endswith(".lifecycle")]
    uuids = Counter(json.loads(m.data)["uuid"] for m in notes)
    assert max(uuids.values()) == 1, "an event is stored twice"
    lost = set(emitted) - set(uuids)
    lifecycle = [json.loads(m.data) for m in msgs if m.subject.endswith(".lifecycle")]
    gaps = [r for r in lifecycle if r.get("type") == "gap"]
    assert gaps == [], f"gaps reported: {gaps}"
    recovered = [r for r in lifecycle if r.get("outcome") == "recovered"]
    assert len(recovered) >= len(orphans)
    assert lost == set(), f"{len(lost)} of {len(emitted)} events never reached the stream"
    # the lease expires TTL after its last renewal (at most RENEW before the kill); a worker
    # notices on its next tick; 0.5 s covers the KV expiry sweep and this poll
    assert takeover <= TTL + RENEW + 0.5, f"take-over took {takeover:.2f} s"
    print(
        f"\ntake-over of {len(orphans)} accounts: {takeover:.2f} s after SIGKILL "
        f"(TTL {TTL} s + renewal {RENEW} s); events {len(emitted)}, lost {len(lost)}, "
        f"duplicates in the stream 0"
    )
