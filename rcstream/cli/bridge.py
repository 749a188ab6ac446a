"""``rcstream bridge``: one account's events into NATS JetStream.

Reads the same ``RINGCENTRAL_*`` settings and ``-e``/``-f`` filters as ``listen``; NATS
credentials come from ``RCSTREAM_NATS_*`` variables (see :mod:`rcstream.fleet.connect`).
``--nats embedded`` starts a local ``nats-server -js`` (the ``nats`` extra). The engine is
:class:`rcstream.fleet.runner.AccountBridge`; the subjects are documented in
:mod:`rcstream.fleet.subjects` and ``docs/scale-out.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from typing import TYPE_CHECKING, Any

from rcstream.cli._args import Formatter
from rcstream.cli._run import EXIT_OK, client_options, run_async
from rcstream.exceptions import ConfigurationError

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers

__all__ = ["NATS_ENV_HELP", "add_nats_options", "add_parser", "bridge", "run"]

_log = logging.getLogger("rcstream.cli")

#: The NATS credential variables (rcstream.fleet.connect reads exactly these), for --help.
NATS_ENV_HELP = """\
NATS connection (environment only, never the command line):
  RCSTREAM_NATS_URL            default for --nats
  RCSTREAM_NATS_CREDS          path of a .creds file
  RCSTREAM_NATS_NKEY           path of an nkey seed file
  RCSTREAM_NATS_USER           user name, with RCSTREAM_NATS_PASSWORD or
                               RCSTREAM_NATS_PASSWORD_FILE (a path)
  RCSTREAM_NATS_TOKEN          an auth token (or RCSTREAM_NATS_TOKEN_FILE: a path)
  RCSTREAM_NATS_TLS_CA         CA bundle of the server's certificate
  RCSTREAM_NATS_TLS_CERT       client certificate (PEM), with RCSTREAM_NATS_TLS_KEY
"""

_EPILOG = """\
subjects: rcstream.<accountId>.<family> (each notification, Nats-Msg-Id = its uuid) and
rcstream.<accountId>.lifecycle (connected, disconnected, gap, owner). The stream is created
with a 5-minute duplicate window when missing; an existing one with a shorter window gets
a warning.

examples:
  rcstream bridge --nats nats://127.0.0.1:4222 -e telephony,sms
  rcstream bridge --nats embedded -e presence --checkpoint ./bridge.ckpt

"""
_EPILOG += NATS_ENV_HELP


def add_nats_options(parser: argparse.ArgumentParser) -> None:
    """``--nats``, ``--stream`` and ``--max-in-flight`` for ``bridge`` and ``fleet`` (defined
    here, without importing asyncio or nats-py: ``--help`` stays light)."""
    group = parser.add_argument_group("NATS JetStream")
    group.add_argument(
        "--nats",
        metavar="URL",
        default=None,
        help="NATS server URL (default: $RCSTREAM_NATS_URL or nats://127.0.0.1:4222; "
        "'embedded' starts a local nats-server); credentials come from RCSTREAM_NATS_* "
        "variables, never the command line",
    )
    group.add_argument(
        "--stream",
        metavar="NAME",
        default="RCSTREAM",
        help="JetStream stream on subjects rcstream.> (default RCSTREAM)",
    )
    group.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        metavar="N",
        help="publishes awaiting a JetStream ack before reading pauses (default 256)",
    )


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream bridge``."""
    p = sub.add_parser(
        "bridge",
        help="stream one account's events into NATS JetStream",
        description="Publish every event of one account to NATS JetStream, exactly once.",
        epilog=_EPILOG,
        formatter_class=Formatter,
        parents=[common.verbosity, common.credentials],
    )
    what = p.add_argument_group("what to stream")
    what.add_argument(
        "-f", "--filter", dest="filters", action="append", default=[], metavar="FILTER"
    )
    what.add_argument(
        "-e", "--events", action="append", default=[], metavar="NAMES", help="presets"
    )
    what.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)
    add_nats_options(p)
    p.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="resume from and save progress to FILE (written only after JetStream acks)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """``rcstream bridge``: validate, then stream until interrupted."""
    from rcstream.cli.env import load_environment
    from rcstream.cli.listen import _filters_from_args

    env = load_environment(
        env_file=args.env_file, server=args.server, access_token_file=args.access_token_file
    )
    filters = _filters_from_args(args)
    if not filters:
        raise ConfigurationError(
            "There is nothing to bridge; pass -e NAMES (e.g. -e telephony) or -f FILTER."
        )
    if args.max_in_flight < 1:
        raise ConfigurationError("--max-in-flight must be at least 1.")
    options = client_options(args)
    return run_async(
        lambda: bridge(
            env=env,
            filters=tuple(filters),
            nats_url=args.nats,
            stream=args.stream,
            max_in_flight=args.max_in_flight,
            checkpoint=args.checkpoint,
            options=options,
        ),
        stopping="publishing what was received and saving the checkpoint",
    )


async def bridge(
    *,
    env: dict[str, str],
    filters: tuple[str, ...],
    nats_url: str | None,
    stream: str,
    max_in_flight: int,
    checkpoint: str | None,
    options: Any,
) -> int:
    """Connect to NATS (or start an embedded server), ensure the stream, and bridge."""
    from rcstream.auth import auth_from_env
    from rcstream.checkpoint import FileCheckpoint
    from rcstream.client import DEFAULT_SERVER
    from rcstream.fleet.connect import NatsOptions, connect
    from rcstream.fleet.runner import AccountBridge, BridgeSettings
    from rcstream.fleet.server import NatsServer
    from rcstream.fleet.subjects import ensure_stream

    auth = auth_from_env(env)
    server_url = env.get("RINGCENTRAL_SERVER_URL") or DEFAULT_SERVER
    async with contextlib.AsyncExitStack() as stack:
        if nats_url == "embedded":
            server = NatsServer()
            await stack.enter_async_context(server)
            nats_url = server.url
            sys.stderr.write(f"rcstream bridge: embedded nats-server at {server.url}\n")
        nc = await connect(NatsOptions.from_env(nats_url))
        stack.push_async_callback(nc.close)
        js = nc.jetstream()
        setup = await ensure_stream(js, stream)
        if setup.created:
            sys.stderr.write(
                f"rcstream bridge: created stream {setup.name} on rcstream.> with a "
                f"{setup.duplicate_window:g} s duplicate window\n"
            )
        store = None
        if checkpoint is not None:
            store = FileCheckpoint(checkpoint)
            await stack.enter_async_context(store)
        engine = AccountBridge(
            js,
            server_url=server_url,
            login=auth,
            settings=BridgeSettings(filters=filters, stream=stream, max_in_flight=max_in_flight),
            store=store,
            options=options,
            worker="bridge",
        )
        await engine.run()
    return EXIT_OK
