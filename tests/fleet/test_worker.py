"""Three FleetWorkers in one process against a real nats-server, with fake runners.

The runners record when they run; the tests check the fair share, the hand-over when a
worker joins or leaves, and that no account ever has two running streams at once, also
when a worker is cut off from NATS (it must fence itself before the others take over).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats
import nats.errors
import nats.js.errors
import pytest
from cryptography.fernet import Fernet

from rcstream.fleet.accounts import FleetAccount
from rcstream.fleet.kvstore import make_fernet
from rcstream.fleet.lease import Lease, LeaseTable
from rcstream.fleet.server import NatsServer
from rcstream.fleet.worker import LEASE_BUCKET, AccountContext, FleetConfig, FleetWorker
from rcstream.redact import Secret

ACCOUNTS = [
    FleetAccount(f"acct{i}", "cid", Secret("s"), Secret("j"), "http://127.0.0.1:1", ("/x",))
    for i in range(9)
]
CONFIG = FleetConfig(ttl=2.0, renew_interval=0.3, margin=0.4)
FERNET = make_fernet(Fernet.generate_key())


class Recorder:
    """Runs of the fake runner: (label, worker, start, end) on the monotonic clock."""

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []
        #: (label, worker, ctx.fenced) of every stream stopped, as the runner saw it
        self.stops: list[tuple[str, str, bool]] = []
        self.changed = asyncio.Event()

    async def runner(self, ctx: AccountContext) -> None:
        await ctx.checkpoint.load()  # counted as running once it could read its checkpoint
        run: list[Any] = [ctx.account.label, ctx.worker, time.monotonic(), None]
        self.runs.append(run)
        self.changed.set()
        try:
            while True:
                ctx.stats.events += 1
                await asyncio.sleep(0.05)  # a stream producing events at a steady rate
        finally:
            run[3] = time.monotonic()
            self.stops.append((ctx.account.label, ctx.worker, ctx.fenced))
            self.changed.set()

    def active(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.runs if r[3] is None}

    def assert_never_two_owners(self) -> None:
        by_label: dict[str, list[tuple[float, float]]] = {}
        for label, _, start, end in self.runs:
            by_label.setdefault(label, []).append((start, end if end is not None else 1e18))
        for label, spans in by_label.items():
            spans.sort()
            for (_, end), (start, _) in itertools.pairwise(spans):
                assert end <= start, f"{label} had two owners at once"

    async def wait_until(self, cond: Callable[[], bool], timeout: float) -> float:
        start = time.monotonic()
        async with asyncio.timeout(timeout):
            while not cond():
                self.changed.clear()
                await self.changed.wait()
        return time.monotonic() - start


@asynccontextmanager
async def worker(
    server: NatsServer, rec: Recorder, name: str, accounts: list[FleetAccount] = ACCOUNTS
) -> AsyncIterator[FleetWorker]:
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    w = FleetWorker(
        nc.jetstream(timeout=1.0),
        accounts,
        rec.runner,
        fernet=FERNET,
        config=CONFIG,
        worker_id=name,
    )
    task = asyncio.create_task(w.run())
    try:
        yield w
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)
        await nc.close()


def counts(rec: Recorder) -> list[int]:
    active = rec.active()
    return sorted(list(active.values()).count(w) for w in set(active.values()))


async def test_fair_share_join_and_graceful_leave(nats_server: NatsServer) -> None:
    rec = Recorder()
    async with worker(nats_server, rec, "w1"), worker(nats_server, rec, "w2"):
        await rec.wait_until(lambda: counts(rec) == [4, 5], 20)
        async with worker(nats_server, rec, "w3"):
            await rec.wait_until(lambda: counts(rec) == [3, 3, 3], 20)
        # w3 left gracefully: its accounts come back to w1 and w2 without waiting for a TTL
        took = await rec.wait_until(lambda: counts(rec) == [4, 5], 20)
        assert took < CONFIG.ttl + 1.0
    rec.assert_never_two_owners()
    assert rec.active() == {}
    # leaving keeps the lease until the stream stopped: not fenced
    left = [fenced for _, w, fenced in rec.stops if w == "w3"]
    assert left and not any(left)


async def test_cut_off_worker_fences_itself_before_takeover(nats_server: NatsServer) -> None:
    rec = Recorder()
    async with worker(nats_server, rec, "w1"), worker(nats_server, rec, "w2"):
        nc3 = await nats.connect(nats_server.url)
        w3 = FleetWorker(
            nc3.jetstream(timeout=0.5),
            ACCOUNTS,
            rec.runner,
            fernet=FERNET,
            config=CONFIG,
            worker_id="w3",
        )
        t3 = asyncio.create_task(w3.run())
        await rec.wait_until(lambda: counts(rec) == [3, 3, 3], 20)
        lost = [label for label, w in rec.active().items() if w == "w3"]
        cut_at = time.monotonic()
        await nc3.close()  # w3 can no longer renew, but its streams still run
        took = await rec.wait_until(
            lambda: (
                counts(rec) == [4, 5] and all(rec.active().get(a) in ("w1", "w2") for a in lost)
            ),
            20,
        )
        # re-owned within TTL + one renewal interval (plus scheduling slack on a busy box)
        assert took <= CONFIG.ttl + CONFIG.interval + 1.0, took
        assert w3.fenced == 3
        # the runners were told, so the real one hangs up before its drain
        assert sorted((label, fenced) for label, w, fenced in rec.stops if w == "w3") == [
            (label, True) for label in sorted(lost)
        ]
        fenced_at = max(r[3] for r in rec.runs if r[1] == "w3")
        assert fenced_at - cut_at <= CONFIG.ttl - CONFIG.fence_margin + 0.2
        w3.stop()
        await asyncio.wait_for(t3, 10)
    rec.assert_never_two_owners()


async def test_fenced_streams_stop_together_within_the_lease(nats_server: NatsServer) -> None:
    # each stream takes up to 0.3 s to drain once cancelled (a bridge waiting for its last
    # acks), capped by the budget the worker gives it: stopped one after another, the third
    # would still run after its lease expired on the server and another worker took it
    ends: list[float] = []
    started = asyncio.Event()

    async def slow_drain(ctx: AccountContext) -> None:
        await ctx.checkpoint.load()
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            budget = getattr(ctx, "drain_timeout", None)
            await asyncio.sleep(min(0.3, budget) if budget is not None else 0.3)
            ends.append(time.monotonic())

    nc = await nats.connect(nats_server.url)
    w = FleetWorker(
        nc.jetstream(timeout=0.5),
        ACCOUNTS[:3],
        slow_drain,
        fernet=FERNET,
        config=CONFIG,
        worker_id="alone",
    )
    task = asyncio.create_task(w.run())
    try:
        async with asyncio.timeout(15):
            while len(w.held) < 3:
                await asyncio.sleep(0.05)
            await started.wait()
        cut_at = time.monotonic()
        await nc.close()  # no more renewals: the watchdog must fence all three
        async with asyncio.timeout(15):
            while len(ends) < 3:
                await asyncio.sleep(0.02)
        assert w.fenced == 3
        # the leases were last renewed before the cut: they expire on the server by
        # cut + TTL, and every stream must be gone by then
        assert max(ends) - cut_at < CONFIG.ttl, max(ends) - cut_at
        # together, not one drain after another (that took ~0.2 s here, and the bound
        # above still held in most runs)
        assert max(ends) - min(ends) < 0.05, sorted(e - cut_at for e in ends)
    finally:
        w.stop()
        await asyncio.wait_for(task, 10)


async def test_a_renewal_held_through_an_outage_cannot_keep_a_fenced_lease(
    nats_server: NatsServer,
) -> None:
    # nats-py holds the requests made while NATS is down and sends them once it reconnects:
    # a renewal sent during the outage lands after the watchdog fenced the account and,
    # nobody else having written the key, revives the lease its owner gave up. Nobody could
    # take the account until that entry expired. A long margin keeps the entry alive past
    # the restart: the fence comes 1.5 s after the last renewal, the entry lasts 6 s.
    config = FleetConfig(ttl=6.0, renew_interval=0.3, margin=4.5, op_timeout=0.5)
    rec = Recorder()
    nc1 = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    w1 = FleetWorker(
        nc1.jetstream(timeout=0.5),
        ACCOUNTS[:1],
        rec.runner,
        fernet=FERNET,
        config=config,
        worker_id="w1",
    )
    task = asyncio.create_task(w1.run())
    nc2: Any = None
    try:
        await rec.wait_until(lambda: rec.active() == {"acct0": "w1"}, 20)
        kv = await nc1.jetstream().key_value(LEASE_BUCKET)
        epoch = json.loads((await kv.get("lease.acct0")).value)["epoch"]
        await nats_server.stop()
        await rec.wait_until(lambda: w1.fenced == 1 and rec.active() == {}, 20)
        assert nc1.pending_data_size > 0  # its renewals wait in nats-py's buffer
        restarted = time.time()
        await nats_server.start()

        nc2 = await nats.connect(nats_server.url)
        kv = await nc2.jetstream().key_value(LEASE_BUCKET)

        async def entry(key: str) -> dict[str, Any]:
            try:
                return dict(json.loads((await kv.get(key)).value))
            except nats.js.errors.KeyNotFoundError:
                return {}

        # w1's first heartbeat since NATS came back: that tick is done with its leases (and
        # the held renewal, sent on the connection before anything of that tick, landed)
        async with asyncio.timeout(20):
            while (await entry("worker.w1")).get("at", 0) < restarted:
                await asyncio.sleep(0.05)
        lease = await entry("lease.acct0")
        assert (lease.get("owner"), lease.get("epoch")) != ("w1", epoch), lease
        assert w1.relinquished == 1  # the held renewal did land, and w1 deleted it
        # the account is free: streamed again (by w1, the only worker), on a new lease
        await rec.wait_until(lambda: rec.active() == {"acct0": "w1"}, 20)
    finally:
        w1.stop()
        await asyncio.wait_for(task, 10)
        await nc1.close()
        if nc2 is not None:
            await nc2.close()
    rec.assert_never_two_owners()


async def test_an_acquire_without_an_answer_is_relinquished(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the create reaches the server but its answer is lost (a timeout, or nats-py held it
    # through an outage): the lease names this worker with an epoch it never learnt, and
    # nobody streams the account. The next tick deletes it instead of letting it expire.
    acquire = LeaseTable.acquire
    lost_answers: list[str] = []

    async def answer_lost_once(
        self: LeaseTable, account: str, *, epoch: str | None = None
    ) -> Lease | None:
        lease = await acquire(self, account, epoch=epoch)
        if not lost_answers:
            assert lease is not None
            lost_answers.append(lease.epoch)
            raise nats.errors.TimeoutError
        return lease

    monkeypatch.setattr(LeaseTable, "acquire", answer_lost_once)
    rec = Recorder()
    async with worker(nats_server, rec, "w1", ACCOUNTS[:1]) as w1:
        await rec.wait_until(lambda: rec.active() == {"acct0": "w1"}, 20)
        assert w1.relinquished == 1 and len(lost_answers) == 1
    rec.assert_never_two_owners()


async def test_a_renewal_held_through_a_short_outage_keeps_the_stream(
    nats_server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # NATS is back long before the fence, but a renewal sent while it was down timed out
    # and was sent by nats-py on reconnecting, so the next renewal (expecting the old
    # revision) finds the key written: by this worker itself. The lease is still its own;
    # the stream must not be stopped (and its account left unowned until that entry
    # expired).
    config = FleetConfig(ttl=6.0, renew_interval=0.3, margin=1.0, op_timeout=0.5)
    rec = Recorder()
    nc1 = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    renew = LeaseTable.renew
    held = asyncio.Event()

    async def watched(self: LeaseTable, lease: Lease) -> Lease:
        down = not nc1.is_connected  # then nats-py holds the request until it reconnects
        try:
            return await renew(self, lease)
        except BaseException:  # the worker's timeout cancels it
            if down:
                held.set()
            raise

    monkeypatch.setattr(LeaseTable, "renew", watched)
    w1 = FleetWorker(
        nc1.jetstream(timeout=0.5),
        ACCOUNTS[:1],
        rec.runner,
        fernet=FERNET,
        config=config,
        worker_id="w1",
    )
    task = asyncio.create_task(w1.run())
    nc2: Any = None
    try:
        await rec.wait_until(lambda: rec.active() == {"acct0": "w1"}, 20)
        await nats_server.stop()
        await asyncio.wait_for(held.wait(), 20)
        restarted = time.time()
        await nats_server.start()
        nc2 = await nats.connect(nats_server.url)
        kv = await nc2.jetstream().key_value(LEASE_BUCKET)
        async with asyncio.timeout(20):  # w1's first heartbeat since: it renewed before
            while True:
                try:
                    beat = json.loads((await kv.get("worker.w1")).value)
                except nats.js.errors.KeyNotFoundError:
                    beat = {}
                if beat.get("at", 0) > restarted:
                    break
                await asyncio.sleep(0.05)
        assert (w1.lost, w1.fenced) == (0, 0)
        assert len(rec.runs) == 1 and rec.active() == {"acct0": "w1"}
    finally:
        w1.stop()
        await asyncio.wait_for(task, 10)
        await nc1.close()
        if nc2 is not None:
            await nc2.close()
