"""``rcstream listen``: subscribe and write each event to stdout.

Everything runs inside one ``asyncio.run``. SIGINT and SIGTERM cancel the work task: the
subscriptions are deleted and the client closed on the way out (a second signal exits at
once), and the command returns 130. Nothing is printed to stdout but events (and, with
``--lifecycle``, lifecycle records).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcstream.cli._args import Formatter, add_filter_options, add_output_options, header
from rcstream.cli._run import (
    EXIT_OK,
    EXIT_USAGE,
    RESTART_HINT,
    client_options,
    env_number,
    one_sentence,
    run_async,
)
from rcstream.cli.output import (
    Output,
    choose_format,
    count_of,
    format_lifecycle,
    format_pretty,
    silence_stdout,
)
from rcstream.exceptions import AuthenticationError, ConfigurationError, StreamClosedError

if TYPE_CHECKING:
    import asyncio

    from rcstream.cli._args import Common, SubParsers
    from rcstream.client import Client, ClientOptions

__all__ = [
    "FILTERS_PER_SUBSCRIPTION",
    "add_parser",
    "extension_ids",
    "listen",
    "presence_filters",
    "run",
]

_log = logging.getLogger("rcstream.cli")

#: Event filters per subscription before ``--all-extensions`` opens another connection.
#: The platform documents no limit; this keeps each subscription request a sane size.
FILTERS_PER_SUBSCRIPTION = 1000

_EPILOG = """\
stdout carries data only: one JSON object per notification per line, exactly as received
(uuid, event, timestamp, subscriptionId, ownerId, body), flushed per line. Status lines,
reconnects, recoveries and gaps go to stderr (-q silences them, -v adds detail). With
--lifecycle, lifecycle records are written to stdout too, as JSON lines with a "type"
field ("connected", "disconnected", "reconnecting" once per failed attempt while down,
"gap") so a pipeline can act on a gap.

Note: -f is --filter here (an event filter), not --forward-to as in `stripe listen`;
forwarding is --forward-to URL.

examples:
  rcstream listen -e telephony                   call events, JSON lines
  rcstream listen -e sms,voicemail --format pretty
  rcstream listen -f /restapi/v1.0/account/~/extension/~/presence?detailedTelephonyState=true
  rcstream listen -e sms -n 1 | jq -r .body.subject    wait for one SMS, print its text
  rcstream listen --all-extensions presence --lifecycle | jq 'select(.type == "gap")'
  rcstream listen -e sms --forward-to http://localhost:8000/hook -H 'X-Secret: s3cr3t'
  rcstream listen --env-file sandbox.env --timeout 1m -e presence

exit codes: 0 done (--count/--timeout reached, or stdout closed), 2 usage/configuration
(including a request refused for good, e.g. an invalid filter),
3 authentication or permission (fix credentials; do not restart), 4 the stream gave up
after --max-attempts (a supervisor should restart), 130 interrupted.
"""


def add_parser(sub: SubParsers, common: Common) -> None:
    """Define ``rcstream listen``."""
    listen_p = sub.add_parser(
        "listen",
        help="stream events to stdout",
        description="Subscribe to RingCentral events and write each one to stdout.",
        epilog=_EPILOG,
        formatter_class=Formatter,
        parents=[common.verbosity, common.credentials],
    )
    what = listen_p.add_argument_group("what to listen to (combine freely)")
    add_filter_options(what)
    what.add_argument(
        "--all-extensions",
        choices=("presence",),
        metavar="presence",
        help="list every extension of the account and subscribe to each one's presence "
        "(split over several connections on one login when above the per-subscription "
        "filter limit)",
    )
    what.add_argument(
        "--strict",
        action="store_true",
        help="refuse filters that match no known event family (default: warn, with a suggestion)",
    )
    add_output_options(listen_p, default_format=None)
    fwd = listen_p.add_argument_group("forwarding")
    fwd.add_argument(
        "--forward-to",
        metavar="URL",
        help="also POST each notification as JSON to URL; `--> event` and `<-- status` "
        "lines go to stderr",
    )
    fwd.add_argument(
        "-H",
        "--header",
        dest="headers",
        action="append",
        default=[],
        type=header,
        metavar="'NAME: VALUE'",
        help="extra header for --forward-to (repeatable; needs --forward-to)",
    )
    durable = listen_p.add_argument_group("restarts")
    durable.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="resume where the last run with this PATH stopped: the OAuth session, the "
        "gateway session and the events not yet written are kept in PATH (mode 0600; it "
        "holds a refresh token). Progress is saved after lines are written; see "
        "docs/restarts.md",
    )
    listen_p.set_defaults(run=run, check_usage=_check_usage)


def _check_usage(args: argparse.Namespace) -> int | None:
    """Flag combinations argparse cannot express; an exit code, or ``None`` when fine."""
    if args.headers and args.forward_to is None:
        sys.stderr.write(
            "rcstream listen: error: -H/--header only applies to --forward-to; add "
            "--forward-to URL or drop -H; see `rcstream listen --help`.\n"
        )
        return EXIT_USAGE
    if getattr(args, "checkpoint", None) == "":
        sys.stderr.write(
            "rcstream listen: error: --checkpoint needs a file path, not an empty string; "
            "give it the path of the checkpoint file, or drop --checkpoint.\n"
        )
        return EXIT_USAGE
    if getattr(args, "checkpoint", None) and args.all_extensions is not None:
        sys.stderr.write(
            "rcstream listen: error: --checkpoint cannot be combined with --all-extensions "
            "(that spreads over several sessions, one checkpoint holds one); run one "
            "`rcstream listen --checkpoint` per filter set instead.\n"
        )
        return EXIT_USAGE
    return None


# ----------------------------------------------------------------------------- filters


def _filters_from_args(args: argparse.Namespace) -> list[str]:
    """The filters of ``-e`` and ``-f``, in order, without duplicates.

    Preset names are case-insensitive; an unknown one is refused with a "did you mean".
    A ``-f`` filter whose path matches no event family rcstream knows is most often a typo
    (``…/presense`` is accepted by nothing and listens forever): it gets a warning with a
    suggestion, or is refused under ``--strict``. Without ``--strict`` it is still used, as
    the platform has valid filters rcstream has no model for.
    """
    from rcstream import filters as filters_mod

    names: list[str] = []
    for chunk in args.events:
        names.extend(n.strip().lower() for n in chunk.split(",") if n.strip())
    result: list[str] = []
    if names:
        if "help" in names or "list" in names:
            lines = [f"  {name:<18} {' '.join(fs)}" for name, fs in filters_mod.PRESETS.items()]
            sys.stdout.write("presets for -e/--events:\n" + "\n".join(lines) + "\n")
            raise SystemExit(0)
        for name in names:
            if name not in filters_mod.PRESETS:
                guess = filters_mod.suggest_preset(name)
                hint = f"did you mean {guess!r}? " if guess else ""
                raise ConfigurationError(
                    f"Unknown event preset {name!r}; {hint}`rcstream listen -e help` lists "
                    "them all."
                )
        result.extend(filters_mod.preset(names))
    for raw in args.filters:
        checked = filters_mod.validate_filter(raw)
        if not filters_mod.is_known_family(checked):
            guess = filters_mod.suggest_filter(checked)
            hint = f"did you mean {guess!r}?" if guess else "check it for a typo."
            if getattr(args, "strict", False):
                raise ConfigurationError(
                    f"The filter {checked!r} matches no event family rcstream knows; {hint} "
                    "(drop --strict to use it anyway)"
                )
            _log.warning(
                "The filter %r matches no event family rcstream knows, so it may never "
                "deliver anything; %s (--strict refuses such filters)",
                checked,
                hint,
            )
        result.append(checked)
    # Keep the order, drop duplicates.
    return list(dict.fromkeys(result))


# ----------------------------------------------------------------------------- REST helpers


async def extension_ids(client: Client, *, page_size: int = 1000) -> list[str]:
    """Every extension id of the account, following the REST pagination to the end."""
    ids: list[str] = []
    page = 1
    while True:
        resp = await client.rest(
            "GET",
            "/restapi/v1.0/account/~/extension",
            query={"page": str(page), "perPage": str(page_size)},
        )
        body = resp.body if isinstance(resp.body, dict) else {}
        records = body.get("records") or []
        ids.extend(str(r["id"]) for r in records if isinstance(r, dict) and "id" in r)
        navigation = body.get("navigation") or {}
        paging = body.get("paging") or {}
        total_pages = paging.get("totalPages")
        more = bool(navigation.get("nextPage")) or (
            isinstance(total_pages, int) and page < total_pages
        )
        if not records or not more:
            break
        page += 1
    return list(dict.fromkeys(ids))


def presence_filters(ids: Sequence[str]) -> list[str]:
    """One presence filter per extension id."""
    return [f"/restapi/v1.0/account/~/extension/{i}/presence" for i in ids]


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# ----------------------------------------------------------------------------- forwarding


# ----------------------------------------------------------------------------- listening


# ----------------------------------------------------------------------------- listening


@dataclasses.dataclass
class _Failure:
    exc: BaseException


@dataclasses.dataclass
class _Ended:
    pass


class _Writer:
    """Renders notifications and lifecycle items to stdout in the chosen format."""

    def __init__(self, fmt: str, *, color: bool, output: Output) -> None:
        self.fmt = fmt
        self.color = color
        self.output = output

    def notification(self, wire: Mapping[str, Any], *, flush: bool = True) -> bytes | None:
        """Write one notification; return its JSON bytes when that is what was written.

        ``flush=False`` when the caller already holds the next item: the lines of a burst
        then leave in one write instead of one system call each.
        """
        if self.fmt == "json":
            data = Output.json_bytes(wire)
            self.output.write_bytes(data, flush=flush)
            return data
        self.output.write_line(format_pretty(wire, color=self.color))
        return None

    def lifecycle(self, record: Mapping[str, Any]) -> None:
        if self.fmt == "json":
            self.output.write_bytes(Output.json_bytes(record))
        else:
            self.output.write_line(format_lifecycle(record, color=self.color))


def _is_lifecycle(item: object) -> bool:
    from rcstream.models.lifecycle import Lifecycle

    return isinstance(item, Lifecycle)


async def _produce(
    client: Client,
    filters: list[str],
    queue: asyncio.Queue[object],
    *,
    lifecycle: bool,
    ready: asyncio.Event,
    own_client: bool,
    cleanup: _Cleanup,
) -> None:
    """Feed one subscription's items into ``queue``; failures are queued, not raised."""
    import asyncio

    try:
        async with contextlib.AsyncExitStack() as stack:
            if own_client:
                stack.callback(cleanup.collect, client)  # runs after the client closed
                await stack.enter_async_context(client)
            events = await stack.enter_async_context(
                client.subscribe(filters, lifecycle=lifecycle, raw=True)
            )
            ready.set()
            async for item in events:
                await queue.put(item)
        await queue.put(_Ended())
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await queue.put(_Failure(exc))


async def listen(
    *,
    env: Mapping[str, str],
    filters: Sequence[str],
    all_extensions: str | None = None,
    fmt: str = "json",
    color: bool = False,
    count: int | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the --timeout flag, applied with asyncio.timeout
    lifecycle: bool = False,
    forward_to: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    forward_timeout: float = 5.0,
    options: ClientOptions | None = None,
    output: Output | None = None,
    filters_per_subscription: int = FILTERS_PER_SUBSCRIPTION,
    page_size: int = 1000,
    after_first: Callable[[], None] | None = None,
    checkpoint: str | None = None,
) -> int:
    """The body of ``rcstream listen``; returns the exit code, raises RCStreamError subclasses.

    Subscriptions are confirmed before the "listening" line goes to stderr, so that line
    never lies. Leaving (count reached, timeout, stdout closed, cancellation) deletes every
    subscription and closes the client. With ``checkpoint`` (a file path) the session and
    the subscription are kept on the way out instead, progress is acknowledged after each
    line reaches stdout, and events received but not written are kept for the next run.
    """
    import asyncio
    import gc

    from rcstream import Client
    from rcstream.checkpoint import CheckpointError

    # The imports above built ~100k long-lived objects (pydantic schemas, modules); move
    # them out of the collector's reach so full collections stop re-scanning them.
    gc.collect()
    gc.freeze()
    writer = _Writer(fmt, color=color, output=output or Output())
    store = None
    if checkpoint is not None:
        if all_extensions is not None:
            raise ConfigurationError(
                "--checkpoint cannot be combined with --all-extensions; run one `rcstream "
                "listen --checkpoint` per filter set instead."
            )
        from rcstream.checkpoint import FileCheckpoint

    client = Client.from_env(env, options=options)
    if checkpoint is not None:
        # a checkpoint of another app or server is set aside as PATH.corrupt (a gap), so
        # that its session is kept for whoever owns it
        app = getattr(client.auth, "client_id", None)
        store = FileCheckpoint(
            checkpoint, expect=(app, client.server_url) if isinstance(app, str) else None
        )
        client.checkpoint = store
    acknowledge: Callable[[object], None] | None = None
    written = 0
    deadline = asyncio.timeout(timeout) if timeout is not None else None
    cleanup = _Cleanup()
    try:
        async with contextlib.AsyncExitStack() as stack:
            if deadline is not None:
                await stack.enter_async_context(deadline)
            stack.callback(cleanup.collect, client)  # runs after the client closed
            await stack.enter_async_context(client)
            all_filters = list(filters)
            if all_extensions == "presence":
                ids = await extension_ids(client, page_size=page_size)
                _log.info(
                    "Found %s; subscribing to each one's presence.", count_of(len(ids), "extension")
                )
                all_filters.extend(presence_filters(ids))
                all_filters = list(dict.fromkeys(all_filters))
            if not all_filters:
                raise ConfigurationError(
                    "There is nothing to listen to; pass -e NAMES (e.g. -e telephony), "
                    "-f FILTER or --all-extensions presence."
                )
            forwarder = None
            if forward_to is not None:
                from rcstream.cli.forward import Forwarder

                forwarder = await stack.enter_async_context(
                    Forwarder(forward_to, headers, timeout=forward_timeout)
                )
            chunks = _chunks(all_filters, max(1, filters_per_subscription))
            if store is not None and len(chunks) > 1:
                raise ConfigurationError(
                    f"--checkpoint holds one subscription of at most {filters_per_subscription} "
                    f"event filters and {len(all_filters)} were given; split them over several "
                    "`rcstream listen --checkpoint` commands."
                )

            async def emit(item: object, more: bool = False) -> bool:
                """Write one item; True once ``--count`` is reached.

                ``more``: the next item is already buffered, so this line may wait in the
                output buffer for it (a line is never held while rcstream waits for events).
                """
                nonlocal written
                if type(item) is not dict and _is_lifecycle(item):
                    writer.lifecycle(item.model_dump(mode="json"))  # type: ignore[attr-defined]
                    return False
                wire: Mapping[str, Any] = item  # type: ignore[assignment]  # raw=True
                last = count is not None and written + 1 >= count
                try:
                    # the forwarded JSON first: an event no writer accepts is skipped
                    # before anything of it reaches stdout, in either format
                    data = (
                        Output.json_bytes(wire)
                        if forwarder is not None and writer.fmt != "json"
                        else None
                    )
                    flush = not more or last or forwarder is not None
                    written_json = writer.notification(wire, flush=flush)
                    data = written_json if written_json is not None else data
                except ValueError as exc:  # hostile nesting no JSON writer accepts
                    writer.output.flush()
                    _log.warning("Skipped notification %s: %s.", wire.get("uuid"), exc)
                    return False
                written += 1
                if written == 1 and after_first is not None:
                    after_first()
                if forwarder is not None:
                    assert data is not None
                    await forwarder.forward(
                        data, event=str(wire.get("event", "")), uuid=str(wire.get("uuid", ""))
                    )
                if acknowledge is not None and (flush or writer.fmt != "json"):
                    # on stdout now (acks are cumulative): progress. A refused or failed
                    # forward is acknowledged too: the checkpoint covers stdout, not the
                    # forward target (docs/restarts.md)
                    acknowledge(wire)
                return last

            if len(chunks) == 1:
                # one connection: iterate the subscription directly (no queue hop)
                events = await stack.enter_async_context(
                    client.subscribe(
                        chunks[0],
                        lifecycle=lifecycle,
                        raw=True,
                        ack="manual" if store is not None else "auto",
                    )
                )
                if store is not None:
                    acknowledge = events.ack
                if after_first is None:
                    _log.info(
                        "Listening for %s; press Ctrl-C to stop.",
                        count_of(len(all_filters), "event filter"),
                    )
                async for item in events:
                    if await emit(item, events.buffered > 0):
                        return EXIT_OK
                raise StreamClosedError(
                    "The event stream ended unexpectedly; restart rcstream listen."
                )
            queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1024)
            readies = [asyncio.Event() for _ in chunks]
            # The client keeps one server subscription per connection, so each chunk of
            # filters beyond the first gets a fork: its own socket and subscription on the
            # same login (one OAuth session; a wstoken per connection, paced through the
            # shared Auth budget). Each fork recovers and reports its own gaps.
            producers = [
                asyncio.ensure_future(
                    _produce(
                        client if i == 0 else client.fork(),
                        chunk,
                        queue,
                        lifecycle=lifecycle,
                        ready=ready,
                        own_client=i > 0,
                        cleanup=cleanup,
                    )
                )
                for i, (chunk, ready) in enumerate(zip(chunks, readies, strict=True))
            ]
            announce = _Announcer(readies, len(all_filters), len(chunks))
            announcer = asyncio.ensure_future(announce.wait())
            stack.push_async_callback(_stop, [*producers, announcer])
            while True:
                item = await queue.get()
                announce.now_if_ready()
                if isinstance(item, _Failure):
                    raise item.exc
                if isinstance(item, _Ended):
                    raise StreamClosedError(
                        "The event stream ended unexpectedly; restart rcstream listen."
                    )
                if await emit(item, not queue.empty()):
                    return EXIT_OK
    except TimeoutError:
        if deadline is not None and deadline.expired():
            _log.info("Timeout of %g s reached after %s.", timeout, count_of(written, "event"))
            return EXIT_OK
        raise
    except BrokenPipeError:
        silence_stdout()
        return EXIT_OK
    except CheckpointError as exc:
        # locked, unreadable or changed by someone else: restarting cannot fix it, so it is
        # a usage error (exit 2), which supervisors do not restart in a loop
        raise ConfigurationError(one_sentence(exc)) from exc
    except AuthenticationError as exc:
        from rcstream.auth import LoginRefusedError

        # A login with credentials that worked earlier in this run was refused: the server
        # changed (most often a restarted `rcstream emulator`); say so instead of only
        # "invalid". Not for a caller-supplied token that expired (review 8).
        if isinstance(exc, LoginRefusedError) and client.stats.connects > 0:
            raise AuthenticationError(
                f"{one_sentence(exc).rstrip(' .')} — {RESTART_HINT}."
            ) from exc
        raise
    finally:
        with contextlib.suppress(OSError, ValueError):
            writer.output.flush()  # a burst cut short by an error or Ctrl-C
        cleanup.report()


class _Cleanup:
    """Collects the subscriptions the clients could not confirm deleting on the way out
    (:attr:`rcstream.Client.unconfirmed_deletions`, e.g. over a half-open link) and names
    them in one warning."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def collect(self, client: Client) -> None:
        """Call once ``client`` is closed."""
        self.ids.extend(client.unconfirmed_deletions)

    def report(self) -> None:
        left = list(dict.fromkeys(self.ids))
        if not left:
            return
        _log.warning(
            "Could not confirm that subscription %s was deleted on exit (the server did not "
            "answer in time); it ends with the session, or delete it now with "
            "`rcstream subscriptions delete %s`.",
            ", ".join(left),
            left[0] if len(left) == 1 else "ID",
        )


class _Announcer:
    """Says "listening" on stderr once every subscription is confirmed, never before."""

    def __init__(self, readies: list[asyncio.Event], filters: int, connections: int) -> None:
        self._readies = readies
        self._filters = filters
        self._connections = connections
        self._done = False

    async def wait(self) -> None:
        for ready in self._readies:
            await ready.wait()
        self.now_if_ready()

    def now_if_ready(self) -> None:
        if self._done or not all(r.is_set() for r in self._readies):
            return
        self._done = True
        _log.info(
            "Listening for %s%s; press Ctrl-C to stop.",
            count_of(self._filters, "event filter"),
            f" on {self._connections} connections" if self._connections > 1 else "",
        )


async def _stop(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel the producers and wait for their subscriptions to be deleted."""
    import asyncio

    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def run(args: argparse.Namespace) -> int:
    """``rcstream listen``: validate everything synchronously, then stream."""
    from rcstream.cli.env import load_environment
    from rcstream.cli.forward import validate_forward_url

    env = load_environment(
        env_file=args.env_file, server=args.server, access_token_file=args.access_token_file
    )
    filters = _filters_from_args(args)
    if not filters and args.all_extensions is None:
        raise ConfigurationError(
            "There is nothing to listen to; pass -e NAMES (e.g. -e telephony), -f FILTER "
            "or --all-extensions presence."
        )
    forward_to = validate_forward_url(args.forward_to) if args.forward_to is not None else None
    forward_timeout = (
        env_number("RCSTREAM_FORWARD_TIMEOUT", float, minimum=0.001, unit="seconds") or 5.0
    )
    options = client_options(args)
    fmt, color = choose_format(args.format, no_color=args.no_color)
    per_sub = (
        env_number("RCSTREAM_FILTERS_PER_SUBSCRIPTION", int, minimum=1, unit="a count")
        or FILTERS_PER_SUBSCRIPTION
    )
    page_size = env_number("RCSTREAM_PAGE_SIZE", int, minimum=1, unit="a count") or 1000
    return run_async(
        lambda: listen(
            env=env,
            filters=filters,
            all_extensions=args.all_extensions,
            fmt=fmt,
            color=color,
            count=args.count,
            timeout=args.timeout,
            lifecycle=args.lifecycle,
            forward_to=forward_to,
            headers=args.headers,
            forward_timeout=forward_timeout,
            options=options,
            filters_per_subscription=per_sub,
            page_size=page_size,
            checkpoint=args.checkpoint,
        ),
        **({"stopping": "saving the checkpoint and closing"} if args.checkpoint else {}),
    )
