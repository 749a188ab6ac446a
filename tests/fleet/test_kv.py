"""Leases and the encrypted KV checkpoint store against a real JetStream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.fernet import Fernet

from rcstream.checkpoint import (
    Checkpoint,
    CheckpointConflict,
    CheckpointCorrupt,
    CheckpointError,
    CheckpointStore,
)
from rcstream.exceptions import ConfigurationError
from rcstream.fleet.errors import LeaseLost
from rcstream.fleet.kvstore import KVCheckpoint, fernet_from_env, rotate_checkpoints
from rcstream.fleet.lease import LeaseTable
from rcstream.redact import Secret

KEY = Fernet.generate_key().decode()


def checkpoint(refresh: str = "rt-very-secret") -> Checkpoint:
    return Checkpoint(
        client_id="cid",
        server_url="http://127.0.0.1:1",
        refresh_token=Secret(refresh),
        wsc=Secret("wsc-token"),
        wsc_sequence=3,
        account_id="37439510",
    )


async def test_checkpoint_round_trip_cas_and_encryption(js: Any) -> None:
    store = KVCheckpoint(js, "CKPT", "ckpt.acme", KEY)
    assert isinstance(store, CheckpointStore)
    assert await store.load() is None
    await store.save(checkpoint())
    other = KVCheckpoint(js, "CKPT", "ckpt.acme", KEY)
    loaded = await other.load()
    assert loaded == checkpoint()
    # the bucket holds ciphertext only
    raw = (await (await js.key_value("CKPT")).get("ckpt.acme")).value
    assert b"rt-very-secret" not in raw and b"wsc-token" not in raw
    # other writes; our revision is stale
    await other.save(checkpoint("rt-2"))
    with pytest.raises(CheckpointConflict, match="another owner"):
        await store.save(checkpoint("rt-3"))
    assert (await store.load()) == checkpoint("rt-2")
    await store.save(checkpoint("rt-3"))
    assert "rt-3" not in repr(store)


async def test_wrong_key_is_corrupt_and_set_aside(js: Any) -> None:
    await KVCheckpoint(js, "CKPT", "ckpt.acme", KEY).save(checkpoint())
    wrong = KVCheckpoint(js, "CKPT", "ckpt.acme", Fernet.generate_key())
    with pytest.raises(CheckpointCorrupt, match="RCSTREAM_FLEET_KEY"):
        await wrong.load()
    kv = await js.key_value("CKPT")
    aside = [k for k in await kv.keys() if ".aside-" in k]
    assert len(aside) == 1
    # starting fresh replaces the unreadable value; the copy aside keeps it readable
    await wrong.save(checkpoint("fresh"))
    assert Checkpoint.from_json(Fernet(KEY).decrypt((await kv.get(aside[0])).value)) == (
        checkpoint()
    )


async def test_key_rotation(js: Any) -> None:
    new = Fernet.generate_key().decode()
    await KVCheckpoint(js, "CKPT", "ckpt.a", KEY).save(checkpoint())
    both = fernet_from_env({"RCSTREAM_FLEET_KEY": f"{new},{KEY}"})
    assert await KVCheckpoint(js, "CKPT", "ckpt.a", both).load() == checkpoint()
    assert await rotate_checkpoints(js, "CKPT", both) == 1
    assert await KVCheckpoint(js, "CKPT", "ckpt.a", new).load() == checkpoint()
    with pytest.raises(CheckpointCorrupt):
        await KVCheckpoint(js, "CKPT", "ckpt.a", KEY).load()


def test_fleet_key_errors() -> None:
    with pytest.raises(ConfigurationError, match="Set RCSTREAM_FLEET_KEY"):
        fernet_from_env({})
    with pytest.raises(ConfigurationError, match="not a Fernet key") as info:
        fernet_from_env({"RCSTREAM_FLEET_KEY": "short-secret-value"})
    assert "short-secret-value" not in str(info.value)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_lease_acquire_renew_expire_and_fence(js: Any) -> None:
    clock = Clock()
    a = await LeaseTable.open(js, "LEASES", "wa", ttl=1.5, clock=clock)
    b = await LeaseTable.open(js, "LEASES", "wb", ttl=1.5, clock=clock)
    lease = await a.acquire("acme")
    assert lease is not None
    assert await b.acquire("acme") is None
    lease = await a.renew(lease)
    await a.fence(lease, margin=0.2)
    # the fenced checkpoint refuses writes past the local deadline
    store = KVCheckpoint(js, "CKPT", "ckpt.acme", KEY, fence=a.fence_for(lambda: lease, 0.2))
    await store.save(checkpoint())
    clock.now += 1.4
    with pytest.raises(LeaseLost, match="not renewed in time"):
        await store.save(checkpoint())
    # the server expires the entry after the TTL; then b takes it and a's renew fails
    taken = None
    for _ in range(100):
        taken = await b.acquire("acme")
        if taken is not None:
            break
        await asyncio.sleep(0.05)  # waiting for the server's max-age expiry, no event exists
    assert taken is not None
    with pytest.raises(LeaseLost):
        await a.renew(lease)
    clock.now -= 1.4
    with pytest.raises(LeaseLost, match="now belongs to wb"):
        await a.fence(lease, margin=0.2)
    owners, _ = await b.view()
    assert owners == {"acme": "wb"}
    await b.release(taken)
    assert await a.acquire("acme") is not None


async def test_a_renewal_that_landed_without_an_answer_is_not_a_lost_lease(js: Any) -> None:
    a = await LeaseTable.open(js, "LEASES", "wa", ttl=5)
    lease = await a.acquire("acme")
    assert lease is not None
    # a's last renewal timed out, nats-py sent it on reconnecting and it landed: the next
    # renewal (still expecting the old revision) finds the key written, by a itself
    landed = await a.kv.update("lease.acme", a._value(lease.epoch), last=lease.revision)
    renewed = await a.renew(lease)
    assert renewed.epoch == lease.epoch and renewed.revision > landed
    await a.fence(renewed, margin=0.5)
    # an entry with another epoch of a's is not this lease
    await a.release(renewed)
    other = await a.acquire("acme")
    assert other is not None
    with pytest.raises(LeaseLost):
        await a.renew(renewed)


async def test_relinquish_deletes_a_given_up_lease_only_while_it_names_this_epoch(
    js: Any,
) -> None:
    import nats.js.errors

    a = await LeaseTable.open(js, "LEASES", "wa", ttl=5)
    b = await LeaseTable.open(js, "LEASES", "wb", ttl=5)
    lease = await a.acquire("acme")
    assert lease is not None
    # a renewal of a's that nats-py held through an outage lands after a gave the lease
    # up: the same compare-and-set renew sends, answered by nobody
    revived = await a.kv.update("lease.acme", a._value(lease.epoch), last=lease.revision)
    assert await a.relinquish("acme", lease.epoch) is True
    with pytest.raises(nats.js.errors.KeyNotFoundError):
        await a.kv.get("lease.acme")
    # another renewal held longer lands later still: refused, the key was written since
    for last in (lease.revision, revived):
        with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
            await a.kv.update("lease.acme", a._value(lease.epoch), last=last)
    assert await a.relinquish("acme", lease.epoch) is False  # nothing left: nothing to do

    # somebody else's lease, or a newer one of a's own, is left alone
    taken = await b.acquire("acme")
    assert taken is not None
    assert await a.relinquish("acme", lease.epoch) is False
    await b.release(taken)
    again = await a.acquire("acme")
    assert again is not None
    assert await a.relinquish("acme", lease.epoch) is False
    owners, _ = await b.view()
    assert owners == {"acme": "wa"}
    # a release with a stale revision is not an error: the lease is simply not ours as it was
    await a.release(lease)
    assert (await a.view())[0] == {"acme": "wa"}


async def test_a_release_behind_a_renewal_that_landed_still_frees_the_account(js: Any) -> None:
    # the runner ended while a renewal's answer was on its way (or lost): the lease the
    # worker releases records the revision before it, so the delete's compare-and-set
    # conflicts; the entry still names this owner and epoch and must not block the account
    a = await LeaseTable.open(js, "LEASES", "wa", ttl=5)
    lease = await a.acquire("late")
    assert lease is not None
    await a.kv.update("lease.late", a._value(lease.epoch), last=lease.revision)
    await a.release(lease)
    assert "late" not in (await a.view())[0]


async def test_relinquish_after_an_acquire_without_an_answer(js: Any) -> None:
    import nats.js.errors

    a = await LeaseTable.open(js, "LEASES", "wa", ttl=5)
    epoch = a.new_epoch()
    # acquire's create was sent and got no answer; it may not have reached the server yet:
    # relinquish writes the key (create, then delete), so when it arrives it is refused
    assert await a.relinquish("fresh", epoch, acquired=False) is False
    with pytest.raises(nats.js.errors.KeyWrongLastSequenceError):
        await a.kv.update("lease.fresh", a._value(epoch), last=0)  # that create, held
    # or it had landed: then that lease is deleted
    lease = await a.acquire("late", epoch=epoch)
    assert lease is not None and lease.epoch == epoch
    assert await a.relinquish("late", epoch, acquired=False) is True
    assert (await a.view())[0] == {}
    # either way the account can be acquired again at once
    assert await a.acquire("fresh") is not None
    assert await a.acquire("late") is not None


async def test_heartbeats_listed(js: Any) -> None:
    a = await LeaseTable.open(js, "LEASES", "wa", ttl=5)
    b = await LeaseTable.open(js, "LEASES", "wb", ttl=5)
    await a.beat(("x",))
    await b.beat(())
    _, workers = await a.view()
    assert sorted(workers) == ["wa", "wb"] and workers["wa"].held == ("x",)
    await b.forget_self()
    _, workers = await a.view()
    assert sorted(workers) == ["wa"]


async def test_lease_ttl_must_match_the_bucket(js: Any) -> None:
    await LeaseTable.open(js, "LEASES", "wa", ttl=5)
    with pytest.raises(
        ConfigurationError, match="expires entries after 5 s but the lease TTL is 20 s"
    ):
        await LeaseTable.open(js, "LEASES", "wb", ttl=20)
    await js.create_key_value(bucket="NOTTL", history=1)
    with pytest.raises(ConfigurationError, match="NOTTL never expires"):
        await LeaseTable.open(js, "NOTTL", "wa", ttl=5)


async def test_acquire_when_the_holders_lease_expires_mid_create_is_not_a_crash() -> None:
    """nats-py's ``create`` meets the holder's entry, then finds it expired when it looks
    again and raises ``KeyNotFoundError`` (seen once in CI). ``acquire`` must answer "not
    yet" so the worker's next round tries again. The race cannot be timed against a real
    server, so this one uses a stand-in for nats-py's KV object."""
    import nats.js.errors

    class ExpiredMidCreate:
        async def create(self, key: str, value: bytes) -> int:
            raise nats.js.errors.KeyNotFoundError

    table = LeaseTable(ExpiredMidCreate(), "wa", ttl=1.5)
    assert await table.acquire("acme") is None


class FlakyKV:
    """A stand-in for nats-py's KV object whose writes fail ``failures`` times first."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.writes = 0

    async def create(self, key: str, value: bytes) -> int:
        import nats.errors

        self.writes += 1
        if self.writes <= self.failures:
            raise nats.errors.TimeoutError
        return 7


class FakeJS:
    def __init__(self, kv: FlakyKV) -> None:
        self.kv = kv

    async def key_value(self, bucket: str) -> FlakyKV:
        return self.kv


async def test_save_retries_a_failed_nats_request_with_the_fence_checked_each_time() -> None:
    # NATS blips cannot be timed against a real server: a stand-in KV fails twice
    kv = FlakyKV(failures=2)
    fenced: list[int] = []

    async def fence() -> None:
        fenced.append(kv.writes)

    store = KVCheckpoint(
        FakeJS(kv), "CKPT", "ckpt.acme", KEY, fence=fence, retry_backoff=(0.001, 0.002)
    )
    await store.save(checkpoint())
    assert kv.writes == 3 and store.revision == 7 and store.unsaved is None
    assert fenced == [0, 1, 2]  # the fence before every try


async def test_save_gives_up_after_retry_for_and_keeps_the_unsaved_checkpoint() -> None:
    kv = FlakyKV(failures=10**6)
    store = KVCheckpoint(FakeJS(kv), "CKPT", "ckpt.acme", KEY, retry_for=0.0)
    with pytest.raises(CheckpointError, match="could not be written to NATS for 0 s"):
        await store.save(checkpoint())
    assert kv.writes == 1
    assert store.unsaved == checkpoint()
