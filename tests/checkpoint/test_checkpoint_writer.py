"""CheckpointWriter: batched progress, immediate token saves, nothing lost on a clean stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ckpt_helpers import MemoryStore, sample

from rcstream.checkpoint import CheckpointWriter, FileCheckpoint
from rcstream.redact import Secret


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_progress_is_written_every_max_events() -> None:
    store, clock = MemoryStore(), Clock()
    writer = CheckpointWriter(store, sample(), max_events=10, interval=60, clock=clock)
    due = [writer.note_delivered(f"e{i}", wsc=Secret(f"w{i}"), sequence=i) for i in range(10)]
    assert due == [False] * 9 + [True]
    assert store.saved == []  # noting is memory only
    assert await writer.maybe_flush()
    assert len(store.saved) == 1 and writer.unwritten == 0
    written = store.saved[0]
    assert written.recent_uuids == ("u1", "u2", *(f"e{i}" for i in range(10)))
    assert written.wsc == Secret("w9") and written.wsc_sequence == 9
    assert not await writer.maybe_flush()  # nothing new


async def test_progress_is_written_interval_seconds_after_the_first_unwritten_event() -> None:
    store, clock = MemoryStore(), Clock()
    writer = CheckpointWriter(store, sample(), max_events=1000, interval=2.0, clock=clock)
    assert not writer.note_delivered("a", at=5.0)
    clock.now += 1.9
    assert not writer.note_delivered("b")
    assert not await writer.maybe_flush()
    clock.now += 0.1
    assert writer.due()
    assert await writer.maybe_flush()
    assert store.saved[-1].recent_uuids[-2:] == ("a", "b")
    assert store.saved[-1].last_frame_at == 5.0
    clock.now += 10  # idle: nothing is due without a new event
    assert not writer.due()


async def test_save_now_writes_the_new_token_pair_at_once_with_the_progress(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp"
    async with FileCheckpoint(path) as store:
        await store.load()
        writer = CheckpointWriter(store, sample(), max_events=100, interval=60, clock=Clock())
        writer.note_delivered("e1")
        saved = await writer.save_now(
            access_token=Secret("new-access"),
            refresh_token=Secret("new-refresh"),
            access_expires_at=1.0,
        )
        assert saved.refresh_token == Secret("new-refresh")
        assert writer.unwritten == 0 and writer.writes == 1
    # durable before save_now returned: a new process sees the new pair and the progress
    async with FileCheckpoint(path) as again:
        loaded = await again.load()
    assert loaded is not None
    assert loaded.refresh_token == Secret("new-refresh")
    assert loaded.access_token == Secret("new-access")
    assert loaded.recent_uuids[-1] == "e1"


async def test_events_noted_while_a_save_runs_stay_unwritten() -> None:
    store = MemoryStore()
    store.gate = asyncio.Event()
    writer = CheckpointWriter(store, sample(), max_events=1, interval=60, clock=Clock())
    writer.note_delivered("a")
    flushing = asyncio.create_task(writer.flush())
    await store.saving.wait()
    writer.note_delivered("b")
    writer.update(subscription_id="sub-2")
    store.gate.set()
    assert await flushing
    assert store.saved[-1].recent_uuids[-1] == "a"
    assert writer.unwritten == 1 and writer.due()
    assert await writer.flush()
    assert store.saved[-1].recent_uuids[-1] == "b"
    assert store.saved[-1].subscription_id == "sub-2"


async def test_a_clean_stop_writes_everything() -> None:
    store = MemoryStore()
    writer = CheckpointWriter(store, sample(recent_uuids=()), max_events=100, clock=Clock())
    for i in range(7):
        writer.note_delivered(f"e{i}")
    writer.update(disconnected_at=123.0, pending=({"uuid": "p1"},))
    await writer.aclose()
    final = store.saved[-1]
    assert final.recent_uuids == tuple(f"e{i}" for i in range(7))
    assert final.disconnected_at == 123.0 and final.pending == ({"uuid": "p1"},)
    await writer.aclose()
    assert len(store.saved) == 1  # nothing new, no second write


async def test_the_uuid_window_is_bounded_and_update_routes_progress_fields() -> None:
    store = MemoryStore()
    writer = CheckpointWriter(store, sample(), window=3, clock=Clock())
    for uuid in "abcde":
        writer.note_delivered(uuid)
    assert writer.checkpoint.recent_uuids == ("c", "d", "e")
    writer.update(recent_uuids=("x",), wsc=Secret("w"), wsc_sequence=1, last_frame_at=9.0)
    cp = writer.checkpoint
    assert (cp.recent_uuids, cp.wsc, cp.wsc_sequence, cp.last_frame_at) == (
        ("x",),
        Secret("w"),
        1,
        9.0,
    )


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_events"):
        CheckpointWriter(MemoryStore(), sample(), max_events=0)
