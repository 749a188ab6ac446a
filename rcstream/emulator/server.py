"""A faithful local RingCentral platform: OAuth, REST and the WebSocket gateway (WSG).

One aiohttp application on one port serves the REST endpoints and the gateway at ``/ws``.
Everything runs in the event loop that entered :class:`Emulator`; timeouts use the
monotonic clock. See ``/work/shared/protocol.md`` for the protocol and the "Where sources
disagree" table: by default the emulator takes the strictest reading, and constructor
options switch it to the others.

Choices where the sources are silent (documented here once):

* ``Error`` frames: ``[{"type": "Error", "messageId": <new uuid>, "status": S, "headers":
  {}}, {"errorCode", "message"}]`` with ``S`` = 401 for ``OAU-*`` codes and 400 otherwise.
* Close codes: 4400 when no token is given (no ``Error`` frame); 1008 after an ``OAU-*``
  error (bad, expired, used or revoked token) and after ``WSG-400`` (malformed ``wsc``);
  1000 after ``WSG-902``/``WSG-903``; 1001 when the emulator shuts down. A missed pong is
  a TCP abort (the client sees 1006).
* Recovery failures: ``WSG-1003`` when the ``wsc`` belongs to another OAuth session;
  ``WSG-1005`` when the session had no subscription *or* no longer exists (its recovery
  window passed). ``wsc.sequence`` starts at 1 and grows by one with every
  ``ConnectionDetails`` (and with every frame when ``wsc_on_every_frame`` is on).
* Timeouts configured below one second are sent in ``ConnectionDetails`` as JSON floats.
* A WebSocket subscription cannot be created or updated over HTTP REST (400 ``CMN-101``);
  it can be listed, read and deleted there.
* Notifications for a session whose socket is gone *or silenced* (:meth:`Emulator.go_silent`)
  are buffered for replay (the oldest are dropped beyond ``recovery_buffer_size``).
* WebHook subscriptions are stored and listed but nothing is delivered to their address.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import hashlib
import hmac
import itertools
import json
import logging
import math
import random
import secrets
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Self
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from rcstream.emulator import _wire as wire
from rcstream.emulator._filters import EventFilter, FilterError, Params, parse_filter, split_event
from rcstream.emulator._state import (
    EmulatorStats,
    ExtensionRecord,
    GatewaySessionInfo,
    OAuthSessionInfo,
    SubscriptionRecord,
    _AccessToken,
    _Connection,
    _GatewaySession,
    _OAuthSession,
    _Subscription,
    _WsToken,
)

__all__ = ["Emulator"]

logger = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_WS_EXPIRES_IN = 86400  # WebSocket subscriptions: expirationTime = creation + 24 h
_WEBHOOK_EXPIRES_IN = 604800
_SCOPES = ("ReadAccounts", "ReadMessages", "ReadPresence", "CallControl", "TeamMessaging")
_FIRST = ("Alice", "Bob", "Carmen", "Deepak", "Erin", "Farid", "Grace", "Hiro", "Ines", "Jamal")
_LAST = ("Nguyen", "Smith", "Garcia", "Okafor", "Kowalski", "Tanaka", "Rossi", "Haddad", "Berg")

RateLimitEndpoint = Literal["token", "wstoken", "request"]
ErrorStyle = Literal["ClientRequest", "Error"]


class _Unset(enum.Enum):
    TOKEN = 0


_UNSET = _Unset.TOKEN


@dataclass
class _Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] | None = None


@dataclass
class _AuthContext:
    oauth: _OAuthSession
    account_id: str
    extension_id: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Emulator:
    """A local RingCentral platform (REST + WebSocket gateway) with fault injection.

    Use ``async with Emulator(**options) as emu:``; it binds ``host``:``port`` (port 0 picks a
    free port) and serves until the block ends, then closes every socket (close code 1001)
    and stops. Nothing starts before ``__aenter__``/:meth:`start`.

    Account and credentials (generated per instance; deterministic with ``seed``):

    * ``extensions``: number of synthetic users (default 5). The first is the authorised
      user for :attr:`jwt` and for a password login without ``extension``.
    * ``account_id``, ``client_id``, ``client_secret``, ``jwt``, ``username`` (the account's
      main number), ``password``: override the generated values.

    Gateway timings (seconds; defaults are the real ones):

    * ``idle_timeout`` 1800 (only client *text* frames count as activity, never WS pings),
      ``absolute_timeout`` 86400 (per socket), ``recovery_timeout`` 180 (a detached session
      and its subscription are discarded after it), ``recovery_buffer_size`` 100
      notifications, ``ping_interval`` 20 (``None``: the server sends no pings),
      ``pong_timeout`` 10, ``close_timeout`` 2 (how long a server-initiated close waits for
      the client's close frame).

    OAuth (seconds): ``access_token_ttl`` 3600, ``refresh_token_ttl`` 604800,
    ``ws_token_ttl`` 600, ``ws_token_single_use`` True (False: reusable within its TTL),
    ``auth_rate_limit`` 5 requests to ``/token`` + ``/wstoken`` per ``auth_rate_window`` 60 s
    per client id (``None``: unlimited, no ``X-Rate-Limit-*`` headers).

    Readings where sources disagree (defaults are the strictest):

    * ``error_style``: ``"ClientRequest"`` answers a failed ``ClientRequest`` with a
      ``ClientRequest`` frame carrying the 4xx status and RC error body; ``"Error"`` answers
      with an ``Error`` frame carrying the request's ``messageId``.
    * ``heartbeat_status``: include ``status: 200`` in the Heartbeat echo.
    * ``wsc_on_every_frame``: put the current ``wsc`` (with a growing sequence) on every
      server frame, not only on ``ConnectionDetails``.
    * ``close_on_bad_frame``: a client frame the gateway cannot read (not JSON, not an
      array, unknown type, no ``messageId``) gets an ``Error`` frame and close 1008 (the
      strict reading); ``False`` keeps the socket open after the ``Error`` frame.
    * ``revoke_closes_sockets``: ``POST /restapi/oauth/revoke`` also ends that OAuth
      session's sockets (``Error`` ``OAU-129`` + close 1008).

    Permissions and limits: ``deny_websocket_permission`` (every subscription request is
    refused with 403 ``SUB-528``), ``disabled_filters`` (accepted but not granted: listed in
    the reply's ``disabledFilters`` and never delivered), ``forbidden_filters`` (filters,
    with ``~`` or numeric ids,
    refused with 403 ``SUB-528``), ``subscription_limit`` 30 per user and app (``SUB-505``),
    ``max_active_requests`` 10 and ``max_connections_per_session`` 50 (advertised only).

    Tests drive it with :meth:`publish`, the fault methods (:meth:`abort_connections`,
    :meth:`close_connections`, :meth:`go_silent`, :meth:`inject_raw`, :meth:`rate_limit_next`,
    :meth:`expire_access_tokens`, :meth:`revoke_oauth_sessions`, :meth:`fail_next_recovery`,
    :meth:`set_timeouts`) and wait with :meth:`wait_until` and friends instead of sleeping.

    Traffic: ``event_rate`` synthetic events per second published continuously from
    :mod:`rcstream.emulator.catalog` (0: none); ``seed`` for the account data and events.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        extensions: int = 5,
        account_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        jwt: str | None = None,
        username: str | None = None,
        password: str | None = None,
        idle_timeout: float = 1800.0,
        absolute_timeout: float = 86400.0,
        recovery_timeout: float = 180.0,
        recovery_buffer_size: int = 100,
        ping_interval: float | None = 20.0,
        pong_timeout: float = 10.0,
        close_timeout: float = 2.0,
        ws_token_ttl: float = 600.0,
        ws_token_single_use: bool = True,
        access_token_ttl: float = 3600.0,
        refresh_token_ttl: float = 604800.0,
        auth_rate_limit: int | None = 5,
        auth_rate_window: float = 60.0,
        subscription_limit: int = 30,
        max_active_requests: int = 10,
        max_connections_per_session: int = 50,
        error_style: ErrorStyle = "ClientRequest",
        heartbeat_status: bool = True,
        wsc_on_every_frame: bool = False,
        revoke_closes_sockets: bool = True,
        close_on_bad_frame: bool = True,
        deny_websocket_permission: bool = False,
        forbidden_filters: Iterable[str] = (),
        disabled_filters: Iterable[str] = (),
        event_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        if extensions < 1:
            raise ValueError("extensions must be at least 1")
        if error_style not in ("ClientRequest", "Error"):
            raise ValueError("error_style must be 'ClientRequest' or 'Error'")
        self._host = host
        self._requested_port = port
        self._rng = random.Random(seed)
        rng = self._rng
        self._key = rng.randbytes(32) if seed is not None else secrets.token_bytes(32)

        def rc_id() -> str:
            return str(rng.randrange(100_000_000, 999_999_999)) + rng.choice(("004", "016"))

        def chars(n: int) -> str:
            return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))

        self._account_id = account_id or rc_id()
        self._client_id = client_id or chars(22)
        self._client_secret = client_secret or chars(43)
        self._username = username or "+1650555" + "".join(rng.choice(string.digits) for _ in "0000")
        self._password = password or chars(16)
        self._extensions: list[ExtensionRecord] = []
        for i in range(extensions):
            self._extensions.append(
                ExtensionRecord(
                    id=rc_id(),
                    extension_number=str(101 + i),
                    first_name=_FIRST[i % len(_FIRST)],
                    last_name=_LAST[(i * 7 + 3) % len(_LAST)],
                )
            )
        self._jwts: dict[str, str] = {}
        for ext in self._extensions:
            self._jwts[self._make_jwt(ext.id, jti=chars(16))] = ext.id
        if jwt is not None:
            self._jwts = {k: v for k, v in self._jwts.items() if v != self._extensions[0].id}
            self._jwts[jwt] = self._extensions[0].id

        self.idle_timeout = float(idle_timeout)
        self.absolute_timeout = float(absolute_timeout)
        self.recovery_timeout = float(recovery_timeout)
        self.recovery_buffer_size = int(recovery_buffer_size)
        self.ping_interval = None if ping_interval is None else float(ping_interval)
        self.pong_timeout = float(pong_timeout)
        self.close_timeout = float(close_timeout)
        self.ws_token_ttl = float(ws_token_ttl)
        self.ws_token_single_use = ws_token_single_use
        self.access_token_ttl = float(access_token_ttl)
        self.refresh_token_ttl = float(refresh_token_ttl)
        self.auth_rate_limit = auth_rate_limit
        self.auth_rate_window = float(auth_rate_window)
        self.subscription_limit = subscription_limit
        self.max_active_requests = max_active_requests
        self.max_connections_per_session = max_connections_per_session
        self.error_style: ErrorStyle = error_style
        self.heartbeat_status = heartbeat_status
        self.wsc_on_every_frame = wsc_on_every_frame
        self.revoke_closes_sockets = revoke_closes_sockets
        self.close_on_bad_frame = close_on_bad_frame
        self.deny_websocket_permission = deny_websocket_permission
        self.forbidden_filters: set[str] = set(forbidden_filters)
        self.disabled_filters: set[str] = set(disabled_filters)
        self._disabled_now: list[str] = []
        self.event_rate = float(event_rate)

        self._stats = EmulatorStats()
        #: Outbound SMS accepted by ``POST .../extension/~/sms`` (message records), oldest first.
        self.sent_sms: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._oauth: dict[str, _OAuthSession] = {}
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, str] = {}
        self._auth_penalty: dict[str, float] = {}
        self._ws_tokens: dict[str, _WsToken] = {}
        self._subs: dict[str, _Subscription] = {}
        self._gw: dict[str, _GatewaySession] = {}
        self._conns: dict[int, _Connection] = {}
        self._conn_ids = itertools.count(1)
        self._auth_hits: dict[str, deque[float]] = {}
        self._forced_429: dict[str, deque[float]] = {
            "token": deque(),
            "wstoken": deque(),
            "request": deque(),
        }
        self._fail_recovery: deque[str] = deque()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._janitor_wake = asyncio.Event()
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind and start serving; start the janitor and the event generator (if any)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        app = web.Application()
        app.router.add_get("/ws", self._handle_ws)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._requested_port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        assert server is not None
        sockets: list[Any] = list(getattr(server, "sockets", None) or ())
        self._port = int(sockets[0].getsockname()[1])
        self._spawn(self._janitor(), "rcstream-emulator-janitor")
        if self.event_rate > 0:
            self._spawn(self._generator(), "rcstream-emulator-generator")
        logger.info("Emulator listening on %s", self.server_url)

    async def close(self) -> None:
        """Close every socket (1001 "Going away"), stop background tasks and the server.

        Idempotent. Detached sessions and their buffers are discarded.
        """
        if self._runner is None or self._closing:
            return
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        conns = list(self._conns.values())
        if conns:
            await asyncio.gather(
                *(
                    self._terminate(
                        c, None, close_code=1001, reason_text="Going away", reason="shutdown"
                    )
                    for c in conns
                ),
                return_exceptions=True,
            )
        await self._runner.cleanup()
        self._runner = None
        logger.info("Emulator stopped")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ attributes

    @property
    def port(self) -> int:
        """The bound TCP port (available once started)."""
        if self._port is None:
            raise RuntimeError("the emulator is not started; use 'async with Emulator()'")
        return self._port

    @property
    def host(self) -> str:
        """The host the emulator binds to (default ``127.0.0.1``)."""
        return self._host

    @property
    def server_url(self) -> str:
        """``http://127.0.0.1:PORT``: the REST base URL (``RINGCENTRAL_SERVER_URL``)."""
        return f"http://{self._host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT/ws``: the gateway URI that ``/restapi/oauth/wstoken`` returns."""
        return f"ws://{self._host}:{self.port}/ws"

    @property
    def client_id(self) -> str:
        """The app's client id (HTTP Basic user name on ``/restapi/oauth/token``)."""
        return self._client_id

    @property
    def client_secret(self) -> str:
        """The app's client secret."""
        return self._client_secret

    @property
    def jwt(self) -> str:
        """The JWT credential of the authorised user (the first extension)."""
        return self.jwt_for(self.extension_id)

    def jwt_for(self, extension_id: str) -> str:
        """The JWT credential that logs in as ``extension_id``."""
        for token, ext in self._jwts.items():
            if ext == extension_id:
                return token
        raise KeyError(f"no extension {extension_id!r} in the emulated account")

    @property
    def username(self) -> str:
        """Password-grant user name (the account's main number)."""
        return self._username

    @property
    def password(self) -> str:
        """Password-grant password (the same for every extension)."""
        return self._password

    @property
    def account_id(self) -> str:
        """The numeric account id ``~`` expands to."""
        return self._account_id

    @property
    def extension_id(self) -> str:
        """The authorised user's extension id (the first extension)."""
        return self._extensions[0].id

    @property
    def extension_ids(self) -> tuple[str, ...]:
        """Every extension id of the account, the authorised user first."""
        return tuple(e.id for e in self._extensions)

    @property
    def extensions(self) -> tuple[ExtensionRecord, ...]:
        """Every extension record of the account."""
        return tuple(self._extensions)

    @property
    def stats(self) -> EmulatorStats:
        """Live counters (see :class:`EmulatorStats`)."""
        return self._stats

    def env(self) -> dict[str, str]:
        """The ``RINGCENTRAL_*`` variables a client needs to reach this emulator."""
        return {
            "RINGCENTRAL_SERVER_URL": self.server_url,
            "RINGCENTRAL_CLIENT_ID": self._client_id,
            "RINGCENTRAL_CLIENT_SECRET": self._client_secret,
            "RINGCENTRAL_JWT": self.jwt,
        }

    @property
    def sessions(self) -> tuple[GatewaySessionInfo, ...]:
        """Snapshots of every gateway session (connected or still recoverable)."""
        out = []
        for s in self._gw.values():
            sub = self._subs.get(s.subscription_id) if s.subscription_id else None
            conn = s.connection
            out.append(
                GatewaySessionInfo(
                    id=s.id,
                    oauth_session_id=s.oauth_session_id,
                    extension_id=s.extension_id,
                    connected=conn is not None,
                    silent=conn is not None and conn.silent,
                    subscription_id=sub.id if sub else None,
                    event_filters=tuple(f.text for f in sub.filters) if sub else (),
                    buffered=len(s.buffer),
                    wsc_sequence=s.wsc_sequence,
                    connections=s.connections,
                )
            )
        return tuple(out)

    @property
    def subscriptions(self) -> tuple[SubscriptionRecord, ...]:
        """Snapshots of every live subscription (WebSocket and WebHook)."""
        return tuple(s.record() for s in self._subs.values())

    @property
    def oauth_sessions(self) -> tuple[OAuthSessionInfo, ...]:
        """Snapshots of every OAuth session (one per login; revoked ones included)."""
        return tuple(
            OAuthSessionInfo(
                id=o.id,
                client_id=o.client_id,
                extension_id=o.extension_id,
                revoked=o.revoked,
                refreshes=o.refreshes,
            )
            for o in self._oauth.values()
        )

    @property
    def connected(self) -> int:
        """How many WebSocket connections are open right now (accepted and not yet ended)."""
        return len(self._conns)

    # ------------------------------------------------------------------ waiting

    def _bump(self) -> None:
        """Wake everything waiting for a state change."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _inc(self, name: str, n: int = 1) -> None:
        setattr(self._stats, name, getattr(self._stats, name) + n)
        self._bump()

    def _inc_map(self, counter: dict[str, int], key: str) -> None:
        counter[key] = counter.get(key, 0) + 1
        self._bump()

    async def wait_until(
        self,
        predicate: Callable[[Emulator], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a convenience for tests
    ) -> None:
        """Wait until ``predicate(self)`` is true; it is re-checked on every state change.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await self._changed.wait()

    async def wait_for_connections(
        self,
        n: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until exactly ``n`` WebSocket connections are open."""
        await self.wait_until(lambda e: e.connected == n, timeout)

    async def wait_for_subscription(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> tuple[SubscriptionRecord, ...]:
        """Wait until at least ``count`` subscriptions exist; return them (oldest first)."""
        await self.wait_until(lambda e: len(e._subs) >= count, timeout)
        return self.subscriptions

    async def wait_for_stat(
        self,
        name: str,
        at_least: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until the counter ``stats.<name>`` reaches ``at_least``.

        ``name`` may also be ``"closes_by_reason.<reason>"`` or ``"grants.<grant_type>"``.
        """

        def value(e: Emulator) -> int:
            head, _, key = name.partition(".")
            v = getattr(e._stats, head)
            if key:
                return int(v.get(key, 0))
            return int(v)

        value(self)  # fail fast on a typo
        await self.wait_until(lambda e: value(e) >= at_least, timeout)

    # ------------------------------------------------------------------ faults

    async def abort_connections(self) -> int:
        """Drop every socket at the TCP level, without a close frame; return how many."""
        conns = [c for c in self._conns.values() if not c.closing]
        for c in conns:
            self._abort(c, "fault_abort")
        return len(conns)

    async def close_connections(
        self,
        code: int = 1000,
        reason: str = "",
        *,
        error_code: str | None = None,
        error_message: str = "",
    ) -> int:
        """Close every socket with ``code``/``reason``, after an ``Error`` frame if
        ``error_code`` is given; return how many sockets were closed."""
        conns = [c for c in self._conns.values() if not c.closing]
        error = (error_code, error_message) if error_code else None
        await asyncio.gather(
            *(
                self._terminate(c, error, close_code=code, reason_text=reason, reason="fault_close")
                for c in conns
            )
        )
        return len(conns)

    def fail_next_recovery(self, code: str = "WSG-1005", *, count: int = 1) -> None:
        """Make the next ``count`` recovery attempts (connects with ``wsc``) fail with
        ``recoveryErrorCode`` ``code``; the caller gets a fresh session."""
        self._fail_recovery.extend([code] * count)

    def go_silent(self) -> int:
        """Make every current connection half-open: the TCP stays up but the server stops
        reading and answering (no replies, pongs, pings, notifications or timeouts).

        Notifications for these sessions are buffered as if they were detached. Connections
        opened later are not affected. Returns how many connections went silent.
        """
        n = 0
        for c in self._conns.values():
            if not c.closing and not c.silent:
                c.silent = True
                c.wake.set()
                n += 1
        self._bump()
        return n

    def end_silence(self) -> int:
        """Undo :meth:`go_silent`: silenced connections that are still open work again (what
        the client sent meanwhile is lost; buffered notifications stay buffered)."""
        n = 0
        now = time.monotonic()
        for c in self._conns.values():
            if c.silent:
                c.silent = False
                c.last_activity = now
                c.last_ping_at = now
                c.pong_due = None
                c.wake.set()
                n += 1
        self._bump()
        return n

    async def inject_raw(self, text: str) -> int:
        """Send ``text`` verbatim (it need not be JSON) to every open, non-silent socket."""
        conns = [c for c in self._conns.values() if not c.closing and not c.silent and c.session]
        sent = await asyncio.gather(*(self._send_text(c, text) for c in conns))
        n = sum(1 for ok in sent if ok)
        self._inc("raw_frames_injected", n)
        return n

    def rate_limit_next(
        self, endpoint: RateLimitEndpoint, *, retry_after: float = 1.0, count: int = 1
    ) -> None:
        """Answer the next ``count`` calls to ``endpoint`` with 429 and ``Retry-After``.

        ``endpoint``: ``"token"`` (``/restapi/oauth/token``), ``"wstoken"``, or ``"request"``
        (API calls over HTTP and ``ClientRequest`` frames; there ``Retry-After`` is in the
        response ``headers``). ``retry_after`` is in seconds; sub-second values are written
        as decimals (``"0.05"``) so tests stay fast.
        """
        if endpoint not in self._forced_429:
            raise ValueError(f"unknown endpoint {endpoint!r}; use 'token', 'wstoken' or 'request'")
        self._forced_429[endpoint].extend([retry_after] * count)

    async def expire_access_tokens(self, *, close_sockets: bool = False) -> int:
        """Expire every access token now (the next REST/wstoken call gets 401 ``OAU-128``);
        refresh tokens keep working. With ``close_sockets`` every socket also gets an
        ``Error`` ``OAU-128`` frame and close 1008. Returns how many tokens expired."""
        now = time.monotonic()
        n = 0
        for tok in self._access.values():
            if tok.expires_at > now:
                tok.expires_at = now
                n += 1
        self._bump()
        if close_sockets:
            conns = [c for c in self._conns.values() if not c.closing]
            await asyncio.gather(
                *(
                    self._terminate(
                        c,
                        ("OAU-128", "Access token expired"),
                        close_code=1008,
                        reason_text="Access token expired",
                        reason="expired_token",
                    )
                    for c in conns
                )
            )
        return n

    async def revoke_oauth_sessions(
        self,
        *,
        error_code: str = "OAU-129",
        message: str = "OAuth session was revoked",
        oauth_session_id: str | None = None,
    ) -> int:
        """End every OAuth session (or one): all its tokens stop working, and each of its
        sockets gets an ``Error`` frame ``error_code`` then close 1008. Returns how many
        sessions were revoked. Gateway sessions stay recoverable only by the same OAuth
        session, so a new login recovers with ``WSG-1003``."""
        targets = [
            o
            for o in self._oauth.values()
            if not o.revoked and (oauth_session_id is None or o.id == oauth_session_id)
        ]
        for o in targets:
            await self._revoke(o, error_code=error_code, message=message, close_sockets=True)
        return len(targets)

    def set_timeouts(
        self,
        *,
        idle: float | None = None,
        absolute: float | None = None,
        recovery: float | None = None,
        pong: float | None = None,
        ping_interval: float | _Unset | None = _UNSET,
        ws_token_ttl: float | None = None,
        access_token_ttl: float | None = None,
    ) -> None:
        """Change timeouts at runtime (seconds); ``None`` keeps a value, except that
        ``ping_interval=None`` stops server pings. Open connections and detached sessions
        use the new values at once (deadlines are measured from their original start)."""
        if idle is not None:
            self.idle_timeout = float(idle)
        if absolute is not None:
            self.absolute_timeout = float(absolute)
        if recovery is not None:
            self.recovery_timeout = float(recovery)
        if pong is not None:
            self.pong_timeout = float(pong)
            for c in self._conns.values():
                if c.pong_due is not None:
                    c.pong_due = c.last_ping_at + self.pong_timeout
        if not isinstance(ping_interval, _Unset):
            self.ping_interval = None if ping_interval is None else float(ping_interval)
        if ws_token_ttl is not None:
            self.ws_token_ttl = float(ws_token_ttl)
        if access_token_ttl is not None:
            self.access_token_ttl = float(access_token_ttl)
        for c in self._conns.values():
            c.wake.set()
        self._janitor_wake.set()
        self._bump()

    # ------------------------------------------------------------------ publishing

    async def publish(self, event: str, body: Any, *, uuid: str | None = None) -> str:
        """Deliver one notification to every WebSocket subscription whose filters match.

        ``event`` is the concrete event path (numeric ids, optional query string; ``~`` is
        refused). Sessions with a live socket get a ``ServerNotification`` frame now;
        detached or silenced sessions buffer it for replay. Returns the notification
        ``uuid`` (shared by every delivery of this call; ``uuid=`` overrides it).
        """
        if "~" in event:
            raise ValueError("publish() needs a concrete event path (numeric ids, no '~')")
        uid = uuid or wire.new_id()
        timestamp = wire.iso_z(wire.utcnow())
        path, params = split_event(event)
        sends: list[Awaitable[None]] = []
        for sub in list(self._subs.values()):
            if sub.transport != "WebSocket" or sub.gateway_session_id is None:
                continue
            matched = _first_match(sub.filters, path, params)
            if matched is None:
                continue
            session = self._gw.get(sub.gateway_session_id)
            if session is None:
                continue
            frame = wire.notification_frame(
                uuid_=uid,
                event=matched.event_field(path),
                timestamp=timestamp,
                subscription_id=sub.id,
                owner_id=sub.extension_id,
                body=body,
            )
            conn = session.connection
            if conn is not None and not conn.silent and not conn.closing:
                sends.append(self._deliver(session, conn, frame))
            else:
                self._buffer(session, frame)
        self._inc("notifications_published")
        if sends:
            await asyncio.gather(*sends)
        return uid

    async def publish_generated(
        self, family: str | None = None, *, extension_id: str | None = None
    ) -> str:
        """Publish one synthetic event of ``family`` (random when ``None``) from the catalog,
        for ``extension_id`` (default: the authorised user). Returns its ``uuid``."""
        from rcstream.emulator import catalog

        fam = family if family is not None else self._rng.choice(catalog.FAMILIES)
        event, body = catalog.generate(
            fam,
            account_id=self._account_id,
            extension_id=extension_id or self.extension_id,
            rng=self._rng,
        )
        return await self.publish(event, body)

    def _buffer(self, session: _GatewaySession, frame: wire.Frame) -> None:
        session.buffer.append(frame)
        self._stats.notifications_buffered += 1
        while len(session.buffer) > max(0, self.recovery_buffer_size):
            session.buffer.popleft()
            self._stats.notifications_dropped += 1
        self._bump()

    async def _deliver(
        self, session: _GatewaySession, conn: _Connection, frame: wire.Frame
    ) -> None:
        if await self._send(conn, frame):
            self._inc("notifications_sent")
        elif session.id in self._gw:
            self._buffer(session, frame)

    async def _generator(self) -> None:
        while True:
            await asyncio.sleep(1.0 / self.event_rate)
            try:
                await self.publish_generated()
            except Exception:  # pragma: no cover - a catalog bug must not stop the server
                logger.exception("Emulator could not publish a synthetic event")

    # ------------------------------------------------------------------ HTTP

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        if path == "/restapi/oauth/token":
            return await self._oauth_token(request) if method == "POST" else _not_found()
        if path == "/restapi/oauth/revoke":
            return await self._oauth_revoke(request) if method == "POST" else _not_found()
        if path == "/restapi/oauth/wstoken":
            return await self._oauth_wstoken(request) if method == "POST" else _not_found()
        ctx_or_error = self._bearer(request)
        if isinstance(ctx_or_error, web.Response):
            return ctx_or_error
        ctx = ctx_or_error
        forced = self._forced_rate_limit("request")
        if forced is not None:
            return _json(429, forced.body, forced.headers)
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _json(400, wire.rc_error("CMN-103", "JSON can't be parsed."))
        query = {k: request.query.getall(k) for k in request.query}
        reply = self._api(method, path, query, body, ctx, gateway=None)
        return _json(reply.status, reply.body, reply.headers)

    def _bearer(self, request: web.Request) -> _AuthContext | web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _json(401, wire.rc_error("OAU-134", "Invalid Authorization header."))
        return self._access_context(token.strip())

    def _access_context(self, token: str) -> _AuthContext | web.Response:
        rec = self._access.get(token)
        if rec is None:
            return _json(401, wire.rc_error("OAU-129", "Access token corrupted."))
        if rec.expires_at <= time.monotonic():
            return _json(401, wire.rc_error("OAU-128", "Access token expired."))
        oauth = self._oauth[rec.oauth_session_id]
        return _AuthContext(
            oauth=oauth, account_id=self._account_id, extension_id=oauth.extension_id
        )

    # --- OAuth

    def _basic_client(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        cid, sep, secret = decoded.partition(":")
        return (cid, secret) if sep else None

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        assert self.auth_rate_limit is not None
        return {
            "X-Rate-Limit-Group": "Auth",
            "X-Rate-Limit-Limit": str(self.auth_rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, remaining)),
            "X-Rate-Limit-Window": wire.seconds_header(self.auth_rate_window),
        }

    def _forced_rate_limit(self, endpoint: str) -> _Reply | None:
        queue = self._forced_429[endpoint]
        if not queue:
            return None
        retry_after = queue.popleft()
        self._inc("rate_limited")
        headers = {"Retry-After": wire.seconds_header(retry_after)}
        if endpoint != "request":
            headers["X-Rate-Limit-Group"] = "Auth"
        logger.debug("Emulator: forced 429 on %s", endpoint)
        return _Reply(429, wire.rc_error("CMN-301", "Request rate exceeded"), headers)

    def _auth_rate(
        self, endpoint: str, client_id: str
    ) -> tuple[web.Response | None, dict[str, str]]:
        """Apply the Auth rate-limit group; return (429 response or None, headers to add)."""
        forced = self._forced_rate_limit(endpoint)
        if forced is not None:
            headers = dict(forced.headers or {})
            if self.auth_rate_limit is not None:
                headers.update(self._rate_headers(0))
            return _json(429, forced.body, headers), {}
        limit = self.auth_rate_limit
        if limit is None:
            return None, {}
        now = time.monotonic()
        hits = self._auth_hits.setdefault(client_id, deque())
        while hits and hits[0] <= now - self.auth_rate_window:
            hits.popleft()
        penalty = self._auth_penalty.get(client_id)
        if penalty is not None and now >= penalty:
            del self._auth_penalty[client_id]
            hits.clear()
            penalty = None
        if penalty is not None or len(hits) >= limit:
            # over the limit: a penalty of one window, restarted by every request made
            # during it (the platform's documented rule), so Retry-After must be honoured
            self._auth_penalty[client_id] = now + self.auth_rate_window
            wait = self.auth_rate_window
            if float(self.auth_rate_window).is_integer():
                retry = str(max(1, math.ceil(wait)))
            else:
                retry = f"{max(1, math.ceil(wait * 1000)) / 1000:.3f}"  # rounded up
            self._inc("rate_limited")
            headers = {"Retry-After": retry, **self._rate_headers(0)}
            return _json(429, wire.rc_error("CMN-301", "Request rate exceeded"), headers), {}
        hits.append(now)
        return None, self._rate_headers(limit - len(hits))

    async def _oauth_token(self, request: web.Request) -> web.Response:
        client = self._basic_client(request)
        if client is None:
            self._inc("grant_failures")
            return _json(
                401,
                wire.oauth_error("invalid_client", "OAU-123", "Invalid Authorization header value"),
            )
        limited, headers = self._auth_rate("token", client[0])
        if limited is not None:
            return limited
        if client != (self._client_id, self._client_secret):
            self._inc("grant_failures")
            return _json(
                401,
                wire.oauth_error("invalid_client", "OAU-146", "Invalid client credentials"),
                headers,
            )
        if request.content_type != "application/x-www-form-urlencoded":
            self._inc("grant_failures")
            return _json(
                400,
                wire.oauth_error(
                    "invalid_request",
                    "OAU-101",
                    "Content type must be application/x-www-form-urlencoded",
                ),
                headers,
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        grant = form.get("grant_type", "")

        def invalid_grant(code: str, message: str) -> web.Response:
            self._inc("grant_failures")
            return _json(400, wire.oauth_error("invalid_grant", code, message), headers)

        if grant == JWT_GRANT:
            ext = self._jwts.get(form.get("assertion", ""))
            if ext is None:
                return invalid_grant(
                    "OAU-140", "Invalid resource owner credentials (JWT assertion)"
                )
            oauth = self._new_oauth_session(ext)
            key = "jwt"
        elif grant == "password":
            ext_number = form.get("extension", "")
            match = (
                [e for e in self._extensions if e.extension_number == ext_number]
                if ext_number
                else [self._extensions[0]]
            )
            if (
                form.get("username") != self._username
                or form.get("password") != self._password
                or not match
            ):
                return invalid_grant("OAU-140", "Invalid resource owner credentials")
            oauth = self._new_oauth_session(match[0].id)
            key = "password"
        elif grant == "refresh_token":
            token = form.get("refresh_token", "")
            sid = self._refresh.get(token)
            found = self._oauth.get(sid) if sid else None
            if found is None or found.revoked or found.client_id != client[0]:
                return invalid_grant("OAU-211", "Token not found")
            if found.refresh_expires_at <= time.monotonic():
                return invalid_grant("OAU-211", "Refresh token has expired")
            oauth = found
            self._refresh.pop(token, None)
            if oauth.access_token is not None:
                self._access.pop(oauth.access_token, None)
            oauth.refreshes += 1
            key = "refresh_token"
            self._inc("token_refreshes")
        elif not grant:
            return invalid_grant("OAU-101", "Parameter [grant_type] is invalid")
        else:
            self._inc("grant_failures")
            return _json(
                400,
                wire.oauth_error(
                    "unsupported_grant_type",
                    "OAU-112",
                    f"The client is unauthorized for the required grant type: [{grant}]",
                ),
                headers,
            )
        body = self._issue_tokens(oauth, form)
        self._inc_map(self._stats.grants, key)
        logger.debug("Emulator: %s grant for extension %s", key, oauth.extension_id)
        return _json(200, body, headers)

    def _new_oauth_session(self, extension_id: str) -> _OAuthSession:
        oauth = _OAuthSession(
            id=secrets.token_hex(12),
            client_id=self._client_id,
            extension_id=extension_id,
            endpoint_id=secrets.token_urlsafe(16),
        )
        self._oauth[oauth.id] = oauth
        return oauth

    def _issue_tokens(self, oauth: _OAuthSession, form: Mapping[str, str]) -> dict[str, Any]:
        def ttl(name: str, configured: float) -> float:
            try:
                requested = float(form[name])
            except (KeyError, ValueError):
                return configured
            return min(configured, requested) if requested > 0 else configured

        access_ttl = ttl("access_token_ttl", self.access_token_ttl)
        refresh_ttl = ttl("refresh_token_ttl", self.refresh_token_ttl)
        now = time.monotonic()
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_urlsafe(48)
        oauth.access_token = access
        oauth.refresh_token = refresh
        oauth.refresh_expires_at = now + refresh_ttl
        self._access[access] = _AccessToken(oauth_session_id=oauth.id, expires_at=now + access_ttl)
        self._refresh[refresh] = oauth.id
        scope = list(_SCOPES)
        if not self.deny_websocket_permission:
            scope.append("WebSocketsSubscription")
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": wire.number(access_ttl),
            "refresh_token": refresh,
            "refresh_token_expires_in": wire.number(refresh_ttl),
            "scope": " ".join(scope),
            "owner_id": oauth.extension_id,
            "endpoint_id": oauth.endpoint_id,
            "session_id": oauth.id,
        }

    async def _oauth_revoke(self, request: web.Request) -> web.Response:
        client = self._basic_client(request)
        if client != (self._client_id, self._client_secret):
            return _json(
                401, wire.oauth_error("invalid_client", "OAU-123", "Invalid client credentials")
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        token = form.get("token") or request.query.get("token", "")
        sid = None
        if token in self._access:
            sid = self._access[token].oauth_session_id
        elif token in self._refresh:
            sid = self._refresh[token]
        oauth = self._oauth.get(sid) if sid else None
        if oauth is not None and not oauth.revoked:
            await self._revoke(
                oauth,
                error_code="OAU-129",
                message="OAuth session was revoked",
                close_sockets=self.revoke_closes_sockets,
            )
        return web.Response(status=200)

    async def _revoke(
        self, oauth: _OAuthSession, *, error_code: str, message: str, close_sockets: bool
    ) -> None:
        oauth.revoked = True
        for token in [t for t, rec in self._access.items() if rec.oauth_session_id == oauth.id]:
            del self._access[token]
        for token in [t for t, sid in self._refresh.items() if sid == oauth.id]:
            del self._refresh[token]
        for token in [t for t, rec in self._ws_tokens.items() if rec.oauth_session_id == oauth.id]:
            del self._ws_tokens[token]
        self._inc("revocations")
        if close_sockets:
            conns = [
                c
                for c in self._conns.values()
                if c.session is not None
                and c.session.oauth_session_id == oauth.id
                and not c.closing
            ]
            await asyncio.gather(
                *(
                    self._terminate(
                        c,
                        (error_code, message),
                        close_code=1008,
                        reason_text=message,
                        reason="revoked",
                    )
                    for c in conns
                )
            )

    async def _oauth_wstoken(self, request: web.Request) -> web.Response:
        ctx = self._bearer(request)
        if isinstance(ctx, web.Response):
            return ctx
        limited, headers = self._auth_rate("wstoken", ctx.oauth.client_id)
        if limited is not None:
            return limited
        token = secrets.token_urlsafe(40)
        self._ws_tokens[token] = _WsToken(
            oauth_session_id=ctx.oauth.id, expires_at=time.monotonic() + self.ws_token_ttl
        )
        self._inc("wstokens")
        body = {
            "uri": self.ws_url,
            "ws_access_token": token,
            "expires_in": wire.number(self.ws_token_ttl),
        }
        return _json(200, body, headers)

    # --- REST API (HTTP and ClientRequest share it)

    def _api(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        body: Any,
        ctx: _AuthContext,
        *,
        gateway: _GatewaySession | None,
    ) -> _Reply:
        parts = path.rstrip("/").split("/") if path != "/" else [""]
        # parts[0] == "" for absolute paths
        p = parts[1:]
        if p[:3] == ["restapi", "v1.0", "subscription"]:
            rest = p[3:]
            if not rest:
                if method == "GET":
                    return self._list_subscriptions(ctx)
                if method == "POST":
                    return self._create_subscription(body, ctx, gateway)
            elif len(rest) == 1:
                if method == "GET":
                    return self._read_subscription(rest[0], ctx)
                if method == "PUT":
                    return self._update_subscription(rest[0], body, ctx, gateway)
                if method == "DELETE":
                    return self._delete_subscription(rest[0], ctx)
            elif len(rest) == 2 and rest[1] == "renew" and method == "POST":
                return self._renew_subscription(rest[0], ctx)
        elif (
            p[:3] == ["restapi", "v1.0", "account"]
            and len(p) == 7
            and p[4] == "extension"
            and p[6] == "sms"
            and method == "POST"
        ):
            return self._send_sms(p[3], p[5], body, ctx)
        elif p[:3] == ["restapi", "v1.0", "account"] and len(p) >= 4 and method == "GET":
            if p[3] not in ("~", self._account_id):
                return _Reply(
                    404,
                    wire.rc_error(
                        "CMN-102",
                        "Resource for parameter [accountId] is not found",
                        parameterName="accountId",
                    ),
                )
            if len(p) == 4:
                return _Reply(200, self._account_body())
            if p[4] == "extension" and len(p) == 5:
                return self._extension_list(query)
            if p[4] == "extension" and len(p) == 6:
                ext_id = ctx.extension_id if p[5] == "~" else p[5]
                ext = self._find_extension(ext_id)
                if ext is None:
                    return _Reply(
                        404,
                        wire.rc_error(
                            "CMN-102",
                            "Resource for parameter [extensionId] is not found",
                            parameterName="extensionId",
                        ),
                    )
                return _Reply(200, self._extension_body(ext, full=True))
        return _Reply(
            404,
            wire.rc_error(
                "CMN-102",
                f"Resource for parameter [path] is not found: {method} {path}",
                parameterName="path",
            ),
        )

    def _send_sms(self, account: str, extension: str, body: Any, ctx: _AuthContext) -> _Reply:
        """``POST .../extension/~/sms``: accept an outbound SMS and return its message record.

        The message is not delivered anywhere; it is kept in :attr:`Emulator.sent_sms`.
        """
        if account not in ("~", self._account_id) or extension not in ("~", ctx.extension_id):
            return _Reply(
                404,
                wire.rc_error(
                    "CMN-102",
                    "Resource for parameter [extensionId] is not found",
                    parameterName="extensionId",
                ),
            )
        problems = []
        if not isinstance(body, dict):
            body = {}
            problems.append("body")
        to = body.get("to")
        if not (isinstance(to, list) and to and all(isinstance(t, dict) for t in to)):
            problems.append("to")
        if not isinstance(body.get("text"), str) or not body.get("text"):
            problems.append("text")
        if problems:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    f"Parameter [{problems[0]}] value is invalid",
                    parameterName=problems[0],
                ),
            )
        msg_id = str(self._rng.randrange(10**11, 10**12))
        now = wire.iso_z(wire.utcnow())
        base = f"{self.server_url}/restapi/v1.0/account/{self._account_id}"
        record = {
            "uri": f"{base}/extension/{ctx.extension_id}/message-store/{msg_id}",
            "id": int(msg_id),
            "to": to,
            "from": body.get("from") or {"phoneNumber": self._username},
            "type": "SMS",
            "creationTime": now,
            "readStatus": "Read",
            "priority": "Normal",
            "attachments": [],
            "direction": "Outbound",
            "availability": "Alive",
            "subject": body["text"],
            "messageStatus": "Queued",
            "conversationId": msg_id,
            "lastModifiedTime": now,
        }
        self.sent_sms.append(record)
        self._inc("sms_sent")
        return _Reply(200, record)

    def _find_extension(self, ext_id: str) -> ExtensionRecord | None:
        for e in self._extensions:
            if e.id == ext_id:
                return e
        return None

    def _account_body(self) -> dict[str, Any]:
        return {
            "uri": f"{self.server_url}/restapi/v1.0/account/{self._account_id}",
            "id": int(self._account_id),
            "mainNumber": self._username,
            "status": "Confirmed",
            "serviceInfo": {
                "uri": f"{self.server_url}/restapi/v1.0/account/{self._account_id}/service-info",
                "brand": {"id": "1210", "name": "RingCentral"},
            },
            "operator": self._extension_body(self._extensions[0], full=False),
        }

    def _extension_body(self, ext: ExtensionRecord, *, full: bool) -> dict[str, Any]:
        base = f"{self.server_url}/restapi/v1.0/account/{self._account_id}"
        body: dict[str, Any] = {
            "uri": f"{base}/extension/{ext.id}",
            "id": int(ext.id),
            "extensionNumber": ext.extension_number,
            "name": ext.name,
            "type": "User",
            "status": "Enabled",
            "contact": {
                "firstName": ext.first_name,
                "lastName": ext.last_name,
                "email": f"{ext.first_name}.{ext.last_name}@example.com".lower(),
            },
        }
        if full:
            body["account"] = {"uri": base, "id": self._account_id}
            body["permissions"] = {
                "admin": {"enabled": ext.id == self._extensions[0].id},
                "internationalCalling": {"enabled": False},
            }
            body["setupWizardState"] = "Completed"
            body["hidden"] = False
        return body

    def _extension_list(self, query: Mapping[str, list[str]]) -> _Reply:
        def int_param(name: str, default: int, maximum: int) -> int | None:
            values = query.get(name)
            if not values:
                return default
            try:
                v = int(values[0])
            except ValueError:
                return None
            return v if 1 <= v <= maximum else None

        page = int_param("page", 1, 10**9)
        per_page = int_param("perPage", 100, 1000)
        if page is None:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101", "Parameter [page] value is invalid.", parameterName="page"
                ),
            )
        if per_page is None:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101", "Parameter [perPage] value is invalid.", parameterName="perPage"
                ),
            )
        total = len(self._extensions)
        total_pages = max(1, math.ceil(total / per_page))
        start = (page - 1) * per_page
        records = [
            self._extension_body(e, full=False) for e in self._extensions[start : start + per_page]
        ]
        base = f"{self.server_url}/restapi/v1.0/account/{self._account_id}/extension"

        def page_uri(n: int) -> dict[str, str]:
            return {"uri": f"{base}?{urlencode({'page': n, 'perPage': per_page})}"}

        navigation = {"firstPage": page_uri(1), "lastPage": page_uri(total_pages)}
        if page < total_pages:
            navigation["nextPage"] = page_uri(page + 1)
        if 1 < page <= total_pages + 1:
            navigation["previousPage"] = page_uri(page - 1)
        paging: dict[str, Any] = {
            "page": page,
            "totalPages": total_pages,
            "perPage": per_page,
            "totalElements": total,
        }
        if records:
            paging["pageStart"] = start
            paging["pageEnd"] = start + len(records) - 1
        return _Reply(
            200,
            {
                "uri": f"{base}?{urlencode({'page': page, 'perPage': per_page})}",
                "records": records,
                "navigation": navigation,
                "paging": paging,
            },
        )

    # --- subscriptions

    def _subscription_body(self, sub: _Subscription) -> dict[str, Any]:
        now = wire.utcnow()
        expires = sub.expires_at_wall or (sub.created + timedelta(seconds=sub.expires_in))
        remaining = int((expires - now).total_seconds())
        delivery: dict[str, Any] = {"transportType": sub.transport}
        if sub.address is not None:
            delivery["address"] = sub.address
        delivery["encryption"] = False
        return {
            "uri": f"{self.server_url}/restapi/v1.0/subscription/{sub.id}",
            "id": sub.id,
            "creationTime": wire.iso_z(sub.created),
            "status": "Active",
            "eventFilters": [f.text for f in sub.filters],
            **(
                {
                    "disabledFilters": [
                        {"filter": t, "reason": "Permission", "message": "Insufficient permissions"}
                        for t in sub.disabled
                    ]
                }
                if sub.disabled
                else {}
            ),
            "expirationTime": wire.iso_z(expires),
            "expiresIn": max(0, min(sub.expires_in - 1, remaining)),
            "deliveryMode": delivery,
        }

    def _owned(self, sub_id: str, ctx: _AuthContext) -> _Subscription | None:
        sub = self._subs.get(sub_id)
        if (
            sub is None
            or sub.client_id != ctx.oauth.client_id
            or sub.extension_id != ctx.extension_id
        ):
            return None
        return sub

    def _sub_not_found(self, sub_id: str) -> _Reply:
        return _Reply(
            404,
            wire.rc_error(
                "SUB-507", f"Subscription with key [{sub_id}] was not found or has expired"
            ),
        )

    def _parse_filters(self, body: Any, ctx: _AuthContext) -> list[EventFilter] | _Reply:
        self._disabled_now = []
        raw = body.get("eventFilters") if isinstance(body, dict) else None
        if not isinstance(raw, list) or not raw:
            return _Reply(
                400, wire.rc_error("SUB-508", "Invalid event filters: [eventFilters is required]")
            )
        if self.deny_websocket_permission:
            return _permission_denied()
        parsed: list[EventFilter] = []
        for item in raw:
            try:
                f = parse_filter(item, account_id=self._account_id, extension_id=ctx.extension_id)
            except FilterError as exc:
                return _Reply(exc.status, wire.rc_error(exc.code, exc.message))
            if item in self.forbidden_filters or f.text in self.forbidden_filters:
                return _permission_denied(str(item))
            if item in self.disabled_filters or f.text in self.disabled_filters:
                # accepted but not granted: listed in disabledFilters, never delivered
                self._disabled_now.append(f.text)
                continue
            if f not in parsed:
                parsed.append(f)
        return parsed

    def _count_user_subs(self, ctx: _AuthContext) -> int:
        return sum(
            1
            for s in self._subs.values()
            if s.client_id == ctx.oauth.client_id and s.extension_id == ctx.extension_id
        )

    def _create_subscription(
        self, body: Any, ctx: _AuthContext, gateway: _GatewaySession | None
    ) -> _Reply:
        if not isinstance(body, dict):
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101", "Parameter [body] value is invalid.", parameterName="body"
                ),
            )
        delivery = body.get("deliveryMode")
        transport = delivery.get("transportType") if isinstance(delivery, dict) else None
        if not isinstance(transport, str):
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    "Parameter [deliveryMode.transportType] value is invalid.",
                    parameterName="deliveryMode.transportType",
                ),
            )
        address = None
        if gateway is not None:
            if transport != "WebSocket":
                return _Reply(
                    400,
                    wire.rc_error(
                        "CMN-101",
                        f"Parameter [deliveryMode.transportType] value is invalid: only WebSocket "
                        f"subscriptions can be created over the gateway, not {transport}",
                        parameterName="deliveryMode.transportType",
                    ),
                )
        elif transport == "WebSocket":
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    "Parameter [deliveryMode.transportType] value is invalid: WebSocket "
                    "subscriptions are created over the WebSocket gateway",
                    parameterName="deliveryMode.transportType",
                ),
            )
        elif transport == "WebHook":
            address = delivery.get("address") if isinstance(delivery, dict) else None
            if not isinstance(address, str) or not address.startswith(("http://", "https://")):
                return _Reply(
                    400,
                    wire.rc_error(
                        "CMN-101",
                        "Parameter [deliveryMode.address] value is invalid.",
                        parameterName="deliveryMode.address",
                    ),
                )
        else:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    f"Parameter [deliveryMode.transportType] value is invalid: {transport}",
                    parameterName="deliveryMode.transportType",
                ),
            )
        filters = self._parse_filters(body, ctx)
        if isinstance(filters, _Reply):
            return filters
        replaced = None
        if gateway is not None and gateway.subscription_id in self._subs:
            replaced = gateway.subscription_id
        count = self._count_user_subs(ctx) - (1 if replaced else 0)
        if count >= self.subscription_limit:
            return _Reply(403, wire.rc_error("SUB-505", "Subscriptions limit exceeded"))
        if replaced is not None:
            del self._subs[replaced]
            self._inc("subscriptions_replaced")
        created = wire.utcnow()
        expires_in = _WS_EXPIRES_IN
        if transport == "WebHook":
            try:
                expires_in = int(body.get("expiresIn", _WEBHOOK_EXPIRES_IN))
            except (TypeError, ValueError):
                return _Reply(
                    400,
                    wire.rc_error(
                        "CMN-101",
                        "Parameter [expiresIn] value is invalid.",
                        parameterName="expiresIn",
                    ),
                )
        sub = _Subscription(
            id=wire.new_id(),
            client_id=ctx.oauth.client_id,
            account_id=self._account_id,
            extension_id=ctx.extension_id,
            filters=filters,
            disabled=list(self._disabled_now),
            transport=transport,
            created=created,
            expires_in=expires_in,
            address=address,
            gateway_session_id=gateway.id if gateway else None,
            expires_at_wall=created + timedelta(seconds=expires_in),
        )
        self._subs[sub.id] = sub
        if gateway is not None:
            gateway.subscription_id = sub.id
        self._inc("subscriptions_created")
        logger.debug("Emulator: subscription %s created (%s)", sub.id, transport)
        return _Reply(200, self._subscription_body(sub))

    def _list_subscriptions(self, ctx: _AuthContext) -> _Reply:
        records = [
            self._subscription_body(s)
            for s in self._subs.values()
            if s.client_id == ctx.oauth.client_id and s.extension_id == ctx.extension_id
        ]
        return _Reply(
            200, {"uri": f"{self.server_url}/restapi/v1.0/subscription", "records": records}
        )

    def _read_subscription(self, sub_id: str, ctx: _AuthContext) -> _Reply:
        sub = self._owned(sub_id, ctx)
        return (
            self._sub_not_found(sub_id)
            if sub is None
            else _Reply(200, self._subscription_body(sub))
        )

    def _update_subscription(
        self, sub_id: str, body: Any, ctx: _AuthContext, gateway: _GatewaySession | None
    ) -> _Reply:
        sub = self._owned(sub_id, ctx)
        if sub is None:
            return self._sub_not_found(sub_id)
        if sub.transport == "WebSocket" and gateway is None:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    "WebSocket subscriptions cannot be updated over HTTP; "
                    "use the WebSocket gateway",
                    parameterName="deliveryMode",
                ),
            )
        if isinstance(body, dict) and "eventFilters" in body:
            filters = self._parse_filters(body, ctx)
            if isinstance(filters, _Reply):
                return filters
            sub.filters = filters
            sub.disabled = list(self._disabled_now)
        elif self.deny_websocket_permission and sub.transport == "WebSocket":
            return _permission_denied()
        sub.expires_at_wall = wire.utcnow() + timedelta(seconds=sub.expires_in)
        if gateway is not None and sub.gateway_session_id != gateway.id:
            # A PUT from another session (e.g. after a process restart) moves the
            # subscription here; the session's previous subscription is replaced.
            old_session = self._gw.get(sub.gateway_session_id or "")
            if old_session is not None and old_session.subscription_id == sub.id:
                old_session.subscription_id = None
            if gateway.subscription_id and gateway.subscription_id in self._subs:
                del self._subs[gateway.subscription_id]
                self._inc("subscriptions_replaced")
            sub.gateway_session_id = gateway.id
            gateway.subscription_id = sub.id
        self._inc("subscriptions_updated")
        return _Reply(200, self._subscription_body(sub))

    def _delete_subscription(self, sub_id: str, ctx: _AuthContext) -> _Reply:
        sub = self._owned(sub_id, ctx)
        if sub is None:
            return self._sub_not_found(sub_id)
        self._drop_subscription(sub)
        self._inc("subscriptions_deleted")
        return _Reply(204, None)

    def _drop_subscription(self, sub: _Subscription) -> None:
        self._subs.pop(sub.id, None)
        session = self._gw.get(sub.gateway_session_id or "")
        if session is not None and session.subscription_id == sub.id:
            session.subscription_id = None
        self._bump()

    def _renew_subscription(self, sub_id: str, ctx: _AuthContext) -> _Reply:
        sub = self._owned(sub_id, ctx)
        if sub is None:
            return self._sub_not_found(sub_id)
        sub.expires_at_wall = wire.utcnow() + timedelta(seconds=sub.expires_in)
        self._inc("subscriptions_updated")
        return _Reply(200, self._subscription_body(sub))

    # ------------------------------------------------------------------ gateway

    def _make_jwt(self, extension_id: str, *, jti: str) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64url(
            json.dumps(
                {
                    "aud": "https://platform.ringcentral.com/restapi/oauth/token",
                    "sub": extension_id,
                    "iss": "https://platform.ringcentral.com",
                    "exp": 3786825600,
                    "iat": 1704067200,
                    "jti": jti,
                },
                separators=(",", ":"),
            ).encode()
        )
        sig = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(sig)}"

    def _make_wsc(self, session_id: str) -> str:
        payload = _b64url(json.dumps({"v": 1, "s": session_id}, separators=(",", ":")).encode())
        sig = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{payload}.{sig}"

    def _parse_wsc(self, token: str) -> str | None:
        payload, sep, sig = token.partition(".")
        if not sep:
            return None
        expected = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(expected, sig):
            return None
        try:
            data = json.loads(_b64url_decode(payload))
        except (ValueError, binascii.Error):
            return None
        sid = data.get("s") if isinstance(data, dict) else None
        return sid if isinstance(sid, str) else None

    def _details(self, session: _GatewaySession) -> dict[str, Any]:
        return {
            "creationTime": wire.iso_offset(session.created),
            "maxConnectionsPerSession": self.max_connections_per_session,
            "recoveryBufferSize": self.recovery_buffer_size,
            "recoveryTimeout": wire.number(self.recovery_timeout),
            "idleTimeout": wire.number(self.idle_timeout),
            "absoluteTimeout": wire.number(self.absolute_timeout),
            "maxActiveRequests": self.max_active_requests,
        }

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, autoclose=False, timeout=self.close_timeout)
        if not ws.can_prepare(request).ok:
            return _json(
                400,
                wire.rc_error("CMN-104", "Cannot parse request: a WebSocket upgrade is required"),
            )
        await ws.prepare(request)
        now = time.monotonic()
        conn = _Connection(
            id=next(self._conn_ids),
            ws=ws,
            request=request,
            opened_at=now,
            last_activity=now,
            last_ping_at=now,
        )
        self._conns[conn.id] = conn
        self._inc("connections")
        watchdog: asyncio.Task[None] | None = None
        try:
            if self._closing:
                await self._terminate(
                    conn, None, close_code=1001, reason_text="Going away", reason="shutdown"
                )
                return ws
            if not await self._open_session(conn, request):
                return ws
            watchdog = asyncio.get_running_loop().create_task(
                self._watchdog(conn), name=f"rcstream-emulator-watchdog-{conn.id}"
            )
            await self._receive_loop(conn)
        finally:
            if watchdog is not None and not watchdog.done():
                if conn.closed_by_watchdog:
                    await asyncio.wait([watchdog])
                else:
                    watchdog.cancel()
                    await asyncio.wait([watchdog])
            self._conns.pop(conn.id, None)
            if not conn.closing:
                self._inc_map(self._stats.closes_by_reason, "client")
                conn.closing = True
            self._detach(conn)
            logger.debug("Emulator: connection %d ended", conn.id)
        return ws

    async def _open_session(self, conn: _Connection, request: web.Request) -> bool:
        token = request.query.get("access_token", "")
        if not token:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else ""
        if not token:
            self._inc("connections_rejected")
            await self._terminate(
                conn,
                None,
                close_code=4400,
                reason_text="Missing access token",
                reason="missing_token",
            )
            return False
        rec = self._ws_tokens.get(token)
        problem: tuple[str, str] | None = None
        now = time.monotonic()
        if rec is None:
            problem = ("OAU-129", "Access token corrupted")
        elif rec.expires_at <= now:
            problem = ("OAU-128", "Access token expired")
        elif rec.used and self.ws_token_single_use:
            problem = ("OAU-129", "WebSocket access token has already been used")
        elif self._oauth[rec.oauth_session_id].revoked:
            problem = ("OAU-129", "Access token corrupted")
        if problem is not None or rec is None:
            self._inc("connections_rejected")
            await self._terminate(
                conn,
                problem,
                close_code=1008,
                reason_text=problem[1] if problem else "",
                reason="bad_token",
            )
            return False
        rec.used = True
        oauth = self._oauth[rec.oauth_session_id]
        recovery: dict[str, Any] = {}
        session: _GatewaySession | None = None
        if "wsc" in request.query:
            session_id = self._parse_wsc(request.query["wsc"])
            if session_id is None:
                self._inc("connections_rejected")
                await self._terminate(
                    conn,
                    ("WSG-400", "Malformed WebSocket session context token"),
                    close_code=1008,
                    reason_text="Malformed WebSocket session context token",
                    reason="malformed_wsc",
                )
                return False
            code = self._recovery_problem(session_id, oauth)
            if code is None:
                session = self._gw[session_id]
                recovery = {"recoveryState": "Successful"}
                old = session.connection
                if old is not None:
                    old.session = None
                    session.connection = None
                    self._abort(old, "takeover")
                self._inc("recoveries_succeeded")
            else:
                recovery = {"recoveryState": "Failed", "recoveryErrorCode": code}
                self._inc("recoveries_failed")
            logger.debug("Emulator: connection %d recovery %s", conn.id, recovery["recoveryState"])
        if session is None:
            sid = wire.new_id()
            session = _GatewaySession(
                id=sid,
                oauth_session_id=oauth.id,
                client_id=oauth.client_id,
                account_id=self._account_id,
                extension_id=oauth.extension_id,
                created=wire.utcnow(),
                wsc_token=self._make_wsc(sid),
            )
            self._gw[sid] = session
        async with conn.send_lock:
            session.connection = conn
            session.detached_at = None
            session.connections += 1
            conn.session = session
            session.wsc_sequence += 1
            replay = list(session.buffer) if recovery.get("recoveryState") == "Successful" else []
            session.buffer.clear()
            frame = wire.connection_details_frame(
                wsc_token=session.wsc_token,
                wsc_sequence=session.wsc_sequence,
                details={**self._details(session), **recovery},
            )
            ok = await self._send_unlocked(conn, frame, add_wsc=False)
            for i, item in enumerate(replay):
                if not ok or not await self._send_unlocked(conn, item):
                    session.buffer.extendleft(reversed(replay[i:]))
                    break
                self._stats.notifications_sent += 1
                self._stats.notifications_replayed += 1
        self._janitor_wake.set()
        self._bump()
        logger.debug("Emulator: connection %d attached to session %s", conn.id, session.id)
        return True

    def _recovery_problem(self, session_id: str, oauth: _OAuthSession) -> str | None:
        if self._fail_recovery:
            return self._fail_recovery.popleft()
        session = self._gw.get(session_id)
        if (
            session is not None
            and session.detached_at is not None
            and time.monotonic() - session.detached_at > self.recovery_timeout
        ):
            self._expire_session(session)
            session = None
        if session is None:
            return "WSG-1005"
        if session.oauth_session_id != oauth.id:
            return "WSG-1003"
        if session.subscription_id is None or session.subscription_id not in self._subs:
            return "WSG-1005"
        return None

    def _detach(self, conn: _Connection) -> None:
        session = conn.session
        conn.session = None
        if session is not None and session.connection is conn:
            session.connection = None
            session.detached_at = time.monotonic()
            self._janitor_wake.set()
        self._bump()

    def _expire_session(self, session: _GatewaySession) -> None:
        self._gw.pop(session.id, None)
        if session.subscription_id is not None:
            sub = self._subs.pop(session.subscription_id, None)
            if sub is not None:
                logger.debug("Emulator: subscription %s ended with its session", sub.id)
        session.buffer.clear()
        self._inc("sessions_expired")

    def _sweep_tokens(self, now: float) -> None:
        """Forget spent credentials so a long-running emulator does not grow: expired ws
        tokens, and access tokens expired more than a grace period ago (until then they
        still answer "expired" rather than "unknown")."""
        grace = 600.0
        for token in [t for t, r in self._ws_tokens.items() if r.expires_at <= now]:
            del self._ws_tokens[token]
        for token in [t for t, r in self._access.items() if r.expires_at + grace <= now]:
            del self._access[token]
        for client in [c for c, hits in self._auth_hits.items() if not hits]:
            del self._auth_hits[client]

    async def _janitor(self) -> None:
        """Expire detached sessions once their recovery window has passed, and sweep spent
        tokens once a minute."""
        while True:
            now = time.monotonic()
            self._sweep_tokens(now)
            next_deadline: float | None = now + 60.0
            for session in list(self._gw.values()):
                if session.detached_at is None:
                    continue
                deadline = session.detached_at + self.recovery_timeout
                if deadline <= now:
                    self._expire_session(session)
                elif next_deadline is None or deadline < next_deadline:
                    next_deadline = deadline
            self._janitor_wake.clear()
            delay = None if next_deadline is None else max(0.0, next_deadline - now)
            try:
                async with asyncio.timeout(delay):
                    await self._janitor_wake.wait()
            except TimeoutError:
                pass

    async def _receive_loop(self, conn: _Connection) -> None:
        ws = conn.ws
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.TEXT:
                if conn.silent or conn.closing:
                    continue
                conn.last_activity = time.monotonic()
                self._inc("frames_received")
                await self._on_text(conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                continue
            elif msg.type is WSMsgType.PING:
                if not conn.silent:
                    try:
                        async with conn.send_lock:
                            await ws.pong(msg.data)
                    except (ConnectionError, RuntimeError):
                        pass
            elif msg.type is WSMsgType.PONG:
                if not conn.silent:
                    conn.pong_due = None
                    conn.wake.set()  # the next ping is due ping_interval after the last
                    self._inc("pongs_received")
            elif msg.type is WSMsgType.CLOSE:
                if conn.silent:
                    # Half-open: nobody answers the close handshake; end the TCP connection.
                    self._abort(conn, "client")
                    return
                code = msg.data if isinstance(msg.data, int) and 1000 <= msg.data < 5000 else 1000
                conn.closing = True
                self._inc_map(self._stats.closes_by_reason, "client")
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close(code=code)
                return
            else:  # CLOSING, CLOSED, ERROR
                return

    async def _bad_frame(self, conn: _Connection, code: str, message: str) -> None:
        """A frame the gateway cannot read: an ``Error`` frame, then (the strict reading,
        the default) close 1008; with ``close_on_bad_frame=False`` the socket stays open."""
        if self.close_on_bad_frame:
            await self._terminate(
                conn, (code, message), close_code=1008, reason_text=message, reason="bad_frame"
            )
        else:
            await self._send(conn, wire.error_frame(code, message, status=400))

    async def _on_text(self, conn: _Connection, text: str) -> None:
        try:
            frame = json.loads(text)
        except (ValueError, RecursionError):
            await self._bad_frame(conn, "CMN-103", "JSON can't be parsed.")
            return
        if not isinstance(frame, list) or not frame or not isinstance(frame[0], dict):
            await self._bad_frame(conn, "CMN-104", "Cannot parse request")
            return
        header = frame[0]
        kind = header.get("type")
        message_id = header.get("messageId")
        if kind == "Heartbeat":
            self._inc("heartbeats")
            mid = message_id if isinstance(message_id, str) else None
            await self._send(conn, wire.heartbeat_frame(mid, with_status=self.heartbeat_status))
        elif kind == "ClientRequest":
            await self._on_client_request(conn, header, frame[1] if len(frame) > 1 else None)
        else:
            await self._bad_frame(
                conn, "CMN-104", f"Cannot parse request: unsupported message type {kind!r}"[:120]
            )

    async def _on_client_request(
        self, conn: _Connection, header: dict[str, Any], body: Any
    ) -> None:
        self._inc("client_requests")
        message_id = header.get("messageId")
        method = header.get("method")
        path = header.get("path")
        if not isinstance(message_id, str) or not message_id:
            await self._bad_frame(conn, "CMN-104", "Cannot parse request: messageId is required")
            return
        session = conn.session
        assert session is not None
        reply: _Reply
        if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
            reply = _Reply(
                400, wire.rc_error("CMN-104", "Cannot parse request: method and path are required")
            )
        elif (forced := self._forced_rate_limit("request")) is not None:
            reply = forced
        elif path.startswith("/restapi/oauth/"):
            reply = _Reply(
                404,
                wire.rc_error(
                    "CMN-102",
                    "OAuth endpoints are not available over the WebSocket gateway",
                    parameterName="path",
                ),
            )
        else:
            oauth = self._oauth[session.oauth_session_id]
            if oauth.revoked:
                reply = _Reply(401, wire.rc_error("OAU-129", "Access token corrupted."))
            else:
                path_only, _, qs = path.partition("?")
                query = _query_dict(qs, header.get("query"))
                ctx = _AuthContext(
                    oauth=oauth, account_id=self._account_id, extension_id=oauth.extension_id
                )
                if body == "":
                    body = None
                reply = self._api(method.upper(), path_only, query, body, ctx, gateway=session)
        frame_type = (
            "ClientRequest"
            if reply.status < 400 or self.error_style == "ClientRequest"
            else "Error"
        )
        await self._send(
            conn,
            wire.client_response_frame(
                message_id=message_id,
                status=reply.status,
                body=reply.body,
                extra_headers=reply.headers,
                frame_type=frame_type,
            ),
        )

    async def _watchdog(self, conn: _Connection) -> None:
        """Per-connection timers: idle, absolute, server pings and the pong deadline."""
        while not conn.closing:
            now = time.monotonic()
            delay: float | None
            if conn.silent:
                delay = None
            else:
                absolute_at = conn.opened_at + self.absolute_timeout
                idle_at = conn.last_activity + self.idle_timeout
                if now >= absolute_at:
                    conn.closed_by_watchdog = True
                    await self._terminate(
                        conn,
                        ("WSG-903", "Absolute timeout expired"),
                        close_code=1000,
                        reason_text="Absolute timeout expired",
                        reason="absolute",
                    )
                    return
                if now >= idle_at:
                    conn.closed_by_watchdog = True
                    await self._terminate(
                        conn,
                        ("WSG-902", "Idle timeout expired"),
                        close_code=1000,
                        reason_text="Idle timeout expired",
                        reason="idle",
                    )
                    return
                if conn.pong_due is not None and now >= conn.pong_due:
                    logger.debug("Emulator: connection %d missed its pong", conn.id)
                    self._abort(conn, "pong_timeout")
                    return
                deadlines = [absolute_at, idle_at]
                if conn.pong_due is not None:
                    deadlines.append(conn.pong_due)
                elif self.ping_interval is not None:
                    ping_at = conn.last_ping_at + self.ping_interval
                    if now >= ping_at:
                        try:
                            async with conn.send_lock:
                                await conn.ws.ping(b"rcstream-emulator")
                        except (ConnectionError, RuntimeError):
                            return
                        conn.last_ping_at = time.monotonic()
                        conn.pong_due = conn.last_ping_at + self.pong_timeout
                        self._inc("pings_sent")
                        continue
                    deadlines.append(ping_at)
                delay = max(0.0, min(deadlines) - now)
            conn.wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await conn.wake.wait()
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ sending and closing

    async def _send(self, conn: _Connection, frame: wire.Frame) -> bool:
        async with conn.send_lock:
            return await self._send_unlocked(conn, frame)

    async def _send_unlocked(
        self, conn: _Connection, frame: wire.Frame, *, add_wsc: bool = True
    ) -> bool:
        if add_wsc and self.wsc_on_every_frame and conn.session is not None:
            session = conn.session
            session.wsc_sequence += 1
            frame = [
                {**frame[0], "wsc": {"token": session.wsc_token, "sequence": session.wsc_sequence}},
                *frame[1:],
            ]
        return await self._write(conn, wire.dumps(frame))

    async def _send_text(self, conn: _Connection, text: str) -> bool:
        async with conn.send_lock:
            return await self._write(conn, text)

    async def _write(self, conn: _Connection, text: str) -> bool:
        if conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    def _abort(self, conn: _Connection, reason: str) -> None:
        """End the TCP connection at once, without a close frame."""
        if not conn.closing:
            conn.closing = True
            self._inc_map(self._stats.closes_by_reason, reason)
        transport = conn.request.transport
        if transport is not None:
            transport.abort()

    async def _terminate(
        self,
        conn: _Connection,
        error: tuple[str, str] | None,
        *,
        close_code: int,
        reason_text: str,
        reason: str,
    ) -> None:
        """Optionally send an ``Error`` frame, then close with ``close_code``."""
        if conn.closing:
            return
        conn.closing = True
        self._inc_map(self._stats.closes_by_reason, reason)
        logger.debug("Emulator: closing connection %d (%s, code %d)", conn.id, reason, close_code)
        try:
            if error is not None:
                status = 401 if error[0].startswith("OAU-") else 400
                async with conn.send_lock:
                    await self._write(
                        conn, wire.dumps(wire.error_frame(error[0], error[1], status=status))
                    )
            await conn.ws.close(code=close_code, message=reason_text.encode("utf-8")[:120])
        except (ConnectionError, RuntimeError, TimeoutError):
            transport = conn.request.transport
            if transport is not None:
                transport.abort()


def _first_match(filters: list[EventFilter], path: str, params: Params) -> EventFilter | None:
    """The subscription filter an event is delivered through: the most specific match.

    When a subscription holds both a plain and a narrowed filter for one resource (presence
    and ``?detailedTelephonyState=true``), the platform delivers the detailed form ("detailed
    wins"), so the filter naming the most query parameters is preferred; ties keep order.
    """
    best: EventFilter | None = None
    for f in filters:
        if f.matches(path, params) and (best is None or len(f.params) > len(best.params)):
            best = f
    return best


def _query_dict(qs: str, query: Any) -> dict[str, list[str]]:
    from urllib.parse import parse_qs

    out: dict[str, list[str]] = {
        k: list(v) for k, v in parse_qs(qs, keep_blank_values=True).items()
    }
    if isinstance(query, dict):
        for key, value in query.items():
            values = value if isinstance(value, list) else [value]
            out.setdefault(str(key), []).extend(
                str(v).lower() if isinstance(v, bool) else str(v) for v in values
            )
    return out


def _json(
    status: int, body: dict[str, Any] | None, headers: Mapping[str, str] | None = None
) -> web.Response:
    hdrs = {"RCRequestId": wire.new_id(), **(headers or {})}
    if body is None:
        return web.Response(status=status, headers=hdrs)
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        charset="utf-8",
        headers=hdrs,
    )


def _not_found() -> web.Response:
    return _json(
        404,
        wire.rc_error(
            "CMN-102", "Resource for parameter [path] is not found", parameterName="path"
        ),
    )


def _permission_denied(filter_text: str | None = None) -> _Reply:
    what = f" to subscribe to [{filter_text}]" if filter_text else ""
    return _Reply(
        403,
        wire.rc_error(
            "SUB-528",
            f"In order to call this API endpoint{what}, application needs to have "
            "[WebSocketsSubscription] permission",
        ),
    )
