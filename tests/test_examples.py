"""Every file in ``examples/`` runs against the emulator (as a subprocess, as a user would)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import shutil
import sys
from pathlib import Path

import pytest

from rcstream.emulator import Emulator, catalog
from rcstream.testing import publish_call, publish_presence, publish_sms

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
LIMIT = 15.0
READY = (b"listening", b"Waiting for SMS")


def _env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCENTRAL_")}
    env.update(emu.env())
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _start(emu: Emulator, tmp_path: Path, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(emu),
        cwd=tmp_path,
    )


async def _finish(proc: asyncio.subprocess.Process) -> tuple[str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), LIMIT)
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    return out.decode(), err.decode()


async def test_minimal(rc_emulator: Emulator, tmp_path: Path) -> None:
    proc = await _start(rc_emulator, tmp_path, sys.executable, str(EXAMPLES / "minimal.py"), "2")
    await rc_emulator.wait_for_subscription(timeout=LIMIT)
    await publish_sms(rc_emulator, "hi")
    await publish_presence(rc_emulator, "Busy")
    out, _ = await _finish(proc)
    lines = out.splitlines()
    assert len(lines) == 2
    assert "instant-sms" in lines[0]
    assert "presence" in lines[1]


@pytest.mark.parametrize(
    "argv", [["minimal.py"], ["sms_autoreply.py", "--dry-run"]], ids=["minimal", "sms_autoreply"]
)
async def test_ctrl_c_is_calm(rc_emulator: Emulator, tmp_path: Path, argv: list[str]) -> None:
    """Ctrl-C in a running example: exit 130, no traceback, and the subscription is deleted."""
    import signal

    proc = await _start(rc_emulator, tmp_path, sys.executable, str(EXAMPLES / argv[0]), *argv[1:])
    assert proc.stderr is not None
    # Interrupt once the example says it listens (the subscription is confirmed then).
    seen = b""
    while True:
        try:
            line = await asyncio.wait_for(proc.stderr.readline(), LIMIT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"no 'listening' line within {LIMIT} s; stderr so far: {seen!r}")
        assert line, f"the example exited before listening: {seen!r}"
        seen += line
        if any(word in line for word in READY):
            break
    proc.send_signal(signal.SIGINT)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), LIMIT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the example did not exit within {LIMIT} s of Ctrl-C")
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode() and "KeyboardInterrupt" not in err.decode()
    try:
        await rc_emulator.wait_until(lambda e: not e.subscriptions, LIMIT)
    except TimeoutError:
        pytest.fail(f"the subscription was not deleted; the example's stderr: {err.decode()}")


@pytest.mark.parametrize("dry_run", [True, False])
async def test_sms_autoreply(rc_emulator: Emulator, tmp_path: Path, dry_run: bool) -> None:
    argv = [sys.executable, str(EXAMPLES / "sms_autoreply.py"), "--count", "2"]
    proc = await _start(rc_emulator, tmp_path, *argv, *(["--dry-run"] if dry_run else []))
    await rc_emulator.wait_for_subscription(timeout=LIMIT)
    await publish_sms(rc_emulator, "What are your hours?", from_number="+15550000001")
    await publish_sms(rc_emulator, "hello", from_number="+15550000002")
    out, err = await _finish(proc)
    if dry_run:
        assert out.splitlines() == [
            "would reply to +15550000001: We are open 9am-5pm, Monday to Friday.",
            "would reply to +15550000002: Thanks for your message! We will get back to you "
            "shortly.",
        ]
    else:
        assert out.splitlines() == [
            "replied to +15550000001: We are open 9am-5pm, Monday to Friday.",
            "replied to +15550000002: Thanks for your message! We will get back to you shortly.",
        ]
        sent = rc_emulator.sent_sms
        assert [m["to"][0]["phoneNumber"] for m in sent] == ["+15550000001", "+15550000002"]
        assert "Could not reply" not in err


def test_calls_to_csv_in_process() -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        import calls_to_csv
    finally:
        sys.path.remove(str(EXAMPLES))
    lines = []
    for i, answered in enumerate((True, False)):
        events = catalog.telephony_call(account_id="1", extension_id="2", rng=random.Random(i))
        if not answered:
            events = [e for e in events if e[1]["parties"][0]["status"]["code"] != "Answered"]
        for n, (event, body) in enumerate(events):
            record = {"uuid": f"{i}-{n}", "event": event, "timestamp": "x", "body": body}
            lines.append(json.dumps(record) + "\n")
    lines.insert(1, json.dumps({"type": "connected", "outcome": "fresh"}) + "\n")
    out = io.StringIO()
    assert calls_to_csv.run(iter(lines), out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["result"] for r in rows] == ["answered", "missed"]
    assert rows[0]["seconds"] == "89"  # answered at +6 s, ended at +95 s
    assert rows[0]["direction"] == "Inbound"
    assert rows[0]["from"].startswith("+1")


async def test_calls_to_csv_pipe(rc_emulator: Emulator, tmp_path: Path) -> None:
    script = (
        f"{sys.executable} -m rcstream listen -e telephony -n 4 "
        f"| {sys.executable} {EXAMPLES / 'calls_to_csv.py'}"
    )
    proc = await _start(rc_emulator, tmp_path, "bash", "-c", f"set -o pipefail; {script}")
    await rc_emulator.wait_for_subscription(timeout=LIMIT)
    await publish_call(rc_emulator, seed=3)
    out, _ = await _finish(proc)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert rows[0]["result"] == "answered"


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
async def test_jq_recipe(rc_emulator: Emulator, tmp_path: Path) -> None:
    proc = await _start(rc_emulator, tmp_path, "bash", str(EXAMPLES / "jq_recipes.sh"), "4")
    await rc_emulator.wait_for_subscription(timeout=LIMIT)
    await publish_call(rc_emulator, seed=4)
    out, _ = await _finish(proc)
    statuses = [line.split("\t")[0] for line in out.splitlines()]
    assert statuses == ["Setup", "Proceeding", "Answered", "Disconnected"]
    assert all(" -> +1" in line for line in out.splitlines())
