"""Smoke runs of every benchmark in ``bench/`` with tiny sizes, so the benchmarks cannot rot.

The full runs (``python -m bench``, see ``docs/performance.md``) are not part of the suite.
``--quick`` runs the flood server in a thread and the clients in-process (the CLI and the
start-up commands still run as subprocesses); one more test covers the real layout, a flood
server process and a client process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def load(out: Path, name: str) -> dict:
    data = json.loads((out / f"{name}.json").read_text())
    assert data["machine"]["nproc"] >= 1
    return data


def test_throughput_every_configuration(quick_results: Path) -> None:
    data = load(quick_results, "throughput")
    n = data["sizes"]["n"]
    for kind in ("floor", "sdk", "rcstream", "cli", "sink"):
        runs = [r for r in data["runs"] if r["kind"] == kind]
        assert runs, kind
        assert all(r["count"] == n and r["rate"] > 0 for r in runs), kind
    assert set(data["ratios"]) >= {"rcstream/sdk", "rcstream/floor", "cli/sdk", "cli/floor"}


def test_latency_percentiles(quick_results: Path) -> None:
    data = load(quick_results, "latency")
    for kind in ("floor", "sdk", "rcstream"):
        s = data["summary"][kind]
        assert 0 <= s["p50_ms"] <= s["p99_ms"] <= s["max_ms"] < 5000, kind
    assert "rcstream p99_ms - floor" in data["added"]


def test_reconnect_both_recovery_outcomes(quick_results: Path) -> None:
    data = load(quick_results, "reconnect")
    for config in ("floor:success", "rcstream:success", "floor:fail", "rcstream:fail"):
        s = data["summary"][config]
        assert s["drops"] >= 1, config
        assert s["recovered"] == s["drops"], config
        assert 0 < s["median_ms"] < 5000, config


def test_memory_idle_and_slow_consumer(quick_results: Path) -> None:
    data = load(quick_results, "memory")
    for kind in ("floor", "sdk", "rcstream"):
        assert data["summary"]["idle_hwm_mb"][kind] > 1, kind
        slow = [r for r in data["slow"] if r["kind"] == kind]
        assert slow, kind
        assert all(r["samples"] and not math.isnan(r["rss_last_mb"]) for r in slow), kind


def test_startup(quick_results: Path) -> None:
    data = load(quick_results, "startup")
    assert 0 < data["summary"]["rcstream --help"] < 30
    assert 0 < data["summary"]["rcstream listen -> first event"] < 30


def test_separate_processes() -> None:
    """What full runs do: the flood server and the client each in a process of their own."""
    code = (
        "import bench.run as r\n"
        "with r.flood('--mode', 'flood', '-n', '50') as url:\n"
        "    res = r.client('floor', 'throughput', url, '-n', '50', timeout=30)\n"
        "    st = r.server_stats(url)\n"
        "assert res['count'] == 50 and st['sent'] == 50 and st['frame_bytes'] > 50 * 800, st\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
