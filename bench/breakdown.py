"""Where rcstream's per-notification CPU goes, stage by stage, without sockets.

``python -m bench.breakdown [-n N]`` feeds the same pre-encoded telephony frames the flood
server sends through each stage of rcstream's receive path in isolation and prints the
cost per notification in microseconds. The stages are cumulative where noted, so the
differences say what each layer adds. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from collections.abc import Callable
from typing import Any

from bench.flood import build_notifications


def _per_item(fn: Callable[[], Any], n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def run(n: int) -> dict[str, float]:
    from rcstream.models import Notification, parse_notification
    from rcstream.models.routing import model_for_event
    from rcstream.protocol import SessionState
    from rcstream.protocol.frames import decode_frame

    texts = [f[4:].decode() for f in build_notifications(n, family="telephony-sessions", seed=1)]
    datas = [json.loads(t)[1] for t in texts]
    cls = model_for_event(datas[0]["event"])
    out: dict[str, float] = {}
    out["json.loads (the floor's work)"] = _per_item(lambda: [json.loads(t) for t in texts], n)
    out["decode_frame (json.loads + header checks)"] = _per_item(
        lambda: [decode_frame(t) for t in texts], n
    )

    def session() -> None:
        state = SessionState()
        for t in texts:
            state.receive(t, 0.0)

    out["SessionState.receive (decode + dedupe)"] = _per_item(session, n)
    out["parse_notification (typed pydantic model)"] = _per_item(
        lambda: [parse_notification(d) for d in datas], n
    )
    out["  of which: generic Notification (body as dict)"] = _per_item(
        lambda: [Notification.model_validate(d) for d in datas], n
    )
    out["  of which: model_construct (no validation)"] = _per_item(
        lambda: [
            cls.model_construct(uuid=d["uuid"], event=d["event"], body=d["body"]) for d in datas
        ],
        n,
    )
    notes = [parse_notification(d) for d in datas]
    out["to_wire() (the CLI re-serialising a model)"] = _per_item(
        lambda: [m.to_wire() for m in notes], n
    )
    out["json.dumps of the wire dict (CLI line)"] = _per_item(
        lambda: [json.dumps(d, separators=(",", ":"), ensure_ascii=False) for d in datas], n
    )

    async def queue_hop() -> None:
        q: asyncio.Queue[Any] = asyncio.Queue()

        async def produce() -> None:
            for d in datas:
                await q.put(d)

        async def consume() -> None:
            for _ in datas:
                await q.get()

        await asyncio.gather(produce(), consume())

    out["an asyncio.Queue hop (the CLI has one)"] = _per_item(lambda: asyncio.run(queue_hop()), n)
    gc.collect()
    gc.freeze()
    out["parse_notification after gc.freeze()"] = _per_item(
        lambda: [parse_notification(d) for d in datas], n
    )
    gc.unfreeze()
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.breakdown")
    p.add_argument("-n", type=int, default=5000)
    a = p.parse_args(argv)
    for name, us in run(a.n).items():
        print(f"{us:8.1f} us  {name}")


if __name__ == "__main__":
    main()
