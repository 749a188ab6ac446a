"""What the commands that receive webhook deliveries share: ``rcstream webhook listen|serve``
(:mod:`rcstream.cli.webhook`) and ``rcstream vcc serve|listen`` (:mod:`rcstream.cli.vcc`).

stdout carries only events, one JSON line each (``--format json``) or one readable line
(``--format pretty``); ``--lifecycle`` adds lifecycle records (``{"type": "gap", ...}``);
``-n N`` exits 0 after N events, ``--timeout D`` after D. Status and errors go to stderr.
:class:`Printer` renders each item, :class:`LineWriter` writes the lines from a thread of
its own and :func:`pump` moves items from a receiver to stdout until ``-n``/``--timeout``.
Imports at module level are light (argparse only), so ``rcstream --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import IO, TYPE_CHECKING, Any

from rcstream.cli._args import port
from rcstream.cli._run import EXIT_OK
from rcstream.cli.output import (
    Output,
    _own_buffer,
    choose_format,
    format_lifecycle,
    format_pretty,
)
from rcstream.exceptions import UsageError

if TYPE_CHECKING:
    from rcstream.webhooks._receiver import _HttpReceiver
    from rcstream.webhooks.cloudevents import CloudEvent

__all__ = [
    "LineWriter",
    "Printer",
    "add_receiver_options",
    "pump",
    "queue_size_of",
    "status",
]

_log = logging.getLogger("rcstream.cli")


# ----------------------------------------------------------------------------- arguments


def add_receiver_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port``, ``--path`` and ``--queue-size``."""
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


# ----------------------------------------------------------------------------- output


class Printer:
    """Writes events to stdout as lines and counts them; ``done`` after ``count``."""

    def __init__(self, args: argparse.Namespace, stream: IO[bytes] | None = None) -> None:
        if stream is None:
            with contextlib.suppress(AttributeError, ValueError, OSError):
                sys.stdout.flush()
            # a writer of our own on fd 1: the writer thread may be stuck in it at exit,
            # and Python's own sys.stdout must stay free for the interpreter to flush
            stream = _own_buffer(sys.stdout.buffer)
        self._out = stream
        # --format and --no-color read as `listen` reads them (the same flags)
        self.format, self.color = choose_format(
            getattr(args, "format", None), no_color=bool(getattr(args, "no_color", False))
        )
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
            return format_lifecycle(record, color=self.color).encode("utf-8", "backslashreplace")
        if isinstance(item, CloudEvent):
            if self.format == "json":
                return compact_json(item.raw) if item.raw else orjson.dumps(item.to_wire())
            return _pretty_cloudevent(item).encode("utf-8", "backslashreplace")
        wire = item.to_wire() if isinstance(item, Notification) else item
        if self.format == "json":
            try:
                # listen's encoder: slower exact fallbacks for what orjson refuses
                # (nesting past ~250 levels, integers past 64 bits, lone surrogates)
                return Output.json_bytes(wire)
            except ValueError:
                _log.warning(
                    "Skipped notification %s: it is nested too deeply to write as JSON.",
                    _clean(wire.get("uuid", "?") if isinstance(wire, dict) else "?"),
                )
                return None
        return format_pretty(wire, color=self.color).encode("utf-8", "backslashreplace")


class LineWriter:
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


async def pump(
    source: AsyncIterator[Any], printer: Printer, receiver: _HttpReceiver[Any] | None = None
) -> int:
    """Print items until ``-n`` is reached, ``--timeout`` passes, or the source ends.

    On the way out (also on Ctrl-C/SIGTERM) ``receiver`` is closed at once, so nothing more
    is acknowledged that will not be printed (VCC then retries later; RingCentral gets
    connection refused), and any event that was acknowledged but not printed is counted
    in a WARNING, since the sender will not send it again.
    """
    import asyncio

    writer = LineWriter(printer.out)
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
                _log.warning(
                    "%d acknowledged events not printed: they arrived before the command "
                    "stopped, and the sender will not deliver them again.",
                    left,
                )
    return EXIT_OK


def status(message: str) -> None:
    """A status line on stderr (through the CLI's logging: ``-q`` silences it)."""
    _log.info("%s", message)


def queue_size_of(args: argparse.Namespace, default: int) -> int:
    """The receiver's ``queue_size``: ``--queue-size`` when given, else ``default``."""
    size = getattr(args, "queue_size", None)
    if size is None:
        return default
    if size < 1:
        raise UsageError("--queue-size must be at least 1.")
    return int(size)
