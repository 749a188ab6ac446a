"""``rcstream vcc serve | listen | subscriptions``: Vonage Contact Center signed webhooks.

``vcc serve`` checks signatures with ``VCC_WEBHOOK_SECRET`` (base64) and prints each
verified CloudEvent as received, as one compact line (only whitespace between JSON tokens
is removed: no field added, removed or reordered). ``vcc listen`` and ``vcc
subscriptions`` use ``VCC_API_URL`` (the region's API root) and ``VCC_ACCESS_TOKEN``, or
``VCC_TOKEN_URL`` + ``VCC_CLIENT_ID`` + ``VCC_CLIENT_SECRET`` (client credentials; an
assumption, see :mod:`rcstream.webhooks.vcc`). Each command is an ``add_*_arguments``
helper plus an ``async def`` that returns 0 and raises errors, as in
:mod:`rcstream.cli.webhook`; the output side is shared in :mod:`rcstream.cli._receive`.
Imports at module level are light (argparse only), so ``rcstream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from rcstream.cli._args import Formatter, Parser, add_output_options
from rcstream.cli._receive import Printer, add_receiver_options, pump, queue_size_of, status
from rcstream.cli._run import EXIT_OK, EXIT_USAGE, run_async
from rcstream.exceptions import ConfigurationError, RCStreamError, UsageError
from rcstream.redact import Secret

if TYPE_CHECKING:
    from rcstream.cli._args import Common, SubParsers
    from rcstream.webhooks.cloudevents import CloudEvent
    from rcstream.webhooks.vcc import VccClient

__all__ = [
    "VCC_APPLY_SECONDS",
    "add_parser",
    "add_vcc_listen_arguments",
    "add_vcc_serve_arguments",
    "add_vcc_subscriptions_arguments",
    "run",
    "vcc_listen",
    "vcc_serve",
    "vcc_subscriptions",
]

_log = logging.getLogger("rcstream.cli")

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
    if args.vcc_command == "serve":
        return run_async(lambda: vcc_serve(args), stopping="stopping")
    if args.vcc_command == "listen":
        return run_async(lambda: vcc_listen(args))
    return run_async(lambda: vcc_subscriptions(args), stopping="stopping")


# ----------------------------------------------------------------------------- arguments


def add_vcc_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream vcc serve`` (secret in ``VCC_WEBHOOK_SECRET``)."""
    add_receiver_options(parser)
    add_output_options(parser, default_format=None)  # as `listen`


def add_vcc_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream vcc listen``."""
    parser.add_argument(
        "--events",
        required=True,
        metavar="LIST",
        help="comma-separated VCC event types; wildcards allowed (e.g. channel.*)",
    )
    parser.add_argument("--address", required=True, metavar="PUBLIC_URL", help="public URL")
    parser.add_argument("--name", default=None, help="subscription name (default: generated)")
    add_receiver_options(parser)
    add_output_options(parser, default_format=None)  # as `listen`


def add_vcc_subscriptions_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream vcc subscriptions list|show|update|delete``."""
    parser.add_argument("action", choices=("list", "show", "update", "delete"))
    parser.add_argument("id", nargs="?", help="subscription id (show, update, delete)")
    parser.add_argument("--name", help="update: new name")
    parser.add_argument("--url", help="update: new URL")
    parser.add_argument("--events", metavar="LIST", help="update: comma-separated event types")
    toggle = parser.add_mutually_exclusive_group()
    toggle.add_argument("--enable", dest="enabled", action="store_true", default=None)
    toggle.add_argument("--disable", dest="enabled", action="store_false")


# ----------------------------------------------------------------------------- commands


async def vcc_serve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """``rcstream vcc serve``: verify and print VCC notifications (``VCC_WEBHOOK_SECRET``)."""
    from rcstream.webhooks.vcc import VccReceiver

    source = os.environ if env is None else env
    secret = source.get("VCC_WEBHOOK_SECRET")
    if not secret:
        raise ConfigurationError(
            "Set VCC_WEBHOOK_SECRET to the subscription's secret (base64, as VCC returned it)."
        )
    printer = Printer(args)
    async with VccReceiver(
        secret=Secret(secret),
        host=args.host,
        port=args.port,
        path=args.path,
        queue_size=queue_size_of(args, 1000),
    ) as rx:
        status(f"receiving VCC webhooks on {rx.url}")
        return await pump(rx, printer, rx)


def _vcc_client(env: Mapping[str, str] | None) -> VccClient:
    from rcstream.webhooks.vcc import VccClient

    source = os.environ if env is None else env
    base = source.get("VCC_API_URL")
    if not base:
        raise ConfigurationError(
            "Set VCC_API_URL to your region's API root, e.g. https://emea.api.newvoicemedia.com."
        )
    return VccClient(
        base,
        token_url=source.get("VCC_TOKEN_URL"),
        client_id=source.get("VCC_CLIENT_ID"),
        client_secret=source.get("VCC_CLIENT_SECRET"),
        access_token=source.get("VCC_ACCESS_TOKEN"),
        scope=source.get("VCC_SCOPE"),
    )


def _event_list(text: str) -> list[str]:
    """``--events 'channel.*, agent.*'`` as a list of event types."""
    return [e.strip() for e in text.split(",") if e.strip()]


#: VCC applies subscription changes within 30 s (VCC docs, Subscriptions page); after that the
#: subscription counts as live even if no event came yet.
VCC_APPLY_SECONDS = 30.0


async def vcc_listen(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    *,
    apply_wait: float = VCC_APPLY_SECONDS,
) -> int:
    """``rcstream vcc listen``: create a subscription with a fresh ≥ 32-byte secret, serve,
    and delete it on exit. The status line says "live" at the first verified event, or
    once ``apply_wait`` seconds (VCC's apply time) have passed, whichever comes first."""
    import asyncio
    import secrets as _secrets

    from rcstream.webhooks.vcc import VccReceiver, new_secret

    events = _event_list(args.events)
    if not events:
        raise ConfigurationError("Pass --events, e.g. --events 'channel.*,agent.*'.")
    printer = Printer(args)
    secret = Secret(new_secret(32))
    name = args.name or f"rcstream-{_secrets.token_hex(4)}"
    async with (
        _vcc_client(env) as api,
        VccReceiver(
            secret=secret,
            host=args.host,
            port=args.port,
            path=args.path,
            queue_size=queue_size_of(args, 1000),
        ) as rx,
    ):
        sub = await api.create_subscription(
            name=name, url=args.address, events=events, secret=secret
        )
        try:
            status(
                f"VCC subscription {sub.id} ({name}) created for {args.address}; VCC applies "
                "changes within 30 s, so events start within 30 s"
            )

            live = asyncio.Event()

            async def after_apply_time() -> None:
                await asyncio.sleep(apply_wait)
                if not live.is_set():
                    live.set()
                    status(
                        f"VCC subscription {sub.id} is live ({apply_wait:g} s apply time "
                        "passed; no event yet)"
                    )

            async def announced() -> AsyncIterator[CloudEvent]:
                async for event in rx:
                    if not live.is_set():
                        live.set()
                        status(f"VCC subscription {sub.id} is live (first verified event)")
                    yield event

            timer = asyncio.create_task(after_apply_time())
            try:
                return await pump(announced(), printer, rx)
            finally:
                timer.cancel()
        finally:
            try:
                await api.delete_subscription(sub.id)
            except RCStreamError as exc:
                # VCC subscriptions do not expire: say how to remove this one
                _log.warning(
                    "Could not delete VCC subscription %s on exit (%s); it stays until "
                    "deleted: rcstream vcc subscriptions delete %s",
                    sub.id,
                    exc,
                    sub.id,
                )
            else:
                status(f"deleted VCC subscription {sub.id}")


async def vcc_subscriptions(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    out: IO[bytes] | None = None,
) -> int:
    """``rcstream vcc subscriptions list|show|update|delete``: one JSON line per subscription
    on ``out`` (default stdout)."""
    import orjson

    out = out if out is not None else sys.stdout.buffer
    if args.action != "list" and not args.id:
        raise UsageError(f"'vcc subscriptions {args.action}' needs a subscription id.")
    async with _vcc_client(env) as api:
        if args.action == "list":
            for sub in await api.list_subscriptions():
                out.write(orjson.dumps(sub.to_wire()) + b"\n")
        elif args.action == "show":
            out.write(orjson.dumps((await api.get_subscription(args.id)).to_wire()) + b"\n")
        elif args.action == "update":
            changes: dict[str, Any] = {}
            if args.name is not None:
                changes["name"] = args.name
            if args.url is not None:
                changes["url"] = args.url
            if args.events is not None:
                changes["events"] = _event_list(args.events)
            if args.enabled is not None:
                changes["enabled"] = args.enabled
            if not changes:
                raise UsageError(
                    "Nothing to update; pass --name, --url, --events or --enable/--disable."
                )
            sub = await api.update_subscription(args.id, **changes)
            out.write(orjson.dumps(sub.to_wire()) + b"\n")
        else:
            await api.delete_subscription(args.id)
            status(f"deleted VCC subscription {args.id}")
    out.flush()
    return EXIT_OK
