"""Argument parsers and command functions for ``rcstream bridge`` and ``rcstream fleet``.

Registering them in ``rcstream.cli`` is one line each::

    from rcstream.fleet.cli import add_fleet_parser
    add_fleet_parser(subparsers)          # sets args.func

``fleet status`` works on its own. ``fleet`` (run) streams each leased account with
:func:`rcstream.fleet.runner.fleet_runner` (a client resumed from the account's KV
checkpoint, publishing through the bridge's publisher); :func:`run_fleet` takes another
runner for tests.
``python -m rcstream.fleet.cli status --nats URL`` runs the status command directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import asdict
from typing import Any, TextIO

from rcstream.exceptions import RCStreamError
from rcstream.fleet.connect import NatsOptions, add_nats_arguments, connect
from rcstream.fleet.worker import FleetConfig, FleetWorker, Runner

__all__ = [
    "add_bridge_arguments",
    "add_fleet_parser",
    "fleet_rotate_key_command",
    "fleet_status_command",
    "main",
    "run_fleet",
]

logger = logging.getLogger(__name__)


def add_bridge_arguments(parser: argparse.ArgumentParser) -> None:
    """The NATS side of ``rcstream bridge``: ``--nats``, ``--stream``, ``--max-in-flight``
    (the event filters ``-e/-f`` are the ones ``listen`` already has)."""
    add_nats_arguments(parser)
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        metavar="N",
        help="publishes awaiting a JetStream ack before reading pauses (default 256)",
    )


def add_fleet_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``fleet [run|status]`` to an ``add_subparsers()`` object; sets ``func``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fleet",
        help="stream many accounts into NATS JetStream across workers",
        description="Run a fleet worker, or show the fleet's status (accounts, owners, lag).",
    )
    parser.add_argument("action", nargs="?", choices=("run", "status", "rotate-key"), default="run")
    add_bridge_arguments(parser)
    parser.add_argument("--accounts", metavar="FILE", help="the accounts TOML file")
    parser.add_argument(
        "--lease-ttl", type=float, default=20.0, metavar="S", help="lease TTL (default 20 s)"
    )
    parser.add_argument(
        "--renew-interval",
        type=float,
        default=None,
        metavar="S",
        help="seconds between lease renewals (default TTL/4)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on HOST:PORT/metrics (see --metrics-host)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the metrics endpoint binds (default 127.0.0.1; 0.0.0.0 for all)",
    )
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.set_defaults(func=_dispatch)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    if args.action == "status":
        return asyncio.run(fleet_status_command(args, sys.stdout))
    if args.action == "rotate-key":
        return asyncio.run(fleet_rotate_key_command(args, sys.stdout))
    try:
        return asyncio.run(run_fleet(args))
    except KeyboardInterrupt:
        return 130


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

    if not args.accounts:
        print("rcstream fleet: --accounts FILE is required.", file=sys.stderr)
        return 2
    accounts = load_accounts(args.accounts)
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
                options=getattr(args, "client_options", None),
            )
        config = FleetConfig(
            ttl=args.lease_ttl, renew_interval=getattr(args, "renew_interval", None)
        )
        worker = FleetWorker(js, accounts, runner, fernet=fernet, config=config)
        logger.info("fleet worker %s starts", worker.worker_id)
        if args.metrics_port is not None:
            labels = [a.label for a in accounts]

            async def provide() -> str:
                return render_prometheus(await fleet_status(js, labels))

            host = getattr(args, "metrics_host", None) or "127.0.0.1"
            metrics, _ = await serve_metrics(provide, port=args.metrics_port, host=host)
        await worker.run()
    finally:
        if metrics is not None:
            await metrics.cleanup()
        with contextlib.suppress(Exception):
            await nc.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m rcstream.fleet.cli fleet-args...`` (the status command stands alone)."""
    parser = argparse.ArgumentParser(prog="rcstream")
    sub = parser.add_subparsers(dest="command", required=True)
    add_fleet_parser(sub)
    args = parser.parse_args(["fleet", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
