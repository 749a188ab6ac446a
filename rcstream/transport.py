"""The WebSocket connection (python-websockets), with its exceptions translated to ours.

Internal module. :func:`connect` opens the socket; :class:`Transport` sends and receives
text frames. Every websockets/OS error leaves as :class:`ConnectionFailedError` (or
:class:`ConfigurationError` for a bad URI), chained to the original. URLs are logged
only through :func:`~rcstream.redact.redact_url`: the query carries ``access_token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import deque
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    WebSocketException,
)
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State

from rcstream.exceptions import ConfigurationError, ConnectionFailedError
from rcstream.redact import redact, redact_url

__all__ = ["FRAME_LOG_LIMIT", "Transport", "build_ws_url", "connect", "log_frame"]

logger = logging.getLogger(__name__)
frames_logger = logging.getLogger("rcstream.frames")

#: DEBUG frame logs are cut to this many characters.
FRAME_LOG_LIMIT = 300


def log_frame(direction: str, text: str | bytes | bytearray) -> None:
    """Log one frame at DEBUG on ``rcstream.frames``: truncated, secrets masked."""
    if frames_logger.isEnabledFor(logging.DEBUG):
        if isinstance(text, bytes | bytearray):
            text = text.decode("utf-8", "replace")
        cut = text if len(text) <= FRAME_LOG_LIMIT else text[:FRAME_LOG_LIMIT] + "..."
        frames_logger.debug("%s %s", direction, redact(cut))


class _RedactingAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Hands python-websockets a logger whose records never carry tokens.

    websockets logs the handshake request line (with ``access_token`` and ``wsc``) and
    frame contents at DEBUG; every such message is formatted and redacted here first.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        # websockets elides the middle of long frames ("head...tail"), which can leave the
        # tail of a token with nothing before it to recognise: never log frame payloads
        # here (``rcstream.frames`` logs them, truncated and redacted).
        args = tuple(
            f"{a.opcode.name} frame [{len(a.data)} bytes]" if isinstance(a, Frame) else a
            for a in args
        )
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args!r}"
        kwargs.pop("extra", None)
        self.logger.log(level, "%s", redact(text), **kwargs)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


_ws_logger = _RedactingAdapter(logging.getLogger("rcstream.websockets"), {})


def build_ws_url(uri: str, ws_token: str, wsc: str | None = None) -> str:
    """``uri`` with ``access_token`` (and ``wsc`` when recovering) added to its query."""
    parts = urlsplit(uri)
    params = {"access_token": ws_token}
    if wsc is not None:
        params["wsc"] = wsc
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


_OWN_CLOSE_REASONS = {
    1009: "the gateway sent a frame larger than ClientOptions.max_frame_size (raise it if "
    "such frames are expected)",
    1007: "the gateway sent a text frame that is not valid UTF-8",
    1002: "the gateway broke the WebSocket protocol",
}


def _closed_error(exc: ConnectionClosed) -> ConnectionFailedError:
    sent = exc.sent
    if sent is not None and sent.code in _OWN_CLOSE_REASONS and exc.rcvd_then_sent is not True:
        return ConnectionFailedError(
            f"rcstream closed the connection ({sent.code}): {_OWN_CLOSE_REASONS[sent.code]}; "
            "reconnecting."
        )
    rcvd = exc.rcvd
    if rcvd is not None:
        reason = f" ({rcvd.reason[:100]})" if rcvd.reason else ""
        return ConnectionFailedError(
            f"The gateway closed the connection with code {rcvd.code}{reason}; reconnecting."
        )
    return ConnectionFailedError("The connection to the gateway was lost; reconnecting.")


#: Reading from the socket pauses while more than this many messages, or more than
#: ``_HIGH_BYTES`` of them, wait for ``Transport.recv_frame``; it resumes once both are down to
#: the ``_LOW_*`` marks. (The reader drains whole socket reads at a time, so in practice
#: the queue holds one read's worth at most.)
_HIGH_WATER = 1024
_LOW_WATER = 256
_HIGH_BYTES = 4 * 1024 * 1024
_LOW_BYTES = 1024 * 1024

_TEXT, _BINARY, _CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONT

#: websockets' own default, used when a connection was made without a close timeout.
_DEFAULT_CLOSE_TIMEOUT = 10.0
#: Extra time :meth:`Transport.close` allows websockets' own bounded close before aborting.
_CLOSE_SLACK = 0.1


class _GatewayConnection(ClientConnection):
    """python-websockets' client connection with a shorter path for incoming messages.

    websockets passes every data frame through an ``Assembler`` built for concurrent
    readers, streamed fragments and per-message decoding options, then through a
    ``recv()`` coroutine chain. The gateway sends whole text messages to one reader, so
    this subclass (through websockets' documented ``create_connection`` hook) collects
    complete messages in a deque that :meth:`Transport.recv_frame` pops: about 2 µs less per
    message (docs/performance.md). Handshake, control frames, pings, closing and size
    limits stay websockets' own.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Complete messages: ``(is_text, payload)``.
        self.messages: deque[tuple[bool, bytes]] = deque()
        #: The frame splitter (see :meth:`data_received`): None until the ``101`` response's
        #: end was seen, then True; False once websockets takes every byte again.
        self._framing: bool | None = None
        self._head = b""  # the handshake response so far (before framing starts)
        self._buf = b""  # an incomplete frame, held until the rest arrives
        self._fragments: list[bytes] = []
        self._fragmented_text = False
        self._waiter: asyncio.Future[None] | None = None
        self.queued_bytes = 0
        self.reading_paused = False
        # the read-ahead marks (see connect(): lowered when a checkpoint needs little)
        self.high_water, self.low_water = _HIGH_WATER, _LOW_WATER
        self.high_bytes, self.low_bytes = _HIGH_BYTES, _LOW_BYTES

    def data_received(self, data: bytes) -> None:
        """Split the server's frames here, and hand websockets only what needs it.

        websockets parses every frame through a chain of generators (about 2 µs per frame
        on a 1.2 kB text frame, docs/performance.md). Server frames are never masked
        (RFC 6455 §5.1), so a complete, final, uncompressed text or binary frame is just
        ``0x81``/``0x82``, a length, and the payload: those go straight to :meth:`_push`.
        Every other frame (ping, pong, close, fragments, extension bits, a masked or
        oversized frame, anything while a fragmented message is open or after the
        connection left OPEN) is fed to websockets *whole*, so its parser always stands at
        a frame boundary and does exactly what it would have done. Until the end of a
        ``101`` response is seen (the handshake is websockets' own), and after anything
        unusual, websockets gets every byte.
        """
        framing = self._framing
        if framing is None:
            head = self._head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self._head = head if len(head) < 65536 else b""
                super().data_received(data)
                return
            self._head = b""
            if not head.startswith(b"HTTP/1.1 101 "):
                self._framing = False
                super().data_received(data)
                return
            cut = len(data) - (len(head) - end - 4)  # where the response ends in ``data``
            self._framing = True
            super().data_received(data[:cut])
            data = data[cut:]
            if not data:
                return
        elif not framing:
            super().data_received(data)
            return
        buf = self._buf + data if self._buf else data
        n = len(buf)
        pos = 0
        protocol = self.protocol
        oversize = False
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if b1 & 0x80:
                start += 4  # masked: a protocol error websockets will report
            max_size = protocol.max_size
            if max_size is not None and length > max_size:
                oversize = True
                break  # too big: websockets fails the connection (1009) below
            end = start + length
            if end > n:
                break
            if (
                (b0 == 0x81 or b0 == 0x82)
                and not b1 & 0x80
                and protocol.cur_size is None
                and protocol.state is State.OPEN
            ):
                self._push(b0 == 0x81, buf[start:end])
            else:
                super().data_received(buf[pos:end])  # one whole frame
                if protocol.state is not State.OPEN:
                    pos = end
                    break
            pos = end
        else:
            self._buf = buf[pos:] if pos < n else b""
            return
        rest = buf[pos:]
        self._buf = b""
        if protocol.state is not State.OPEN or oversize:
            self._framing = False  # websockets takes over for good
            if rest:
                super().data_received(rest)
            return
        self._buf = rest  # an incomplete frame

    def eof_received(self) -> None:
        if self._buf:  # a frame cut short: websockets reports it as it would have
            rest, self._buf = self._buf, b""
            self._framing = False
            super().data_received(rest)
        super().eof_received()

    def process_event(self, event: Any) -> None:
        if self.response is not None and type(event) is Frame:
            # websockets' frame parser produces bytes (Frame.data is typed more widely)
            opcode = event.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if event.fin:
                    self._push(opcode is _TEXT, event.data)  # type: ignore[arg-type]
                else:
                    self._fragments = [event.data]  # type: ignore[list-item]
                    self._fragmented_text = opcode is _TEXT
                return
            if opcode is _CONT:
                self._fragments.append(event.data)  # type: ignore[arg-type]
                if event.fin:
                    data = b"".join(self._fragments)
                    self._fragments = []
                    self._push(self._fragmented_text, data)
                return
        super().process_event(event)

    def _push(self, is_text: bool, data: bytes) -> None:
        messages = self.messages
        messages.append((is_text, data))
        self.queued_bytes += len(data)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if not self.reading_paused and (
            len(messages) > self.high_water or self.queued_bytes > self.high_bytes
        ):
            self.reading_paused = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)  # completes connection_lost_waiter
        except Exception:
            # websockets asserts ``protocol.state is CLOSED`` after feeding EOF to its frame
            # parser. An exception raised inside that parser earlier (a second SIGINT's
            # KeyboardInterrupt landing in ``eof_received``, issue 11 item 9) leaves the
            # parser dead and the state CLOSING, so the assertion fails before the waiter
            # is completed and every close() then waits on it for ever. Finish the job.
            logger.debug("websockets' connection_lost failed; completing the close", exc_info=True)
            self._finish_connection_lost(exc)
        finally:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _finish_connection_lost(self, exc: Exception | None) -> None:
        """What websockets' ``connection_lost`` would have done, once its parser broke."""
        if self.connection_lost_waiter.done():
            return
        self.protocol.state = State.CLOSED  # the TCP connection is gone, whatever the parser says
        try:
            super().connection_lost(exc)  # receive_eof() is idempotent; the assertion now holds
        except Exception:
            logger.debug("websockets' connection_lost failed again", exc_info=True)
        if not self.connection_lost_waiter.done():
            self.set_recv_exc(exc)
            self.connection_lost_waiter.set_result(None)

    async def wait_lost(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the TCP connection to end; never cancels the
        waiter (websockets requires that). False if it timed out."""
        if self.connection_lost_waiter.done():
            return True
        try:
            async with asyncio.timeout(within):
                await asyncio.shield(self.connection_lost_waiter)
        except TimeoutError:
            return False
        return True

    def abort_now(self) -> None:
        """Drop the TCP connection; make sure ``connection_lost`` has run when it returns
        control to the loop, even if the transport never calls it."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
        elif not self.connection_lost_waiter.done():
            # abort() after close() is a no-op, and a transport that was closed while its
            # protocol callback failed may never call connection_lost: do it ourselves
            self.loop.call_soon(self._finish_lost_later)

    def _finish_lost_later(self) -> None:
        if not self.connection_lost_waiter.done():
            self.connection_lost(None)

    async def next_message(self) -> tuple[bool, bytes]:
        """The next complete message; raises ConnectionClosed once none is left."""
        messages = self.messages
        while not messages:
            if self.connection_lost_waiter.done():
                raise self.protocol.close_exc from self.recv_exc
            self._waiter = self.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        message = messages.popleft()
        self.queued_bytes -= len(message[1])
        if (
            self.reading_paused
            and len(messages) <= self.low_water
            and self.queued_bytes <= self.low_bytes
        ):
            self.reading_paused = False
            self.transport.resume_reading()
        return message

    async def fail_invalid_utf8(self, exc: UnicodeDecodeError) -> ConnectionClosed:
        """Close with 1007, as websockets' own ``recv()`` does; return the close error.

        ``send_context`` raises ConnectionClosed itself when the connection is already
        closing (the gateway's close frame came in the same read) or when the gateway
        never answers the close: either way the connection is over, which is the point.
        """
        try:
            async with self.send_context():
                self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        except ConnectionClosed:
            pass
        if not await self.wait_lost(self._close_bound()):
            self.abort_now()
            await self.wait_lost(self._close_bound())
        return self.protocol.close_exc

    def _close_bound(self) -> float:
        timeout = self.close_timeout
        return _DEFAULT_CLOSE_TIMEOUT if timeout is None else timeout


class Transport:
    """One open gateway connection."""

    def __init__(self, conn: _GatewayConnection) -> None:
        self._conn = conn

    async def recv_frame(self) -> bytes | bytearray:
        """Receive one message as its payload bytes, text frames checked to be UTF-8: what
        the client's read loop parses (pydantic-core parses bytes, so decoding each frame
        into a ``str`` first would only cost a copy). Raises ConnectionFailedError once the
        socket is closed and every message was received, or when a text frame is not UTF-8
        (after closing the connection with 1007)."""
        conn = self._conn
        messages = conn.messages
        if messages and not conn.reading_paused:
            is_text, data = messages.popleft()  # the common case under load: nothing to await
            conn.queued_bytes -= len(data)
        else:
            try:
                is_text, data = await conn.next_message()
            except ConnectionClosed as exc:
                raise _closed_error(exc) from exc
        if is_text and not data.isascii():  # ASCII is UTF-8, and the usual frame is ASCII
            try:
                data.decode()
            except UnicodeDecodeError as exc:
                closed = await conn.fail_invalid_utf8(exc)
                raise _closed_error(closed) from closed
        if frames_logger.isEnabledFor(logging.DEBUG):
            log_frame("<", data)
        return data

    async def send(self, text: str) -> None:
        """Send one text frame."""
        log_frame(">", text)
        try:
            await self._conn.send(text)
        except ConnectionClosed as exc:
            raise _closed_error(exc) from exc

    @property
    def close_code(self) -> int | None:
        """The close code once closed, else None."""
        return self._conn.close_code

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close politely; never takes much longer than the connection's ``close_timeout``.

        The closing handshake gets ``close_timeout``; after that (or if websockets fails)
        the TCP connection is aborted and its end awaited for at most ``close_timeout``
        more. If the caller is cancelled meanwhile (a second Ctrl-C), the socket is aborted
        and only :class:`asyncio.CancelledError` leaves. Safe to call again after that.
        """
        conn = self._conn
        bound = conn._close_bound()
        try:
            async with asyncio.timeout(bound + _CLOSE_SLACK):
                await conn.close(code, reason)
        except TimeoutError:
            logger.debug("The closing handshake took longer than %.1f s; aborting", bound)
        except asyncio.CancelledError:
            conn.abort_now()
            raise
        except Exception:
            logger.debug("Closing the socket failed", exc_info=True)
        if not conn.connection_lost_waiter.done():
            conn.abort_now()
            if not await conn.wait_lost(bound):
                logger.debug("The socket did not report its end within %.1f s", bound)

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""
        self._conn.abort_now()


async def connect(
    url: str,
    *,
    open_timeout: float,
    max_size: int,
    ping_interval: float | None,
    ping_timeout: float | None,
    headers: Mapping[str, str] | None = None,
    user_agent: str = "rcstream",
    verify_ssl: bool = True,
    close_timeout: float = 2.0,
    read_ahead: int | None = None,
    read_ahead_bytes: int | None = None,
    receive_buffer: int | None = None,
) -> Transport:
    """Open a gateway connection to ``url`` (which carries the token; never logged raw).

    ``verify_ssl=False`` accepts any certificate on ``wss://`` URLs (testing only).
    ``read_ahead``/``read_ahead_bytes``: reading from the socket pauses while more messages
    (or bytes) than this wait for :meth:`Transport.recv_frame`, and resumes at a quarter of each
    (None: 1024 messages / 4 MiB).
    ``receive_buffer``: the socket's ``SO_RCVBUF`` in bytes (None: the system's default,
    which Linux grows to megabytes); the kernel holds about twice this before the sender
    is held back. Both bound what is read off the network but not yet handed out.
    """
    if any(v is not None and v < 1 for v in (read_ahead, read_ahead_bytes, receive_buffer)):
        raise ConfigurationError("read_ahead, read_ahead_bytes and receive_buffer must be >= 1.")
    safe = redact_url(url)
    extra: dict[str, Any] = {}
    if not verify_ssl and url.startswith("wss://"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        extra["ssl"] = context
    logger.debug("Opening %s", safe)
    try:
        conn = await ws_connect(
            url,
            open_timeout=open_timeout,
            max_size=max_size,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            # like our aiohttp session (trust_env=False): no proxy from the environment, so
            # REST and the socket always take the same path
            proxy=None,
            additional_headers=dict(headers) if headers else None,
            user_agent_header=user_agent,
            compression=None,
            logger=_ws_logger,
            create_connection=_GatewayConnection,
            **extra,
        )
    except InvalidURI:
        # not chained: the original exception's text holds the URL with its token
        raise ConfigurationError(
            f"The gateway URI {safe!r} is not a WebSocket URL; check the server URL."
        ) from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise ConnectionFailedError(
            f"The gateway refused the WebSocket handshake with HTTP {status}; retrying with a "
            "new token."
        ) from exc
    except ConnectionClosed as exc:
        raise _closed_error(exc) from exc
    except (InvalidHandshake, OSError, TimeoutError) as exc:
        raise ConnectionFailedError(
            f"Could not open the gateway connection ({type(exc).__name__}); check the network."
        ) from exc
    except WebSocketException as exc:
        raise ConnectionFailedError(
            f"Could not open the gateway connection ({type(exc).__name__}); check the network."
        ) from None
    assert isinstance(conn, _GatewayConnection)
    if read_ahead is not None:
        conn.high_water, conn.low_water = read_ahead, read_ahead // 4
    if read_ahead_bytes is not None:
        conn.high_bytes, conn.low_bytes = read_ahead_bytes, read_ahead_bytes // 4
    if receive_buffer is not None:
        sock = conn.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    return Transport(conn)
