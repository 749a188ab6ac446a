"""Which leases a worker should give up or try to take: a pure function, no I/O.

The worker feeds it one snapshot of the lease bucket (owners, heartbeats) and applies the
result (see :mod:`rcstream.fleet.worker`). Rules:

* the share is ``ceil(accounts / live workers)`` (this worker counts as live);
* above its share, and only when another live worker's heartbeat shows it below the
  share, the worker releases the accounts it least prefers (moving a stream when nobody
  can take it would interrupt it for nothing);
* below its share it tries free accounts, most preferred first;
* **overflow**: when nobody else is below the share, free accounts can only belong to a
  worker that died but whose heartbeat has not expired yet (heartbeats are written after
  renewals, so they outlive the leases a little); the worker takes its part of them now
  (as if one live worker were gone) rather than a heartbeat expiry later; the next
  rebalance evens out.

Preference is rendezvous hashing of (worker, account): different workers reach for
different accounts, and a worker's preferences do not change as the fleet changes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["LeasePlan", "plan_leases", "preference"]


def preference(worker: str, account: str) -> int:
    """The rendezvous weight of ``account`` for ``worker`` (higher: preferred)."""
    digest = hashlib.blake2b(f"{worker}\0{account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, slots=True)
class LeasePlan:
    """What to do this tick: release these (after stopping their streams), then try to
    acquire those, in order."""

    share: int
    release: tuple[str, ...] = ()
    acquire: tuple[str, ...] = ()


def plan_leases(
    me: str,
    accounts: Sequence[str],
    held: Collection[str],
    owners: Mapping[str, str],
    beats: Mapping[str, int],
    *,
    blocked: Collection[str] = (),
) -> LeasePlan:
    """Plan one tick for worker ``me``.

    ``held``: the accounts ``me`` streams; ``owners``: account → owner for every live
    lease; ``beats``: live worker → how many accounts its heartbeat says it holds;
    ``blocked``: accounts ``me`` must not take now (a runner failed recently).
    """
    live = set(beats) | {me}
    share = math.ceil(len(accounts) / len(live)) if accounts else 0
    below = any(count < share for name, count in beats.items() if name != me)
    mine = sorted(held, key=lambda a: preference(me, a))
    if len(mine) > share and below:
        return LeasePlan(share, release=tuple(mine[: len(mine) - share]))
    free = [a for a in accounts if a not in owners and a not in held and a not in blocked]
    free.sort(key=lambda a: preference(me, a), reverse=True)
    # above the share with nobody below it, a worker still takes its part of the overflow
    room = max(0, share - len(mine))
    overflow = [] if below else free[room:]
    part = math.ceil(len(overflow) / max(1, len(live) - 1))
    return LeasePlan(share, acquire=tuple(free[:room] + overflow[:part]))
