"""FileCheckpoint against the real file system: atomicity, mode, lock, corrupt files, revisions."""
# ruff: noqa: ASYNC240  (tests inspect the files the store wrote, synchronously on purpose)

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from ckpt_helpers import REFRESH, SECRETS, sample

from rcstream.checkpoint import (
    Checkpoint,
    CheckpointConflict,
    CheckpointCorrupt,
    CheckpointError,
    CheckpointLocked,
    CheckpointStore,
    CheckpointWriter,
    FileCheckpoint,
)
from rcstream.exceptions import RCStreamError
from rcstream.redact import Secret


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "rc.checkpoint"


async def test_round_trip_is_atomic_private_and_counts_revisions(path: Path) -> None:
    store = FileCheckpoint(path)
    assert isinstance(store, CheckpointStore)
    assert await store.load() is None
    assert store.revision == 0
    await store.save(sample())
    await store.save(sample(wsc_sequence=8))
    assert store.revision == 2
    await store.aclose()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]
    assert json.loads(path.read_bytes())["revision"] == 2

    again = FileCheckpoint(path)
    loaded = await again.load()
    assert loaded == sample(wsc_sequence=8)
    assert again.revision == 2
    await again.save(loaded.evolve(subscription_id="sub-2"))
    assert again.revision == 3
    await again.aclose()


async def test_a_second_store_on_the_same_file_is_refused(path: Path) -> None:
    first = FileCheckpoint(path)
    await first.load()
    second = FileCheckpoint(path)
    with pytest.raises(CheckpointLocked) as info:
        await second.load()
    assert isinstance(info.value, RCStreamError)
    message = str(info.value)
    assert str(path) in message and f"pid {os.getpid()}" in message
    assert "give this one its own checkpoint file" in message
    await first.aclose()
    assert await second.load() is None  # released: the next owner may take it
    assert second.locked
    await second.aclose()
    await second.aclose()  # idempotent
    assert not second.locked


def test_a_second_process_is_refused_while_the_first_runs(path: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import asyncio, sys
        from rcstream.checkpoint import FileCheckpoint
        async def main():
            store = FileCheckpoint({str(path)!r})
            await store.open()
            print("locked", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
            await store.aclose()
        asyncio.run(main())
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline() == "locked\n"
            with pytest.raises(CheckpointLocked, match=f"pid {proc.pid}"):
                asyncio.run(FileCheckpoint(path).open())
        finally:
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0

    async def reopen() -> bool:
        async with FileCheckpoint(path) as store:  # the holder exited: free again
            return store.locked

    assert asyncio.run(reopen())


async def test_a_file_open_to_others_is_loaded_with_a_warning_and_rewritten_private(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with FileCheckpoint(path) as store:
        await store.save(sample())
    path.chmod(0o644)
    caplog.set_level(logging.DEBUG, logger="rcstream")
    async with FileCheckpoint(path) as store:
        assert await store.load() == sample()
        await store.save(sample())
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0].getMessage() and "chmod 600" in warnings[0].getMessage()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not any(s in caplog.text for s in SECRETS)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"client_id": "a", "server_url": "b", "format": "rcstream.checkpoint/1"}', "revision"),
        (b'{"revision": 1, "client_id": "a", "server_url": "b"}', "rcstream version"),
        (b'{"revision": 1, "format": "rcstream.checkpoint/1"}', "which app"),
        (
            b'{"revision": 1, "format": "rcstream.checkpoint/1", "client_id": "a", '
            b'"server_url": "b", "surprise": 1}',
            "fields this version does not know",
        ),
        (b"", "not valid JSON"),
    ],
)
async def test_an_unreadable_file_is_moved_aside_and_the_store_starts_fresh(
    path: Path, raw: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    store = FileCheckpoint(path)
    with pytest.raises(CheckpointCorrupt, match=reason) as info:
        await store.load()
    corrupt = path.with_name(path.name + ".corrupt")
    assert info.value.moved_to == corrupt
    assert corrupt.read_bytes() == raw
    assert not path.exists()
    assert str(corrupt) in str(info.value) and "fresh session" in str(info.value)
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    # the caller starts fresh: the next save creates the file again
    await store.save(sample())
    assert store.revision == 1
    await store.aclose()
    async with FileCheckpoint(path) as again:
        assert await again.load() == sample()


@pytest.mark.parametrize(
    ("expect", "reason"),
    [
        (("other-app", "http://127.0.0.1:1234"), "another app"),
        (("app-1", "https://platform.ringcentral.com"), "another server"),
    ],
)
async def test_a_checkpoint_of_another_app_or_server_is_set_aside(
    path: Path, expect: tuple[str, str], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with FileCheckpoint(path) as store:
        await store.save(sample())
    original = path.read_bytes()
    store = FileCheckpoint(path, expect=expect)
    with pytest.raises(CheckpointCorrupt, match=reason):
        await store.load()
    assert path.with_name(path.name + ".corrupt").read_bytes() == original
    await store.aclose()
    assert not any(s in caplog.text for s in SECRETS)


async def test_the_expected_owner_and_a_custom_check_accept_a_matching_file(path: Path) -> None:
    async with FileCheckpoint(path) as store:
        await store.save(sample())
    seen: list[Checkpoint] = []

    def check(cp: Checkpoint) -> str | None:
        seen.append(cp)
        return None

    async with FileCheckpoint(path, expect=("app-1", "http://127.0.0.1:1234/"), check=check) as s:
        assert await s.load() == sample()
    assert seen == [sample()]


async def test_save_fails_when_the_file_changed_behind_the_stores_back(path: Path) -> None:
    store = FileCheckpoint(path)
    await store.load()
    await store.save(sample())
    # someone ignoring the lock writes revision 5 (a restored backup, another host on NFS)
    data = json.loads(path.read_bytes())
    data["revision"] = 5
    path.write_bytes(json.dumps(data).encode())
    with pytest.raises(CheckpointConflict, match="only one process"):
        await store.save(sample(wsc_sequence=9))
    assert json.loads(path.read_bytes())["revision"] == 5  # untouched
    await store.aclose()


async def test_save_without_load_expects_no_file(path: Path) -> None:
    async with FileCheckpoint(path) as store:
        await store.save(sample())
    async with FileCheckpoint(path) as blind:
        with pytest.raises(CheckpointConflict):
            await blind.save(sample(subscription_id="other"))
    async with FileCheckpoint(path) as store:
        assert (await store.load()) == sample()


async def test_a_deleted_file_after_load_is_a_conflict_too(path: Path) -> None:
    async with FileCheckpoint(path) as store:
        await store.load()
        await store.save(sample())
        path.unlink()
        with pytest.raises(CheckpointConflict):
            await store.save(sample())


async def test_a_failed_write_keeps_the_old_checkpoint_and_no_temp_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileCheckpoint(path)
    await store.load()
    await store.save(sample())

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        await store.save(sample(wsc_sequence=99))
    assert "check free space" in str(info.value)
    monkeypatch.undo()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]
    assert store.revision == 1
    await store.save(sample(wsc_sequence=100))  # the store still works afterwards
    await store.aclose()
    async with FileCheckpoint(path) as again:
        loaded = await again.load()
        assert loaded is not None and loaded.wsc_sequence == 100


async def test_secrets_stay_out_of_reprs_messages_and_logs(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = FileCheckpoint(path, expect=("someone-else", "http://x"))
    await store.save(sample())
    writer = CheckpointWriter(store, sample())
    writer.note_delivered("e1", wsc=Secret("w-" + REFRESH))
    texts = [repr(store), repr(sample()), str(sample()), repr(writer), repr(writer.checkpoint)]
    with pytest.raises(CheckpointCorrupt) as corrupt:
        await store.load()
    texts.append(str(corrupt.value))
    with pytest.raises(CheckpointLocked) as locked:
        await FileCheckpoint(path).load()
    texts.append(str(locked.value))
    await store.aclose()
    texts.append(caplog.text)
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, text
    # ... while the file itself does hold them, which is why it is 0600
    raw = path.with_name(path.name + ".corrupt").read_bytes()
    assert REFRESH.encode() in raw


KILLED_WRITER = """
import asyncio, sys
from rcstream.checkpoint import Checkpoint, FileCheckpoint
from rcstream.redact import Secret

async def main(path):
    store = FileCheckpoint(path)
    base = await store.load() or Checkpoint(client_id="app-1", server_url="http://x")
    n = base.wsc_sequence or 0
    while True:
        n += 1
        await store.save(base.evolve(wsc=Secret(f"w{n}"), wsc_sequence=n,
                                     recent_uuids=tuple(f"u{i}" for i in range(n, n + 200))))
        print(n, flush=True)

asyncio.run(main(sys.argv[1]))
"""


def test_kill_9_in_the_middle_of_writes_leaves_a_whole_checkpoint_and_a_free_lock(
    path: Path,
) -> None:
    """A real process saving in a loop is SIGKILLed three times; each time the file holds a
    whole checkpoint at least as new as the last save it reported, and the lock is free."""
    last = 0
    for _ in range(3):
        with subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None
            for _ in range(20):  # let it get well into its loop
                line = proc.stdout.readline()
                assert line, "the writer died on its own"
                last = int(line)
            proc.kill()
            proc.wait(timeout=30)

        async def check() -> Checkpoint | None:
            async with FileCheckpoint(path) as store:  # the kernel released the flock
                loaded = await store.load()
            # leftovers of the save that was cut short are gone once a store holds the lock
            assert not list(path.parent.glob(".*.tmp"))
            return loaded

        loaded = asyncio.run(check())
        assert loaded is not None and loaded.wsc_sequence is not None
        assert loaded.wsc_sequence >= last  # nothing reported as saved was lost
        assert loaded.wsc == Secret(f"w{loaded.wsc_sequence}")
        last = loaded.wsc_sequence


async def test_a_stale_temp_file_is_removed_when_the_lock_is_taken(path: Path) -> None:
    path.parent.mkdir(parents=True)
    stale = path.parent / f".{path.name}.99999.tmp"
    stale.write_bytes(b'{"refresh_token": "half-written')
    other = path.parent / ".other.1.tmp"
    other.write_bytes(b"not ours")
    async with FileCheckpoint(path) as store:
        assert store.locked
    assert not stale.exists() and other.exists()


async def test_a_directory_in_place_of_the_file_is_a_named_error(path: Path) -> None:
    path.mkdir(parents=True)
    async with FileCheckpoint(path) as store:
        with pytest.raises(CheckpointError, match="regular file"):
            await store.load()


async def test_every_save_fsyncs_the_file_and_its_directory_before_returning(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    async with FileCheckpoint(path) as store:
        await store.load()
        monkeypatch.setattr(os, "fsync", recording_fsync)
        await store.save(sample())
        assert synced == ["file", "dir"]


# Review of issue 14, item 1: a path that is not a regular file is refused, never moved aside.
# These use a FIFO and a device node made in tmp_path; never a path under /dev.


async def test_a_fifo_in_place_of_the_file_is_refused_and_left_where_it_is(path: Path) -> None:
    path.parent.mkdir(parents=True)
    os.mkfifo(path, 0o600)
    wrote = threading.Event()

    def feed() -> None:  # what an unguarded reader would block on, then read as "corrupt"
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, b"not a checkpoint")
        os.close(fd)
        wrote.set()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        async with FileCheckpoint(path) as store:
            with pytest.raises(CheckpointError, match="not a regular file"):
                await store.load()
            with pytest.raises(CheckpointError, match="not a regular file"):
                await store.save(sample())
    finally:
        if not wrote.is_set():  # release the feeder: open the read end without blocking
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            feeder.join(5)
            os.close(fd)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert not path.with_name(path.name + ".corrupt").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
async def test_a_device_node_is_refused_and_never_renamed(path: Path) -> None:
    path.parent.mkdir(parents=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a null device, inside tmp_path
    async with FileCheckpoint(path) as store:
        with pytest.raises(CheckpointError, match="not a regular file") as caught:
            await store.load()
        assert not isinstance(caught.value, CheckpointCorrupt)
    assert stat.S_ISCHR(os.lstat(path).st_mode)
    assert not path.with_name(path.name + ".corrupt").exists()
