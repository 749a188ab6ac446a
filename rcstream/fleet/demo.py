"""``rcstream fleet demo``: the whole fleet on one machine, in one command.

Starts a local ``nats-server -js`` (a temporary store), the bundled emulator with several
accounts, and ``workers`` fleet workers in this process (each with its own NATS
connection, exactly as separate machines would have), writes an accounts file whose
secrets are environment variable *names*, publishes presence changes round-robin across
the accounts, and prints every message as it lands in JetStream plus a line of owners
every few seconds. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

__all__ = ["DEMO_FILTER", "fleet_demo", "write_accounts_file"]

DEMO_FILTER = "/restapi/v1.0/account/~/extension/~/presence"


def write_accounts_file(
    path: Path, records: Any, *, server_url: str, env: dict[str, str], prefix: str = "DEMO"
) -> None:
    """Write an accounts TOML for emulator ``records`` (``Emulator.accounts``); the
    secrets go into ``env`` under the names the file refers to, never into the file."""
    lines = [
        "[defaults]",
        f'server_url = "{server_url}"',
        f'filters = ["{DEMO_FILTER}"]',
        "",
    ]
    for i, rec in enumerate(records):
        name = f"{prefix}_{i}"
        env[f"{name}_CLIENT_ID"] = rec.client_id
        env[f"{name}_CLIENT_SECRET"] = rec.client_secret
        env[f"{name}_JWT"] = rec.jwt
        lines += [
            "[[accounts]]",
            f'id = "acct-{i:03d}"',
            f'client_id_env = "{name}_CLIENT_ID"',
            f'client_secret_env = "{name}_CLIENT_SECRET"',
            f'jwt_env = "{name}_JWT"',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


async def fleet_demo(
    *,
    accounts: int = 6,
    workers: int = 3,
    rate: float = 4.0,
    seconds: float | None = None,
    out: TextIO,
) -> int:
    """Run the demo for ``seconds`` (``None``: until interrupted); returns 0."""
    import nats
    from cryptography.fernet import Fernet

    from rcstream.emulator import Emulator
    from rcstream.fleet.accounts import load_accounts
    from rcstream.fleet.runner import fleet_runner
    from rcstream.fleet.server import NatsServer
    from rcstream.fleet.status import fleet_status
    from rcstream.fleet.subjects import ensure_stream
    from rcstream.fleet.worker import FleetConfig, FleetWorker

    tmp = Path(tempfile.mkdtemp(prefix="rcstream-fleet-demo-"))
    async with contextlib.AsyncExitStack() as stack:
        server = NatsServer(store_dir=tmp / "nats")
        await stack.enter_async_context(server)
        emu = Emulator(accounts=accounts)
        await stack.enter_async_context(emu)
        env: dict[str, str] = {}
        path = tmp / "accounts.toml"
        write_accounts_file(path, emu.accounts, server_url=emu.server_url, env=env)
        fleet = load_accounts(path, environ=env)
        fernet = Fernet(Fernet.generate_key())
        out.write(
            f"nats-server {server.url}, emulator {emu.server_url}, {accounts} accounts, "
            f"{workers} workers (accounts file {path})\n"
        )
        out.flush()
        watcher = await nats.connect(server.url)
        stack.push_async_callback(watcher.close)
        js = watcher.jetstream()
        await ensure_stream(js)

        async def show(msg: Any) -> None:
            body = msg.data.decode(errors="replace")
            if msg.subject.endswith(".lifecycle"):
                detail = body
            else:
                detail = "notification"
                with contextlib.suppress(ValueError, AttributeError, TypeError):
                    status = json.loads(body).get("body", {}).get("presenceStatus")
                    detail = f"presence {status}"
            out.write(f"{time.strftime('%H:%M:%S')}  {msg.subject:<40} {detail[:90]}\n")
            out.flush()

        await watcher.subscribe("rcstream.>", cb=show)
        tasks: list[asyncio.Task[None]] = []
        config = FleetConfig(ttl=6.0, renew_interval=1.0)
        for n in range(workers):
            nc = await nats.connect(server.url, max_reconnect_attempts=-1)
            stack.push_async_callback(nc.close)
            wjs = nc.jetstream()
            worker = FleetWorker(
                wjs,
                fleet,
                fleet_runner(wjs),
                fernet=fernet,
                config=config,
                worker_id=f"demo-worker-{n + 1}",
            )
            tasks.append(asyncio.create_task(worker.run()))

        async def traffic() -> None:
            statuses = ("Available", "Busy", "DoNotDisturb", "Offline")
            i = 0
            while True:
                rec = emu.accounts[i % len(emu.accounts)]
                event = (
                    f"/restapi/v1.0/account/{rec.account_id}/extension/"
                    f"{rec.extension_ids[0]}/presence"
                )
                body = {
                    "extensionId": rec.extension_ids[0],
                    "presenceStatus": statuses[(i // len(emu.accounts)) % len(statuses)],
                }
                await emu.publish(event, body)
                i += 1
                await asyncio.sleep(1.0 / rate)

        async def owners() -> None:
            while True:
                await asyncio.sleep(5.0)
                status = await fleet_status(js, [a.label for a in fleet])
                count: dict[str, int] = {}
                for acct in status.accounts:
                    count[acct.owner or "nobody"] = count.get(acct.owner or "nobody", 0) + 1
                out.write(f"-- owners: {json.dumps(count, sort_keys=True)}\n")
                out.flush()

        tasks.append(asyncio.create_task(traffic()))
        tasks.append(asyncio.create_task(owners()))
        try:
            if seconds is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(seconds)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.to_thread(shutil.rmtree, tmp, True)
    return 0
