"""``rcstream listen``, ``rcstream demo`` and ``rcstream emulator``.

Everything here runs inside one ``asyncio.run``. SIGINT and SIGTERM cancel the work task:
the subscriptions are deleted and the client closed on the way out (a second signal exits
at once), and the command returns 130. Nothing is printed to stdout but events (and, with
``--lifecycle``, lifecycle records).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rcstream._cli_env import load_environment
from rcstream._cli_output import (
    Output,
    family_of,
    format_lifecycle,
    format_pretty,
    silence_stdout,
    strip_controls,
    use_color,
)
from rcstream.exceptions import ConfigurationError, StreamClosedError

if TYPE_CHECKING:
    import aiohttp

    from rcstream.client import Client, ClientOptions

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "FILTERS_PER_SUBSCRIPTION",
    "client_options",
    "run_async",
    "run_demo",
    "run_emulator",
    "run_listen",
]

_log = logging.getLogger("rcstream.cli")
_fwd_log = logging.getLogger("rcstream.cli.forward")

#: Consecutive failed connection attempts before ``listen`` gives up (exit code 4).
DEFAULT_MAX_ATTEMPTS = 10

#: Event filters per subscription before ``--all-extensions`` opens another connection.
#: The platform documents no limit; this keeps each subscription request a sane size.
FILTERS_PER_SUBSCRIPTION = 1000

_EXIT_OK = 0
_EXIT_STREAM = 4
_EXIT_INTERRUPTED = 130


# ----------------------------------------------------------------------------- running


def run_async(
    main: Callable[[], Awaitable[int]], *, stopping: str = "deleting the subscription and closing"
) -> int:
    """Run ``main()`` in a fresh event loop; SIGINT/SIGTERM cancel it and give 130.

    The first signal cancels the work, so ``async with`` blocks clean up (the subscription
    is deleted, sockets are closed). A second signal exits immediately.
    """

    async def runner() -> int:
        loop = asyncio.get_running_loop()
        work = asyncio.ensure_future(main())
        interrupted = False

        def on_signal(signum: int) -> None:
            nonlocal interrupted
            if interrupted:
                os._exit(_EXIT_INTERRUPTED)
            interrupted = True
            _log.info(
                "%s received; %s (repeat to quit at once).", signal.Signals(signum).name, stopping
            )
            work.cancel()

        installed: list[tuple[signal.Signals, Any]] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            try:
                loop.add_signal_handler(signum, on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append((signum, previous))
        try:
            return await work
        except BaseException:
            if interrupted:
                return _EXIT_INTERRUPTED
            raise
        finally:
            for signum, previous in installed:
                loop.remove_signal_handler(signum)
                # Back to the handler from before (main()'s SIGTERM -> KeyboardInterrupt),
                # not to the default that would kill the process with 143 while it exits.
                if previous is not None:
                    with contextlib.suppress(ValueError, OSError, TypeError):
                        signal.signal(signum, previous)

    return asyncio.run(runner())


# ----------------------------------------------------------------------------- options


def _env_float(environ: Mapping[str, str], name: str) -> float | None:
    raw = environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number; set it to seconds.") from None


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{name}={raw!r} is not a positive whole number; fix or unset it.")
    return value


def client_options(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Any:
    """Build :class:`rcstream.ClientOptions` from the flags and ``RCSTREAM_*`` variables.

    ``--max-attempts`` (or ``RCSTREAM_MAX_ATTEMPTS``) defaults to
    :data:`DEFAULT_MAX_ATTEMPTS`; 0 means retry forever. ``RCSTREAM_AUTH_RATE_LIMIT`` sets
    the client-side limit of token + wstoken calls per minute (default 5; 0 turns it off).
    The hidden float flags (``--backoff-base`` ...) and their ``RCSTREAM_BACKOFF_BASE``-style
    variables are passed on when ``ClientOptions`` has a field of that name.
    """
    from rcstream import ClientOptions

    env = os.environ if environ is None else environ
    fields = {f.name for f in dataclasses.fields(ClientOptions)}
    kwargs: dict[str, Any] = {}
    attempts = getattr(args, "max_attempts", None)
    if attempts is None:
        raw = env.get("RCSTREAM_MAX_ATTEMPTS")
        if raw:
            try:
                attempts = int(raw)
            except ValueError:
                raise ConfigurationError(
                    f"RCSTREAM_MAX_ATTEMPTS={raw!r} is not a whole number; set it to a count."
                ) from None
        else:
            attempts = DEFAULT_MAX_ATTEMPTS
    if "max_attempts" in fields:
        kwargs["max_attempts"] = attempts or None
    raw_limit = env.get("RCSTREAM_AUTH_RATE_LIMIT")
    if raw_limit:
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ConfigurationError(
                f"RCSTREAM_AUTH_RATE_LIMIT={raw_limit!r} is not a whole number; set it to "
                "the token + wstoken calls allowed per minute (0: no client-side limit)."
            ) from None
        kwargs["auth_rate_limit"] = limit or None
    for name in (
        "backoff_base",
        "backoff_cap",
        "connect_timeout",
        "request_timeout",
        "heartbeat_interval",
        "heartbeat_timeout",
        "close_timeout",
    ):
        value = getattr(args, name, None)
        if value is None:
            value = _env_float(env, "RCSTREAM_" + name.upper())
        if value is not None and name in fields:
            kwargs[name] = value
    return ClientOptions(**kwargs)


def _filters_from_args(args: argparse.Namespace) -> list[str]:
    from rcstream import filters as filters_mod

    names: list[str] = []
    for chunk in args.events:
        names.extend(n.strip() for n in chunk.split(",") if n.strip())
    result: list[str] = []
    if names:
        if "help" in names or "list" in names:
            lines = [f"  {name:<18} {' '.join(fs)}" for name, fs in filters_mod.PRESETS.items()]
            sys.stdout.write("presets for -e/--events:\n" + "\n".join(lines) + "\n")
            raise SystemExit(0)
        result.extend(filters_mod.preset(names))
    for raw in args.filters:
        validate = getattr(filters_mod, "validate_filter", None)
        result.append(validate(raw) if validate is not None else raw)
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


def validate_forward_url(url: str) -> str:
    """Check a ``--forward-to`` URL up front: http(s), with a host and a valid port."""
    from urllib.parse import urlsplit

    fix = "pass a full URL such as http://localhost:8000/hook to --forward-to."
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise ConfigurationError(f"The --forward-to URL {url!r} is not valid; {fix}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigurationError(
            f"The --forward-to URL {url!r} needs http:// or https:// and a host; {fix}"
        )
    return url.strip()


class Forwarder:
    """POSTs each notification to a local URL, logging ``-->``/``<--`` lines on stderr.

    Only a connection that could not be opened (nothing was sent) is retried, ``retries``
    times with doubling delays from ``delay`` seconds. Once the request may have reached
    the receiver (a timeout, a dropped connection) it is never sent again, so the receiver
    sees no duplicates; each POST is bounded by ``timeout`` seconds in all. A delivery that
    fails is logged as a warning and skipped, so a stopped receiver never stops the stream.
    """

    def __init__(
        self,
        url: str,
        headers: Sequence[tuple[str, str]] = (),
        *,
        retries: int = 3,
        delay: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **dict(headers)}
        self._retries = retries
        self._delay = delay
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Forwarder:
        import aiohttp

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(self, data: bytes, *, event: str, uuid: str) -> int | None:
        """POST ``data`` (the JSON line's bytes, exactly as written to stdout); return the
        HTTP status, or ``None`` if it could not be delivered."""
        import aiohttp

        assert self._session is not None, "use 'async with Forwarder(...)'"
        event, uuid = strip_controls(event), strip_controls(uuid)
        _fwd_log.info("--> %s %s [%s]", family_of(event), event, uuid)
        delay = self._delay
        for attempt in range(self._retries + 1):
            try:
                async with self._session.post(self.url, data=data, headers=self.headers) as resp:
                    await resp.read()
                    _fwd_log.info("<-- [%d] POST %s [%s]", resp.status, self.url, uuid)
                    return resp.status
            except aiohttp.ClientConnectorError as exc:
                # No connection was made, so nothing was sent: safe to try again.
                if attempt < self._retries:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                self._give_up(uuid, type(exc).__name__, "is the receiver running?")
                return None
            except TimeoutError:
                self._give_up(
                    uuid,
                    f"no answer within {self._timeout:g} s",
                    "not retried, as the receiver may have got it; make it answer faster.",
                )
                return None
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                self._give_up(uuid, type(exc).__name__, "not retried; check the receiver.")
                return None
        return None  # pragma: no cover

    def _give_up(self, uuid: str, why: str, advice: str) -> None:
        _log.warning("Could not forward %s to %s (%s); %s", uuid, self.url, why, advice)


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
) -> int:
    """The body of ``rcstream listen``; returns the exit code, raises RCStreamError subclasses.

    Subscriptions are confirmed before the "listening" line goes to stderr, so that line
    never lies. Leaving (count reached, timeout, stdout closed, cancellation) deletes every
    subscription and closes the client.
    """
    import gc

    from rcstream import Client

    # The imports above built ~100k long-lived objects (pydantic schemas, modules); move
    # them out of the collector's reach so full collections stop re-scanning them.
    gc.collect()
    gc.freeze()
    writer = _Writer(fmt, color=color, output=output or Output())
    client = Client.from_env(env, options=options)
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
                _log.info("Found %d extensions; subscribing to each one's presence.", len(ids))
                all_filters.extend(presence_filters(ids))
                all_filters = list(dict.fromkeys(all_filters))
            if not all_filters:
                raise ConfigurationError(
                    "There is nothing to listen to; pass -e NAMES (e.g. -e telephony), "
                    "-f FILTER or --all-extensions presence."
                )
            forwarder = None
            if forward_to is not None:
                forwarder = await stack.enter_async_context(
                    Forwarder(forward_to, headers, timeout=forward_timeout)
                )
            chunks = _chunks(all_filters, max(1, filters_per_subscription))

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
                    written_json = writer.notification(
                        wire, flush=not more or last or forwarder is not None
                    )
                    data = written_json if written_json is not None else data
                except ValueError as exc:  # hostile nesting no JSON writer accepts
                    writer.output.flush()
                    _log.warning("Skipped notification %s: %s.", wire.get("uuid"), exc)
                    return False
                written += 1
                if forwarder is not None:
                    assert data is not None
                    await forwarder.forward(
                        data, event=str(wire.get("event", "")), uuid=str(wire.get("uuid", ""))
                    )
                return last

            if len(chunks) == 1:
                # one connection: iterate the subscription directly (no queue hop)
                events = await stack.enter_async_context(
                    client.subscribe(chunks[0], lifecycle=lifecycle, raw=True)
                )
                _log.info(
                    "Listening for %d event filter(s); press Ctrl-C to stop.", len(all_filters)
                )
                async for item in events:
                    if await emit(item, events.buffered > 0):
                        return _EXIT_OK
                raise StreamClosedError(
                    "The event stream ended unexpectedly; restart rcstream listen."
                )
            queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1024)
            readies = [asyncio.Event() for _ in chunks]
            # The client keeps one server subscription per connection, so each chunk of
            # filters beyond the first gets a client (a login and a socket) of its own.
            producers = [
                asyncio.ensure_future(
                    _produce(
                        client if i == 0 else Client.from_env(env, options=options),
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
                    return _EXIT_OK
    except TimeoutError:
        if deadline is not None and deadline.expired():
            _log.info("Timeout of %gs reached after %d event(s).", timeout, written)
            return _EXIT_OK
        raise
    except BrokenPipeError:
        silence_stdout()
        return _EXIT_OK
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
            "Listening for %d event filter(s)%s; press Ctrl-C to stop.",
            self._filters,
            f" on {self._connections} connections" if self._connections > 1 else "",
        )


async def _stop(tasks: Sequence[asyncio.Future[None]]) -> None:
    """Cancel the producers and wait for their subscriptions to be deleted."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _output_format(args: argparse.Namespace) -> tuple[str, bool]:
    fmt = args.format
    if fmt is None:
        try:
            fmt = "pretty" if sys.stdout.isatty() else "json"
        except (AttributeError, ValueError):
            fmt = "json"
    color = fmt == "pretty" and use_color(sys.stdout, no_color=args.no_color)
    return fmt, color


def run_listen(args: argparse.Namespace) -> int:
    """``rcstream listen``: validate everything synchronously, then stream."""
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
    forward_timeout = _env_float(os.environ, "RCSTREAM_FORWARD_TIMEOUT") or 5.0
    options = client_options(args)
    fmt, color = _output_format(args)
    per_sub = _env_int("RCSTREAM_FILTERS_PER_SUBSCRIPTION", FILTERS_PER_SUBSCRIPTION)
    page_size = _env_int("RCSTREAM_PAGE_SIZE", 1000)
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
        )
    )


# ----------------------------------------------------------------------------- demo


#: The demo's traffic mix: (family, weight). A "telephony-sessions" pick is a whole call
#: (Setup → Proceeding → Answered → Disconnected) whose events interleave with the rest.
DEMO_MIX: tuple[tuple[str, int], ...] = (
    ("telephony-sessions", 3),
    ("presence", 4),
    ("instant-sms", 3),
    ("message-store", 1),
    ("voicemail", 1),
    ("fax", 1),
    ("team-messaging-posts", 2),
)


async def demo_traffic(emu: Any, rate: float, *, seed: int | None = None) -> None:
    """Publish a steady, realistic mix of events on ``emu`` at about ``rate`` per second."""
    import random

    from rcstream.emulator import catalog

    rng = random.Random(seed)
    families = [f for f, _ in DEMO_MIX]
    weights = [w for _, w in DEMO_MIX]
    pending: list[tuple[str, dict[str, Any]]] = []
    while True:
        await asyncio.sleep(rng.expovariate(rate))
        if pending and rng.random() < 0.6:
            event, body = pending.pop(0)
            await emu.publish(event, body)
            continue
        family = rng.choices(families, weights)[0]
        if family == "telephony-sessions":
            pending.extend(
                catalog.telephony_call(
                    account_id=emu.account_id, extension_id=emu.extension_id, rng=rng
                )
            )
            event, body = pending.pop(0)
            await emu.publish(event, body)
        else:
            await emu.publish_generated(family)


def demo_filters() -> list[str]:
    """The event filters that receive every family of :data:`DEMO_MIX`."""
    from rcstream.emulator import catalog

    return [catalog.filter_for(f) for f, _ in DEMO_MIX]


async def _demo(args: argparse.Namespace, fmt: str, color: bool) -> int:
    from rcstream.emulator import Emulator

    async with Emulator(auth_rate_limit=None) as emu:
        _log.info(
            "Demo: a local emulator at %s publishes about %g events/s. "
            "Run `rcstream emulator` to point your own code at one.",
            emu.server_url,
            args.rate,
        )
        traffic = asyncio.ensure_future(demo_traffic(emu, args.rate))
        try:
            return await listen(
                env=emu.env(),
                filters=demo_filters(),
                fmt=fmt,
                color=color,
                count=args.count,
                timeout=args.timeout,
                lifecycle=args.lifecycle,
            )
        finally:
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic


def run_demo(args: argparse.Namespace) -> int:
    """``rcstream demo``: in-process emulator plus ``listen --format pretty``."""
    fmt = args.format or "pretty"
    color = fmt == "pretty" and use_color(sys.stdout, no_color=args.no_color)
    return run_async(lambda: _demo(args, fmt, color))


# ----------------------------------------------------------------------------- emulator


def run_emulator(args: argparse.Namespace) -> int:
    """``rcstream emulator``: serve until interrupted (exit 130 on Ctrl-C/SIGTERM).

    Prints the four ``RINGCENTRAL_*=…`` lines on stdout first. A port that cannot be bound
    is a configuration error (exit 2).
    """
    from rcstream.emulator import Emulator

    async def main() -> int:
        async with contextlib.AsyncExitStack() as stack:
            try:
                emu = await stack.enter_async_context(
                    Emulator(
                        port=args.port,
                        event_rate=args.rate,
                        auth_rate_limit=args.auth_rate_limit or None,
                    )
                )
            except OSError as exc:
                raise ConfigurationError(_port_problem(args.port, exc)) from None
            out = Output()
            for key, value in emu.env().items():
                out.write_line(f"{key}={value}")
            await asyncio.Event().wait()
        return _EXIT_OK  # pragma: no cover - only a signal ends it

    return run_async(main, stopping="shutting the emulator down")


def _port_problem(port: int, exc: OSError) -> str:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return f"Port {port} is in use; choose another --port (or 0 for a free one)."
    reason = exc.strerror or type(exc).__name__
    return f"Port {port} cannot be used ({reason}); choose another --port (or 0 for a free one)."
