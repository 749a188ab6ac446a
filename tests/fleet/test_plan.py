"""The pure lease plan: invariants for any snapshot, and convergence of a simulated fleet."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rcstream.fleet.plan import plan_leases

WORKERS = ["w0", "w1", "w2", "w3"]


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[str, list[str], set[str], dict[str, str], dict[str, int]]:
    accounts = [f"a{i}" for i in range(draw(st.integers(0, 25)))]
    workers = draw(st.lists(st.sampled_from(WORKERS), min_size=1, max_size=4, unique=True))
    me = workers[0]
    owners = {a: draw(st.sampled_from([*WORKERS, "gone"])) for a in accounts if draw(st.booleans())}
    held = {a for a, w in owners.items() if w == me}
    beats = {w: draw(st.integers(0, 30)) for w in workers if w != me or draw(st.booleans())}
    return me, accounts, held, owners, beats


@given(snapshots(), st.sets(st.sampled_from([f"a{i}" for i in range(25)])))
@settings(max_examples=300, deadline=None)
def test_plan_invariants(snap: tuple[Any, ...], blocked: set[str]) -> None:
    me, accounts, held, owners, beats = snap
    plan = plan_leases(me, accounts, held, owners, beats, blocked=blocked)
    live = set(beats) | {me}
    assert plan.share == (math.ceil(len(accounts) / len(live)) if accounts else 0)
    assert not (plan.release and plan.acquire)
    assert set(plan.release) <= held
    assert not set(plan.acquire) & (set(owners) | held | blocked)
    assert len(set(plan.acquire)) == len(plan.acquire)
    if plan.release:
        assert len(held) - len(plan.release) == plan.share
        assert any(n < plan.share for w, n in beats.items() if w != me)
    below = any(n < plan.share for w, n in beats.items() if w != me)
    if below:
        assert len(held) + len(plan.acquire) <= max(plan.share, len(held))


def simulate(
    accounts: list[str], workers: list[str], held: dict[str, set[str]], rounds: int
) -> None:
    """Ticks in turn, with accurate heartbeats and atomic creates."""
    for _ in range(rounds):
        for me in workers:
            owners = {a: w for w in workers for a in held[w]}
            beats = {w: len(held[w]) for w in workers}
            plan = plan_leases(me, accounts, held[me], owners, beats)
            held[me] -= set(plan.release)
            for a in plan.acquire:
                if all(a not in held[w] for w in workers):
                    held[me].add(a)


@given(st.integers(1, 40), st.integers(1, 5), st.integers(0, 4))
@settings(max_examples=200, deadline=None)
def test_fleet_converges_to_fair_shares(n_accounts: int, n_workers: int, joined_late: int) -> None:
    accounts = [f"a{i}" for i in range(n_accounts)]
    workers = [f"w{i}" for i in range(n_workers)]
    held: dict[str, set[str]] = {w: set() for w in workers}
    # some workers start first and take everything; the rest join
    early = workers[: max(1, n_workers - joined_late)]
    simulate(accounts, early, held, rounds=3)
    assert set().union(*held.values()) == set(accounts)
    simulate(accounts, workers, held, rounds=4)
    share = math.ceil(n_accounts / n_workers)
    owned = [a for w in workers for a in held[w]]
    assert sorted(owned) == sorted(accounts)  # every account, exactly one owner
    assert all(len(held[w]) <= share for w in workers)
    # a worker leaves (its leases expire): the others pick its accounts up
    gone = workers[-1]
    if n_workers > 1:
        held.pop(gone)
        rest = workers[:-1]
        simulate(accounts, rest, held, rounds=3)
        assert sorted(a for w in rest for a in held[w]) == sorted(accounts)
        assert all(len(held[w]) <= math.ceil(n_accounts / len(rest)) for w in rest)


def test_overflow_takes_a_dead_workers_accounts_before_its_heartbeat_expires() -> None:
    accounts = [f"a{i}" for i in range(9)]
    held = {"w0": {"a0", "a1", "a2"}, "w1": {"a3", "a4", "a5"}}
    owners = {a: w for w, s in held.items() for a in s}
    # w2 died: its leases a6-a8 expired, its heartbeat (3 held) not yet
    beats = {"w0": 3, "w1": 3, "w2": 3}
    plan0 = plan_leases("w0", accounts, held["w0"], owners, beats)
    plan1 = plan_leases("w1", accounts, held["w1"], owners, beats)
    assert plan0.share == 3 and len(plan0.acquire) == 2 and len(plan1.acquire) == 2
    assert set(plan0.acquire) | set(plan1.acquire) == {"a6", "a7", "a8"}
    # but a worker that just joined (heartbeat shows 0) gets them instead
    beats_join = {"w0": 3, "w1": 3, "w2": 0}
    assert plan_leases("w0", accounts, held["w0"], owners, beats_join).acquire == ()


def test_a_worker_above_its_share_still_takes_its_part_of_the_overflow() -> None:
    # w0 and w2 hold 4 each; w1 died (leases gone, heartbeat still says 3); a8 is free:
    # nobody alive is below the share of 3, so both may take it at once (one wins the
    # create) instead of leaving it unowned until w1's heartbeat expires
    accounts = [f"a{i}" for i in range(9)]
    held = {"w0": {"a0", "a1", "a2", "a3"}, "w2": {"a4", "a5", "a6", "a7"}}
    owners = {a: w for w, s in held.items() for a in s}
    beats = {"w0": 4, "w1": 3, "w2": 4}
    for me in ("w0", "w2"):
        plan = plan_leases(me, accounts, held[me], owners, beats)
        assert plan.share == 3 and plan.release == () and plan.acquire == ("a8",)
