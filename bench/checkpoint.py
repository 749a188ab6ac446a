"""What checkpointing costs the hot path: batched progress writes vs an fsync per event.

``python -m bench.checkpoint [-n N] [--dir DIR] [--json FILE]`` hands N synthetic events to
a :class:`~rcstream.checkpoint.CheckpointWriter` over a real
:class:`~rcstream.checkpoint.FileCheckpoint` and prints microseconds per event for:

* ``note``: :meth:`CheckpointWriter.note_delivered` alone (memory only);
* ``batched``: note + ``maybe_flush`` with the defaults (a write every 100 events or 1 s);
* ``per_event``: ``save`` after every event (atomic write + two fsyncs each);
* ``save_now``: one immediate write (what a token refresh waits for), median.

``--dir`` picks the file system (the default is a temporary directory: on tmpfs an fsync
is nearly free, so point it at the disk the checkpoint will live on). Figures are in
``docs/restarts.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rcstream.checkpoint import Checkpoint, CheckpointWriter, FileCheckpoint
from rcstream.redact import Secret


def _checkpoint() -> Checkpoint:
    return Checkpoint(
        client_id="bench",
        server_url="http://127.0.0.1",
        access_token=Secret("a" * 60),
        access_expires_at=time.time() + 3600,
        refresh_token=Secret("r" * 60),
        refresh_expires_at=time.time() + 7 * 86400,
        wsc=Secret("w" * 40),
        wsc_sequence=0,
        subscription_id="sub",
        filters=("/restapi/v1.0/account/~/extension/~/telephony/sessions",),
        recovery_timeout=180.0,
    )


async def _run(n: int, directory: Path) -> dict[str, Any]:
    uuids = [f"{i:019d}" for i in range(n)]
    wscs = [Secret(f"w{i:039d}") for i in range(n)]
    result: dict[str, Any] = {"events": n, "dir": str(directory)}

    async with FileCheckpoint(directory / "note.cp") as store:
        await store.load()
        writer = CheckpointWriter(store, _checkpoint(), max_events=n + 1, interval=1e9)
        t0 = time.perf_counter()
        for i in range(n):
            writer.note_delivered(uuids[i], wsc=wscs[i], sequence=i, at=1.0)
        result["note_us"] = (time.perf_counter() - t0) / n * 1e6

    async with FileCheckpoint(directory / "batched.cp") as store:
        await store.load()
        writer = CheckpointWriter(store, _checkpoint())
        t0 = time.perf_counter()
        for i in range(n):
            if writer.note_delivered(uuids[i], wsc=wscs[i], sequence=i, at=1.0):
                await writer.flush()
        await writer.aclose()
        result["batched_us"] = (time.perf_counter() - t0) / n * 1e6
        result["batched_writes"] = writer.writes
        result["checkpoint_bytes"] = os.path.getsize(directory / "batched.cp")

    per_event_n = max(n // 10, 1)
    async with FileCheckpoint(directory / "each.cp") as store:
        await store.load()
        writer = CheckpointWriter(store, _checkpoint(), max_events=1)
        t0 = time.perf_counter()
        for i in range(per_event_n):
            writer.note_delivered(uuids[i], wsc=wscs[i], sequence=i, at=1.0)
            await writer.flush()
        result["per_event_us"] = (time.perf_counter() - t0) / per_event_n * 1e6
        result["per_event_events"] = per_event_n

        times = []
        for i in range(min(per_event_n, 50)):
            t0 = time.perf_counter()
            await writer.save_now(refresh_token=Secret(f"r{i}"))
            times.append(time.perf_counter() - t0)
        result["save_now_ms_median"] = statistics.median(times) * 1e3
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object (also to ``--json`` if given)."""
    parser = argparse.ArgumentParser(prog="python -m bench.checkpoint", description=__doc__)
    parser.add_argument("-n", type=int, default=20_000, help="events (default 20000)")
    parser.add_argument("--dir", type=Path, help="directory to write in (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = asyncio.run(_run(args.n, Path(tmp)))
    result["nproc"] = os.cpu_count()
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
