"""The commands ``rcstream webhook listen|serve`` and ``rcstream vcc serve|listen|subscriptions``.

Each command is an ``add_*_arguments(parser)`` helper for its fixed flags plus an
``async def`` that takes the parsed ``argparse.Namespace`` and returns an exit code, so
registering one in the CLI is one line (see :func:`register`). ``python -m
rcstream.webhooks`` runs them until then.

stdout carries only events, one JSON line each (``--format json``) or one readable line
(``--format pretty``); ``--lifecycle`` adds lifecycle records (``{"type": "gap", ...}``);
``-n N`` exits 0 after N events. Status and errors go to stderr. Exit codes: 0 done,
1 runtime failure, 2 usage or configuration error, 130 interrupted.

* RingCentral: ``webhook listen`` needs the ``RINGCENTRAL_*`` credentials (as ``listen``)
  and creates, serves, renews and deletes a WebHook subscription; ``webhook serve`` is the
  receiver alone, checking the token in ``RINGCENTRAL_WEBHOOK_TOKEN``.
* VCC: ``vcc serve`` checks signatures with ``VCC_WEBHOOK_SECRET`` (base64) and prints each
  verified CloudEvent as received, as one compact line (only whitespace between JSON tokens
  is removed: no field added, removed or reordered). ``vcc listen`` and ``vcc
  subscriptions`` use ``VCC_API_URL`` (the region's API root) and ``VCC_ACCESS_TOKEN``, or
  ``VCC_TOKEN_URL`` + ``VCC_CLIENT_ID`` + ``VCC_CLIENT_SECRET`` (client credentials; an
  assumption, see :mod:`rcstream.webhooks.vcc`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import IO, Any

import orjson

from rcstream.exceptions import ConfigurationError, RCStreamError, UsageError
from rcstream.models import Notification
from rcstream.models.lifecycle import Lifecycle
from rcstream.redact import Secret
from rcstream.webhooks.cloudevents import CloudEvent, compact_json

__all__ = [
    "add_vcc_listen_arguments",
    "add_vcc_serve_arguments",
    "add_vcc_subscriptions_arguments",
    "add_webhook_listen_arguments",
    "add_webhook_serve_arguments",
    "register",
    "run",
    "vcc_listen",
    "vcc_serve",
    "vcc_subscriptions",
    "webhook_listen",
    "webhook_serve",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# ----------------------------------------------------------------------------- arguments


def _receiver_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("receiver")
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0: any)")
    group.add_argument("--path", default="/", help="URL path to accept POSTs on (default /)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output on stdout")
    group.add_argument(
        "--format",
        choices=("json", "pretty"),
        default=None,
        help="json: one event per line; pretty: one readable line (default: pretty on a "
        "terminal, json otherwise)",
    )
    group.add_argument("-n", "--count", type=int, metavar="N", help="exit 0 after N events")
    group.add_argument(
        "--lifecycle",
        action="store_true",
        help='also write lifecycle records (e.g. gaps) with a "type" field',
    )


def add_webhook_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream webhook listen``."""
    parser.add_argument(
        "-e",
        "--events",
        action="append",
        default=[],
        metavar="NAMES",
        help="comma-separated presets, as for listen (e.g. -e telephony,sms)",
    )
    parser.add_argument(
        "-f",
        "--filter",
        dest="filters",
        action="append",
        default=[],
        metavar="FILTER",
        help="a raw event filter (repeatable)",
    )
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
    _receiver_options(parser)
    _output_options(parser)


def add_webhook_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream webhook serve`` (token in ``RINGCENTRAL_WEBHOOK_TOKEN``)."""
    _receiver_options(parser)
    _output_options(parser)


def add_vcc_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``rcstream vcc serve`` (secret in ``VCC_WEBHOOK_SECRET``)."""
    _receiver_options(parser)
    _output_options(parser)


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
    _receiver_options(parser)
    _output_options(parser)


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


# ----------------------------------------------------------------------------- output


class _Printer:
    """Writes events to stdout as lines and counts them; ``done`` after ``count``."""

    def __init__(self, args: argparse.Namespace, stream: IO[bytes] | None = None) -> None:
        self._out = stream if stream is not None else sys.stdout.buffer
        fmt = getattr(args, "format", None)
        if fmt is None:
            try:
                fmt = "pretty" if sys.stdout.isatty() else "json"
            except (AttributeError, ValueError):
                fmt = "json"
        self.format = fmt
        self.lifecycle = bool(getattr(args, "lifecycle", False))
        self.count: int | None = getattr(args, "count", None)
        if self.count is not None and self.count < 1:
            raise UsageError("-n/--count must be at least 1.")
        self.written = 0

    @property
    def done(self) -> bool:
        return self.count is not None and self.written >= self.count

    def _line(self, data: bytes) -> None:
        self._out.write(data + b"\n")
        self._out.flush()

    def item(self, item: Any) -> None:
        if isinstance(item, Lifecycle):
            if self.lifecycle:
                self._line(orjson.dumps(item.model_dump(mode="json")))
            return
        if isinstance(item, CloudEvent):
            if self.format == "json":
                self._line(compact_json(item.raw) if item.raw else orjson.dumps(item.to_wire()))
            else:
                self._line(_pretty_cloudevent(item).encode("utf-8", "backslashreplace"))
        else:
            wire = item.to_wire() if isinstance(item, Notification) else item
            if self.format == "json":
                self._line(orjson.dumps(wire))
            else:
                self._line(_pretty_rc(wire).encode("utf-8", "backslashreplace"))
        self.written += 1


def _clean(text: Any, limit: int = 80) -> str:
    value = "".join(c if c.isprintable() else "?" for c in str(text))
    return value[:limit]


def _pretty_rc(wire: Mapping[str, Any]) -> str:
    body = wire.get("body") if isinstance(wire.get("body"), dict) else {}
    assert isinstance(body, dict)
    keys = ("presenceStatus", "telephonyStatus", "subject", "text", "status", "eventType")
    details = " ".join(f"{k}={_clean(body[k], 40)}" for k in keys if k in body)
    return (
        f"{_clean(wire.get('timestamp', ''), 30)}  {_clean(wire.get('event', ''), 120)}  {details}"
    )


def _pretty_cloudevent(event: CloudEvent) -> str:
    data = event.data if isinstance(event.data, dict) else {}
    channel = data.get("channel") if isinstance(data.get("channel"), dict) else None
    user = data.get("user") if isinstance(data.get("user"), dict) else None
    who = ""
    if channel is not None:
        party = channel.get("party") if isinstance(channel.get("party"), dict) else {}
        who = f"channel={_clean(channel.get('channelId'), 40)} agent={_clean(party.get('agentId'))}"
    elif user is not None:
        who = f"agent={_clean(user.get('agentId'))}"
    return f"{_clean(event.time or '', 30)}  {_clean(event.type, 60)}  {who}".rstrip()


# ----------------------------------------------------------------------------- running


def run(command: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    """Run one command in a fresh event loop and map errors onto exit codes.

    SIGINT/SIGTERM cancel the command (its ``async with`` blocks clean up: subscriptions
    are deleted) and give 130. Errors print one sentence on stderr.
    """

    async def runner() -> int:
        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(command(args))
        stopped = False

        def stop() -> None:
            nonlocal stopped
            stopped = True
            work.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop)
        try:
            return await work
        except asyncio.CancelledError:
            if stopped:
                return EXIT_INTERRUPTED
            raise

    try:
        return asyncio.run(runner())
    except (ConfigurationError, UsageError) as exc:
        sys.stderr.write(f"rcstream: {exc}\n")
        return EXIT_USAGE
    except RCStreamError as exc:
        sys.stderr.write(f"rcstream: {exc}\n")
        return EXIT_FAILED
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


async def _pump(source: AsyncIterator[Any], printer: _Printer) -> int:
    async for item in source:
        printer.item(item)
        if printer.done:
            break
    return EXIT_OK


def _status(message: str) -> None:
    sys.stderr.write(f"rcstream: {message}\n")
    sys.stderr.flush()


def _rc_filters(args: argparse.Namespace) -> list[str]:
    from rcstream import filters as filters_mod

    names = [n.strip() for chunk in args.events for n in chunk.split(",") if n.strip()]
    result = filters_mod.preset(names) if names else []
    result.extend(filters_mod.validate_filter(f) for f in args.filters)
    if not result:
        raise ConfigurationError(
            "There is nothing to listen to; pass -e NAMES (e.g. -e telephony) or -f FILTER."
        )
    return list(dict.fromkeys(result))


# ----------------------------------------------------------------------------- RingCentral


async def webhook_listen(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """``rcstream webhook listen``: create, serve, renew and delete a WebHook subscription."""
    from rcstream.client import Client
    from rcstream.webhooks.ringcentral import listen

    filters = _rc_filters(args)
    printer = _Printer(args)
    async with (
        Client.from_env(env) as client,
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
        ) as stream,
    ):
        _status(
            f"webhook subscription {stream.subscription.id} is live: {args.address} -> "
            f"{stream.receiver.url}"
        )
        return await _pump(stream, printer)


async def webhook_serve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """``rcstream webhook serve``: the receiver alone, token from ``RINGCENTRAL_WEBHOOK_TOKEN``."""
    from rcstream.webhooks.ringcentral import WebhookReceiver

    source = os.environ if env is None else env
    token = source.get("RINGCENTRAL_WEBHOOK_TOKEN")
    if not token:
        raise ConfigurationError(
            "Set RINGCENTRAL_WEBHOOK_TOKEN to the subscription's verificationToken."
        )
    printer = _Printer(args)
    async with WebhookReceiver(
        token=Secret(token),
        host=args.host,
        port=args.port,
        path=args.path,
        raw=True,
        lifecycle=printer.lifecycle,
    ) as rx:
        _status(f"receiving RingCentral webhooks on {rx.url}")
        return await _pump(rx, printer)


# ----------------------------------------------------------------------------- VCC


async def vcc_serve(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """``rcstream vcc serve``: verify and print VCC notifications (``VCC_WEBHOOK_SECRET``)."""
    from rcstream.webhooks.vcc import VccReceiver

    source = os.environ if env is None else env
    secret = source.get("VCC_WEBHOOK_SECRET")
    if not secret:
        raise ConfigurationError(
            "Set VCC_WEBHOOK_SECRET to the subscription's secret (base64, as VCC returned it)."
        )
    printer = _Printer(args)
    async with VccReceiver(
        secret=Secret(secret), host=args.host, port=args.port, path=args.path
    ) as rx:
        _status(f"receiving VCC webhooks on {rx.url}")
        return await _pump(rx, printer)


def _vcc_client(env: Mapping[str, str] | None) -> Any:
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


async def vcc_listen(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> int:
    """``rcstream vcc listen``: create a subscription with a fresh ≥ 32-byte secret, serve,
    and delete it on exit."""
    import secrets as _secrets

    from rcstream.webhooks.vcc import VccReceiver, new_secret

    events = [e.strip() for e in args.events.split(",") if e.strip()]
    if not events:
        raise ConfigurationError("Pass --events, e.g. --events 'channel.*,agent.*'.")
    printer = _Printer(args)
    secret = Secret(new_secret(32))
    name = args.name or f"rcstream-{_secrets.token_hex(4)}"
    async with (
        _vcc_client(env) as api,
        VccReceiver(secret=secret, host=args.host, port=args.port, path=args.path) as rx,
    ):
        sub = await api.create_subscription(
            name=name, url=args.address, events=events, secret=secret
        )
        try:
            _status(
                f"VCC subscription {sub.id} ({name}) created for {args.address}; VCC applies "
                "changes within 30 s, so events start within 30 s"
            )
            first = True
            async for event in rx:
                if first:
                    _status(f"VCC subscription {sub.id} is live (first verified event)")
                    first = False
                printer.item(event)
                if printer.done:
                    break
            return EXIT_OK
        finally:
            with contextlib.suppress(RCStreamError):
                await api.delete_subscription(sub.id)
                _status(f"deleted VCC subscription {sub.id}")


async def vcc_subscriptions(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    out: IO[bytes] | None = None,
) -> int:
    """``rcstream vcc subscriptions list|show|update|delete``: one JSON line per subscription
    on ``out`` (default stdout)."""
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
                changes["events"] = [e.strip() for e in args.events.split(",") if e.strip()]
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
            _status(f"deleted VCC subscription {args.id}")
    out.flush()
    return EXIT_OK


# ----------------------------------------------------------------------------- registration


def register(subparsers: Any) -> None:
    """Add ``webhook listen|serve`` and ``vcc serve|listen|subscriptions`` to a CLI's
    ``add_subparsers()`` object; each sets ``args.run`` to a callable returning the exit code."""
    webhook = subparsers.add_parser("webhook", help="RingCentral WebHook delivery")
    wsub = webhook.add_subparsers(dest="webhook_command", required=True)
    vcc = subparsers.add_parser("vcc", help="Vonage Contact Center webhooks")
    vsub = vcc.add_subparsers(dest="vcc_command", required=True)
    table: list[tuple[Any, str, Callable[[argparse.ArgumentParser], None], Any, str]] = [
        (wsub, "listen", add_webhook_listen_arguments, webhook_listen, "create, serve, renew"),
        (wsub, "serve", add_webhook_serve_arguments, webhook_serve, "the receiver alone"),
        (vsub, "serve", add_vcc_serve_arguments, vcc_serve, "verify and print VCC events"),
        (vsub, "listen", add_vcc_listen_arguments, vcc_listen, "subscribe, serve, delete"),
        (vsub, "subscriptions", add_vcc_subscriptions_arguments, vcc_subscriptions, "manage"),
    ]
    for parent, name, add, command, text in table:
        parser = parent.add_parser(name, help=text, description=text)
        add(parser)
        parser.set_defaults(run=lambda args, _c=command: run(_c, args))


def main(argv: list[str] | None = None) -> int:
    """``python -m rcstream.webhooks ...``: the commands until the CLI registers them."""
    parser = argparse.ArgumentParser(prog="python -m rcstream.webhooks")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="rcstream: %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.run(args)
    return code
