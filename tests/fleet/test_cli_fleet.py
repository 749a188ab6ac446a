"""``rcstream fleet demo`` and ``rcstream fleet status`` through the real command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from rcstream.fleet.server import NatsServer


def test_fleet_demo_shows_events_flowing(nats_binary: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rcstream",
            "fleet",
            "demo",
            "--size",
            "3",
            "--workers",
            "2",
            "--rate",
            "10",
            "--seconds",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert "3 accounts, 2 workers" in lines[0]
    events = [line for line in lines if ".presence " in line]
    owners = [line for line in lines if ".lifecycle" in line and '"type":"owner"' in line]
    assert len(events) >= 5 and len(owners) >= 3
    assert len({line.split()[1].split(".")[1] for line in events}) >= 2  # several accounts


async def test_fleet_status_on_an_empty_server_creates_nothing(nats_server: NatsServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rcstream",
        "fleet",
        "status",
        "--nats",
        nats_server.url,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    status = json.loads(out)
    assert status["accounts"] == [] and status["workers"] == []
    import nats

    nc = await nats.connect(nats_server.url)
    try:
        streams = await nc.jetstream().streams_info()
    finally:
        await nc.close()
    # status never creates the lease bucket (a reader must not pick its TTL)
    assert [st.config.name for st in streams] == []


def test_help_lists_exactly_the_nats_variables_the_code_reads() -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    import rcstream.fleet.connect as connect

    source = Path(connect.__file__).read_text()
    # every RCSTREAM_NATS_<KEY> the code looks up: ENV_PREFIX + "KEY" and path("KEY")
    keys = set(re.findall(r'ENV_PREFIX \+ "([A-Z_]+)"', source))
    keys |= set(re.findall(r'path\("([A-Z_]+)"\)', source))
    read = {f"RCSTREAM_NATS_{k}" for k in keys}
    assert {"RCSTREAM_NATS_NKEY", "RCSTREAM_NATS_CREDS", "RCSTREAM_NATS_URL"} <= read
    for command in ("bridge", "fleet"):
        out = subprocess.run(
            [sys.executable, "-m", "rcstream", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
        named = set(re.findall(r"RCSTREAM_NATS_[A-Z_]*[A-Z]", out))
        assert named == read, (command, named ^ read)
