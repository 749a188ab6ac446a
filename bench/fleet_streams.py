"""Benchmarks of the wired bridge and fleet (``docs/scale-out.md``, "Measured").

``python -m bench.fleet_streams`` (``--quick`` for a smoke run). Real processes, real
sockets on 127.0.0.1, a real ``nats-server -js`` in a temporary directory, the emulator in
this process:

* **throughput**: ``rcstream listen -n N -f presence > /dev/null`` against
  ``rcstream bridge -f presence`` (into JetStream): the emulator publishes N events as fast
  as it can; listen is timed to its exit after the N-th event, the bridge until the N-th
  event is stored in the stream. The emulator's own rate to a client that discards
  everything bounds both;
* **idle**: one ``rcstream fleet`` worker process with K accounts (200 by default) once
  every stream is connected: RSS (``VmRSS``) and CPU over an idle minute, against the
  same worker with one account; per stream = difference / (K - 1);
* **takeover**: three ``rcstream fleet`` processes, 20 accounts at 1 event/s each, TTL
  3 s, renewal 0.5 s; SIGKILL the worker with the most accounts: seconds until its
  accounts are owned again, events lost, events stored twice, gaps reported.

Writes JSON (``--out``, default ``bench/results/fleet_streams.json``) and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PRESENCE = "/restapi/v1.0/account/~/extension/~/presence"


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _stop(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 15.0)
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _account_env(emu: Any) -> dict[str, str]:
    rec = emu.accounts[0]
    return {
        "RINGCENTRAL_SERVER_URL": emu.server_url,
        "RINGCENTRAL_CLIENT_ID": rec.client_id,
        "RINGCENTRAL_CLIENT_SECRET": rec.client_secret,
        "RINGCENTRAL_JWT": rec.jwt,
    }


async def _blast(emu: Any, n: int) -> float:
    rec = emu.accounts[0]
    ext = rec.extension_ids[0]
    event = f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence"
    t0 = time.perf_counter()
    for i in range(n):
        await emu.publish(event, {"extensionId": ext, "presenceStatus": "Busy", "seq": i})
    return t0


async def bench_throughput(nats_url: str, n: int) -> dict[str, Any]:
    import nats

    from rcstream.emulator import Emulator

    result: dict[str, Any] = {"events": n}
    async with Emulator(auth_rate_limit=None) as emu:
        # listen > /dev/null
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rcstream",
            "-q",
            "listen",
            "-f",
            PRESENCE,
            "-n",
            str(n),
            "--format",
            "json",
            env=_env(_account_env(emu)),
            stdout=asyncio.subprocess.DEVNULL,
        )
        await emu.wait_for_subscription(1, timeout=30.0)
        await asyncio.sleep(0.5)  # subscription confirmed to the client
        t0 = await _blast(emu, n)
        blasted = time.perf_counter() - t0
        await proc.wait()
        result["listen_events_per_s"] = round(n / (time.perf_counter() - t0))
        result["emulator_send_events_per_s"] = round(n / blasted)
    async with Emulator(auth_rate_limit=None) as emu:
        nc = await nats.connect(nats_url)
        js = nc.jetstream(timeout=5.0)
        with contextlib.suppress(Exception):
            await js.delete_stream("RCSTREAM")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rcstream",
            "-q",
            "bridge",
            "--nats",
            nats_url,
            "-f",
            PRESENCE,
            env=_env(_account_env(emu)),
            stdout=asyncio.subprocess.DEVNULL,
        )
        await emu.wait_for_subscription(1, timeout=30.0)
        await asyncio.sleep(0.5)
        c0 = None
        with contextlib.suppress(OSError):
            c0 = _cpu_s(proc.pid)
        base = (await js.stream_info("RCSTREAM")).state.messages
        t0 = await _blast(emu, n)
        while (await js.stream_info("RCSTREAM")).state.messages < base + n:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - t0
        result["bridge_events_per_s"] = round(n / elapsed)
        if c0 is not None:
            result["bridge_cpu_us_per_event"] = round((_cpu_s(proc.pid) - c0) / n * 1e6, 1)
        await _stop(proc)
        await nc.close()
    return result


async def _reset(nats_url: str) -> None:
    """Delete the stream and the fleet's buckets (each scenario starts empty)."""
    import nats

    nc = await nats.connect(nats_url)
    js = nc.jetstream(timeout=5.0)
    with contextlib.suppress(Exception):
        await js.delete_stream("RCSTREAM")
    for bucket in ("RCSTREAM_LEASES", "RCSTREAM_STATUS", "RCSTREAM_CHECKPOINTS"):
        with contextlib.suppress(Exception):
            await js.delete_key_value(bucket)
    await nc.close()


async def _fleet_proc(url: str, accounts: Path, env: dict[str, str], *extra: str) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rcstream",
        "-q",
        "fleet",
        "--nats",
        url,
        "--accounts",
        str(accounts),
        *extra,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
    )


async def bench_idle(nats_url: str, tmp: Path, streams: int, seconds: float) -> dict[str, Any]:
    from cryptography.fernet import Fernet

    from rcstream.emulator import Emulator
    from rcstream.fleet.demo import write_accounts_file

    out: dict[str, Any] = {"streams": streams, "idle_seconds": seconds}
    figures = {}
    for count in (1, streams):
        await _reset(nats_url)
        async with Emulator(accounts=count, auth_rate_limit=None) as emu:
            env = _env({"RCSTREAM_FLEET_KEY": Fernet.generate_key().decode()})
            path = tmp / f"idle{count}.toml"
            write_accounts_file(path, emu.accounts, server_url=emu.server_url, env=env)
            t0 = time.perf_counter()
            proc = await _fleet_proc(nats_url, path, env, "--lease-ttl", "30")
            try:
                await emu.wait_for_subscription(count, timeout=120.0 + count)
                ready = time.perf_counter() - t0
                await asyncio.sleep(2.0)  # the last confirmations and checkpoint writes
                c0 = _cpu_s(proc.pid)
                await asyncio.sleep(seconds)
                cpu = _cpu_s(proc.pid) - c0
                figures[count] = {"rss_kb": _rss_kb(proc.pid), "cpu_s": cpu, "ready_s": ready}
            finally:
                await _stop(proc)
    one, many = figures[1], figures[streams]
    out["rss_mb_one_stream"] = round(one["rss_kb"] / 1024, 1)
    out["rss_mb_all_streams"] = round(many["rss_kb"] / 1024, 1)
    out["rss_kb_per_stream"] = round((many["rss_kb"] - one["rss_kb"]) / (streams - 1), 1)
    out["cpu_percent_all_streams"] = round(many["cpu_s"] / seconds * 100, 2)
    out["cpu_ms_per_stream_per_minute"] = round(many["cpu_s"] / streams / seconds * 60e3, 2)
    out["seconds_until_all_connected"] = round(many["ready_s"], 1)
    return out


async def bench_takeover(nats_url: str, tmp: Path, ttl: float, renew: float) -> dict[str, Any]:
    import nats
    from cryptography.fernet import Fernet

    from rcstream.emulator import Emulator
    from rcstream.fleet.demo import write_accounts_file
    from rcstream.fleet.status import fleet_status

    n_accounts = 20
    async with Emulator(accounts=n_accounts) as emu:
        env = _env({"RCSTREAM_FLEET_KEY": Fernet.generate_key().decode()})
        path = tmp / "takeover.toml"
        write_accounts_file(path, emu.accounts, server_url=emu.server_url, env=env)
        await _reset(nats_url)
        nc = await nats.connect(nats_url)
        js = nc.jetstream(timeout=5.0)
        seen: set[str] = set()

        async def watch(msg: Any) -> None:
            if not msg.subject.endswith(".lifecycle"):
                seen.add(json.loads(msg.data)["uuid"])

        await nc.subscribe("rcstream.>", cb=watch)
        args = ("--lease-ttl", str(ttl), "--renew-interval", str(renew))
        procs = [await _fleet_proc(nats_url, path, env, *args) for _ in range(3)]
        labels = [f"acct-{i:03d}" for i in range(n_accounts)]
        try:
            while True:
                owners = {a.label: a.owner for a in (await fleet_status(js, labels)).accounts}
                per = Counter(owners.values())
                if None not in per and len(per) == 3 and max(per.values()) <= 7:
                    break
                await asyncio.sleep(0.1)
            await emu.wait_for_subscription(n_accounts, timeout=30.0)
            emitted: list[str] = []
            stop = asyncio.Event()

            async def traffic() -> None:
                i = 0
                while not stop.is_set():
                    rec = emu.accounts[i % n_accounts]
                    ext = rec.extension_ids[0]
                    emitted.append(
                        await emu.publish(
                            f"/restapi/v1.0/account/{rec.account_id}/extension/{ext}/presence",
                            {"extensionId": ext, "seq": i},
                        )
                    )
                    i += 1
                    await asyncio.sleep(1.0 / n_accounts)

            feeder = asyncio.create_task(traffic())
            await asyncio.sleep(3.0)
            victim_id = per.most_common(1)[0][0]
            assert victim_id is not None
            pid = int(victim_id.rsplit("-", 2)[-2])
            orphans = {label for label, owner in owners.items() if owner == victim_id}
            victim = next(p for p in procs if p.pid == pid)
            killed = time.monotonic()
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            while True:
                st = {a.label: a.owner for a in (await fleet_status(js, labels)).accounts}
                if all(st[a] not in (None, victim_id) for a in orphans):
                    takeover = time.monotonic() - killed
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(3.0)
            stop.set()
            await feeder
            deadline = time.monotonic() + 15.0
            while not set(emitted) <= seen and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            total = (await js.stream_info("RCSTREAM")).state.messages
            sub = await js.subscribe("rcstream.>", ordered_consumer=True)
            stored: Counter[str] = Counter()
            gaps = 0
            for _ in range(total):
                msg = await sub.next_msg(timeout=5.0)
                body = json.loads(msg.data)
                if msg.subject.endswith(".lifecycle"):
                    gaps += body.get("type") == "gap"
                else:
                    stored[body["uuid"]] += 1
        finally:
            for p in procs:
                await _stop(p)
            await nc.close()
    return {
        "workers": 3,
        "accounts": n_accounts,
        "ttl_s": ttl,
        "renew_s": renew,
        "accounts_moved": len(orphans),
        "takeover_s": round(takeover, 2),
        "events": len(emitted),
        "lost": len(set(emitted) - set(stored)),
        "stored_twice": sum(1 for c in stored.values() if c > 1),
        "gaps": gaps,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from rcstream.fleet.server import NatsServer

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        async with NatsServer(store_dir=tmp / "nats") as server:
            result: dict[str, Any] = {
                "machine": {
                    "nproc": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "platform": platform.platform(),
                }
            }
            result["throughput"] = await bench_throughput(server.url, args.n)
            print("throughput:", json.dumps(result["throughput"]), flush=True)
            result["takeover"] = await bench_takeover(server.url, tmp, 3.0, 0.5)
            print("takeover:", json.dumps(result["takeover"]), flush=True)
            result["idle"] = await bench_idle(server.url, tmp, args.streams, args.idle)
            print("idle:", json.dumps(result["idle"]), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_streams", description=__doc__)
    parser.add_argument("-n", type=int, default=5000, help="events for the throughput runs")
    parser.add_argument("--streams", type=int, default=200, help="accounts in the idle worker")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds measured")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "fleet_streams.json"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.streams, args.idle = 300, 5, 2.0
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
