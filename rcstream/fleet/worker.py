"""A fleet worker: leases accounts, runs one stream per leased account, hands them over.

Each tick (every ``renew_interval``) the worker

1. renews its leases (a lease somebody else wrote is lost: its stream is cancelled), then
   relinquishes the leases it gave up without releasing them (see below);
2. writes its heartbeat and reads every lease and heartbeat (one KV snapshot);
3. releases and acquires leases as :func:`rcstream.fleet.plan.plan_leases` says (a fair
   share of ``ceil(accounts / live workers)``; extra streams are stopped *before* their
   leases are deleted, so there are never two owners at once).

A watchdog cancels every stream whose lease was not renewed by its deadline (last
successful renewal sent + TTL - margin), so a worker cut off from NATS stops writing
before the server lets anybody else take the lease. Such a lease is not released (NATS
is down); nats-py may still send the renewals it held during the outage when it
reconnects, reviving the entry, so the first tick that reaches NATS again relinquishes
it (:meth:`LeaseTable.relinquish`), as it does a lease found lost, a release without an
answer and an acquire without an answer.

The runner is injected: ``runner(ctx)`` streams one account until cancelled (the real one,
a :class:`rcstream.Client` stream resumed from ``ctx.checkpoint`` and publishing through a
:class:`~rcstream.fleet.publisher.Publisher`, is wired by the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rcstream.fleet.accounts import FleetAccount
from rcstream.fleet.errors import LeaseLost
from rcstream.fleet.kv import open_bucket
from rcstream.fleet.kvstore import CHECKPOINT_BUCKET, KVCheckpoint
from rcstream.fleet.lease import Lease, LeaseTable
from rcstream.fleet.plan import plan_leases
from rcstream.fleet.subjects import LIFECYCLE, lifecycle_json, lifecycle_record, subject_for

__all__ = [
    "LEASE_BUCKET",
    "STATUS_BUCKET",
    "AccountContext",
    "AccountStats",
    "FleetConfig",
    "FleetWorker",
    "Runner",
]

logger = logging.getLogger(__name__)

LEASE_BUCKET = "RCSTREAM_LEASES"
STATUS_BUCKET = "RCSTREAM_STATUS"


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Timing and bucket names. ``renew_interval`` defaults to TTL/4 and ``margin`` to
    TTL/5; the gateway's 180 s recovery window must exceed ``ttl + renew_interval`` for a
    take-over to resume the session."""

    ttl: float = 20.0
    renew_interval: float | None = None
    margin: float | None = None
    #: Timeout of one KV request (renewals must finish well inside the margin).
    op_timeout: float | None = None
    lease_bucket: str = LEASE_BUCKET
    checkpoint_bucket: str = CHECKPOINT_BUCKET
    status_bucket: str = STATUS_BUCKET
    #: After a runner fails, leave the account alone for this long (seconds).
    failure_cooldown: float | None = None

    @property
    def interval(self) -> float:
        """Seconds between ticks."""
        return self.renew_interval if self.renew_interval is not None else self.ttl / 4

    @property
    def fence_margin(self) -> float:
        """Seconds before the lease's server-side expiry by which streams stop."""
        return self.margin if self.margin is not None else self.ttl / 5

    @property
    def request_timeout(self) -> float:
        """Timeout of one KV request."""
        return self.op_timeout if self.op_timeout is not None else min(2.0, self.interval)


@dataclass(slots=True)
class AccountStats:
    """What a runner reports about its account (written to the status bucket each tick)."""

    events: int = 0
    reconnects: int = 0
    in_flight: int = 0
    #: Wall-clock time the last event was acked by JetStream.
    last_event_at: float | None = None
    last_gap_at: float | None = None
    last_gap_reason: str | None = None
    #: The platform's numeric account id, once known.
    account_id: str | None = None
    #: Set when the stream ended: events it had read that JetStream never acknowledged.
    unstored: int = 0


@dataclass(slots=True)
class AccountContext:
    """Everything a runner gets for one leased account."""

    account: FleetAccount
    worker: str
    #: The account's checkpoint, fenced by this worker's lease.
    checkpoint: KVCheckpoint
    stats: AccountStats
    #: The current lease (renewals replace it); ``None`` once lost.
    lease: Lease | None = None
    #: Set when the account is taken from this worker (rebalance, shutdown, fencing).
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    #: Seconds the runner may still spend on its way out once cancelled (waiting for the
    #: last acks): ``None`` means its own default. A fenced stop sets what is left before
    #: the lease expires on the server (half the margin), so the stream is gone in time.
    drain_timeout: float | None = None
    #: Set before the runner is cancelled when the account goes without its lease (the
    #: watchdog fenced it, or a renewal found the lease lost): the checkpoint refuses every
    #: write from then on, so the runner stops reading from the gateway before it drains.
    fenced: bool = False


Runner = Callable[[AccountContext], Awaitable[None]]


@dataclass(slots=True)
class _Held:
    ctx: AccountContext
    task: asyncio.Task[None]


def default_worker_id() -> str:
    """``<host>-<pid>-<random>``, restricted to KV key characters."""
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())
    return f"{host[:32]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class FleetWorker:
    """One worker of the fleet. ``await worker.run()`` until :meth:`stop` (graceful: its
    streams stop, its leases are released and its heartbeat deleted) or cancellation
    (the same, best effort)."""

    def __init__(
        self,
        js: Any,
        accounts: Sequence[FleetAccount],
        runner: Runner,
        *,
        fernet: Any,
        config: FleetConfig | None = None,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.js = js
        self.accounts = {a.label: a for a in accounts}
        self.runner = runner
        self.config = config or FleetConfig()
        self.worker_id = worker_id or default_worker_id()
        self._fernet = fernet
        self._clock = clock
        self._wall = wall
        self._held: dict[str, _Held] = {}
        self._cooldown: dict[str, float] = {}
        self._failing = False
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()
        self._table: LeaseTable | None = None
        self._status_kv: Any = None
        #: Counters for metrics and tests.
        self.fenced = 0
        #: Gaps this worker owes the lifecycle subjects: fenced streams that had read
        #: events it could neither store nor checkpoint (published when NATS answers).
        self._owed: list[tuple[str, dict[str, Any]]] = []
        self.lost = 0
        #: (account, epoch) → acquired, for leases given up without a release that was
        #: answered (fenced, lost, a release or an acquire without an answer): the next
        #: tick that reaches NATS relinquishes them.
        self._given_up: dict[tuple[str, str], bool] = {}
        #: Given-up leases found revived (a write held through an outage) and deleted.
        self.relinquished = 0

    @property
    def held(self) -> tuple[str, ...]:
        """Labels of the accounts this worker streams now."""
        return tuple(sorted(self._held))

    def stop(self) -> None:
        """Ask :meth:`run` to leave the fleet gracefully and return."""
        self._stop.set()

    async def run(self) -> None:
        """Join the fleet and work until :meth:`stop`."""
        cfg = self.config
        self._table = await LeaseTable.open(
            self.js,
            cfg.lease_bucket,
            self.worker_id,
            ttl=cfg.ttl,
            clock=self._clock,
            wall=self._wall,
        )
        self._status_kv = await open_bucket(self.js, cfg.status_bucket)
        await open_bucket(self.js, cfg.checkpoint_bucket)
        logger.info("worker %s joins the fleet (%d accounts)", self.worker_id, len(self.accounts))
        watchdog = asyncio.create_task(self._watchdog())
        try:
            while not self._stop.is_set():
                try:
                    await self._tick()
                except Exception as exc:  # NATS trouble: keep trying; the watchdog fences
                    level = logging.DEBUG if self._failing else logging.WARNING
                    logger.log(
                        level,
                        "worker %s cannot reach NATS (%s); retrying every %g s",
                        self.worker_id,
                        exc,
                        cfg.interval,
                    )
                    self._failing = True
                else:
                    if self._failing:
                        logger.info("worker %s reaches NATS again", self.worker_id)
                    self._failing = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), cfg.interval)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self._leave()

    async def _op(self, aw: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(aw, self.config.request_timeout)

    async def _tick(self) -> None:
        table = self._table
        assert table is not None
        for label in list(self._held):
            held = self._held.get(label)
            if held is None or held.ctx.lease is None:
                continue
            try:
                held.ctx.lease = await self._op(table.renew(held.ctx.lease))
            except LeaseLost:
                self.lost += 1
                logger.warning("worker %s lost the lease of %s", self.worker_id, label)
                await self._stop_runner(label, release=False)
        self._changed.set()
        await self._relinquish()
        await self._op(table.beat(self.held))
        await self._pay_owed_gaps()
        await self._publish_stats()
        owners, workers = await self._op(table.view())
        now = self._clock()
        plan = plan_leases(
            self.worker_id,
            list(self.accounts),
            self._held.keys(),
            owners,
            {name: len(beat.held) for name, beat in workers.items()},
            blocked={a for a, until in self._cooldown.items() if until > now},
        )
        for label in plan.release:
            logger.info("worker %s hands %s over (rebalance)", self.worker_id, label)
            await self._stop_runner(label, release=True)
        for label in plan.acquire:
            epoch = table.new_epoch()
            try:
                lease = await self._op(table.acquire(label, epoch=epoch))
            except Exception:
                # no answer: the entry may have been written, or be written later
                self._given_up[label, epoch] = False
                raise
            if lease is not None:
                self._start_runner(label, lease)

    async def _relinquish(self) -> None:
        table = self._table
        assert table is not None
        for (label, epoch), acquired in list(self._given_up.items()):
            if await self._op(table.relinquish(label, epoch, acquired=acquired)):
                self.relinquished += 1
            del self._given_up[label, epoch]

    async def _release(self, lease: Lease) -> None:
        """Release ``lease``, or leave it to :meth:`_relinquish` if NATS does not answer."""
        assert self._table is not None
        try:
            await self._op(self._table.release(lease))
        except Exception:
            self._given_up[lease.account, lease.epoch] = True

    def _start_runner(self, label: str, lease: Lease) -> None:
        table = self._table
        assert table is not None
        ctx: AccountContext

        def current() -> Lease | None:
            return ctx.lease

        def time_left() -> float:
            lease = ctx.lease
            if lease is None:
                return 0.0
            return lease.deadline(self.config.fence_margin) - self._clock()

        store = KVCheckpoint(
            self.js,
            self.config.checkpoint_bucket,
            f"ckpt.{label}",
            self._fernet,
            fence=table.fence_for(current, self.config.fence_margin),
            time_left=time_left,
        )
        ctx = AccountContext(self.accounts[label], self.worker_id, store, AccountStats(), lease)
        task = asyncio.create_task(self._guard(ctx), name=f"rcstream-fleet-{label}")
        self._held[label] = _Held(ctx, task)
        self._changed.set()

    async def _guard(self, ctx: AccountContext) -> None:
        label = ctx.account.label
        try:
            await self.runner(ctx)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("stream of %s failed on worker %s", label, self.worker_id)
            cooldown = self.config.failure_cooldown
            self._cooldown[label] = self._clock() + (
                cooldown if cooldown is not None else self.config.ttl
            )
        # The runner ended by itself: give the account back.
        held = self._held.pop(label, None)
        if held is not None and held.ctx.lease is not None:
            await self._release(held.ctx.lease)

    async def _stop_runner(self, label: str, *, release: bool) -> None:
        held = self._held.pop(label, None)
        if held is None:
            return
        held.ctx.fenced = not release
        held.ctx.stopping.set()
        held.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await held.task
        lease, held.ctx.lease = held.ctx.lease, None
        if not release and held.ctx.stats.unstored:
            self._owe_gap(held.ctx, lease)
        if lease is not None:
            if release:
                await self._release(lease)
            else:  # fenced or lost: NATS did not answer, or somebody else wrote the key
                self._given_up[label, lease.epoch] = True
        self._changed.set()

    async def _watchdog(self) -> None:
        margin = self.config.fence_margin
        while True:
            self._changed.clear()
            now = self._clock()
            deadlines = {
                label: h.ctx.lease.deadline(margin)
                for label, h in self._held.items()
                if h.ctx.lease is not None
            }
            expired = [label for label, deadline in deadlines.items() if deadline <= now]
            for label in expired:
                self.fenced += 1
                logger.warning(
                    "worker %s could not renew the lease of %s in time; stopping its stream",
                    self.worker_id,
                    label,
                )
                held = self._held.get(label)
                if held is not None and held.ctx.lease is not None:
                    # what is left before the server lets another worker take the lease,
                    # keeping half the margin for scheduling: the drain must end by then
                    held.ctx.drain_timeout = max(0.0, held.ctx.lease.deadline(margin / 2) - now)
            # all at once: one stream's drain must not push another past its deadline
            await asyncio.gather(*(self._stop_runner(label, release=False) for label in expired))
            wait = min(deadlines.values(), default=now + self.config.interval) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), max(wait, 0.001))

    def _owe_gap(self, ctx: AccountContext, lease: Lease | None) -> None:
        """A stream stopped without its lease (fenced, or the lease was lost) after reading
        events that JetStream never acknowledged. Its checkpoint could not record them
        (the fence or the outage refused the write) and the gateway counts them as
        delivered, so the next owner's recovery may not replay them: a gap, published on
        the account's lifecycle subject as soon as NATS answers again."""
        stats = ctx.stats
        if stats.account_id is None:
            return
        n, stats.unstored = stats.unstored, 0
        record = lifecycle_record(
            stats.account_id,
            "gap",
            at=self._wall(),
            reason="owner_fenced",
            message=(
                f"worker {self.worker_id} lost the lease of this account with up to {n} "
                "events read but not stored; they may be missing from the stream"
            ),
            dropped=None,
            at_most=n,
            worker=self.worker_id,
        )
        revision = lease.revision if lease is not None else uuid.uuid4().hex
        msg_id = f"rcstream-fenced-{ctx.account.label}-{revision}-{self.worker_id}"
        logger.warning(
            "worker %s: %d events of %s were read but not stored before its lease ran out; "
            "a gap will be published",
            self.worker_id,
            n,
            ctx.account.label,
        )
        self._owed.append((msg_id, record))

    async def _pay_owed_gaps(self) -> None:
        while self._owed:
            msg_id, record = self._owed[0]
            await self._op(
                self.js.publish(
                    subject_for(record["account"], LIFECYCLE),
                    lifecycle_json(record),
                    headers={"Nats-Msg-Id": msg_id},
                )
            )
            self._owed.pop(0)
            self._gap_seen(record)

    def _gap_seen(self, record: dict[str, Any]) -> None:
        """Count the published gap in the status of the account (when still held here)."""
        for held in self._held.values():
            if held.ctx.stats.account_id == record["account"]:
                held.ctx.stats.last_gap_at = self._wall()
                held.ctx.stats.last_gap_reason = str(record["reason"])

    async def _publish_stats(self) -> None:
        for label, held in list(self._held.items()):
            body = {"owner": self.worker_id, "at": self._wall(), **asdict(held.ctx.stats)}
            await self._op(self._status_kv.put(f"stats.{label}", json.dumps(body).encode()))

    async def _leave(self) -> None:
        for label in list(self._held):
            await self._stop_runner(label, release=True)
        if self._table is not None:
            with contextlib.suppress(Exception):
                await self._relinquish()
            with contextlib.suppress(Exception):
                await self._op(self._table.forget_self())
        logger.info("worker %s left the fleet", self.worker_id)
