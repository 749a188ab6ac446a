"""Shared state, options and socket primitives of the emulator layers."""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import hmac
import itertools
import json
import logging
import random
import secrets
import string
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from rcstream.emulator import _wire as wire
from rcstream.emulator._filters import PresenceEventPath
from rcstream.emulator._state import (
    AccountRecord,
    EmulatorStats,
    ExtensionRecord,
    GatewaySessionInfo,
    OAuthSessionInfo,
    SubscriptionRecord,
    _AccessToken,
    _Account,
    _Connection,
    _GatewaySession,
    _OAuthSession,
    _Subscription,
    _WsToken,
)
from rcstream.emulator.webhooks import WebhookDeliverer

__all__ = ["EmulatorOptions"]

logger = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_WEBHOOK_EXPIRES_IN = 604800
_SCOPES = ("ReadAccounts", "ReadMessages", "ReadPresence", "CallControl", "TeamMessaging")
_FIRST = ("Alice", "Bob", "Carmen", "Deepak", "Erin", "Farid", "Grace", "Hiro", "Ines", "Jamal")
_LAST = ("Nguyen", "Smith", "Garcia", "Okafor", "Kowalski", "Tanaka", "Rossi", "Haddad", "Berg")

RateLimitEndpoint = Literal["token", "wstoken", "request"]
ErrorStyle = Literal["ClientRequest", "Error"]
TokenExpiry = Literal["close", "silent"]


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


@dataclass(frozen=True)
class EmulatorOptions:
    """Every :class:`~rcstream.emulator.Emulator` option, with the platform's defaults.

    ``Emulator(options=EmulatorOptions(...))`` and ``Emulator(**keywords)`` are the same;
    the keywords are the field names below. Times are in seconds. The meaning of each
    option is documented on :class:`~rcstream.emulator.Emulator` and in ``docs/emulator.md``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    extensions: int = 5
    accounts: int = 1
    account_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    jwt: str | None = None
    username: str | None = None
    password: str | None = None
    idle_timeout: float = 1800.0
    absolute_timeout: float = 86400.0
    recovery_timeout: float = 180.0
    recovery_buffer_size: int = 100
    ping_interval: float | None = 20.0
    pong_timeout: float = 10.0
    close_timeout: float = 2.0
    ws_token_ttl: float = 600.0
    ws_token_single_use: bool = True
    access_token_ttl: float = 3600.0
    refresh_token_ttl: float = 604800.0
    auth_rate_limit: int | None = 5
    auth_rate_window: float = 60.0
    subscription_limit: int = 30
    max_active_requests: int = 10
    max_connections_per_session: int = 50
    error_style: ErrorStyle = "ClientRequest"
    heartbeat_status: bool = True
    wsc_on_every_frame: bool = False
    replay_from_sequence: bool = False
    revoke_closes_sockets: bool = True
    close_on_bad_frame: bool = True
    deny_websocket_permission: bool = False
    forbidden_filters: Iterable[str] = ()
    disabled_filters: Iterable[str] = ()
    event_rate: float = 0.0
    seed: int | None = None
    presence_event_path: PresenceEventPath = "extension"
    on_token_expiry: TokenExpiry = "close"
    subscription_ttl: float = 86400.0
    oauth_session_limit: int = 5
    webhook_blacklist_after: int = 3
    """WebHook deliveries that may fail in a row (non-200, timeout, refused) before the
    subscription is ``Blacklisted``; an emulator choice, see :mod:`rcstream.emulator.webhooks`."""
    rate_clock: Callable[[], float] | None = None
    """Monotonic seconds for the Auth rate-limit group's windows and penalties (default
    :func:`time.monotonic`); a test can pass a fake clock to cross a window without
    sleeping. Other timers (gateway timeouts, token expiry) use the event loop's clock."""

    def __post_init__(self) -> None:
        if self.extensions < 1:
            raise ValueError("extensions must be at least 1")
        if self.accounts < 1:
            raise ValueError("accounts must be at least 1")
        if self.error_style not in ("ClientRequest", "Error"):
            raise ValueError("error_style must be 'ClientRequest' or 'Error'")
        if self.on_token_expiry not in ("close", "silent"):
            raise ValueError("on_token_expiry must be 'close' or 'silent'")
        if self.presence_event_path not in ("extension", "filter"):
            raise ValueError("presence_event_path must be 'extension' or 'filter'")


class _EmulatorCore:
    """State shared by every layer, the public read-only attributes and socket primitives."""

    def __init__(self, options: EmulatorOptions) -> None:
        o = options
        self.options = o
        self._host = o.host
        self._requested_port = o.port
        self._rng = random.Random(o.seed)
        rng = self._rng
        self._key = rng.randbytes(32) if o.seed is not None else secrets.token_bytes(32)

        def rc_id() -> str:
            return str(rng.randrange(100_000_000, 999_999_999)) + rng.choice(("004", "016"))

        def chars(n: int) -> str:
            return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))

        self._account_id = o.account_id or rc_id()
        self._client_id = o.client_id or chars(22)
        self._client_secret = o.client_secret or chars(43)
        self._username = o.username or "+1650555" + "".join(
            rng.choice(string.digits) for _ in "0000"
        )
        self._password = o.password or chars(16)
        self._extensions: list[ExtensionRecord] = []
        for i in range(o.extensions):
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
        if o.jwt is not None:
            self._jwts = {k: v for k, v in self._jwts.items() if v != self._extensions[0].id}
            self._jwts[o.jwt] = self._extensions[0].id
        # account 0 is the primary one (account_id, extension_ids, jwt … describe it)
        self._accounts: list[_Account] = [
            _Account(id=self._account_id, username=self._username, extensions=self._extensions)
        ]
        for _ in range(1, o.accounts):
            exts = [
                ExtensionRecord(
                    id=rc_id(),
                    extension_number=str(101 + i),
                    first_name=_FIRST[(i + 3) % len(_FIRST)],
                    last_name=_LAST[(i * 5 + 1) % len(_LAST)],
                )
                for i in range(o.extensions)
            ]
            username = "+1650555" + "".join(rng.choice(string.digits) for _ in "0000")
            self._accounts.append(_Account(id=rc_id(), username=username, extensions=exts))
            for ext in exts:
                self._jwts[self._make_jwt(ext.id, jti=chars(16))] = ext.id
        self._ext_account: dict[str, _Account] = {
            e.id: acc for acc in self._accounts for e in acc.extensions
        }

        # runtime-adjustable (set_timeouts); the rest is read from self.options
        self.idle_timeout = float(o.idle_timeout)
        self.absolute_timeout = float(o.absolute_timeout)
        self.recovery_timeout = float(o.recovery_timeout)
        self.recovery_buffer_size = int(o.recovery_buffer_size)
        self.ping_interval = None if o.ping_interval is None else float(o.ping_interval)
        self.pong_timeout = float(o.pong_timeout)
        self.close_timeout = float(o.close_timeout)
        self.ws_token_ttl = float(o.ws_token_ttl)
        self.ws_token_single_use = o.ws_token_single_use
        self.access_token_ttl = float(o.access_token_ttl)
        self.refresh_token_ttl = float(o.refresh_token_ttl)
        self.auth_rate_limit = o.auth_rate_limit
        self.auth_rate_window = float(o.auth_rate_window)
        self.subscription_limit = o.subscription_limit
        self.max_active_requests = o.max_active_requests
        self.max_connections_per_session = o.max_connections_per_session
        self.error_style: ErrorStyle = o.error_style
        self.heartbeat_status = o.heartbeat_status
        self.wsc_on_every_frame = o.wsc_on_every_frame
        self.replay_from_sequence = o.replay_from_sequence
        self.revoke_closes_sockets = o.revoke_closes_sockets
        self.close_on_bad_frame = o.close_on_bad_frame
        self.deny_websocket_permission = o.deny_websocket_permission
        self.forbidden_filters: set[str] = set(o.forbidden_filters)
        self.disabled_filters: set[str] = set(o.disabled_filters)
        self._disabled_now: list[str] = []
        self.event_rate = float(o.event_rate)

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
        self._timers: set[asyncio.TimerHandle] = set()
        # WebHook delivery (rest.py): created on the first WebHook subscription, closed by close()
        self._webhooks: WebhookDeliverer | None = None
        self._rate_clock: Callable[[], float] = o.rate_clock or time.monotonic

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
    def accounts(self) -> tuple[AccountRecord, ...]:
        """Every emulated account (``accounts`` option), the primary one first."""
        return tuple(
            AccountRecord(
                account_id=a.id,
                client_id=self._client_id,
                client_secret=self._client_secret,
                jwt=self.jwt_for(a.extensions[0].id),
                extension_ids=tuple(e.id for e in a.extensions),
                username=a.username,
            )
            for a in self._accounts
        )

    def _account_of(self, extension_id: str) -> _Account:
        """The account an extension belongs to (the primary one for an unknown id)."""
        return self._ext_account.get(extension_id, self._accounts[0])

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
                    token_expired=conn is not None and conn.token_expired,
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

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ access-token expiry

    def _oauth_live(self, oauth: _OAuthSession) -> bool:
        """Whether the OAuth session still has an unexpired access token (its latest one)."""
        if oauth.revoked:
            return False
        rec = self._access.get(oauth.access_token or "")
        return rec is not None and (rec.quiet or rec.expires_at > time.monotonic())

    def _watch_token_expiry(self, oauth_id: str, at: float) -> None:
        """Check the OAuth session's sockets at the monotonic instant ``at`` (a token's expiry)."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def due() -> None:
            if handle is not None:
                self._timers.discard(handle)
            if not self._closing:
                self._spawn(self._enforce_token_expiry(oauth_id), "rcstream-emulator-expiry")

        handle = loop.call_later(max(0.0, at - time.monotonic()), due)
        self._timers.add(handle)

    async def _enforce_token_expiry(self, oauth_id: str) -> None:
        """The socket is bound to its OAuth session, not to one access token: once the session
        has no unexpired access token (none refreshed), ``on_token_expiry="close"`` ends its
        sockets (``Error`` ``OAU-128`` then close 1008: the code is a guess;
        ringcentral/ringcentral-websocket-java ``README.md``: "as soon as your access token
        expired, the underlying WebSocket connection will be closed"), and ``"silent"``
        keeps them open but stops them for good (tylerlong/RingCentral.WebSocket.Demo
        ``Program.cs``: "if the token expires, eventually your WebSocket connection will
        stop working"; see :meth:`_expire_socket`)."""
        oauth = self._oauth.get(oauth_id)
        if oauth is None:
            return
        self._inc("token_expiry_checks")
        if self._oauth_live(oauth):
            rec = self._access.get(oauth.access_token or "")
            if rec is not None and not rec.quiet and rec.expires_at - time.monotonic() < 0.05:
                self._watch_token_expiry(oauth_id, rec.expires_at)  # the timer fired early
            return
        conns = [
            c
            for c in self._conns.values()
            if c.session is not None and c.session.oauth_session_id == oauth_id and not c.closing
        ]
        if self.options.on_token_expiry == "close":
            await self._close_for_expired_token(conns)
            return
        for conn in conns:
            self._expire_socket(conn)
        self._bump()

    def _expire_socket(self, conn: _Connection) -> None:
        """``on_token_expiry="silent"``: ``conn`` outlived its access token. It stays open and
        echoes heartbeats, but withholds notifications (dropped, not buffered) and answers
        requests 401 ``OAU-128`` *for good*. No source says a refresh revives such a socket
        (the refresh grant goes to ``/restapi/oauth/token``; nothing tells the gateway), and
        ringcentral/ringcentral-websocket-java ``README.md`` says that once the access token
        expired the app must ``rc.refresh()`` *and then re-subscribe* (a new connection).
        Delivery comes back only on a new connection with a fresh ``wstoken``, recovering
        the session with its ``wsc``: a recovery with a refreshed token of the same OAuth
        session succeeds (tylerlong/rc-ws-recover-test ``README.md``, Experiment 4)."""
        if not conn.token_expired:
            conn.token_expired = True
            logger.debug("Emulator: connection %d outlived its access token", conn.id)

    async def _close_for_expired_token(self, conns: Iterable[_Connection]) -> None:
        """End each of ``conns`` as the platform is assumed to when the access token expires:
        ``Error`` ``OAU-128`` "Access token expired", then close 1008 (the code is a guess;
        ringcentral/ringcentral-websocket-java ``README.md``). The one place
        both natural expiry and ``expire_access_tokens(close_sockets=True)`` use."""
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

    # ------------------------------------------------------------------ sending and closing

    def _make_wsc(self, session_id: str, sequence: int | None = None) -> str:
        data: dict[str, Any] = {"v": 1, "s": session_id}
        if sequence is not None:
            data["q"] = sequence  # replay_from_sequence: the token names its sequence
        payload = _b64url(json.dumps(data, separators=(",", ":")).encode())
        sig = hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{payload}.{sig}"

    async def _send(self, conn: _Connection, frame: wire.Frame) -> bool:
        async with conn.send_lock:
            return await self._send_unlocked(conn, frame)

    async def _send_unlocked(
        self, conn: _Connection, frame: wire.Frame, *, add_wsc: bool = True
    ) -> bool:
        by_sequence = self.replay_from_sequence
        if add_wsc and (self.wsc_on_every_frame or by_sequence) and conn.session is not None:
            session = conn.session
            session.wsc_sequence += 1
            seq = session.wsc_sequence
            token = self._make_wsc(session.id, seq) if by_sequence else session.wsc_token
            remember = by_sequence and frame[0].get("type") == "ServerNotification"
            plain = frame
            frame = [{**frame[0], "wsc": {"token": token, "sequence": seq}}, *frame[1:]]
            if not await self._write(conn, wire.dumps(frame)):
                return False  # not sent: the caller buffers it (a replay would repeat it)
            if remember:
                # the other reading: remember what was sent, by sequence, for a recovery
                session.sent.append((seq, plain))
                while len(session.sent) > max(0, self.recovery_buffer_size):
                    session.sent.popleft()
            return True
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
