"""Profile one client's throughput run: ``python -m bench.profile [KIND] [-n N]``.

Starts a flood server in its own process, then runs the client (``floor``, ``sdk`` or
``rcstream``; default ``rcstream``) in this process under pyinstrument (or cProfile with
``--cprofile``) and prints where the time goes. Needs ``pip install -r
bench/requirements.txt`` for pyinstrument.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time

from bench.clients import FILTER, RUNNERS, Consumer
from bench.run import flood, server_stats


async def _consume(kind: str, url: str, n: int) -> Consumer:
    consumer = Consumer(n)
    task = asyncio.ensure_future(RUNNERS[kind](url, consumer, [FILTER]))
    await asyncio.wait_for(consumer.done.wait(), 120)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return consumer


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("kind", nargs="?", default="rcstream", choices=list(RUNNERS))
    p.add_argument("-n", type=int, default=20_000)
    p.add_argument("--cprofile", action="store_true", help="cProfile instead of pyinstrument")
    p.add_argument("--top", type=int, default=30, help="cProfile: functions to show")
    a = p.parse_args(argv)
    with flood("--mode", "flood", "-n", str(a.n)) as url:
        if a.cprofile:
            prof = cProfile.Profile()
            prof.enable()
            consumer = asyncio.run(_consume(a.kind, url, a.n))
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(a.top)
        else:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="disabled")
            profiler.start()
            t0 = time.perf_counter()
            consumer = asyncio.run(_consume(a.kind, url, a.n))
            wall = time.perf_counter() - t0
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
            print(f"wall {wall:.2f} s including connect")
        st = server_stats(url)
    elapsed = (consumer.last_ns - st["flood_start_ns"]) / 1e9
    print(f"{a.kind}: {consumer.count} notifications, {consumer.count / elapsed:.0f}/s (profiled)")


if __name__ == "__main__":
    main()
