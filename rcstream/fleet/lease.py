"""Account leases and worker heartbeats in one JetStream KV bucket with a max age.

Keys: ``lease.<label>`` (one per account; the value names the owner and an *epoch*, a
uuid fixed at acquisition) and ``worker.<id>`` (a heartbeat). The bucket's max age is
the TTL: an entry nobody rewrites vanishes TTL seconds after its last write, which is
how a dead worker's leases and heartbeat disappear (compare-and-set updates in nats-py
take no per-message TTL, hence a bucket of its own, separate from checkpoints).

* **acquire** = ``create`` (succeeds only when the key is absent);
* **renew** = ``update(last=revision)`` (fails if anybody else wrote);
* **release** = ``delete(last=revision)``, after the account's stream has stopped;
* **relinquish** = ``delete(last=<the entry's revision>)`` if the entry still names this
  owner and epoch, for a lease given up without a release (fenced while NATS was down):
  nats-py holds the requests made while NATS is down and sends them when it reconnects,
  so a renewal sent during an outage may land after its owner gave the lease up and
  revive it.

Fencing. The owner remembers when it *sent* its last successful renewal (monotonic
clock); the server wrote that entry later, so it expires later than
``renewed_at + ttl``. :meth:`Lease.deadline` subtracts a margin for clock-rate and
scheduling error: the worker stops the stream by then, before anybody else can acquire.
Checkpoint writes additionally check, just before their own compare-and-set, that the
lease entry still names this owner and epoch (:meth:`LeaseTable.fence`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from rcstream.exceptions import ConfigurationError
from rcstream.fleet.errors import LeaseLost
from rcstream.fleet.kv import check_key, open_bucket, snapshot

__all__ = ["LEASE_PREFIX", "WORKER_PREFIX", "Lease", "LeaseTable", "WorkerBeat"]

logger = logging.getLogger(__name__)

LEASE_PREFIX = "lease."
WORKER_PREFIX = "worker."


@dataclass(frozen=True, slots=True)
class Lease:
    """One held account lease."""

    account: str
    owner: str
    epoch: str
    revision: int
    #: Monotonic time the successful acquire/renew was sent.
    renewed_at: float
    ttl: float

    def deadline(self, margin: float) -> float:
        """Monotonic time by which the owner must have stopped writing."""
        return self.renewed_at + self.ttl - margin


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    """A live worker as its heartbeat describes it."""

    worker: str
    held: tuple[str, ...]
    wall: float


class LeaseTable:
    """Leases of one worker (``owner``) in ``kv`` (a bucket with max age ``ttl``)."""

    def __init__(
        self,
        kv: Any,
        owner: str,
        *,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.owner = check_key(owner)
        self.ttl = ttl
        self._clock = clock
        self._wall = wall

    @classmethod
    async def open(
        cls, js: Any, bucket: str, owner: str, *, ttl: float, **kwargs: Any
    ) -> LeaseTable:
        """Open (or create, with max age ``ttl``) ``bucket`` and return a table on it.

        Raises :class:`ConfigurationError` when an existing bucket expires entries after
        another time than ``ttl``: fencing deadlines computed from the wrong TTL would let
        two workers own an account at once, so every worker must use the bucket's TTL.
        """
        kv = await open_bucket(js, bucket, ttl=ttl)
        actual = (await kv.status()).ttl
        if not actual or abs(float(actual) - ttl) > 1e-3:
            expiry = f"expires entries after {float(actual):g} s" if actual else "never expires"
            raise ConfigurationError(
                f"The lease bucket {bucket} {expiry} but the lease TTL is {ttl:g} s; use the "
                "bucket's TTL on every worker (or delete the bucket to change it)."
            )
        return cls(kv, owner, ttl=ttl, **kwargs)

    def _value(self, epoch: str) -> bytes:
        return json.dumps({"owner": self.owner, "epoch": epoch, "at": self._wall()}).encode()

    @staticmethod
    def new_epoch() -> str:
        """A fresh epoch for :meth:`acquire`."""
        return uuid.uuid4().hex

    async def acquire(self, account: str, *, epoch: str | None = None) -> Lease | None:
        """Take ``account`` if nobody holds it; ``None`` if somebody does. ``epoch``
        (default: a new one) lets a caller relinquish the lease should this raise without
        an answer (the entry may have been written, or be written later)."""
        import nats.js.errors

        key = LEASE_PREFIX + check_key(account)
        epoch = epoch or self.new_epoch()
        sent = self._clock()
        try:
            rev = await self.kv.create(key, self._value(epoch))
        except nats.js.errors.KeyWrongLastSequenceError:
            return None
        except nats.js.errors.KeyNotFoundError:
            # nats-py's create() met an existing entry, then found it gone when it looked
            # again: the holder's lease expired in between. Not ours yet; the next round
            # of acquisitions tries again.
            return None
        logger.info("worker %s acquired the lease of %s", self.owner, account)
        return Lease(account, self.owner, epoch, int(rev), sent, self.ttl)

    async def renew(self, lease: Lease) -> Lease:
        """Extend ``lease``; raises :class:`LeaseLost` if somebody else wrote the key or it
        expired. Other errors (NATS unreachable) propagate: the lease may still be ours
        until its deadline.

        A renewal that got no answer may have landed since (nats-py held it through an
        outage and sent it on reconnecting): the entry then has a newer revision but
        still names this owner and epoch, and nobody else could have written in between
        (every write is a compare-and-set). That lease is still ours: it is renewed at the
        entry's revision instead of being reported lost."""
        import nats.js.errors

        key = LEASE_PREFIX + lease.account
        lost = f"The lease of {lease.account} expired or was taken over; its stream must stop."
        sent = self._clock()
        try:
            rev = await self.kv.update(key, self._value(lease.epoch), last=lease.revision)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                raise LeaseLost(lost) from exc
            data = _decode(entry.value)
            if data.get("owner") != self.owner or data.get("epoch") != lease.epoch:
                raise LeaseLost(lost) from exc
            sent = self._clock()
            try:
                rev = await self.kv.update(key, self._value(lease.epoch), last=entry.revision)
            except nats.js.errors.KeyWrongLastSequenceError as again:
                raise LeaseLost(lost) from again
        return replace(lease, revision=int(rev), renewed_at=sent)

    async def release(self, lease: Lease) -> None:
        """Give ``lease`` up (call after its stream stopped). Losing it already is fine.
        A revision that is no longer the key's last (a renewal landed after the one this
        lease records: it timed out, or was held through an outage) is not a loss: the
        entry may still name this owner and epoch, so it is relinquished instead of being
        left to block the account until it expires."""
        key = LEASE_PREFIX + lease.account
        if await self._delete(key, lease.revision) or await self.relinquish(
            lease.account, lease.epoch
        ):
            logger.info("worker %s released the lease of %s", self.owner, lease.account)

    async def relinquish(self, account: str, epoch: str, *, acquired: bool = True) -> bool:
        """Make sure no lease of ``account`` naming this owner and ``epoch`` is left, now
        or later; ``True`` if an entry had to be deleted. For a lease given up without a
        release (fenced, lost, a release without an answer), or with ``acquired=False``
        one whose acquire got no answer.

        nats-py holds the requests made while NATS is down and sends them once it
        reconnects, so a renewal sent during an outage can land after the watchdog fenced
        the account and revive a lease nobody streams: no other worker could take the
        account until that entry expired. Every write of a lease is a compare-and-set, so
        this ends with one of its own: an entry naming this owner and epoch is deleted
        with ``last=`` its revision (read again if something was written since). After
        that, or with somebody else's lease in the key, every held write expects a
        revision that is no longer the key's last and fails. A key with no live entry
        needs nothing more for a lease that was held (its renewals expect a revision
        already gone), but an unanswered acquire's create may still arrive: then the key
        is written (created and deleted) first, so that create fails too.
        """
        import nats.js.errors

        key = LEASE_PREFIX + check_key(account)
        while True:
            try:
                entry = await self.kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                if acquired:
                    return False
                try:
                    rev = await self.kv.create(key, self._value(epoch))
                except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
                    continue  # written meanwhile (maybe by that create): look again
                if await self._delete(key, int(rev)):
                    return False
                continue
            data = _decode(entry.value)
            if data.get("owner") != self.owner or data.get("epoch") != epoch:
                return False
            if await self._delete(key, entry.revision):
                logger.info(
                    "worker %s deleted the lease of %s it had given up (revision %s)",
                    self.owner,
                    account,
                    entry.revision,
                )
                return True

    async def _delete(self, key: str, last: int) -> bool:
        """``delete(key, last=last)``; ``False`` when the key's last revision is another
        (nats-py's ``delete`` raises the server's error as it is, not as
        ``KeyWrongLastSequenceError`` like ``update``)."""
        import nats.js.errors

        try:
            await self.kv.delete(key, last=last)
        except nats.js.errors.APIError as exc:
            if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError) or exc.err_code in (
                10071,
                10164,
            ):
                return False
            raise
        return True

    async def fence(self, lease: Lease, margin: float) -> None:
        """Raise :class:`LeaseLost` unless ``lease`` is still ours: before its local
        deadline and the KV entry still names this owner and epoch."""
        import nats.js.errors

        if self._clock() >= lease.deadline(margin):
            raise LeaseLost(
                f"The lease of {lease.account} was not renewed in time; "
                "this worker must not write for it."
            )
        try:
            entry = await self.kv.get(LEASE_PREFIX + lease.account)
        except nats.js.errors.KeyNotFoundError as exc:
            raise LeaseLost(f"The lease of {lease.account} is gone; stop its stream.") from exc
        data = _decode(entry.value)
        if data.get("owner") != self.owner or data.get("epoch") != lease.epoch:
            raise LeaseLost(
                f"The lease of {lease.account} now belongs to {data.get('owner')}; stop its stream."
            )

    def fence_for(
        self, lease_ref: Callable[[], Lease | None], margin: float
    ) -> Callable[[], Awaitable[None]]:
        """A zero-argument fence for :class:`~rcstream.fleet.kvstore.KVCheckpoint` that
        checks whatever lease ``lease_ref()`` returns now (renewals replace it)."""

        async def check() -> None:
            lease = lease_ref()
            if lease is None:
                raise LeaseLost("This worker holds no lease for the account; it must not write.")
            await self.fence(lease, margin)

        return check

    async def beat(self, held: tuple[str, ...]) -> None:
        """Write this worker's heartbeat (it expires TTL after the last one)."""
        body = {"worker": self.owner, "held": list(held), "at": self._wall()}
        await self.kv.put(WORKER_PREFIX + self.owner, json.dumps(body).encode())

    async def forget_self(self) -> None:
        """Delete this worker's heartbeat (a graceful leave)."""
        await self.kv.delete(WORKER_PREFIX + self.owner)

    async def view(self) -> tuple[dict[str, str], dict[str, WorkerBeat]]:
        """(account → owner) for every live lease, and the live workers."""
        entries = await snapshot(self.kv)
        owners: dict[str, str] = {}
        workers: dict[str, WorkerBeat] = {}
        for key, entry in entries.items():
            data = _decode(entry.value)
            if key.startswith(LEASE_PREFIX):
                owners[key[len(LEASE_PREFIX) :]] = str(data.get("owner"))
            elif key.startswith(WORKER_PREFIX):
                name = key[len(WORKER_PREFIX) :]
                held = data.get("held") or []
                workers[name] = WorkerBeat(name, tuple(map(str, held)), float(data.get("at") or 0))
        return owners, workers


def _decode(raw: bytes | None) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
