"""``rcstream fleet``: many accounts across many workers, into NATS JetStream.

``rcstream fleet --nats URL --accounts FILE`` runs one worker (any number of them, on any
machines, share the accounts through JetStream KV leases); ``rcstream fleet status`` shows
the accounts, their owners, lag, last gap and reconnects; ``rcstream fleet demo`` starts a
local nats-server, the emulator with several accounts and three workers, and prints the
events as they land. The machinery is :mod:`rcstream.fleet` (``docs/scale-out.md``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rcstream.cli._args import Formatter, positive_float
from rcstream.cli._run import EXIT_USAGE, client_options, run_async

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers

__all__ = ["add_parser", "run"]

_EPILOG = """\
examples:
  rcstream fleet --nats nats://nats:4222 --accounts accounts.toml --metrics-port 9464
  rcstream fleet status --nats nats://nats:4222 --accounts accounts.toml
  rcstream fleet demo                     nats-server + emulator + 3 workers, one command
  RCSTREAM_FLEET_KEY=NEW,OLD rcstream fleet rotate-key --nats nats://nats:4222
                                          re-encrypt every checkpoint with NEW (key rotation)

RCSTREAM_FLEET_KEY (a Fernet key) encrypts the checkpoints (token pairs) kept in KV.

"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream fleet [run|status|demo]``."""
    from rcstream.cli.bridge import NATS_ENV_HELP, add_nats_options

    p = sub.add_parser(
        "fleet",
        help="stream many accounts into NATS JetStream across workers",
        description="Run a fleet worker, show the fleet's status, or run a local demo.",
        epilog=_EPILOG + NATS_ENV_HELP,
        formatter_class=Formatter,
        parents=[common.verbosity],
    )
    p.add_argument(
        "action", nargs="?", choices=("run", "status", "demo", "rotate-key"), default="run"
    )
    add_nats_options(p)
    p.add_argument("--accounts", metavar="FILE", help="the accounts TOML file")
    p.add_argument(
        "--lease-ttl", type=positive_float, default=20.0, metavar="S", help="lease TTL (20 s)"
    )
    p.add_argument(
        "--renew-interval",
        type=positive_float,
        default=None,
        metavar="S",
        help="seconds between lease renewals (default TTL/4)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on HOST:PORT/metrics (see --metrics-host)",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address the metrics endpoint binds (default 127.0.0.1; 0.0.0.0 for all)",
    )
    p.add_argument("--json", action="store_true", help="status: print JSON")
    demo = p.add_argument_group("demo")
    demo.add_argument("--size", type=int, default=6, metavar="N", help="demo accounts (6)")
    demo.add_argument("--workers", type=int, default=3, metavar="W", help="demo workers (3)")
    demo.add_argument(
        "--rate", type=positive_float, default=4.0, metavar="EV_S", help="demo events/s (4)"
    )
    demo.add_argument(
        "--seconds", type=positive_float, default=None, metavar="S", help="demo length"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch ``fleet run``, ``fleet status`` and ``fleet demo``."""
    if args.action == "status":
        from rcstream.fleet.cli import fleet_status_command

        return run_async(lambda: fleet_status_command(args, sys.stdout))
    if args.action == "rotate-key":
        from rcstream.fleet.cli import fleet_rotate_key_command

        return run_async(lambda: fleet_rotate_key_command(args, sys.stdout))
    if args.action == "demo":
        from rcstream.fleet.demo import fleet_demo

        return run_async(
            lambda: fleet_demo(
                accounts=args.size,
                workers=args.workers,
                rate=args.rate,
                seconds=args.seconds,
                out=sys.stdout,
            ),
            stopping="stopping the demo",
        )
    if not args.accounts:
        sys.stderr.write("rcstream fleet: --accounts FILE is required; see --help.\n")
        return EXIT_USAGE
    from rcstream.fleet.cli import run_fleet

    args.client_options = client_options(args)
    return run_async(lambda: run_fleet(args), stopping="handing the accounts over")
