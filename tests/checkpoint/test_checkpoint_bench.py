"""``python -m bench.checkpoint`` runs (tiny size) and reports the figures docs/restarts.md uses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_checkpoint_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "cp.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.checkpoint",
            "-n",
            "200",
            "--dir",
            str(tmp_path),
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    for key in ("note_us", "batched_us", "per_event_us", "save_now_ms_median"):
        assert result[key] > 0, key
    assert result["batched_writes"] == 2  # 200 events, a write every 100
    assert result["checkpoint_bytes"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cp.json"]  # temp dir cleaned up
