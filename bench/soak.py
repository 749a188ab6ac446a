"""Chaos soak: publish steadily, hit the link with a random fault every few hundred events,
and account for every event.

.. code-block:: text

    python bench/soak.py --events 100000 --faults 200 --seed 1

One in-process :class:`~rcstream.emulator.Emulator` (127.0.0.1, port 0) and one
:class:`~rcstream.Client` with millisecond timeouts share an event loop. A producer publishes
presence events; a consumer iterates ``client.subscribe(..., lifecycle=True)`` and records
every notification uuid and every lifecycle item in order. The run is cut into *segments*:

1. publish a few hundred events (flow-controlled: at most ``WINDOW`` unresolved events, fewer
   than the platform's ``recoveryBufferSize``, so a recoverable outage never overflows it);
2. inject one fault, then publish up to ``OUTAGE_EVENTS`` more while the link is down;
3. wait until it healed (a ``Connected`` item reached the consumer, for faults that cut the
   link), then publish a *barrier* event and wait for the consumer to get it. The connection
   keeps the server's order, so once the barrier arrived every earlier event either arrived
   or is gone for good: losses, duplicates and gaps are charged to that segment's fault.

Fault kinds are drawn in seeded rounds (every kind once per round, in a seeded random
order; parameters seeded too), so a seed always gives the same fault plan. Timing on a real
event loop is not reproducible bit for bit, the plan and the verdict are.

Faults where the platform's recovery succeeds must lose and duplicate nothing. Faults where
loss is legitimate (recovery refused, recovery window passed, OAuth session revoked, a
stalled consumer's buffer overflowing) may lose events but every such loss must be covered by
a :class:`~rcstream.Gap` the consumer received in that segment. One kind of loss is
*silent by design of the platform*: more than ``recoveryBufferSize`` events while the link is
down are dropped by the server although recovery succeeds, and nothing on the wire says so.
The emulator counts those drops (``notifications_dropped``); the soak reports them on their
own line instead of pretending the client could see them.

The client runs with a :class:`~rcstream.checkpoint.FileCheckpoint` (in a temporary
directory; drop-oldest buffer as without one, so a stalled consumer still overflows): the
``process_restart`` fault closes it cleanly and opens a new client on the same checkpoint,
as a restarted process would, while events keep being published. ``--no-checkpoint``
runs without one (and without that fault): the typed consumer's events then take the
client's one-validate path (issue 13), which the soak must hold to the same verdicts.

``run_soak(SoakConfig(...))`` returns a :class:`SoakResult`; ``tests/reliability/
test_soak.py`` runs a 5,000-event version and asserts on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rcstream
from rcstream.checkpoint import FileCheckpoint
from rcstream.emulator import Emulator
from rcstream.models import Notification

__all__ = ["FAULT_KINDS", "FaultRecord", "SoakConfig", "SoakResult", "main", "run_soak"]

FILTER = "/restapi/v1.0/account/~/extension/~/presence"

#: Unresolved events allowed in flight before the producer waits (< recoveryBufferSize).
WINDOW = 40
#: At most this many events are published while a recoverable fault has the link down.
OUTAGE_EVENTS = 50
#: The recovery window the emulator advertises (seconds); "recovery after the window"
#: holds the reconnect a little longer than this.
RECOVERY_WINDOW = 0.3

#: kind -> (loss is legitimate when reported, the link is cut)
FAULT_KINDS: dict[str, tuple[bool, bool]] = {
    "abort": (False, True),
    "close": (False, True),
    "half_open": (False, True),
    "garbage": (False, False),
    "truncated_and_replayed": (False, False),
    "429_token": (False, True),
    "429_wstoken": (False, True),
    "token_expiry": (False, True),
    "short_lived_tokens": (False, False),
    "idle_timeout": (False, True),
    "absolute_timeout": (False, True),
    "revocation": (True, True),
    "session_limit": (True, True),
    "recovery_failed": (True, True),
    "recovery_window_expired": (True, True),
    "consumer_stall": (True, False),
    "beyond_recovery_buffer": (True, True),
    "subscription_table_full": (True, True),
    # a clean restart of the process (SIGTERM, then a new process on the same checkpoint)
    # within the recovery window: nothing may be lost or duplicated
    "process_restart": (False, True),
}

CLOSE_CODES = (1000, 1001, 1008, 1011, 1012, 1013, 3000, 4000, 4400, 4500, 4999)


@dataclass(frozen=True)
class SoakConfig:
    """What to run. ``events`` is the number of published events (barriers included)."""

    events: int = 100_000
    faults: int = 200
    seed: int = 1
    buffer_size: int = 256
    heartbeat_interval: float = 0.05
    heartbeat_timeout: float = 0.15
    step_timeout: float = 20.0
    #: run the client on a FileCheckpoint (and include the ``process_restart`` fault); off,
    #: the typed consumer's events take the client's one-validate path instead
    checkpoint: bool = True


@dataclass
class FaultRecord:
    """One segment: the fault, what happened to its events, and the verdict."""

    index: int
    kind: str
    detail: str
    legitimate_loss: bool
    cuts_link: bool
    published: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    gaps: list[str] = field(default_factory=list)
    overflow_reported: int = 0
    server_dropped: int = 0
    heal_seconds: float | None = None
    problem: str | None = None

    @property
    def explained(self) -> bool:
        """A loss is explained when the consumer got a Gap in this segment (and for a
        buffer overflow, when the Gaps' ``dropped`` add up to it)."""
        if not self.lost:
            return True
        if not self.gaps:
            return False
        if self.kind == "consumer_stall" and set(self.gaps) == {"buffer_overflow"}:
            return self.overflow_reported == self.lost
        return True

    @property
    def platform_silent(self) -> bool:
        """Loss the platform caused without any signal (beyond ``recoveryBufferSize``)."""
        return self.server_dropped > 0 and not self.gaps


@dataclass
class SoakResult:
    """The figures of one soak run; :attr:`ok` is the verdict, :attr:`problems` why not."""

    config: SoakConfig
    published: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    faults: list[FaultRecord] = field(default_factory=list)
    reconnects: int = 0
    connects: int = 0
    recoveries: int = 0
    recovery_failures: int = 0
    heal_p50: float | None = None
    heal_p99: float | None = None
    heal_max: float | None = None
    heal_recoverable_p50: float | None = None
    heal_recoverable_p99: float | None = None
    elapsed: float = 0.0
    client_stats: dict[str, int] = field(default_factory=dict)
    server_stats: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    # ---- derived figures ---------------------------------------------------------------

    def _where(self, legit: bool) -> list[FaultRecord]:
        return [f for f in self.faults if f.legitimate_loss is legit]

    @property
    def recoverable_lost(self) -> int:
        """Events lost in segments whose fault the platform recovers from (must be 0)."""
        return sum(f.lost for f in self._where(False))

    @property
    def recoverable_duplicated(self) -> int:
        return sum(f.duplicated for f in self._where(False))

    @property
    def unexplained_lost(self) -> int:
        """Lost events without a Gap covering them, platform-silent drops excluded."""
        return sum(f.lost for f in self.faults if not f.explained and not f.platform_silent)

    @property
    def platform_silent_lost(self) -> int:
        """Events the server dropped beyond ``recoveryBufferSize`` (no signal exists)."""
        return sum(f.lost for f in self.faults if f.platform_silent)

    @property
    def gaps_true(self) -> int:
        """Segments that really lost events."""
        return sum(1 for f in self.faults if f.lost)

    @property
    def gaps_true_detectable(self) -> int:
        """Segments that really lost events the client could know about."""
        return sum(1 for f in self.faults if f.lost and not f.platform_silent)

    @property
    def gaps_reported(self) -> int:
        """Segments in which the consumer received at least one Gap."""
        return sum(1 for f in self.faults if f.gaps)

    @property
    def gaps_reported_true(self) -> int:
        return sum(1 for f in self.faults if f.gaps and f.lost)

    @property
    def gap_items(self) -> int:
        return sum(len(f.gaps) for f in self.faults)

    @property
    def ok(self) -> bool:
        return not self.problems

    def check(self) -> None:
        """Fill :attr:`problems` from the figures."""
        p = self.problems
        if self.recoverable_lost:
            kinds = Counter(f.kind for f in self._where(False) if f.lost)
            p.append(f"{self.recoverable_lost} events lost where recovery succeeds: {dict(kinds)}")
        if self.duplicated:
            p.append(f"{self.duplicated} events delivered more than once")
        if self.unexplained_lost:
            kinds = Counter(
                f.kind for f in self.faults if not f.explained and not f.platform_silent
            )
            p.append(f"{self.unexplained_lost} events lost without a Gap: {dict(kinds)}")
        if self.out_of_order:
            p.append(f"{self.out_of_order} events arrived out of publish order")
        for f in self.faults:
            if f.problem:
                p.append(f"fault #{f.index} {f.kind}: {f.problem}")
        if len(self.faults) < self.config.faults:
            p.append(f"only {len(self.faults)} of {self.config.faults} faults were injected")

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, dict[str, int]] = {}
        for f in self.faults:
            k = kinds.setdefault(f.kind, {"n": 0, "lost": 0, "dup": 0, "gaps": 0})
            k["n"] += 1
            k["lost"] += f.lost
            k["dup"] += f.duplicated
            k["gaps"] += len(f.gaps)
        return {
            "seed": self.config.seed,
            "published": self.published,
            "delivered": self.delivered,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "out_of_order": self.out_of_order,
            "faults": len(self.faults),
            "recoverable_faults": len(self._where(False)),
            "recoverable_lost": self.recoverable_lost,
            "recoverable_duplicated": self.recoverable_duplicated,
            "legitimate_loss_faults": len(self._where(True)),
            "legitimate_lost": sum(f.lost for f in self._where(True)),
            "unexplained_lost": self.unexplained_lost,
            "platform_silent_lost": self.platform_silent_lost,
            "gaps_true": self.gaps_true,
            "gaps_true_detectable": self.gaps_true_detectable,
            "gaps_reported": self.gaps_reported,
            "gaps_reported_true": self.gaps_reported_true,
            "gap_items": self.gap_items,
            "reconnects": self.reconnects,
            "connects": self.connects,
            "recoveries": self.recoveries,
            "recovery_failures": self.recovery_failures,
            "heal_p50_ms": _ms(self.heal_p50),
            "heal_p99_ms": _ms(self.heal_p99),
            "heal_max_ms": _ms(self.heal_max),
            "heal_recoverable_p50_ms": _ms(self.heal_recoverable_p50),
            "heal_recoverable_p99_ms": _ms(self.heal_recoverable_p99),
            "elapsed_s": round(self.elapsed, 2),
            "by_kind": kinds,
            "problems": self.problems,
            "ok": self.ok,
        }

    def report(self) -> str:
        s = self.summary()
        lines = [
            f"rcstream chaos soak: seed {s['seed']}, {s['faults']} faults, {s['elapsed_s']} s",
            f"  published        {s['published']:>9}",
            f"  delivered        {s['delivered']:>9}   (unique uuids the consumer got)",
            f"  lost             {s['lost']:>9}",
            f"  duplicated       {s['duplicated']:>9}",
            f"  out of order     {s['out_of_order']:>9}",
            f"  recoverable faults {s['recoverable_faults']:>7}: lost {s['recoverable_lost']}, "
            f"duplicated {s['recoverable_duplicated']}   (must be 0 and 0)",
            f"  legitimate-loss faults {s['legitimate_loss_faults']:>3}: lost "
            f"{s['legitimate_lost']} (all covered by a reported Gap: "
            f"{'yes' if not s['unexplained_lost'] else 'NO'})",
            f"  lost beyond recoveryBufferSize (server drops, no signal on the wire): "
            f"{s['platform_silent_lost']}",
            f"  gaps that truly happened {s['gaps_true']} (detectable {s['gaps_true_detectable']})"
            f"; segments with a Gap reported {s['gaps_reported']} "
            f"({s['gaps_reported_true']} with loss; {s['gap_items']} Gap items)",
            f"  reconnects {s['reconnects']}, connects {s['connects']}, recoveries "
            f"{s['recoveries']}, recovery failures {s['recovery_failures']}",
            f"  time to heal p50 {s['heal_p50_ms']} ms, p99 {s['heal_p99_ms']} ms, "
            f"max {s['heal_max_ms']} ms (recoverable faults only: p50 "
            f"{s['heal_recoverable_p50_ms']} ms, p99 {s['heal_recoverable_p99_ms']} ms)",
            "  by fault kind (n / lost / duplicated / Gap items):",
        ]
        for kind, k in sorted(s["by_kind"].items()):
            lines.append(f"    {kind:<26} {k['n']:>4} {k['lost']:>6} {k['dup']:>4} {k['gaps']:>4}")
        lines.append("  verdict: " + ("OK" if self.ok else "FAILED"))
        lines.extend(f"    - {p}" for p in self.problems)
        return "\n".join(lines)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


class _Consumer:
    """Iterates the subscription; records every item with its position in the stream."""

    def __init__(self, events: rcstream.Subscription) -> None:
        self.events = events
        self.order: list[str] = []  # notification uuids, in arrival order
        self.seen: Counter[str] = Counter()
        self.items: list[tuple[int, Any]] = []  # (position in order, lifecycle item)
        self.connected_at: list[tuple[int, float]] = []  # (item index, monotonic time)
        self.running = asyncio.Event()
        self.running.set()
        self.progress = asyncio.Event()
        self.watch: str | None = None
        self.watched = asyncio.Event()
        self.error: BaseException | None = None

    async def run(self) -> None:
        try:
            async for item in self.events:
                if isinstance(item, Notification):
                    self.order.append(item.uuid)
                    self.seen[item.uuid] += 1
                    if item.uuid == self.watch:
                        self.watched.set()
                else:
                    self.items.append((len(self.order), item))
                    if isinstance(item, rcstream.Connected):
                        self.connected_at.append((len(self.items) - 1, time.monotonic()))
                self.progress.set()
                if not self.running.is_set():
                    await self.running.wait()
        except BaseException as exc:
            self.error = exc
            self.progress.set()
            self.watched.set()
            raise


class _Soak:
    def __init__(
        self,
        cfg: SoakConfig,
        emu: Emulator,
        opts: rcstream.ClientOptions,
        checkpoint: Path,
    ) -> None:
        self.cfg = cfg
        self.emu = emu
        self.opts = opts
        self.checkpoint = checkpoint
        self.client: rcstream.Client | None = None
        self.events: Any = None
        self.task: asyncio.Task[None] | None = None
        #: counters of the clients closed so far (a restart replaces the client)
        self.past: Counter[str] = Counter()
        self.rng = random.Random(cfg.seed)
        self.event = f"/restapi/v1.0/account/{emu.account_id}/extension/{emu.extension_id}/presence"
        self.published: list[str] = []
        self.segment_of: dict[str, int] = {}
        self.segment = 0
        self.base_published = 0
        self.base_seen = 0
        self.consumer: _Consumer
        self.stalled = False

    # ---- the client (one per "process") ------------------------------------------------

    async def open_client(self) -> None:
        """Start a client on the checkpoint, subscribe, and (re)start the consumer."""
        store = FileCheckpoint(self.checkpoint) if self.cfg.checkpoint else None
        client = rcstream.Client.from_env(self.emu.env(), options=self.opts, checkpoint=store)
        await client.__aenter__()
        events = client.subscribe(
            FILTER, lifecycle=True, buffer_size=self.cfg.buffer_size, backpressure=False
        )
        try:
            await events.__aenter__()
        except BaseException:
            await client.aclose()
            raise
        self.client, self.events = client, events
        if not hasattr(self, "consumer"):
            self.consumer = _Consumer(events)
        self.consumer.events = events
        self.task = asyncio.get_running_loop().create_task(self.consumer.run())

    async def close_client(self) -> None:
        """A clean stop: the consumer stops, the client saves the checkpoint and closes."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if isinstance(self.consumer.error, asyncio.CancelledError):
                self.consumer.error = None  # stopped on purpose, not a failure
        client, events = self.client, self.events
        self.client = self.events = None
        if events is not None:
            await events.aclose()
        if client is not None:
            await client.aclose()
            for name, value in asdict(client.stats).items():
                self.past[name] += value

    @property
    def live(self) -> rcstream.Client:
        """The running client (between open_client and close_client)."""
        assert self.client is not None, "no client is running"
        return self.client

    # ---- publishing --------------------------------------------------------------------

    async def publish(self) -> str:
        n = len(self.published)
        uid = await self.emu.publish(
            self.event,
            {
                "extensionId": self.emu.extension_id,
                "presenceStatus": "Available",
                "telephonyStatus": "NoCall",
                "sequence": n,
            },
        )
        self.published.append(uid)
        self.segment_of[uid] = self.segment
        return uid

    def in_flight(self) -> int:
        return (len(self.published) - self.base_published) - (
            len(self.consumer.seen) - self.base_seen
        )

    async def publish_steady(self, n: int) -> None:
        """Publish ``n`` events, never more than WINDOW unresolved at once."""
        c = self.consumer
        for _ in range(n):
            while self.in_flight() >= WINDOW:
                c.progress.clear()
                await self._wait(c.progress.wait(), "the consumer to make progress")
            await self.publish()

    async def barrier(self) -> None:
        """Publish one event and wait until the consumer has it: everything published
        before it has then either arrived or is lost for good."""
        c = self.consumer
        c.watched.clear()
        c.watch = await self.publish()
        if c.seen[c.watch] == 0:
            await self._wait(c.watched.wait(), "the barrier event")
        self.base_published = len(self.published)
        self.base_seen = len(c.seen)

    async def _wait(self, aw: Awaitable[Any], what: str) -> None:
        try:
            await asyncio.wait_for(aw, self.cfg.step_timeout)
        except TimeoutError:
            raise _StepTimeout(f"timed out waiting for {what}") from None
        if self.consumer.error is not None:
            raise _StepTimeout(f"the consumer stopped: {self.consumer.error!r}")

    async def outage(self, rec: FaultRecord, limit: int = OUTAGE_EVENTS) -> None:
        for _ in range(self.rng.randint(0, limit)):
            await self.publish()

    async def wait_healed(self, rec: FaultRecord, items_before: int, t0: float) -> None:
        c = self.consumer

        def healed() -> bool:
            return any(i >= items_before for i, _ in c.connected_at)

        while not healed():
            c.progress.clear()
            await self._wait(c.progress.wait(), "a Connected item after the fault")
        at = next(t for i, t in c.connected_at if i >= items_before)
        rec.heal_seconds = at - t0

    # ---- faults ------------------------------------------------------------------------

    async def inject(self, rec: FaultRecord) -> Callable[[], Awaitable[None]] | None:
        """Inject ``rec.kind``; publish the outage events; return an optional cleanup."""
        emu, rng = self.emu, self.rng
        kind = rec.kind
        if kind == "abort":
            await emu.abort_connections()
            await self.outage(rec)
        elif kind == "close":
            code = rng.choice(CLOSE_CODES)
            error = rng.choice((None, None, "WSG-500", "WSG-902", "WSG-903"))
            rec.detail = f"code {code}" + (f" after Error {error}" if error else "")
            await emu.close_connections(code, "chaos", error_code=error, error_message="chaos")
            await self.outage(rec)
        elif kind == "half_open":
            emu.go_silent()
            await self.outage(rec)
        elif kind == "garbage":
            junk = [
                "not json",
                "",
                "[",
                "[]",
                "{}",
                "null",
                '[{"type":"Bogus"}]',
                '[{"type":"ServerNotification"},1]',
                '[{"type":"ServerNotification"},{"uuid":5}]',
                '[{"type":"ClientRequest","messageId":"nobody-asked","status":200},{}]',
                '[{"type":"Heartbeat"}]',
                "[" * 5_000,
                '["\\ud800"]',
            ]
            picks = rng.sample(junk, 4)
            rec.detail = ", ".join(repr(j[:20]) for j in picks)
            for j in picks:
                await emu.inject_raw(j)
        elif kind == "truncated_and_replayed":
            # a real notification frame cut short, then a verbatim copy of an event that
            # was already delivered (a replay the client must drop by uuid)
            sub = self.live.subscription_id or "sub"
            done = [u for u in self.consumer.order[-20:]] or [self.published[-1]]
            uid = rng.choice(done)
            frame = json.dumps(
                [
                    {"type": "ServerNotification", "messageId": uid, "status": 200},
                    {
                        "uuid": uid,
                        "event": self.event,
                        "timestamp": "2024-01-01T00:00:00.000Z",
                        "subscriptionId": sub,
                        "ownerId": self.emu.extension_id,
                        "body": {"extensionId": self.emu.extension_id, "sequence": -1},
                    },
                ]
            )
            cut = rng.randint(1, len(frame) - 1)
            rec.detail = f"cut at {cut}/{len(frame)}, replayed {uid[:8]}"
            await emu.inject_raw(frame[:cut])
            await emu.inject_raw(frame)
        elif kind == "429_token":
            await emu.expire_access_tokens()
            emu.rate_limit_next("token", retry_after=0.02)
            await emu.abort_connections()
            await self.outage(rec)
        elif kind == "429_wstoken":
            emu.rate_limit_next("wstoken", retry_after=0.02, count=rng.randint(1, 2))
            await emu.abort_connections()
            await self.outage(rec)
        elif kind == "token_expiry":
            await emu.expire_access_tokens(close_sockets=True)
            await self.outage(rec)
        elif kind == "short_lived_tokens":
            # access tokens that expire while connected (the emulator closes the socket of
            # an OAuth session without an unexpired token): the client refreshes them in
            # the same session, so the link is never cut and nothing is lost
            ttl = rng.choice((0.15, 0.25, 0.4))
            rec.detail = f"access_token_ttl {ttl} s"
            before = self.live.stats.token_refreshes
            emu.set_timeouts(access_token_ttl=ttl)
            await self.live._tokens.refresh_now()  # type: ignore[union-attr]
            for _ in range(self.rng.randint(10, OUTAGE_EVENTS)):
                await self.publish()
                await asyncio.sleep(0.01)
            deadline = time.monotonic() + self.cfg.step_timeout
            while self.live.stats.token_refreshes < before + 2:
                if time.monotonic() > deadline:
                    raise _StepTimeout("no proactive token refresh while connected")
                await asyncio.sleep(0.02)
            emu.set_timeouts(access_token_ttl=3600.0)
            await self.live._tokens.refresh_now()  # type: ignore[union-attr]
        elif kind == "subscription_table_full":
            # the user's subscription table is full when the client must create a new
            # subscription (a failed recovery): SUB-505 is retried after a short wait,
            # and the orphaned subscription is deleted meanwhile, which frees the slot
            rec.detail = f"limit {len(emu.subscriptions)}"
            emu.subscription_limit = len(emu.subscriptions)
            emu.fail_next_recovery("WSG-1005")
            await emu.abort_connections()
            await self.outage(rec)
        elif kind in ("idle_timeout", "absolute_timeout"):
            name = "idle" if kind == "idle_timeout" else "absolute"
            before = emu.stats.closes_by_reason.get(name, 0)
            emu.set_timeouts(**{name: 0.02})
            await self.outage(rec)
            await self._wait(
                emu.wait_for_stat(f"closes_by_reason.{name}", before + 1, self.cfg.step_timeout),
                f"the {name} timeout",
            )
            emu.set_timeouts(**{name: 1800.0 if name == "idle" else 86400.0})
        elif kind == "revocation":
            code = rng.choice(("OAU-129", "OAU-140", "OAU-213"))
            rec.detail = code
            await emu.revoke_oauth_sessions(error_code=code)
            await self.outage(rec)
        elif kind == "session_limit":
            # other tools log in as the same user and app and never revoke (as the CLI once
            # did): the platform keeps ~5 sessions and revokes the oldest, the listener's
            limit = emu.options.oauth_session_limit or 5
            rec.detail = f"{limit} logins elsewhere"
            other_opts = rcstream.ClientOptions(auth_rate_limit=None, keep_session_on_close=True)
            for _ in range(limit):
                async with rcstream.Client.from_env(emu.env(), options=other_opts) as other:
                    await other.rest("GET", "/restapi/v1.0/subscription")
            await self.outage(rec)
        elif kind == "recovery_failed":
            code = rng.choice(("WSG-1005", "WSG-1003", "WSG-1002"))
            rec.detail = code
            emu.fail_next_recovery(code)
            await emu.abort_connections()
            await self.outage(rec)
        elif kind == "recovery_window_expired":
            emu.rate_limit_next("wstoken", retry_after=RECOVERY_WINDOW + 0.1)
            await emu.abort_connections()
            await self.outage(rec)
        elif kind == "beyond_recovery_buffer":
            extra = rng.randint(1, 60)
            rec.detail = f"{emu.recovery_buffer_size + extra} events while down"
            emu.rate_limit_next("wstoken", retry_after=0.1)
            await emu.abort_connections()
            for _ in range(emu.recovery_buffer_size + extra):
                await self.publish()
        elif kind == "process_restart":
            # SIGTERM and a supervisor starting the same command again: events keep
            # coming while no process runs, the gateway buffers them for the session
            await self.close_client()
            await self.outage(rec)
            await self.open_client()
        elif kind == "consumer_stall":
            c = self.consumer
            events = self.consumer.events
            before = events.dropped
            c.running.clear()
            extra = rng.randint(1, 100)
            limit = self.cfg.buffer_size * 4
            published = 0
            # publish until the client's buffer for this consumer overflowed
            while events.dropped < before + extra and published < limit:
                await self.publish()
                published += 1
                if published % 16 == 0:
                    await asyncio.sleep(0)  # let the client's reader take the frames
            rec.detail = f"stalled for {published} events"
            c.running.set()
        else:  # pragma: no cover
            raise ValueError(kind)
        return None

    async def run_segment(self, kind: str, steady: int) -> FaultRecord:
        legit, cuts = FAULT_KINDS[kind]
        self.segment += 1
        rec = FaultRecord(
            index=self.segment, kind=kind, detail="", legitimate_loss=legit, cuts_link=cuts
        )
        dropped_before = self.emu.stats.notifications_dropped
        try:
            await self.publish_steady(steady)
            items_before = len(self.consumer.items)
            t0 = time.monotonic()
            await self.inject(rec)
            if cuts:
                await self.wait_healed(rec, items_before, t0)
        except _StepTimeout as exc:
            rec.problem = str(exc)
        try:
            await self.barrier()
        except _StepTimeout as exc:
            rec.problem = rec.problem or str(exc)
            # start the next segment from a clean slate whatever happened
            self.base_published = len(self.published)
            self.base_seen = len(self.consumer.seen)
        rec.server_dropped = self.emu.stats.notifications_dropped - dropped_before
        return rec


class _StepTimeout(Exception):
    pass


def _reserve(kind: str, cfg: SoakConfig) -> int:
    """The most events a fault of ``kind`` publishes by itself (barrier included)."""
    if kind == "beyond_recovery_buffer":
        return 100 + 60 + 1
    if kind == "consumer_stall":
        return cfg.buffer_size * 4 + 1
    return OUTAGE_EVENTS + 1


def _fault_plan(n: int, rng: random.Random, *, checkpoint: bool = True) -> list[str]:
    plan: list[str] = []
    kinds = [k for k in FAULT_KINDS if checkpoint or k != "process_restart"]
    while len(plan) < n:
        rnd = kinds[:]
        rng.shuffle(rnd)
        plan.extend(rnd)
    return plan[:n]


async def run_soak(cfg: SoakConfig) -> SoakResult:
    """Run one soak (in the running event loop) and return its figures."""
    result = SoakResult(config=cfg)
    started = time.monotonic()
    plan_rng = random.Random(f"plan-{cfg.seed}")
    plan = _fault_plan(cfg.faults, plan_rng, checkpoint=cfg.checkpoint)
    segments = len(plan) + 1
    steady_avg = max(1, cfg.events // segments - OUTAGE_EVENTS // 2)
    opts = rcstream.ClientOptions(
        backoff_base=0.001,
        backoff_cap=0.01,
        auth_rate_limit=None,
        heartbeat_interval=cfg.heartbeat_interval,
        heartbeat_timeout=cfg.heartbeat_timeout,
        connect_timeout=5.0,
        request_timeout=5.0,
        close_timeout=1.0,
        ping_interval=None,
        buffer_size=cfg.buffer_size,
        subscription_limit_wait=0.05,
        rng=random.Random(cfg.seed),
    )
    async with Emulator(
        auth_rate_limit=None,
        seed=cfg.seed,
        recovery_timeout=RECOVERY_WINDOW,
        ping_interval=None,
    ) as emu:
        with tempfile.TemporaryDirectory(prefix="rcstream-soak-") as tmp:
            soak = _Soak(cfg, emu, opts, Path(tmp) / "checkpoint")
            await soak.open_client()
            consumer = soak.consumer
            try:
                await soak.barrier()
                for kind in plan:
                    remaining = cfg.events - len(soak.published)
                    steady = soak.rng.randint(steady_avg // 2, steady_avg * 3 // 2)
                    steady = max(0, min(steady, remaining - _reserve(kind, cfg)))
                    rec = await soak.run_segment(kind, steady)
                    result.faults.append(rec)
                    if consumer.error is not None:
                        break
                soak.segment += 1
                tail = cfg.events - len(soak.published) - 1
                if tail > 0 and consumer.error is None:
                    await soak.publish_steady(tail)
                if consumer.error is None:
                    try:
                        await soak.barrier()
                    except _StepTimeout as exc:
                        result.problems.append(f"final barrier: {exc}")
            finally:
                await soak.close_client()
        if consumer.error is not None and not isinstance(consumer.error, asyncio.CancelledError):
            result.problems.append(f"the stream stopped: {consumer.error!r}")
        _account(result, soak, consumer)
        st = soak.past
        result.reconnects = st["reconnects"]
        result.connects = st["connects"]
        result.recoveries = st["recoveries"]
        result.recovery_failures = st["recovery_failures"]
        result.client_stats = dict(st)
        result.server_stats = {
            k: v
            for k, v in asdict(emu.stats).items()
            if k
            in (
                "connections",
                "recoveries_succeeded",
                "recoveries_failed",
                "notifications_published",
                "notifications_sent",
                "notifications_buffered",
                "notifications_dropped",
                "notifications_replayed",
                "subscriptions_created",
                "closes_by_reason",
            )
        }
    heals = [f.heal_seconds for f in result.faults if f.heal_seconds is not None]
    result.heal_p50 = _percentile(heals, 50)
    result.heal_p99 = _percentile(heals, 99)
    result.heal_max = max(heals) if heals else None
    quick = [
        f.heal_seconds
        for f in result.faults
        if f.heal_seconds is not None and not f.legitimate_loss
    ]
    result.heal_recoverable_p50 = _percentile(quick, 50)
    result.heal_recoverable_p99 = _percentile(quick, 99)
    result.elapsed = time.monotonic() - started
    result.check()
    return result


def _account(result: SoakResult, soak: _Soak, consumer: _Consumer) -> None:
    """Charge every published event's fate to its segment."""
    by_seg = {f.index: f for f in result.faults}
    published = soak.published
    result.published = len(published)
    result.delivered = len(consumer.seen)
    index = {uid: i for i, uid in enumerate(published)}
    for uid in published:
        n = consumer.seen.get(uid, 0)
        rec = by_seg.get(soak.segment_of[uid])
        if rec is not None:
            rec.published += 1
        if n == 0:
            result.lost += 1
            if rec is not None:
                rec.lost += 1
            else:
                result.problems.append(f"event {uid} lost outside any fault segment")
        elif n > 1:
            result.duplicated += n - 1
            if rec is not None:
                rec.duplicated += n - 1
    # ordering: among delivered events, publish order must be kept
    last = -1
    for uid in consumer.order:
        i = index.get(uid)
        if i is None:
            continue
        if i < last:
            result.out_of_order += 1
            rec = by_seg.get(soak.segment_of[uid])
            if rec is not None:
                rec.out_of_order += 1
        last = max(last, i)
    # gaps: charge each Gap to the segment of the next event the consumer received
    order = consumer.order
    for pos, item in consumer.items:
        if not isinstance(item, rcstream.Gap):
            continue
        seg = soak.segment_of.get(order[pos]) if pos < len(order) else soak.segment
        rec = by_seg.get(seg) if seg is not None else None
        if rec is None:
            result.problems.append(f"a Gap ({item.reason}) outside any fault segment")
            continue
        rec.gaps.append(item.reason)
        if item.reason == "buffer_overflow":
            rec.overflow_reported += item.dropped or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--faults", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--buffer-size", type=int, default=256)
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="no FileCheckpoint and no process_restart fault (exercises the one-validate path)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="rcstream INFO logs")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(relativeCreated)8.0f %(name)s %(levelname)s %(message)s",
    )
    cfg = SoakConfig(
        events=args.events,
        faults=args.faults,
        seed=args.seed,
        buffer_size=args.buffer_size,
        checkpoint=not args.no_checkpoint,
    )
    result = asyncio.run(run_soak(cfg))
    print(result.report())
    if args.json:
        faults = [asdict(f) for f in result.faults]
        Path(args.json).write_text(
            json.dumps({"summary": result.summary(), "faults": faults}, indent=1) + "\n"
        )
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
