"""The command functions behind ``rcstream fleet`` (its parser is
:mod:`rcstream.cli.fleet`): ``fleet status``, ``fleet rotate-key`` and the worker itself.

``fleet`` (run) streams each leased account with :func:`rcstream.fleet.runner.fleet_runner`
(a client resumed from the account's KV checkpoint, publishing through the bridge's
publisher); :func:`run_fleet` takes another runner for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import asdict
from typing import TextIO

from rcstream.exceptions import RCStreamError
from rcstream.fleet.connect import NatsOptions, connect
from rcstream.fleet.worker import FleetConfig, FleetWorker, Runner

__all__ = ["fleet_rotate_key_command", "fleet_status_command", "run_fleet"]

logger = logging.getLogger(__name__)


async def fleet_status_command(args: argparse.Namespace, out: TextIO) -> int:
    """Print the fleet's status (table, or JSON with ``--json``); 0 on success."""
    from rcstream.fleet.status import fleet_status, format_status

    try:
        labels = None
        if args.accounts:
            labels = await asyncio.to_thread(_labels, args.accounts)
        nc = await connect(NatsOptions.from_env(args.nats))
        try:
            status = await fleet_status(nc.jetstream(), labels)
        finally:
            await nc.close()
    except (RCStreamError, OSError) as exc:
        print(f"rcstream fleet status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(asdict(status), out, indent=2)
        out.write("\n")
    else:
        out.write(format_status(status))
    return 0


async def fleet_rotate_key_command(args: argparse.Namespace, out: TextIO) -> int:
    """Re-encrypt every checkpoint in KV with the first key of ``RCSTREAM_FLEET_KEY``
    (``NEW,OLD``): step 2 of a key rotation, which must run before ``OLD`` is dropped
    (an idle account's checkpoint is not rewritten by its worker). 0 on success."""
    from rcstream.fleet.kvstore import CHECKPOINT_BUCKET, fernet_from_env, rotate_checkpoints

    try:
        fernet = fernet_from_env()
        nc = await connect(NatsOptions.from_env(args.nats))
        try:
            done = await rotate_checkpoints(nc.jetstream(), CHECKPOINT_BUCKET, fernet)
        finally:
            await nc.close()
    except (RCStreamError, OSError) as exc:
        print(f"rcstream fleet rotate-key: {exc}", file=sys.stderr)
        return 1
    out.write(
        f"re-encrypted {done} checkpoints with the first key of RCSTREAM_FLEET_KEY; every "
        "one now opens with it alone, so the old key may be removed from the workers\n"
    )
    return 0


def _labels(path: str) -> list[str]:
    """The account labels of an accounts file (secrets are not resolved: status needs none)."""
    import tomllib

    from rcstream.exceptions import ConfigurationError

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML ({exc}); fix the syntax.") from exc
    return [str(a["id"]) for a in data.get("accounts", []) if isinstance(a, dict) and "id" in a]


async def run_fleet(args: argparse.Namespace, runner: Runner | None = None) -> int:
    """Run one fleet worker until cancelled (SIGINT/SIGTERM in the CLI). ``runner``
    defaults to :func:`rcstream.fleet.runner.fleet_runner` (the real stream)."""
    from rcstream.fleet.accounts import load_accounts
    from rcstream.fleet.kvstore import fernet_from_env
    from rcstream.fleet.status import fleet_status, render_prometheus, serve_metrics
    from rcstream.fleet.subjects import ensure_stream

    accounts = load_accounts(args.accounts)  # required: rcstream.cli.fleet checks it
    fernet = fernet_from_env()
    nc = await connect(NatsOptions.from_env(args.nats))
    metrics = None
    try:
        js = nc.jetstream()
        await ensure_stream(js, args.stream)
        if runner is None:
            from rcstream.fleet.runner import fleet_runner

            runner = fleet_runner(
                js,
                stream=args.stream,
                max_in_flight=args.max_in_flight,
                options=args.client_options,
            )
        config = FleetConfig(ttl=args.lease_ttl, renew_interval=args.renew_interval)
        worker = FleetWorker(js, accounts, runner, fernet=fernet, config=config)
        logger.info("fleet worker %s starts", worker.worker_id)
        if args.metrics_port is not None:
            labels = [a.label for a in accounts]

            async def provide() -> str:
                return render_prometheus(await fleet_status(js, labels))

            metrics, _ = await serve_metrics(
                provide, port=args.metrics_port, host=args.metrics_host
            )
        await worker.run()
    finally:
        if metrics is not None:
            await metrics.cleanup()
        with contextlib.suppress(Exception):
            await nc.close()
    return 0
