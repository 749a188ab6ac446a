"""examples/supervise.sh restarts on failures and stops on the exit codes that a restart
cannot fix. A stand-in on PATH plays ``rcstream`` (exit codes from a list): this checks the
loop, not the stream (``tests/cli/test_cli_checkpoint.py`` restarts the real one)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent.parent / "examples" / "supervise.sh"

FAKE = """#!/usr/bin/env bash
echo "$*" >> "$FAKE_LOG"
n=$(wc -l < "$FAKE_LOG")
codes=($FAKE_CODES)
exit "${codes[$((n - 1))]}"
"""


@pytest.mark.parametrize(
    ("codes", "runs", "final"),
    [
        ("4 1 3", 3, 3),  # failures restart; credentials refused stops
        ("4 0", 2, 0),  # -n/--timeout reached: done
        ("130", 1, 130),  # SIGTERM / Ctrl-C: a clean stop, no restart
        ("2", 1, 2),  # usage error: no restart loop
    ],
)
def test_supervise_restarts_only_what_a_restart_can_fix(
    tmp_path: Path, codes: str, runs: int, final: int
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "rcstream"
    fake.write_text(FAKE)
    fake.chmod(0o755)
    log = tmp_path / "runs.log"
    checkpoint = tmp_path / "state" / "cp"
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_CODES": codes,
        "RCSTREAM_RESTART_DELAY": "0",
    }
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(checkpoint), "-e", "telephony"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == final
    lines = log.read_text().splitlines()
    assert lines == [f"listen --checkpoint {checkpoint} -e telephony"] * runs
    assert proc.stderr.count("restarting") == runs - 1
    assert checkpoint.parent.is_dir() and (checkpoint.parent.stat().st_mode & 0o077) == 0
