"""A smoke run of ``bench/fleet.py`` with tiny sizes, so the benchmark cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_bench_fleet_quick(tmp_path: Path, nats_binary: str) -> None:
    out = tmp_path / "fleet.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fleet", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert {row["mode"] for row in data["publish"]} >= {"sequential js.publish", "Publisher"}
    assert all(row["stored"] == row["events"] for row in data["publish"])
    assert data["restart"]["lost"] == 0 and data["restart"]["stored_twice"] == 0
    assert data["takeover"]["accounts_moved"] >= 1
    assert data["takeover"]["victim_stopped_after_s"] < data["takeover"]["ttl_s"]
