"""`examples/official_sdk.py`: the official SDK, run as a user would, against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rcstream.emulator import EmulatorThread

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "official_sdk.py"


def test_official_sdk_example_streams_from_the_emulator() -> None:
    with EmulatorThread(auth_rate_limit=None, event_rate=50, seed=3) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCENTRAL_")}
        env.update(emu.env())
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "3"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(events) == 3
    for event in events:
        assert event["event"].startswith(f"/restapi/v1.0/account/{emu.account_id}/")
        assert event["subscriptionId"]


def test_official_sdk_example_runs_as_the_readme_gives_it() -> None:
    """No RINGCENTRAL_* variables: the example starts the bundled emulator itself, so the
    README's `python examples/official_sdk.py 3` works as printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCENTRAL_")}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(events) == 2
    assert all(e["event"].startswith("/restapi/v1.0/account/") for e in events)
