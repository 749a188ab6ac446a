"""fleet status from KV, the Prometheus rendering and endpoint, the package surface,
the connection options (secrets stay out of argv, logs and reprs)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest
from cryptography.fernet import Fernet

import rcstream.fleet
from rcstream.exceptions import ConfigurationError
from rcstream.fleet.accounts import FleetAccount
from rcstream.fleet.connect import NatsOptions, redact_nats_url
from rcstream.fleet.kvstore import make_fernet
from rcstream.fleet.server import NatsServer
from rcstream.fleet.status import fleet_status, render_prometheus, serve_metrics
from rcstream.fleet.worker import AccountContext, FleetConfig, FleetWorker
from rcstream.redact import Secret


def test_all_sorted_and_importable_without_nats() -> None:
    assert list(rcstream.fleet.__all__) == sorted(rcstream.fleet.__all__)
    code = "import sys, rcstream.fleet; print('nats' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_status_and_metrics_from_kv(nats_server: NatsServer, js: Any) -> None:
    accounts = [
        FleetAccount(label, "cid", Secret("s"), Secret("j"), "http://127.0.0.1:1", ("/x",))
        for label in ("acme", "beta")
    ]
    started = asyncio.Event()

    async def runner(ctx: AccountContext) -> None:
        ctx.stats.account_id = "37439510"
        ctx.stats.events = 42
        ctx.stats.reconnects = 1
        ctx.stats.last_event_at = 1_000_000.0
        ctx.stats.last_gap_at = 999_000.0
        ctx.stats.last_gap_reason = "recovery window passed"
        started.set()
        await asyncio.Event().wait()

    worker = FleetWorker(
        js,
        accounts[:1],
        runner,
        fernet=make_fernet(Fernet.generate_key()),
        config=FleetConfig(ttl=3, renew_interval=0.2),
        worker_id="w1",
    )
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    status = None
    for _ in range(50):  # the owner writes its figures on its next tick
        status = await fleet_status(js, ["acme", "beta"], wall=lambda: 1_000_010.0)
        if status.accounts[0].events:
            break
        await asyncio.sleep(0.1)
    assert status is not None
    acme, beta = status.accounts
    assert status.workers == ("w1",)
    assert (acme.owner, acme.account_id, acme.events, acme.reconnects) == ("w1", "37439510", 42, 1)
    assert acme.lag == pytest.approx(10.0)
    assert beta.owner is None and beta.lag is None
    text = render_prometheus(status)
    assert 'rcstream_fleet_account_events_total{account="acme",owner="w1"} 42' in text
    assert "rcstream_fleet_accounts_unowned 1" in text
    assert "# TYPE rcstream_fleet_account_reconnects_total counter" in text

    async def provide() -> str:
        return render_prometheus(await fleet_status(js, ["acme", "beta"]))

    runner_, port = await serve_metrics(provide, port=0)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "rcstream_fleet_workers 1" in await resp.text()
    finally:
        await runner_.cleanup()

    # the CLI command, as a subprocess
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rcstream",
        "fleet",
        "status",
        "--nats",
        nats_server.url,
        "--json",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert data["workers"] == ["w1"] and data["accounts"][0]["label"] == "acme"
    worker.stop()
    await asyncio.wait_for(task, 10)


def test_nats_options_from_env(tmp_path: Path) -> None:
    creds = tmp_path / "u.creds"
    creds.write_text("creds")
    pw = tmp_path / "pw"
    pw.write_text("hunter2\n")
    opts = NatsOptions.from_env(
        "tls://nats.example:4222",
        {
            "RCSTREAM_NATS_CREDS": str(creds),
            "RCSTREAM_NATS_USER": "bridge",
            "RCSTREAM_NATS_PASSWORD_FILE": str(pw),
        },
    )
    kwargs = opts.connect_kwargs()
    assert kwargs["user_credentials"] == str(creds) and kwargs["password"] == "hunter2"
    assert kwargs["max_reconnect_attempts"] == -1
    assert "hunter2" not in repr(opts) and "hunter2" not in opts.describe()
    with pytest.raises(ConfigurationError, match="carries credentials") as info:
        NatsOptions.from_env("nats://u:hunter2@127.0.0.1:4222", {})
    assert "hunter2" not in str(info.value)
    assert redact_nats_url("nats://u:p@h:1,nats://h2:2") == "nats://[secure]@h:1,nats://h2:2"
    with pytest.raises(ConfigurationError, match="TLS_KEY"):
        NatsOptions.from_env(None, {"RCSTREAM_NATS_TLS_CERT": str(creds)})


async def test_user_password_against_a_real_server(tmp_path: Path, nats_binary: str) -> None:
    """The options' kwargs authenticate against a server that demands a password."""
    conf = tmp_path / "auth.conf"
    conf.write_text('authorization { user: "bridge", password: "s3cret-pw" }\n')
    async with NatsServer(store_dir=tmp_path / "srv", config_file=conf, jetstream=False) as srv:
        port = srv.port
        url = f"nats://127.0.0.1:{port}"
        good = NatsOptions.from_env(
            url, {"RCSTREAM_NATS_USER": "bridge", "RCSTREAM_NATS_PASSWORD": "s3cret-pw"}
        )
        nc = await nats.connect(**{**good.connect_kwargs(), "max_reconnect_attempts": 0})
        assert nc.is_connected
        await nc.close()
        from rcstream.fleet.connect import connect
        from rcstream.fleet.errors import NatsUnavailable

        bad = NatsOptions.from_env(
            url, {"RCSTREAM_NATS_USER": "bridge", "RCSTREAM_NATS_PASSWORD": "wrong-pw"}
        )
        with pytest.raises(NatsUnavailable, match="Could not connect to NATS") as info:
            await connect(bad, initial_attempts=1)
        assert "wrong-pw" not in str(info.value)
        nc = await connect(good)
        assert nc.options["max_reconnect_attempts"] == -1
        await nc.close()


async def test_run_fleet_command_with_an_injected_runner(
    nats_server: NatsServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_fleet`` reads the accounts file and RCSTREAM_FLEET_KEY, creates the stream and
    runs a worker whose runner streams each account; cancelling it leaves the fleet."""
    from rcstream.cli import build_parser
    from rcstream.cli._run import client_options
    from rcstream.fleet.cli import run_fleet

    (tmp_path / "acme.jwt").write_text("jwt-value\n")
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        '[defaults]\nfilters = ["/restapi/v1.0/account/~/extension/~/message-store"]\n'
        '[[accounts]]\nid = "acme"\nclient_id_env = "ACME_ID"\n'
        'client_secret_env = "ACME_SECRET"\njwt_file = "acme.jwt"\n'
    )
    monkeypatch.setenv("ACME_ID", "cid")
    monkeypatch.setenv("ACME_SECRET", "shh-secret")
    monkeypatch.setenv("RCSTREAM_FLEET_KEY", Fernet.generate_key().decode())
    args = build_parser().parse_args(
        ["fleet", "--nats", nats_server.url, "--accounts", str(accounts), "--lease-ttl", "3"]
    )
    args.client_options = client_options(args)  # as `rcstream fleet` sets it
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def runner(ctx: AccountContext) -> None:
        await seen.put((ctx.account.label, ctx.account.jwt.get()))
        await asyncio.Event().wait()

    task = asyncio.create_task(run_fleet(args, runner))
    assert await asyncio.wait_for(seen.get(), 20) == ("acme", "jwt-value")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        assert (await js.stream_info("RCSTREAM")).config.duplicate_window == 300
        status = await fleet_status(js, ["acme"])
        assert status.accounts[0].owner is None and status.workers == ()  # it left cleanly
    finally:
        await nc.close()
