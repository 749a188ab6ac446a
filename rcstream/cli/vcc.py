"""``rcstream vcc serve | listen | subscriptions``: Vonage Contact Center signed webhooks.

The commands themselves live in :mod:`rcstream.cli._receive`; this module only defines
the parser (light imports) and runs them with the CLI's signal handling and exit codes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rcstream.cli._args import Formatter, Parser
from rcstream.cli._run import EXIT_USAGE, run_async

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers

__all__ = ["add_parser", "run"]

_EPILOG = """\
VCC POSTs each event as a CloudEvent signed with the subscription's secret
(Vonage-Signature: Bearer <JWT>). `serve` verifies with VCC_WEBHOOK_SECRET (base64, as VCC
returned it) and prints each verified event as one compact JSON line, fields as received.
`listen` creates a subscription for --address with a fresh secret, serves, and deletes it on
exit; VCC applies changes within 30 s, and stderr says when the first event arrived.
`listen` and `subscriptions` use VCC_API_URL (your region's API root) and VCC_ACCESS_TOKEN,
or VCC_TOKEN_URL + VCC_CLIENT_ID + VCC_CLIENT_SECRET (client credentials).

examples:
  VCC_WEBHOOK_SECRET=... rcstream vcc serve --port 8080 | jq .type
  rcstream vcc listen --events 'channel.*,agent.*' --address https://hooks.example.com/vcc
  rcstream vcc subscriptions list
  rcstream vcc subscriptions update ID --disable

exit codes: 0 done, 2 usage/configuration or a request refused for good, 3 authentication,
4 another failure talking to VCC, 130 interrupted.
"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream vcc ACTION``."""
    from rcstream.cli._receive import (
        add_vcc_listen_arguments,
        add_vcc_serve_arguments,
        add_vcc_subscriptions_arguments,
    )

    vcc = sub.add_parser(
        "vcc",
        help="Vonage Contact Center webhooks (serve, listen, subscriptions)",
        description="Receive and manage Vonage Contact Center (VCC) signed webhooks.",
        epilog=_EPILOG,
        formatter_class=Formatter,
    )
    vcc.set_defaults(run=run, check_usage=_check_usage, help_parser=vcc, vcc_command=None)
    actions = vcc.add_subparsers(dest="vcc_command", metavar="ACTION", parser_class=Parser)
    serve_text = "verify and print VCC events (secret from VCC_WEBHOOK_SECRET)"
    subs_text = "list, show, update (PATCH) or delete VCC webhook subscriptions"
    table = (
        ("serve", serve_text, add_vcc_serve_arguments),
        ("listen", "create a subscription, serve, delete it on exit", add_vcc_listen_arguments),
        ("subscriptions", subs_text, add_vcc_subscriptions_arguments),
    )
    for name, text, add in table:
        parser = actions.add_parser(
            name,
            help=text,
            description=text[0].upper() + text[1:] + ".",
            epilog=_EPILOG,
            formatter_class=Formatter,
            parents=[common.verbosity],
        )
        add(parser)
        if name == "subscriptions":
            parser.set_defaults(library_info=False)


def _check_usage(args: argparse.Namespace) -> int | None:
    if args.vcc_command is None:
        sys.stderr.write(
            "rcstream vcc: error: an action is required (serve, listen or subscriptions).\n\n"
        )
        args.help_parser.print_help(sys.stderr)
        return EXIT_USAGE
    return None


def run(args: argparse.Namespace) -> int:
    """Run ``rcstream vcc serve|listen|subscriptions``."""
    from rcstream.cli import _receive as commands

    if args.vcc_command == "serve":
        return run_async(lambda: commands.vcc_serve(args), stopping="stopping")
    if args.vcc_command == "listen":
        return run_async(lambda: commands.vcc_listen(args))
    return run_async(lambda: commands.vcc_subscriptions(args), stopping="stopping")
