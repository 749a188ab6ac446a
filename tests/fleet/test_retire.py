"""The OAuth session belongs to the account's checkpoint: a worker that stops (a
rebalance, a shutdown) keeps it for the next owner; only an account that leaves the fleet
(``retired = true`` in the accounts file) has its subscription deleted and its session
revoked. In-process workers with the real runner, a real nats-server, the emulator."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from rcstream.emulator import Emulator
from rcstream.fleet.accounts import FleetAccount, parse_accounts
from rcstream.fleet.kvstore import make_fernet
from rcstream.fleet.runner import fleet_runner
from rcstream.fleet.subjects import ensure_stream
from rcstream.fleet.worker import FleetConfig, FleetWorker
from rcstream.redact import Secret

CONFIG = FleetConfig(ttl=2.0, renew_interval=0.2)


def _account(emu: Emulator, *, retired: bool = False) -> FleetAccount:
    rec = emu.accounts[0]
    return FleetAccount(
        "acme",
        rec.client_id,
        Secret(rec.client_secret),
        Secret(rec.jwt),
        emu.server_url,
        ("/restapi/v1.0/account/~/extension/~/presence",),
        retired=retired,
    )


async def test_stop_keeps_the_session_and_retiring_revokes_it(js: Any) -> None:
    await ensure_stream(js)
    fernet = make_fernet(Fernet.generate_key())
    async with Emulator() as emu:
        worker = FleetWorker(js, [_account(emu)], fleet_runner(js), fernet=fernet, config=CONFIG)
        task = asyncio.create_task(worker.run())
        await emu.wait_for_subscription(1, timeout=10.0)
        store_kv = await js.key_value(CONFIG.checkpoint_bucket)
        async with asyncio.timeout(10.0):  # the first checkpoint write (after an ack)
            while True:
                try:
                    await store_kv.get("ckpt.acme")
                    break
                except Exception:
                    await asyncio.sleep(0.05)
        worker.stop()
        await task
        # a graceful stop is a hand-over: the session and the subscription stay
        assert [s.revoked for s in emu.oauth_sessions] == [False]
        assert len(emu.subscriptions) == 1

        retiring = FleetWorker(
            js,
            [_account(emu, retired=True)],
            fleet_runner(js),
            fernet=fernet,
            config=CONFIG,
        )
        task = asyncio.create_task(retiring.run())
        await emu.wait_until(
            lambda e: all(s.revoked for s in e.oauth_sessions) and not e.subscriptions, 10.0
        )
        retiring.stop()
        await task
    assert len(emu.oauth_sessions) == 1  # no new login was needed to retire it


def test_retired_is_read_from_the_accounts_file() -> None:
    text = """
[[accounts]]
id = "gone"
client_id_env = "A"
client_secret_env = "B"
jwt_env = "C"
filters = ["/restapi/v1.0/account/~/extension/~/presence"]
retired = true
"""
    (account,) = parse_accounts(text, base_dir=Path("."), environ={"A": "a", "B": "b", "C": "c"})
    assert account.retired is True
