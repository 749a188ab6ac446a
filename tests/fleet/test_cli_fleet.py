"""``rcstream fleet demo`` and ``rcstream fleet status`` through the real command line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

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


async def test_fleet_rotate_key_reencrypts_idle_checkpoints(nats_server: NatsServer) -> None:
    import os

    import nats
    from cryptography.fernet import Fernet

    from rcstream.checkpoint import Checkpoint, CheckpointCorrupt
    from rcstream.fleet.kvstore import CHECKPOINT_BUCKET, KVCheckpoint, make_fernet
    from rcstream.redact import Secret

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    idle = Checkpoint(client_id="cid", server_url="http://x", refresh_token=Secret("rt-idle"))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()

    async def rotate(key: str) -> tuple[int | None, str, str]:
        env = dict(os.environ, RCSTREAM_FLEET_KEY=key)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "rcstream", "fleet", "rotate-key", "--nats", nats_server.url,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode, out.decode(), err.decode()

    try:
        # an idle account: nobody saves its checkpoint again, so only rotate-key moves it
        await KVCheckpoint(js, CHECKPOINT_BUCKET, "ckpt.idle", old).save(idle)
        code, _, err = await rotate(Fernet.generate_key().decode())  # a key it never used
        assert code == 1 and "cannot be decrypted" in err and "ckpt.idle" in err
        code, out, err = await rotate(f"{new},{old}")
        assert code == 0, err
        assert "re-encrypted 1 checkpoints" in out
        assert await KVCheckpoint(js, CHECKPOINT_BUCKET, "ckpt.idle", new).load() == idle
        with pytest.raises(CheckpointCorrupt):  # the old key alone no longer opens it
            await KVCheckpoint(js, CHECKPOINT_BUCKET, "ckpt.idle", make_fernet(old)).load()
    finally:
        await nc.close()


async def test_metrics_host_is_honoured(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse
    import contextlib
    import socket

    import aiohttp
    from cryptography.fernet import Fernet

    from rcstream.cli._main import build_parser
    from rcstream.fleet.cli import run_fleet
    from rcstream.fleet.worker import AccountContext

    with socket.socket() as s:  # a free port on another loopback address
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
    (tmp_path / "a.toml").write_text(
        '[defaults]\nfilters = ["/restapi/v1.0/account/~/extension/~/presence"]\n'
        '[[accounts]]\nid = "acme"\nclient_id_env = "T_ID"\nclient_secret_env = "T_SECRET"\n'
        'jwt_env = "T_JWT"\n'
    )
    argv = ["fleet", "--nats", nats_server.url, "--accounts", str(tmp_path / "a.toml")]
    argv += ["--metrics-port", str(port), "--metrics-host", "127.0.0.2", "--lease-ttl", "2"]
    args: argparse.Namespace = build_parser().parse_args(argv)
    assert args.metrics_host == "127.0.0.2"
    running = asyncio.Event()

    async def idle(ctx: AccountContext) -> None:
        running.set()
        await ctx.stopping.wait()

    for name, value in {"T_ID": "i", "T_SECRET": "s", "T_JWT": "j"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RCSTREAM_FLEET_KEY", Fernet.generate_key().decode())
    task = asyncio.create_task(run_fleet(args, runner=idle))
    try:
        await asyncio.wait_for(running.wait(), 15)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.2:{port}/metrics") as resp:
                assert resp.status == 200
                assert "acme" in await resp.text()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
