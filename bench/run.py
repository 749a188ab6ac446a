"""The benchmark runner: ``python -m bench [--quick] [--rounds R] [--out DIR] [BENCH ...]``.

Benchmarks (default: all of them, in this order): ``throughput``, ``latency``,
``reconnect``, ``memory``, ``startup``; ``plot`` redraws the PNG from saved results.

Every measurement starts a fresh flood server (:mod:`bench.flood`) in its own process and
runs the client under test in another process (:mod:`bench.clients`), so neither shares a
GIL or an event loop with the other. Configurations are interleaved (A B C A B C ...) for
``--rounds`` rounds; medians over rounds and ratios within the same run are reported.
Results go to ``DIR/<bench>.json`` (default ``bench/results/``) and a summary to stdout.

``--quick`` uses tiny sizes and one round: it exists so the test suite can run every
benchmark in a few seconds (``tests/test_bench_smoke.py``); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RESULTS = ROOT / "bench" / "results"
PLOT = ROOT / "docs" / "performance-throughput.png"

#: Throughput configurations, in the interleaving order.
THROUGHPUT_KINDS = ("floor", "sdk", "rcstream", "rcstream-raw", "cli", "sink")
LABELS = {
    "floor": "(a) floor: websockets + json.loads",
    "sdk": "(b) official ringcentral SDK",
    "rcstream": "(c) rcstream async for (typed)",
    "rcstream-raw": "(c') rcstream async for, raw=True",
    "cli": "(d) rcstream listen > /dev/null",
    "sink": "flood server alone (socket sink)",
    "msgspec": "(m) async for, msgspec structs (bench only)",
}
#: Every throughput configuration ``--kinds`` accepts.
ALL_THROUGHPUT_KINDS = (*THROUGHPUT_KINDS, "msgspec")


@dataclass
class Sizes:
    """Everything that differs between a full run and ``--quick``."""

    rounds: int = 3
    n: int = 20_000
    latency_n: int = 10_000
    rate: float = 1000.0
    reconnect_cycles: int = 10
    idle_filters: int = 1000
    idle_hold: float = 2.0
    slow_duration: float = 60.0
    slow_sample: float = 1.0
    slow_rounds: int = 3
    startup_runs: int = 10
    timeout: float = 180.0
    throughput_kinds: tuple[str, ...] = THROUGHPUT_KINDS


QUICK = Sizes(
    rounds=1,
    n=300,
    latency_n=100,
    rate=1000.0,
    reconnect_cycles=2,
    idle_filters=50,
    idle_hold=0.1,
    slow_duration=0.5,
    slow_sample=0.1,
    slow_rounds=1,
    startup_runs=1,
    timeout=30.0,
)


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    e.pop("PYTHONASYNCIODEBUG", None)
    return e


# --------------------------------------------------------------------------- processes


#: ``--quick`` runs the flood server in a thread and the clients in this process, so the
#: smoke test takes seconds; the figures of such a run mean nothing. Full runs never do.
IN_PROCESS = False


@contextlib.contextmanager
def _flood_thread(args: tuple[str, ...]) -> Iterator[str]:
    import asyncio
    import threading

    from bench.flood import FloodServer, parse_config

    cfg = parse_config(list(args))
    box: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        async with FloodServer(cfg) as srv:
            box["srv"], box["loop"] = srv, asyncio.get_running_loop()
            started.set()
            await srv.stopped.wait()

    def target() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced below
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=target, name="flood", daemon=True)
    thread.start()
    started.wait(30)
    if "srv" not in box:
        raise RuntimeError(f"flood server thread did not start: {box.get('error')!r}")
    try:
        yield str(box["srv"].url)
    finally:
        box["loop"].call_soon_threadsafe(box["srv"].stopped.set)
        thread.join(10)


@contextlib.contextmanager
def flood(*args: str, timeout: float = 60.0) -> Iterator[str]:
    """Run ``python -m bench.flood ARGS`` in its own process; yield its base URL."""
    if IN_PROCESS:
        with _flood_thread(args) as url:
            yield url
        return
    proc = subprocess.Popen(
        [PY, "-m", "bench.flood", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"flood server did not start: {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        yield str(json.loads(line)["url"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/bench/stats", timeout=10) as resp:
        result: dict[str, Any] = json.load(resp)
        return result


def client(kind: str, task: str, url: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run ``python -m bench.clients KIND TASK`` to completion; return its JSON result."""
    argv = [kind, task, "--url", url, "--timeout", str(timeout), *args]
    if IN_PROCESS:
        import asyncio

        from bench.clients import run_in_process

        return asyncio.run(run_in_process(argv))
    cmd = [PY, "-m", "bench.clients", *argv]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env(), cwd=ROOT, timeout=timeout + 30
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {task} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def rcstream_exe() -> str:
    exe = Path(PY).parent / "rcstream"
    return str(exe) if exe.exists() else shutil.which("rcstream") or "rcstream"


def cli_env(url: str) -> dict[str, str]:
    e = env()
    e.update(
        RINGCENTRAL_SERVER_URL=url,
        RINGCENTRAL_CLIENT_ID="flood-client-id",
        RINGCENTRAL_CLIENT_SECRET="flood-client-secret",
        RINGCENTRAL_JWT="flood-jwt",
        RCSTREAM_BACKOFF_BASE="0.001",
        RCSTREAM_BACKOFF_CAP="0.001",
    )
    return e


def run_cli(url: str, n: int, *, timeout: float, patch: str = "") -> dict[str, Any]:
    """``rcstream listen -f FILTER -n N --format json > /dev/null``; wall and CPU time.

    With ``patch``, the same CLI runs through ``python -m bench.patches PATCH --``.
    """
    from bench.clients import FILTER

    args = ["listen", "-q", "-f", FILTER, "-n", str(n), "--format", "json"]
    cmd = [PY, "-m", "bench.patches", patch, "--", *args] if patch else [rcstream_exe(), *args]
    start = time.monotonic_ns()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(
            cmd, stdout=devnull, stderr=subprocess.PIPE, env=cli_env(url), cwd=ROOT
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"rcstream listen did not finish within {timeout} s")
            time.sleep(0.002)
    end = time.monotonic_ns()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"rcstream listen exited {proc.returncode}: {err[-3000:]}")
    return {
        "start_ns": start,
        "exit_ns": end,
        "count": n,
        "cpu_s": rusage.ru_utime + rusage.ru_stime,
        "hwm_kb": rusage.ru_maxrss,
    }


# --------------------------------------------------------------------------- statistics


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


#: Runs that failed (kept in the results, left out of the medians).
FAILURES: list[dict[str, Any]] = []


def interleave(rounds: int, kinds: tuple[str, ...], fn: Callable[[str, int], Any]) -> list[Any]:
    """Run ``fn(kind, round)`` for every kind, round after round (A B C A B C ...).

    A run that fails is reported, recorded in ``FAILURES`` and skipped, so one crash of the
    code under test does not throw away the rest of a long run (``--quick`` re-raises).
    """
    out = []
    for r in range(rounds):
        for kind in kinds:
            try:
                out.append(fn(kind, r))
            except Exception as exc:
                if IN_PROCESS:
                    raise
                print(f"  FAILED r{r} {kind}: {str(exc)[-300:]}", flush=True)
                FAILURES.append({"config": kind, "round": r, "error": str(exc)[-3000:]})
    return out


def save(out: Path, name: str, data: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data["machine"] = machine()
    data["failures"] = list(FAILURES)
    FAILURES.clear()
    (out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")


def _git_state() -> str:
    """HEAD, plus whether rcstream/ had uncommitted changes (what was measured)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "rcstream"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()
    except OSError:
        return "unknown"
    return head + (" + uncommitted changes in rcstream/" if dirty else "")


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f.readline().split(":", 1)[1].strip()
    versions = {}
    for mod in ("websockets", "aiohttp", "pydantic", "orjson", "ringcentral"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[mod] = version(mod)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "loadavg": os.getloadavg(),
        "git": _git_state(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


# --------------------------------------------------------------------------- benchmarks


def bench_throughput(sz: Sizes, kinds: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Notifications/s from the server starting the flood to the consumer seeing the last.

    ``sink`` is the flood server pushing into a socket that is only counted, not parsed: it
    shows what the server alone can do. ``server_cpu_us`` is the server's own CPU per
    notification during each flood, to set against the client's ``cpu_us``. Every ratio
    is the median of per-round ratios (both runs of one round are neighbours in time), and
    the per-round values are kept in ``per_round_ratios``: the machine's noise is about
    +-15 %, so a ratio means something only with its spread.
    """
    kinds = kinds or sz.throughput_kinds

    def one(kind: str, r: int) -> dict[str, Any]:
        with flood("--mode", "flood", "-n", str(sz.n)) as url:
            if kind == "cli":
                res = run_cli(url, sz.n, timeout=sz.timeout)
                st = server_stats(url)
                elapsed = (res["exit_ns"] - st["flood_start_ns"]) / 1e9
            else:
                # msgspec: the same client with the alternative validator patched in
                run_as, extra = (
                    ("rcstream", ["--patch", "msgspec-typed"]) if kind == "msgspec" else (kind, [])
                )
                res = client(run_as, "throughput", url, "-n", str(sz.n), *extra, timeout=sz.timeout)
                st = server_stats(url)
                elapsed = (res["last_ns"] - st["flood_start_ns"]) / 1e9
        row = {
            "kind": kind,
            "round": r,
            "count": res["count"],
            "seconds": elapsed,
            "rate": res["count"] / elapsed,
            "cpu_us": res["cpu_s"] / res["count"] * 1e6,
            # CPU per notification between the first and the last (client processes only)
            "steady_cpu_us": (
                res["steady_cpu_s"] / max(res["count"] - 1, 1) * 1e6
                if "steady_cpu_s" in res
                else None
            ),
            "server_cpu_us": st["flood_cpu_s"] / sz.n * 1e6,
            "server_push_s": (st["flood_end_ns"] - st["flood_start_ns"]) / 1e9,
            "hwm_kb": res.get("hwm_kb"),
            "frame_bytes": st["frame_bytes"] / sz.n,
        }
        cpu = f"{row['steady_cpu_us']:6.1f} us CPU/notification" if row["steady_cpu_us"] else ""
        print(f"  throughput r{r} {kind:12s} {row['rate']:10.0f}/s  {cpu}", flush=True)
        return row

    runs = interleave(sz.rounds, kinds, one)
    summary: dict[str, Any] = {}
    for kind in kinds:
        mine = [x for x in runs if x["kind"] == kind]
        summary[kind] = {
            "rate_median": median([x["rate"] for x in mine]),
            "rates": [x["rate"] for x in mine],
            "cpu_us_median": median([x["cpu_us"] for x in mine]),
            "steady_cpu_us_median": (
                median([x["steady_cpu_us"] for x in mine])
                if all(x["steady_cpu_us"] for x in mine)
                else None
            ),
            "server_cpu_us_median": median([x["server_cpu_us"] for x in mine]),
        }
    ratios: dict[str, float] = {}
    per_round_ratios: dict[str, list[float]] = {}
    for num, den in [
        ("rcstream", "sdk"),
        ("rcstream", "floor"),
        ("rcstream-raw", "sdk"),
        ("rcstream-raw", "floor"),
        ("cli", "sdk"),
        ("cli", "floor"),
        ("sdk", "floor"),
        ("msgspec", "sdk"),
        ("msgspec", "floor"),
    ]:
        per_round = [
            a["rate"] / b["rate"]
            for a in runs
            for b in runs
            if a["kind"] == num and b["kind"] == den and a["round"] == b["round"]
        ]
        cpu_round = [
            b["steady_cpu_us"] / a["steady_cpu_us"]
            for a in runs
            for b in runs
            if a["kind"] == num
            and b["kind"] == den
            and a["round"] == b["round"]
            and a.get("steady_cpu_us")
            and b.get("steady_cpu_us")
        ]
        if cpu_round:
            # the same ratio from CPU per notification: what the rate ratio would be if
            # both clients had a core to themselves
            ratios[f"{num}/{den} by CPU"] = median(cpu_round)
            per_round_ratios[f"{num}/{den} by CPU"] = [round(x, 3) for x in cpu_round]
            shown = " ".join(f"{x:.2f}" for x in cpu_round)
            print(f"  {num}/{den} by CPU: median {median(cpu_round):.2f} (rounds: {shown})")
        if per_round:
            ratios[f"{num}/{den}"] = median(per_round)
            per_round_ratios[f"{num}/{den}"] = [round(x, 3) for x in per_round]
            shown = " ".join(f"{x:.2f}" for x in per_round)
            print(f"  {num}/{den}: median {median(per_round):.2f} (rounds: {shown})", flush=True)
    return {
        "sizes": sz.__dict__,
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
        "per_round_ratios": per_round_ratios,
    }


def bench_latency(sz: Sizes, kinds: tuple[str, ...] = ("floor", "sdk", "rcstream")) -> dict:
    """Publish (server write) -> seen by the consumer, at a steady ``rate``; p50/p99/max."""
    warmup = min(100, sz.latency_n // 10)

    def one(kind: str, r: int) -> dict[str, Any]:
        with flood("--mode", "rate", "-n", str(sz.latency_n), "--rate", str(sz.rate)) as url:
            res = client(kind, "latency", url, "-n", str(sz.latency_n), timeout=sz.timeout)
            st = server_stats(url)
        from bench.flood import UUID_BASE

        send = st["send_ns"]
        lat = [
            (ns - send[int(uuid) - UUID_BASE]) / 1e6
            for uuid, ns in res["received"]
            if int(uuid) - UUID_BASE >= warmup
        ]
        row = {
            "kind": kind,
            "round": r,
            "count": len(lat),
            "p50_ms": pct(lat, 50),
            "p99_ms": pct(lat, 99),
            "max_ms": max(lat) if lat else float("nan"),
            "achieved_rate": sz.latency_n / ((send[-1] - send[0]) / 1e9) if len(send) > 1 else 0,
        }
        print(
            f"  latency r{r} {kind:9s} p50 {row['p50_ms']:.3f} p99 {row['p99_ms']:.3f} "
            f"max {row['max_ms']:.3f} ms",
            flush=True,
        )
        return row

    runs = interleave(sz.rounds, kinds, one)
    summary = {
        kind: {
            key: median([x[key] for x in runs if x["kind"] == kind])
            for key in ("p50_ms", "p99_ms", "max_ms", "achieved_rate")
        }
        for kind in kinds
    }
    added: dict[str, float] = {}
    for kind in kinds:
        if kind == "floor":
            continue
        for key in ("p50_ms", "p99_ms"):
            per_round = [
                a[key] - b[key]
                for a in runs
                for b in runs
                if a["kind"] == kind and b["kind"] == "floor" and a["round"] == b["round"]
            ]
            added[f"{kind} {key} - floor"] = median(per_round)
    return {
        "sizes": sz.__dict__,
        "warmup": warmup,
        "runs": runs,
        "summary": summary,
        "added": added,
    }


def bench_reconnect(sz: Sizes, kinds: tuple[str, ...] = ("floor", "rcstream")) -> dict:
    """Socket dropped by the server -> first notification after it seen by the consumer.

    ``success``: the reconnect carries ``wsc``, the server answers ``recoveryState:
    Successful`` and pushes the next event at once. ``fail``: it answers ``Failed`` and
    pushes the next event once the client has re-created its subscription. rcstream runs
    with zero backoff (its first retry is immediate anyway), so no configured wait counts.
    The official SDK has no reconnect or recovery (``ringcentral`` 0.9.2,
    ``ringcentral/websocket/``): not measured.
    """
    configs = tuple(f"{k}:{rec}" for rec in ("success", "fail") for k in kinds)

    def one(config: str, r: int) -> dict[str, Any]:
        kind, recovery = config.split(":")
        args = ["--mode", "reconnect", "-n", "0", "--cycles", str(sz.reconnect_cycles)]
        with flood(*args, "--recovery", recovery, "--gap", "0.05") as url:
            res = client(
                kind, "reconnect", url, "--cycles", str(sz.reconnect_cycles), timeout=sz.timeout
            )
            st = server_stats(url)
        got = dict(res["received"])
        times = [
            (got[u] - d) / 1e6
            for d, u in zip(st["drop_ns"], st["post_drop_uuid"], strict=False)
            if u in got
        ]
        row = {
            "config": config,
            "round": r,
            "recovered": len(times),
            "drops": len(st["drop_ns"]),
            "recoveries": st["recoveries"],
            "median_ms": median(times),
            "max_ms": max(times) if times else float("nan"),
            "times_ms": times,
        }
        print(
            f"  reconnect r{r} {config:17s} median {row['median_ms']:.2f} ms "
            f"max {row['max_ms']:.2f} ms ({row['recovered']}/{row['drops']})",
            flush=True,
        )
        return row

    runs = interleave(sz.rounds, configs, one)
    summary = {
        c: {
            "median_ms": median([x["median_ms"] for x in runs if x["config"] == c]),
            "max_ms": max(x["max_ms"] for x in runs if x["config"] == c),
            "recovered": sum(x["recovered"] for x in runs if x["config"] == c),
            "drops": sum(x["drops"] for x in runs if x["config"] == c),
        }
        for c in configs
    }
    return {"sizes": sz.__dict__, "runs": runs, "summary": summary}


def bench_memory(sz: Sizes) -> dict[str, Any]:
    """Peak RSS idle with one subscription of ``idle_filters`` filters; RSS over time with a
    consumer 10x slower than a ``rate``/s producer."""
    kinds = ("floor", "sdk", "rcstream")

    def idle(kind: str, r: int) -> dict[str, Any]:
        with flood("--mode", "idle", "-n", "0") as url:
            res = client(
                kind,
                "idle",
                url,
                "--filters",
                str(sz.idle_filters),
                "--hold",
                str(sz.idle_hold),
                timeout=sz.timeout,
            )
        row = {
            "kind": kind,
            "round": r,
            "hwm_mb": res["hwm_kb"] / 1024,
            "rss_mb": res["rss_kb"] / 1024,
        }
        print(f"  idle r{r} {kind:9s} peak {row['hwm_mb']:.1f} MB", flush=True)
        return row

    idle_runs = interleave(sz.rounds, kinds, idle)
    import_runs = interleave(sz.rounds, tuple(IMPORT_SETS), imports_peak)
    delay = 10.0 / sz.rate
    n = int(sz.rate * sz.slow_duration * 1.1) + 100

    def slow(kind: str, r: int) -> dict[str, Any]:
        args = ["--mode", "rate", "-n", str(n), "--rate", str(sz.rate)]
        with flood(*args) as url:
            res = client(
                kind,
                "slow",
                url,
                "--delay",
                str(delay),
                "--duration",
                str(sz.slow_duration),
                "--sample",
                str(sz.slow_sample),
                timeout=sz.slow_duration + sz.timeout,
            )
            st = server_stats(url)
        samples = res["samples"]
        rss = [s[1] / 1024 for s in samples]
        half = rss[len(rss) // 2 :] or rss
        ts = [s[0] for s in samples][len(rss) // 2 :] or [0.0]
        slope = _slope(ts, half) * 60 if len(half) > 1 else 0.0
        row = {
            "kind": kind,
            "round": r,
            "samples": samples,
            "rss_first_mb": rss[0] if rss else float("nan"),
            "rss_max_mb": max(rss) if rss else float("nan"),
            "rss_last_mb": rss[-1] if rss else float("nan"),
            "second_half_slope_mb_per_min": slope,
            "consumed": res["count"],
            "server_sent": st["sent"],
            "server_stalled_s": st["stalled_s"],
            "ended_after_s": res.get("ended_after_s"),
            "ended_by": res.get("ended_by"),
        }
        print(
            f"  slow r{r} {kind:9s} rss {row['rss_first_mb']:.1f} -> {row['rss_last_mb']:.1f} "
            f"MB (max {row['rss_max_mb']:.1f}; 2nd-half slope {slope:+.2f} MB/min); "
            f"consumed {row['consumed']} of {row['server_sent']} sent"
            + (
                f"; CLIENT ENDED after {res['ended_after_s']} s: {res['ended_by']}"
                if res.get("ended_by")
                else ""
            ),
            flush=True,
        )
        return row

    slow_runs = interleave(sz.slow_rounds, kinds, slow)
    summary = {
        "idle_hwm_mb": {
            k: median([x["hwm_mb"] for x in idle_runs if x["kind"] == k]) for k in kinds
        },
        "imports_hwm_mb": {
            k: median([x["hwm_mb"] for x in import_runs if x["kind"] == k]) for k in IMPORT_SETS
        },
        "slow": {
            k: {
                key: median([x[key] for x in slow_runs if x["kind"] == k])
                for key in (
                    "rss_first_mb",
                    "rss_max_mb",
                    "rss_last_mb",
                    "second_half_slope_mb_per_min",
                )
            }
            for k in kinds
        },
    }
    return {
        "sizes": sz.__dict__,
        "idle": idle_runs,
        "imports": import_runs,
        "slow": slow_runs,
        "summary": summary,
    }


#: What the idle figures are made of: peak RSS of a process that only imports these (and
#: validates one tiny pydantic model, so pydantic's lazy core is loaded as in any client).
IMPORT_SETS = {
    "python": "pass",
    "the SDK's imports": "import ringcentral, websockets.asyncio.client",
    "the prescribed stack": (
        "import asyncio, anyio, aiohttp, websockets.asyncio.client\n"
        "from pydantic import BaseModel\n"
        "class M(BaseModel):\n    a: int\n"
        "M(a=1)"
    ),
    "import rcstream.client": "import rcstream.client",
}

_PEAK = (
    "\nfor line in open('/proc/self/status'):\n"
    "    if line.startswith('VmHWM:'):\n"
    "        print(int(line.split()[1]))"
)


def imports_peak(name: str, r: int) -> dict[str, Any]:
    """Peak RSS of a fresh interpreter that runs ``IMPORT_SETS[name]`` and nothing else."""
    out = subprocess.run(
        [PY, "-c", IMPORT_SETS[name] + _PEAK],
        capture_output=True,
        text=True,
        check=True,
        env=env(),
        cwd=ROOT,
    )
    hwm_mb = int(out.stdout.split()[-1]) / 1024
    print(f"  imports r{r} {name:22s} peak {hwm_mb:.1f} MB", flush=True)
    return {"kind": name, "round": r, "hwm_mb": hwm_mb}


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def bench_startup(sz: Sizes) -> dict[str, Any]:
    """``rcstream --help`` wall time (next to bare ``python -c pass``), and ``rcstream
    listen`` from spawn to its first event on stdout (flood server, first event pushed as
    soon as the subscription is created)."""
    from bench.clients import FILTER

    exe = rcstream_exe()
    cmds = {
        "python -c pass": [PY, "-c", "pass"],
        "rcstream --help": [exe, "--help"],
        "import ringcentral (SDK)": [PY, "-c", "import ringcentral.websocket"],
        "import rcstream.client": [PY, "-c", "import rcstream.client"],
    }

    def one(name: str, r: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        subprocess.run(cmds[name], check=True, capture_output=True, env=env(), timeout=60)
        row = {"what": name, "round": r, "seconds": time.perf_counter() - t0}
        print(f"  startup r{r} {name:26s} {row['seconds'] * 1000:.0f} ms", flush=True)
        return row

    runs = interleave(sz.startup_runs, tuple(cmds), one)

    def first_event(_: str, r: int) -> dict[str, Any]:
        with flood("--mode", "flood", "-n", "5") as url:
            cmd = [exe, "listen", "-q", "-f", FILTER, "-n", "1", "--format", "json"]
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(url), cwd=ROOT
            )
            try:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                t_first = time.perf_counter() - t0
                proc.wait(timeout=30)
                t_exit = time.perf_counter() - t0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if not line:
                raise RuntimeError(f"rcstream listen printed nothing: {proc.stderr.read()!r}")  # type: ignore[union-attr]
        row = {
            "what": "rcstream listen -> first event",
            "round": r,
            "seconds": t_first,
            "exit_seconds": t_exit,
        }
        print(f"  startup r{r} listen->first event       {t_first * 1000:.0f} ms", flush=True)
        return row

    listen_runs = interleave(max(1, min(sz.startup_runs, 5)), ("listen",), first_event)
    summary = {name: median([x["seconds"] for x in runs if x["what"] == name]) for name in cmds}
    summary["rcstream listen -> first event"] = median([x["seconds"] for x in listen_runs])
    return {"sizes": sz.__dict__, "runs": runs + listen_runs, "summary": summary}


#: Simulated fixes (bench/patches.py) measured against the unpatched code, same harness.
FIX_CONFIGS = (
    "rcstream",
    "rcstream+gc-freeze",
    "rcstream+lazy-body",
    "rcstream+gc-freeze,lazy-body",
    "cli",
    "cli+gc-freeze",
    "cli+gc-freeze,lazy-body,raw-json",
)


def bench_fixes(sz: Sizes) -> dict[str, Any]:
    """Throughput of rcstream and its CLI with simulated fixes (``bench.patches``), next to
    the floor and the SDK, interleaved like ``throughput``."""
    configs = ("floor", "sdk", *FIX_CONFIGS)

    def one(config: str, r: int) -> dict[str, Any]:
        kind, _, patch = config.partition("+")
        with flood("--mode", "flood", "-n", str(sz.n)) as url:
            if kind == "cli":
                res = run_cli(url, sz.n, timeout=sz.timeout, patch=patch)
                st = server_stats(url)
                elapsed = (res["exit_ns"] - st["flood_start_ns"]) / 1e9
            else:
                extra = ["--patch", patch] if patch else []
                res = client(kind, "throughput", url, "-n", str(sz.n), *extra, timeout=sz.timeout)
                st = server_stats(url)
                elapsed = (res["last_ns"] - st["flood_start_ns"]) / 1e9
        row = {
            "config": config,
            "round": r,
            "rate": res["count"] / elapsed,
            "cpu_us": res["cpu_s"] / res["count"] * 1e6,
            # CPU per notification between the first and the last (client processes only)
            "steady_cpu_us": (
                res["steady_cpu_s"] / max(res["count"] - 1, 1) * 1e6
                if "steady_cpu_s" in res
                else None
            ),
        }
        print(f"  fixes r{r} {config:34s} {row['rate']:10.0f}/s", flush=True)
        return row

    runs = interleave(sz.rounds, configs, one)
    summary = {
        c: {
            "rate_median": median([x["rate"] for x in runs if x["config"] == c]),
            "cpu_us_median": median([x["cpu_us"] for x in runs if x["config"] == c]),
        }
        for c in configs
    }
    ratios = {}
    for c in FIX_CONFIGS:
        for base in ("sdk", "floor"):
            ratios[f"{c}/{base}"] = median(
                [
                    a["rate"] / b["rate"]
                    for a in runs
                    for b in runs
                    if a["config"] == c and b["config"] == base and a["round"] == b["round"]
                ]
            )
    return {"sizes": sz.__dict__, "runs": runs, "summary": summary, "ratios": ratios}


# --------------------------------------------------------------------------- plot


def plot(out: Path, png: Path = PLOT) -> Path | None:
    """Bar chart of median throughput per configuration (dots: each round)."""
    path = out / "throughput.json"
    if not path.exists():
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib not installed: pip install -r bench/requirements.txt)")
        return None
    data = json.loads(path.read_text())
    order = ("floor", "sdk", "rcstream", "rcstream-raw", "cli", "msgspec")
    kinds = [k for k in order if k in data["summary"]]
    med = [data["summary"][k]["rate_median"] / 1000 for k in kinds]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    colors = {
        "floor": "#888888",
        "sdk": "#4c72b0",
        "rcstream": "#dd8452",
        "rcstream-raw": "#e6a96b",
        "cli": "#c44e52",
        "msgspec": "#55a868",
    }
    bars = ax.barh([LABELS[k] for k in kinds], med, color=[colors[k] for k in kinds])
    for i, k in enumerate(kinds):
        ax.scatter(
            [x / 1000 for x in data["summary"][k]["rates"]],
            [i] * len(data["summary"][k]["rates"]),
            color="black",
            s=10,
            zorder=3,
        )
    for i, (bar, m) in enumerate(zip(bars, med, strict=True)):
        right = max([bar.get_width()] + [x / 1000 for x in data["summary"][kinds[i]]["rates"]])
        ax.text(right, bar.get_y() + bar.get_height() / 2, f"  {m:.1f}k/s", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("notifications per second (thousands); bar = median, dots = rounds")
    m = data.get("machine", {})
    sz = data["sizes"]
    ax.set_title(
        f"Throughput, {sz['n']:,} telephony notifications (~{data['runs'][0]['frame_bytes']:.0f}"
        f" B frames), {sz['rounds']} rounds\n{m.get('cpu', '')}, {m.get('nproc')} cores, "
        f"Python {m.get('python')}",
        fontsize=9,
    )
    ax.set_xlim(0, max(med) * 1.25)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png


# --------------------------------------------------------------------------- main

BENCHES: dict[str, Callable[[Sizes], dict[str, Any]]] = {
    "throughput": bench_throughput,
    "latency": bench_latency,
    "reconnect": bench_reconnect,
    "memory": bench_memory,
    "startup": bench_startup,
    "fixes": bench_fixes,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument(
        "benches", nargs="*", metavar="BENCH", help=f"{', '.join(BENCHES)}, plot (default: all)"
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, one round (smoke test)")
    p.add_argument("--rounds", type=int, help="rounds (default 3)")
    p.add_argument("-n", type=int, help="notifications for throughput (default 20000)")
    p.add_argument("--slow-duration", type=float, help="seconds of the slow-consumer run")
    p.add_argument(
        "--kinds",
        help=f"throughput configurations, comma-separated, in interleaving order "
        f"(default {','.join(THROUGHPUT_KINDS)}; also: msgspec)",
    )
    p.add_argument("--out", type=Path, default=None, help="results directory")
    p.add_argument("--png", type=Path, default=None, help="plot file")
    a = p.parse_args(argv)
    global IN_PROCESS
    IN_PROCESS = a.quick
    sz = Sizes(**QUICK.__dict__) if a.quick else Sizes()
    if a.rounds:
        sz.rounds = a.rounds
        sz.slow_rounds = min(sz.slow_rounds, a.rounds)
    if a.n:
        sz.n = a.n
    if a.slow_duration:
        sz.slow_duration = a.slow_duration
    if a.kinds:
        kinds = tuple(k.strip() for k in a.kinds.split(",") if k.strip())
        bad = [k for k in kinds if k not in ALL_THROUGHPUT_KINDS]
        if bad:
            p.error(
                f"unknown --kinds value {bad[0]!r}; choose from {', '.join(ALL_THROUGHPUT_KINDS)}"
            )
        sz.throughput_kinds = kinds
    out = a.out or RESULTS
    png = a.png or (out / "throughput.png" if a.quick else PLOT)
    names = a.benches or [*BENCHES, "plot"]
    unknown = [x for x in names if x not in BENCHES and x != "plot"]
    if unknown:
        p.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHES)}, plot")
    for name in names:
        if name == "plot":
            made = plot(out, png)
            if made:
                print(f"plot: {made}")
            continue
        print(f"{name}:", flush=True)
        t0 = time.perf_counter()
        data = BENCHES[name](sz)
        data["wall_s"] = time.perf_counter() - t0
        save(out, name, data)
        print(
            f"{name} summary: "
            + json.dumps(
                {k: v for k, v in data.items() if k in ("summary", "ratios", "added")}, indent=1
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
