"""Benchmarks for the NATS JetStream bridge and fleet (``docs/scale-out.md``).

Run ``python -m bench.fleet`` (``--quick`` for a smoke run). Everything runs against a real
``nats-server -js`` started on a free 127.0.0.1 port in a temporary directory:

* **publish**: notifications per second into JetStream, sequential (one ``js.publish``
  round trip per event) against :class:`rcstream.fleet.Publisher` with a bounded window
  (in flight 1, 16, 64, 256), and nats-py's own ``publish_async`` for reference. The
  payload is the telephony notification of ``tests/fixtures`` (829 bytes), each with a
  fresh ``Nats-Msg-Id``.
* **restart**: a steady 200/s publisher while the server is SIGKILLed for 2 s and
  restarted on the same port and store: messages lost (target 0), re-sends, and copies in
  the stream per uuid.
* **takeover**: three in-process workers share 12 accounts (lease TTL 3 s, renewal 0.5 s);
  one is cut off from NATS (its connection closed): the time until the others own its
  accounts, and when it stopped its streams (fencing).

Prints a table and writes JSON (``--out``, default ``bench/results/fleet.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = json.dumps(
    json.loads((ROOT / "tests" / "fixtures" / "notification-telephony.json").read_text())[1],
    separators=(",", ":"),
).encode()


async def bench_publish(url: str, n: int, repeat: int) -> list[dict[str, Any]]:
    import nats

    from rcstream.fleet.publisher import Publisher
    from rcstream.fleet.subjects import ensure_stream

    nc = await nats.connect(url)
    js = nc.jetstream(timeout=5.0)
    await ensure_stream(js, "BENCH")
    subject = "rcstream.809646016.telephony-sessions"
    rows: list[dict[str, Any]] = []

    async def timed(name: str, in_flight: int | None, body: Any) -> None:
        rates: list[float] = []
        cpus: list[float] = []
        stored = 0
        for _ in range(repeat):
            await js.purge_stream("BENCH")
            c0, t0 = time.process_time(), time.perf_counter()
            await body()
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            stored = (await js.stream_info("BENCH")).state.messages
            rates.append(n / elapsed)
            cpus.append(cpu / n * 1e6)
        rates.sort()
        cpus.sort()
        rows.append(
            {
                "mode": name,
                "in_flight": in_flight,
                "events": n,
                "repeats": repeat,
                "stored": stored,
                "events_per_s_median": round(rates[len(rates) // 2]),
                "events_per_s_best": round(rates[-1]),
                "client_cpu_us_per_event": round(cpus[len(cpus) // 2], 1),
            }
        )

    async def sequential() -> None:
        for _ in range(n):
            await js.publish(subject, PAYLOAD, headers={"Nats-Msg-Id": str(uuid.uuid4())})

    await timed("sequential js.publish", 1, sequential)
    for window in (1, 16, 64, 256):

        async def windowed(window: int = window) -> None:
            async with Publisher(js, stream="BENCH", max_in_flight=window) as pub:
                for _ in range(n):
                    await pub.publish(subject, PAYLOAD, str(uuid.uuid4()))

        await timed("Publisher", window, windowed)

    async def raw_async() -> None:
        futs = [
            await js.publish_async(subject, PAYLOAD, headers={"Nats-Msg-Id": str(uuid.uuid4())})
            for _ in range(n)
        ]
        await asyncio.gather(*futs)

    await timed("nats-py publish_async (unbounded 4000)", 4000, raw_async)
    await nc.close()
    return rows


async def bench_restart(server: Any, rate: float, seconds: float) -> dict[str, Any]:
    import nats

    from rcstream.fleet.publisher import Ack, Publisher
    from rcstream.fleet.subjects import ensure_stream

    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = nc.jetstream(timeout=5.0)
    await ensure_stream(js, "RESTART", subjects=("restart.>",))
    acks: list[Ack] = []
    sent: list[str] = []
    blocked_max = 0.0
    async with Publisher(
        js, stream="RESTART", max_in_flight=128, ack_timeout=0.5, on_ack=acks.append
    ) as pub:

        async def produce(count: int) -> None:
            nonlocal blocked_max
            for _ in range(count):
                mid = str(uuid.uuid4())
                sent.append(mid)
                t0 = time.perf_counter()
                await pub.publish("restart.1.fax", PAYLOAD, mid)
                blocked_max = max(blocked_max, time.perf_counter() - t0)
                await asyncio.sleep(1 / rate)

        producer = asyncio.create_task(produce(int(rate * seconds)))
        await asyncio.sleep(seconds / 3)
        await server.stop()
        down = time.perf_counter()
        await asyncio.sleep(2.0)
        await server.start()
        outage = time.perf_counter() - down
        await producer
    info = await js.stream_info("RESTART")
    ids = set()
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        ids.add((await js.get_msg("RESTART", seq)).headers["Nats-Msg-Id"])
    await nc.close()
    return {
        "rate_per_s": rate,
        "sent": len(sent),
        "acked": len(acks),
        "stored": info.state.messages,
        "lost": len(set(sent) - ids),
        "stored_twice": info.state.messages - len(ids),
        "resends": pub.retries,
        "outage_s": round(outage, 2),
        "longest_publish_block_s": round(blocked_max, 2),
    }


async def bench_takeover(url: str, ttl: float, interval: float) -> dict[str, Any]:
    import nats
    from cryptography.fernet import Fernet

    from rcstream.fleet.accounts import FleetAccount
    from rcstream.fleet.kvstore import make_fernet
    from rcstream.fleet.worker import AccountContext, FleetConfig, FleetWorker
    from rcstream.redact import Secret

    accounts = [
        FleetAccount(f"a{i}", "cid", Secret("s"), Secret("j"), "http://127.0.0.1:1", ("/x",))
        for i in range(12)
    ]
    owners: dict[str, str] = {}
    stopped: dict[str, float] = {}
    changed = asyncio.Event()

    async def runner(ctx: AccountContext) -> None:
        owners[ctx.account.label] = ctx.worker
        changed.set()
        try:
            await asyncio.Event().wait()
        finally:
            if owners.get(ctx.account.label) == ctx.worker:
                del owners[ctx.account.label]
            stopped[f"{ctx.worker}/{ctx.account.label}"] = time.perf_counter()
            changed.set()

    async def wait_for(cond: Any) -> None:
        while not cond():
            changed.clear()
            await changed.wait()

    config = FleetConfig(ttl=ttl, renew_interval=interval)
    fernet = make_fernet(Fernet.generate_key())
    conns = [await nats.connect(url) for _ in range(3)]
    expiry_lag = await _expiry_lag(conns[0].jetstream(), ttl)
    workers = [
        FleetWorker(
            c.jetstream(timeout=1.0),
            accounts,
            runner,
            fernet=fernet,
            config=config,
            worker_id=f"w{i}",
        )
        for i, c in enumerate(conns)
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.wait_for(
        wait_for(lambda: len(owners) == 12 and len(set(owners.values())) == 3), 60
    )
    victim = [a for a, w in owners.items() if w == "w2"]
    cut = time.perf_counter()
    await conns[2].close()
    await asyncio.wait_for(wait_for(lambda: all(owners.get(a) in ("w0", "w1") for a in victim)), 60)
    took = time.perf_counter() - cut
    fenced = max(stopped[f"w2/{a}"] for a in victim) - cut
    for w in workers:
        w.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in conns[:2]:
        await c.close()
    return {
        "ttl_s": ttl,
        "renew_interval_s": interval,
        "margin_s": config.fence_margin,
        "accounts_moved": len(victim),
        "reowned_after_s": round(took, 2),
        "bound_ttl_plus_interval_s": ttl + interval,
        "victim_stopped_after_s": round(fenced, 2),
        "server_expiry_lag_s": round(expiry_lag, 3),
    }


async def _expiry_lag(js: Any, ttl: float) -> float:
    """How long after ``ttl`` the server really removes an entry of a max-age bucket."""
    import nats.js.errors

    from rcstream.fleet.kv import open_bucket

    kv = await open_bucket(js, "EXPIRYPROBE", ttl=ttl)
    t0 = time.perf_counter()
    await kv.create("probe", b"x")
    while True:
        try:
            await kv.get("probe")
        except nats.js.errors.KeyNotFoundError:
            return time.perf_counter() - t0 - ttl
        await asyncio.sleep(0.01)  # polling the server: it announces no expiry


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from rcstream.fleet.server import NatsServer

    with tempfile.TemporaryDirectory() as tmp:
        async with NatsServer(store_dir=tmp) as server:
            publish = await bench_publish(server.url, args.n, args.repeat)
            restart = await bench_restart(server, args.rate, args.seconds)
            takeover = await bench_takeover(server.url, args.ttl, args.ttl / 6)
    return {
        "machine": {
            "nproc": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "payload_bytes": len(PAYLOAD),
        "publish": publish,
        "restart": restart,
        "takeover": takeover,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("-n", type=int, default=5000, help="messages per publish mode")
    parser.add_argument("--repeat", type=int, default=5, help="runs per mode (median)")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fleet.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat, args.rate, args.seconds, args.ttl = 200, 1, 100.0, 3.0, 2.0
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'mode':<40} {'in flight':>9} {'median/s':>9} {'best/s':>9} {'cpu us/ev':>9}")
    for row in result["publish"]:
        print(
            f"{row['mode']:<40} {row['in_flight']!s:>9} {row['events_per_s_median']:>9} "
            f"{row['events_per_s_best']:>9} {row['client_cpu_us_per_event']:>9}"
        )
    print("restart:", json.dumps(result["restart"]))
    print("takeover:", json.dumps(result["takeover"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
