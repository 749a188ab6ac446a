"""``rcstream webhook listen | serve``: RingCentral events delivered by WebHook (HTTP POST).

The commands themselves live in :mod:`rcstream.cli._receive`; this module only defines
the parser (light imports) and runs them with the CLI's signal handling and exit codes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rcstream.cli._args import Formatter, Parser
from rcstream.cli._run import EXIT_USAGE, client_options, run_async

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers

__all__ = ["add_parser", "run"]

_EPILOG = """\
RingCentral POSTs each event to a public URL. `listen` starts a receiver on --host/--port
(default 127.0.0.1:8080, path /), creates a WebHook subscription for --address (the public
https URL of a reverse proxy or tunnel that reaches the receiver) with a random verification
token and a short lifetime, renews it, re-creates it if RingCentral blacklists it (a gap on
stderr, and on stdout with --lifecycle), and deletes it on exit. `serve` is the receiver
alone, for a subscription made elsewhere: it checks the token in RINGCENTRAL_WEBHOOK_TOKEN.

stdout carries the same JSON lines as `rcstream listen`; status goes to stderr.

examples:
  rcstream webhook listen -e telephony --address https://hooks.example.com/rc --port 8080
  RINGCENTRAL_WEBHOOK_TOKEN=... rcstream webhook serve --port 8080 --path /rc | jq .event

exit codes: 0 done (-n/--timeout reached), 2 usage/configuration (including SUB-525: the
address failed RingCentral's validation request), 3 authentication or permission,
4 the subscription could not be kept, 130 interrupted.
"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream webhook ACTION``."""
    from rcstream.cli._receive import (
        add_webhook_listen_arguments,
        add_webhook_serve_arguments,
    )

    hook = sub.add_parser(
        "webhook",
        help="receive events by RingCentral WebHook (listen, serve)",
        description="Receive RingCentral events by WebHook delivery (HTTP POST).",
        epilog=_EPILOG,
        formatter_class=Formatter,
    )
    hook.set_defaults(run=run, check_usage=_check_usage, help_parser=hook, webhook_command=None)
    actions = hook.add_subparsers(dest="webhook_command", metavar="ACTION", parser_class=Parser)
    listen = actions.add_parser(
        "listen",
        help="create a WebHook subscription, serve, renew, delete on exit",
        description="Create a WebHook subscription for --address, receive its events, "
        "renew it, and delete it on exit.",
        epilog=_EPILOG,
        formatter_class=Formatter,
        parents=[common.verbosity, common.credentials],
    )
    add_webhook_listen_arguments(listen)
    serve = actions.add_parser(
        "serve",
        help="the receiver alone (token from RINGCENTRAL_WEBHOOK_TOKEN)",
        description="Receive WebHook deliveries of a subscription made elsewhere; the token "
        "is read from RINGCENTRAL_WEBHOOK_TOKEN.",
        epilog=_EPILOG,
        formatter_class=Formatter,
        parents=[common.verbosity],
    )
    add_webhook_serve_arguments(serve)


def _check_usage(args: argparse.Namespace) -> int | None:
    if args.webhook_command is None:
        sys.stderr.write("rcstream webhook: error: an action is required (listen or serve).\n\n")
        args.help_parser.print_help(sys.stderr)
        return EXIT_USAGE
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``rcstream webhook listen|serve``."""
    from rcstream.cli import _receive as commands

    if args.webhook_command == "serve":
        return run_async(lambda: commands.webhook_serve(args), stopping="stopping")
    from rcstream.cli.env import load_environment

    env = load_environment(
        env_file=args.env_file, server=args.server, access_token_file=args.access_token_file
    )
    options = client_options(args)
    return run_async(lambda: commands.webhook_listen(args, env, options))
