"""``rcstream webhook listen | serve``: RingCentral events delivered by WebHook (HTTP POST).

``webhook listen`` needs the ``RINGCENTRAL_*`` credentials (as ``listen``) and creates,
serves, renews and deletes a WebHook subscription (:func:`rcstream.webhooks.listen`);
``webhook serve`` is the receiver alone, checking the token in
``RINGCENTRAL_WEBHOOK_TOKEN``. Each command is an ``add_*_arguments(parser)`` helper for
its flags plus an ``async def`` that takes the parsed ``argparse.Namespace`` and returns 0;
errors are raised, and :mod:`rcstream.cli._run` maps them onto exit codes. The output side
(``--format``, ``-n``, ``--lifecycle`` ...) is shared with ``vcc`` in
:mod:`rcstream.cli._receive`. Imports at module level are light (argparse only), so
``rcstream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rcstream.cli._args import Formatter, Parser, add_filter_options, add_output_options
from rcstream.cli._receive import Printer, add_receiver_options, pump, queue_size_of, status
from rcstream.cli._run import EXIT_USAGE, client_options, run_async
from rcstream.exceptions import ConfigurationError
from rcstream.redact import Secret

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers
    from rcstream.client import ClientOptions

__all__ = [
    "add_parser",
    "add_webhook_listen_arguments",
    "add_webhook_serve_arguments",
    "run",
    "webhook_listen",
    "webhook_serve",
]

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
    if args.webhook_command == "serve":
        return run_async(lambda: webhook_serve(args), stopping="stopping")
    from rcstream.cli.env import load_environment

    env = load_environment(
        env_file=args.env_file, server=args.server, access_token_file=args.access_token_file
    )
    options = client_options(args)
    return run_async(lambda: webhook_listen(args, env, options))


# ----------------------------------------------------------------------------- arguments


def add_webhook_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream webhook listen``."""
    add_filter_options(parser)  # the same -e/-f as `rcstream listen`
    parser.add_argument(
        "--address",
        required=True,
        metavar="PUBLIC_URL",
        help="the public https URL that reaches this receiver (a reverse proxy or tunnel)",
    )
    parser.add_argument(
        "--expires-in",
        type=int,
        default=900,
        metavar="S",
        help="subscription lifetime in seconds; renewed while running (default 900)",
    )
    add_receiver_options(parser)
    add_output_options(parser, default_format=None)  # as `listen`


def add_webhook_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream webhook serve`` (token in ``RINGCENTRAL_WEBHOOK_TOKEN``)."""
    add_receiver_options(parser)
    add_output_options(parser, default_format=None)  # as `listen`


# ----------------------------------------------------------------------------- commands


def _rc_filters(args: argparse.Namespace) -> list[str]:
    """``-e``/``-f`` read exactly as ``rcstream listen`` reads them (the same flags)."""
    from rcstream.cli.listen import _filters_from_args

    result = _filters_from_args(args)
    if not result:
        raise ConfigurationError(
            "There is nothing to listen to; pass -e NAMES (e.g. -e telephony) or -f FILTER."
        )
    return result


async def webhook_listen(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    options: ClientOptions | None = None,
) -> int:
    """``rcstream webhook listen``: create, serve, renew and delete a WebHook subscription."""
    from rcstream.client import Client
    from rcstream.webhooks.ringcentral import listen

    filters = _rc_filters(args)
    printer = Printer(args)
    async with (
        Client.from_env(env, options=options) as client,
        listen(
            client,
            filters,
            address=args.address,
            host=args.host,
            port=args.port,
            path=args.path,
            raw=True,
            lifecycle=printer.lifecycle,
            expires_in=args.expires_in,
            queue_size=queue_size_of(args, 10_000),
        ) as stream,
    ):
        status(
            f"webhook subscription {stream.subscription.id} is live: {args.address} -> "
            f"{stream.receiver.url}"
        )
        return await pump(stream, printer, stream.receiver)


async def webhook_serve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """``rcstream webhook serve``: the receiver alone, token from ``RINGCENTRAL_WEBHOOK_TOKEN``."""
    from rcstream.webhooks.ringcentral import WebhookReceiver

    source = os.environ if env is None else env
    token = source.get("RINGCENTRAL_WEBHOOK_TOKEN")
    if not token:
        raise ConfigurationError(
            "Set RINGCENTRAL_WEBHOOK_TOKEN to the subscription's verificationToken."
        )
    printer = Printer(args)
    async with WebhookReceiver(
        token=Secret(token),
        host=args.host,
        port=args.port,
        path=args.path,
        raw=True,
        lifecycle=printer.lifecycle,
        queue_size=queue_size_of(args, 10_000),
    ) as rx:
        status(f"receiving RingCentral webhooks on {rx.url}")
        return await pump(rx, printer, rx)
