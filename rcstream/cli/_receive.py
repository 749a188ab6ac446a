"""The commands ``rcstream webhook listen|serve`` and ``rcstream vcc serve|listen|subscriptions``.

Each command is an ``add_*_arguments(parser)`` helper for its fixed flags plus an
``async def`` that takes the parsed ``argparse.Namespace`` and returns 0; errors are
raised. :mod:`rcstream.cli.webhook` and :mod:`rcstream.cli.vcc` register them in the
``rcstream`` CLI, whose one table (:mod:`rcstream.cli._run`) maps errors onto exit codes.
Imports at module level are light (argparse only), so ``rcstream --help`` stays fast.

stdout carries only events, one JSON line each (``--format json``) or one readable line
(``--format pretty``); ``--lifecycle`` adds lifecycle records (``{"type": "gap", ...}``);
``-n N`` exits 0 after N events, ``--timeout D`` after D. Status and errors go to stderr.

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
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from rcstream.cli._args import add_filter_options, add_output_options, port
from rcstream.exceptions import ConfigurationError, RCStreamError, UsageError
from rcstream.redact import Secret

if TYPE_CHECKING:
    from rcstream.client import ClientOptions
    from rcstream.webhooks._receiver import _HttpReceiver
    from rcstream.webhooks.cloudevents import CloudEvent

__all__ = [
    "add_vcc_listen_arguments",
    "add_vcc_serve_arguments",
    "add_vcc_subscriptions_arguments",
    "add_webhook_listen_arguments",
    "add_webhook_serve_arguments",
    "vcc_listen",
    "vcc_serve",
    "vcc_subscriptions",
    "webhook_listen",
    "webhook_serve",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0


# ----------------------------------------------------------------------------- arguments


def _receiver_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("receiver")
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    group.add_argument("--port", type=port, default=8080, help="TCP port (default 8080; 0: any)")
    group.add_argument("--path", default="/", help="URL path to accept POSTs on (default /)")
    group.add_argument(
        "--queue-size",
        type=int,
        default=None,
        metavar="N",
        help="events held while stdout is slow (RingCentral: 10000, the oldest dropped "
        "with a gap past it; VCC: 1000, answered 503 past it so VCC retries)",
    )


def _output_options(parser: argparse.ArgumentParser) -> None:
    # the same flags as `rcstream listen`: --format, --no-color, -n, --timeout, --lifecycle
    add_output_options(parser, default_format=None)


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
        if stream is None:
            from rcstream.cli.output import _own_buffer

            with contextlib.suppress(AttributeError, ValueError, OSError):
                sys.stdout.flush()
            # a writer of our own on fd 1: the writer thread may be stuck in it at exit,
            # and Python's own sys.stdout must stay free for the interpreter to flush
            stream = _own_buffer(sys.stdout.buffer)
        self._out = stream
        fmt = getattr(args, "format", None)
        if fmt is None:
            try:
                fmt = "pretty" if sys.stdout.isatty() else "json"
            except (AttributeError, ValueError):
                fmt = "json"
        self.format = fmt
        self.color = False
        if fmt == "pretty":
            from rcstream.cli.output import use_color

            self.color = use_color(sys.stdout, no_color=bool(getattr(args, "no_color", False)))
        self.lifecycle = bool(getattr(args, "lifecycle", False))
        self.count: int | None = getattr(args, "count", None)
        if self.count is not None and self.count < 1:
            raise UsageError("-n/--count must be at least 1.")
        self.timeout: float | None = getattr(args, "timeout", None)
        self.written = 0

    @property
    def out(self) -> IO[bytes]:
        """The binary stream lines go to."""
        return self._out

    @staticmethod
    def is_lifecycle(item: Any) -> bool:
        """True for a lifecycle record (not counted by ``-n``)."""
        from rcstream.models.lifecycle import Lifecycle

        return isinstance(item, Lifecycle)

    @property
    def done(self) -> bool:
        return self.count is not None and self.written >= self.count

    def render(self, item: Any) -> bytes | None:
        """The stdout line for ``item`` (without the newline), or None to print nothing."""
        import orjson

        from rcstream.models import Notification
        from rcstream.models.lifecycle import Lifecycle
        from rcstream.webhooks.cloudevents import CloudEvent, compact_json

        if isinstance(item, Lifecycle):
            if not self.lifecycle:
                return None
            record = item.model_dump(mode="json")
            if self.format == "json":
                return orjson.dumps(record)
            from rcstream.cli.output import format_lifecycle

            return format_lifecycle(record, color=self.color).encode("utf-8", "backslashreplace")
        if isinstance(item, CloudEvent):
            if self.format == "json":
                return compact_json(item.raw) if item.raw else orjson.dumps(item.to_wire())
            return _pretty_cloudevent(item).encode("utf-8", "backslashreplace")
        wire = item.to_wire() if isinstance(item, Notification) else item
        if self.format == "json":
            from rcstream.cli.output import Output

            try:
                # listen's encoder: slower exact fallbacks for what orjson refuses
                # (nesting past ~250 levels, integers past 64 bits, lone surrogates)
                return Output.json_bytes(wire)
            except ValueError:
                logger.warning(
                    "Skipped notification %s: it is nested too deeply to write as JSON.",
                    _clean(wire.get("uuid", "?") if isinstance(wire, dict) else "?"),
                )
                return None
        from rcstream.cli.output import format_pretty

        return format_pretty(wire, color=self.color).encode("utf-8", "backslashreplace")


class _LineWriter:
    """Writes stdout lines from a daemon thread, so a slow or stalled reader of stdout
    never blocks the event loop: the receiver keeps answering while :meth:`write` waits.

    Found by review (``webhook serve`` into an unread pipe stopped answering HTTP after
    ~64 KB, and ignored SIGTERM). The thread is a daemon so that a write stuck on a full
    pipe cannot hold up the process's exit.
    """

    def __init__(self, out: IO[bytes]) -> None:
        import queue
        import threading

        self._out = out
        self._jobs: queue.SimpleQueue[tuple[bytes, Any] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="rcstream-stdout", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            data, done = job
            if not done.set_running_or_notify_cancel():
                continue
            try:
                self._out.write(data + b"\n")
                self._out.flush()
            except BaseException as exc:  # handed to the awaiting coroutine
                done.set_exception(exc)
            else:
                done.set_result(None)

    async def write(self, data: bytes) -> None:
        """Write one line and flush; returns once it is written. Raises what the write
        raised (BrokenPipeError when stdout closed)."""
        import asyncio
        import concurrent.futures

        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._jobs.put((data, done))
        await asyncio.wrap_future(done)

    def close(self) -> None:
        """Let the thread end after the lines already handed to it."""
        self._jobs.put(None)


def _clean(text: Any, limit: int = 80) -> str:
    value = "".join(c if c.isprintable() else "?" for c in str(text))
    return value[:limit]


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


async def _pump(
    source: AsyncIterator[Any], printer: _Printer, receiver: _HttpReceiver[Any] | None = None
) -> int:
    """Print items until ``-n`` is reached, ``--timeout`` passes, or the source ends.

    On the way out (also on Ctrl-C/SIGTERM) ``receiver`` is closed at once, so nothing more
    is acknowledged that will not be printed (VCC then retries later; RingCentral gets
    connection refused), and any event that was acknowledged but not printed is counted
    in a WARNING, since the sender will not send it again.
    """
    import asyncio

    writer = _LineWriter(printer.out)
    unprinted = 0  # an event taken from the receiver whose line is not yet written
    try:
        async with asyncio.timeout(printer.timeout):
            async for item in source:
                line = printer.render(item)
                if line is None:
                    continue
                event = not printer.is_lifecycle(item)
                unprinted = int(event)
                # waits for stdout in the writer thread, not on the loop: while stdout is
                # slow the receiver keeps answering and its bounded queue takes the strain
                await writer.write(line)
                unprinted = 0
                if event:
                    printer.written += 1
                if printer.done:
                    break
    except TimeoutError:
        pass
    finally:
        writer.close()
        if receiver is not None:
            await receiver.aclose()
            left = receiver.pending + unprinted
            if left:
                logger.warning(
                    "%d acknowledged events not printed: they arrived before the command "
                    "stopped, and the sender will not deliver them again.",
                    left,
                )
    return EXIT_OK


_cli_log = logging.getLogger("rcstream.cli")


def _status(message: str) -> None:
    """A status line on stderr (through the CLI's logging: ``-q`` silences it)."""
    _cli_log.info("%s", message)


def _queue_size(args: argparse.Namespace, default: int) -> int:
    """The receiver's ``queue_size``: ``--queue-size`` when given, else ``default``."""
    size = getattr(args, "queue_size", None)
    if size is None:
        return default
    if size < 1:
        raise UsageError("--queue-size must be at least 1.")
    return int(size)


def _rc_filters(args: argparse.Namespace) -> list[str]:
    """``-e``/``-f`` read exactly as ``rcstream listen`` reads them (the same flags)."""
    from rcstream.cli.listen import _filters_from_args

    result = _filters_from_args(args)
    if not result:
        raise ConfigurationError(
            "There is nothing to listen to; pass -e NAMES (e.g. -e telephony) or -f FILTER."
        )
    return result


# ----------------------------------------------------------------------------- RingCentral


async def webhook_listen(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    options: ClientOptions | None = None,
) -> int:
    """``rcstream webhook listen``: create, serve, renew and delete a WebHook subscription."""
    from rcstream.client import Client
    from rcstream.webhooks.ringcentral import listen

    filters = _rc_filters(args)
    printer = _Printer(args)
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
            queue_size=_queue_size(args, 10_000),
        ) as stream,
    ):
        _status(
            f"webhook subscription {stream.subscription.id} is live: {args.address} -> "
            f"{stream.receiver.url}"
        )
        return await _pump(stream, printer, stream.receiver)


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
        queue_size=_queue_size(args, 10_000),
    ) as rx:
        _status(f"receiving RingCentral webhooks on {rx.url}")
        return await _pump(rx, printer, rx)


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
        secret=Secret(secret),
        host=args.host,
        port=args.port,
        path=args.path,
        queue_size=_queue_size(args, 1000),
    ) as rx:
        _status(f"receiving VCC webhooks on {rx.url}")
        return await _pump(rx, printer, rx)


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

    events = [e.strip() for e in args.events.split(",") if e.strip()]
    if not events:
        raise ConfigurationError("Pass --events, e.g. --events 'channel.*,agent.*'.")
    printer = _Printer(args)
    secret = Secret(new_secret(32))
    name = args.name or f"rcstream-{_secrets.token_hex(4)}"
    async with (
        _vcc_client(env) as api,
        VccReceiver(
            secret=secret,
            host=args.host,
            port=args.port,
            path=args.path,
            queue_size=_queue_size(args, 1000),
        ) as rx,
    ):
        sub = await api.create_subscription(
            name=name, url=args.address, events=events, secret=secret
        )
        try:
            _status(
                f"VCC subscription {sub.id} ({name}) created for {args.address}; VCC applies "
                "changes within 30 s, so events start within 30 s"
            )

            live = asyncio.Event()

            async def after_apply_time() -> None:
                await asyncio.sleep(apply_wait)
                if not live.is_set():
                    live.set()
                    _status(
                        f"VCC subscription {sub.id} is live ({apply_wait:g} s apply time "
                        "passed; no event yet)"
                    )

            async def announced() -> AsyncIterator[CloudEvent]:
                async for event in rx:
                    if not live.is_set():
                        live.set()
                        _status(f"VCC subscription {sub.id} is live (first verified event)")
                    yield event

            timer = asyncio.create_task(after_apply_time())
            try:
                return await _pump(announced(), printer, rx)
            finally:
                timer.cancel()
        finally:
            try:
                await api.delete_subscription(sub.id)
            except RCStreamError as exc:
                # VCC subscriptions do not expire: say how to remove this one
                logger.warning(
                    "Could not delete VCC subscription %s on exit (%s); it stays until "
                    "deleted: rcstream vcc subscriptions delete %s",
                    sub.id,
                    exc,
                    sub.id,
                )
            else:
                _status(f"deleted VCC subscription {sub.id}")


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
