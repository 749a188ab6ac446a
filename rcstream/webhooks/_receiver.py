"""The aiohttp server shell shared by the RingCentral and VCC receivers (internal).

A receiver binds one POST route, reads each request body under a size cap, hands it to the
subclass's ``_handle`` (which decides the status code and may enqueue an item), and serves
the queued items through ``async for``. Nothing starts in ``__init__``: the server runs
between ``__aenter__`` and ``aclose``. The handler never raises: any unexpected error is
logged and answered 500 (a bug, not a crash).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from rcstream.exceptions import ConfigurationError, UsageError

__all__ = ["DedupeWindow", "ReceiverStats", "_HttpReceiver"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Default cap on a request body (bytes). Platform notifications are a few KB.
DEFAULT_MAX_BODY = 1024 * 1024
_CHUNK = 64 * 1024
#: Log every refused request up to this count, then every 100th (a flood must not flood
#: the log).
_LOUD_REJECTIONS = 10


@dataclass
class ReceiverStats:
    """What a receiver has seen. A live object; read, don't write.

    ``delivered`` counts items queued for the consumer; ``duplicates`` repeats dropped;
    ``rejected`` requests refused for authentication (bad token or signature); ``malformed``
    bodies that were not acceptable JSON (400); ``too_large`` bodies past the cap (413);
    ``dropped`` items lost to a full queue (RingCentral) and ``busy`` deliveries refused
    with 503 so the sender retries (VCC); ``handshakes`` answered validation requests.
    """

    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    malformed: int = 0
    too_large: int = 0
    dropped: int = 0
    busy: int = 0
    handshakes: int = 0


class DedupeWindow:
    """Remembers the last ``size`` keys; :meth:`seen` answers and records in O(1)."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def add(self, key: Hashable) -> None:
        """Record ``key``, forgetting the oldest key past the window size."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)

    def seen(self, key: Hashable) -> bool:
        """True if ``key`` was recorded before; records it either way."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self.add(key)
        return False


def _normalise_path(path: str) -> str:
    if not path.startswith("/"):
        raise ConfigurationError(f"The receiver path {path!r} must start with '/', e.g. '/hooks'.")
    return path


class _HttpReceiver(Generic[T]):
    """Base class: an aiohttp server on ``host:port`` with one POST route at ``path``.

    Items are queued in a bounded deque of ``queue_size``; subclasses decide what a full
    queue means (drop the oldest, or refuse with 503). ``port=0`` picks a free port; read
    :attr:`port` or :attr:`url` after entering.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        queue_size: int,
        max_body: int,
        dedupe_window: int,
    ) -> None:
        if queue_size < 1:
            raise ConfigurationError("queue_size must be at least 1.")
        if max_body < 1024:
            raise ConfigurationError("max_body must be at least 1024 bytes.")
        self.host = host
        self.path = _normalise_path(path)
        self.queue_size = queue_size
        self.max_body = max_body
        self.stats = ReceiverStats()
        self._requested_port = port
        self._port: int | None = None
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._dedupe = DedupeWindow(dedupe_window)
        self._entered = False
        self._closed = False

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (known once the receiver is entered)."""
        if self._port is None:
            raise UsageError("Enter the receiver with 'async with' before reading its port.")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port/path`` of the running receiver (local, not the public URL)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    @property
    def _where(self) -> str:
        """:attr:`url` once bound, else the requested ``host:port`` (for ``repr``)."""
        return self.url if self._port is not None else f"{self.host}:{self._requested_port}"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Bind and serve. Raises :class:`ConfigurationError` when the address is taken."""
        if self._entered:
            raise UsageError("A receiver can be started only once; create a new one.")
        self._entered = True
        # the body cap is enforced in _serve (413); aiohttp's own cap is set a little
        # higher so that its generic error page never answers for us
        app = web.Application(client_max_size=self.max_body + 1)
        app.router.add_route("*", self.path, self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigurationError(
                f"Cannot listen on {self.host}:{self._requested_port} ({exc.strerror}); "
                "pick another --host/--port."
            ) from exc
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self._port = int(sockets[0].getsockname()[1]) if sockets else self._requested_port
        logger.debug("Webhook receiver listening on %s", self.url)

    async def aclose(self) -> None:
        """Stop the server; queued items can still be read, then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def pending(self) -> int:
        """Items accepted (answered 2xx) and not yet handed to the consumer."""
        return len(self._items)

    # ---- iteration ----------------------------------------------------------------------

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        while True:
            item = self._next_ready()
            if item is not None:
                return item
            if self._closed:
                raise StopAsyncIteration
            if not self._entered:
                raise UsageError("Enter the receiver with 'async with' before iterating.")
            self._ready.clear()
            await self._ready.wait()

    def _next_ready(self) -> T | None:
        """The next item to hand out, or None (subclasses may interleave lifecycle items)."""
        return self._items.popleft() if self._items else None

    def _count_rejection(self) -> int | None:
        """Count one request refused for authentication; its number when it should be
        logged (each of the first :data:`_LOUD_REJECTIONS`, then every 100th), else None."""
        self.stats.rejected += 1
        count = self.stats.rejected
        return count if count <= _LOUD_REJECTIONS or count % 100 == 0 else None

    def _push(self, item: T) -> None:
        self._items.append(item)
        self.stats.delivered += 1
        self._ready.set()

    # ---- HTTP ---------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        length = request.content_length
        if length is not None and length > self.max_body:
            self.stats.too_large += 1
            logger.warning("Refused a %d-byte webhook body (cap %d bytes)", length, self.max_body)
            return _json_status(413)
        try:
            chunks: list[bytes] = []
            size = 0
            while chunk := await request.content.read(_CHUNK):
                size += len(chunk)
                if size > self.max_body:
                    self.stats.too_large += 1
                    logger.warning("Refused a webhook body over the %d-byte cap", self.max_body)
                    return _json_status(413)
                chunks.append(chunk)
            return await self._handle(request, b"".join(chunks))
        except RequestPayloadError:
            # a Content-Encoding (gzip, deflate) whose body does not decode: the sender's
            # fault, answered before any token check, and never a traceback (review 15)
            self.stats.malformed += 1
            logger.warning(
                "Refused a webhook body that does not decode as its Content-Encoding (%s)",
                _clean_header(request.headers.get("Content-Encoding", "")),
            )
            # the rest of the body cannot be decoded either: mark it read, so that aiohttp
            # does not try to drain it (a second error, logged as a traceback), and close
            # the connection after the answer
            request.content.feed_eof()
            refused = _json_status(400)
            refused.force_close()
            return refused
        except (ConnectionError, asyncio.IncompleteReadError):
            return _json_status(400)
        except Exception:  # a bug must never take the receiver down
            logger.exception("Webhook handler failed; answered 500")
            return _json_status(500)

    async def _handle(self, request: web.Request, body: bytes) -> web.StreamResponse:
        raise NotImplementedError  # pragma: no cover


def _clean_header(value: str) -> str:
    """A header value fit for a log line: printable, at most 40 characters."""
    return "".join(c if c.isprintable() else "?" for c in value)[:40]


def _json_status(status: int, headers: dict[str, str] | None = None) -> web.Response:
    """An empty ``application/json`` answer: small, so RingCentral's 1,024-byte cap holds."""
    return web.Response(status=status, headers=headers, content_type="application/json")
