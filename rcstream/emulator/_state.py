"""The emulator's in-memory records and the public snapshot / counter types.

Internal records (``_``-prefixed classes) are mutable and owned by the event loop that runs
the :class:`~rcstream.emulator.Emulator`. Tests see frozen snapshots
(:class:`GatewaySessionInfo`, :class:`SubscriptionRecord`, :class:`OAuthSessionInfo`) and
the live :class:`EmulatorStats` counters.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rcstream.emulator._filters import EventFilter

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "AccountRecord",
    "EmulatorStats",
    "ExtensionRecord",
    "GatewaySessionInfo",
    "OAuthSessionInfo",
    "SubscriptionRecord",
]


@dataclass
class EmulatorStats:
    """Counters the emulator keeps; every change wakes the ``wait_*`` helpers.

    ``grants`` counts successful token grants by ``grant_type`` (``"jwt"`` is short for the
    JWT-bearer URN). ``closes_by_reason`` counts server-side connection ends by reason:
    ``missing_token``, ``bad_token``, ``malformed_wsc``, ``idle``, ``absolute``,
    ``pong_timeout``, ``fault_close``, ``fault_abort``, ``fault_error`` (:meth:`send_error`
    with ``close=True``), ``expired_token`` (forced, or the OAuth session's access token
    expired with ``on_token_expiry="close"``), ``revoked``,
    ``takeover`` (a recovery moved the session to a new socket), ``shutdown``; and
    ``client`` when the peer closed or vanished.
    """

    connections: int = 0
    connections_rejected: int = 0
    recoveries_succeeded: int = 0
    recoveries_failed: int = 0
    subscriptions_created: int = 0
    subscriptions_updated: int = 0
    subscriptions_deleted: int = 0
    subscriptions_replaced: int = 0
    subscriptions_expired: int = 0
    grants: dict[str, int] = field(default_factory=dict)
    grant_failures: int = 0
    token_refreshes: int = 0
    revocations: int = 0
    oauth_sessions_evicted: int = 0
    """OAuth sessions revoked because a newer login passed ``oauth_session_limit``."""
    wstokens: int = 0
    heartbeats: int = 0
    client_requests: int = 0
    requests_refused_expired: int = 0
    """ClientRequests answered 401 ``OAU-128`` because the access token had expired (or,
    under ``on_token_expiry="silent"``, the socket outlived it)."""
    frames_received: int = 0
    notifications_published: int = 0
    notifications_sent: int = 0
    notifications_buffered: int = 0
    notifications_dropped: int = 0
    notifications_replayed: int = 0
    token_expiry_checks: int = 0
    """Times an OAuth session's sockets were checked at an access token's expiry instant."""
    notifications_withheld: int = 0
    """Not delivered, and not buffered for a recovery: the socket's access token expired
    (``on_token_expiry="silent"``) or the subscription was not ``Active``."""
    raw_frames_injected: int = 0
    rate_limited: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    sessions_expired: int = 0
    sms_sent: int = 0
    closes_by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExtensionRecord:
    """One synthetic extension (user) of the emulated account."""

    id: str
    extension_number: str
    first_name: str
    last_name: str

    @property
    def name(self) -> str:
        """Display name, ``"First Last"``."""
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class GatewaySessionInfo:
    """A snapshot of one WebSocket gateway session (it outlives sockets while recoverable)."""

    id: str
    oauth_session_id: str
    extension_id: str
    connected: bool
    silent: bool
    subscription_id: str | None
    event_filters: tuple[str, ...]
    buffered: int
    wsc_sequence: int
    connections: int
    """How many sockets have carried this session (1 + successful recoveries)."""
    token_expired: bool = False
    """Its socket outlived its access token under ``on_token_expiry="silent"``: open, but
    withholding notifications until a new connection recovers the session."""


@dataclass(frozen=True)
class SubscriptionRecord:
    """A snapshot of one subscription (WebSocket or WebHook)."""

    id: str
    transport: str
    event_filters: tuple[str, ...]
    extension_id: str
    gateway_session_id: str | None
    """``None`` for a WebHook subscription and for a WebSocket one whose session is gone."""
    address: str | None
    status: str = "Active"


@dataclass(frozen=True)
class AccountRecord:
    """One emulated account and the credentials that reach it (``Emulator.accounts``).

    Every account shares the emulator's one app (``client_id``/``client_secret``); ``jwt``
    logs in as the account's first extension (``extension_ids[0]``)."""

    account_id: str
    client_id: str
    client_secret: str
    jwt: str
    extension_ids: tuple[str, ...]
    username: str
    """The account's main number (password-grant user name)."""


@dataclass(frozen=True)
class OAuthSessionInfo:
    """A snapshot of one OAuth session (a login and its refreshes)."""

    id: str
    client_id: str
    extension_id: str
    revoked: bool
    refreshes: int


# ----------------------------------------------------------------------------- internal


@dataclass(eq=False)
class _Account:
    id: str
    username: str
    extensions: list[ExtensionRecord]


@dataclass(eq=False)
class _OAuthSession:
    id: str
    client_id: str
    extension_id: str
    endpoint_id: str
    access_token: str | None = None
    refresh_token: str | None = None
    refresh_expires_at: float = 0.0
    revoked: bool = False
    refreshes: int = 0


@dataclass(eq=False)
class _AccessToken:
    oauth_session_id: str
    expires_at: float
    quiet: bool = False  # expired by expire_access_tokens(close_sockets=False): sockets unaffected


@dataclass(eq=False)
class _WsToken:
    oauth_session_id: str
    expires_at: float
    used: bool = False


@dataclass(eq=False)
class _Subscription:
    id: str
    client_id: str
    account_id: str
    extension_id: str
    filters: list[EventFilter]
    transport: str
    created: datetime
    expires_in: float
    address: str | None = None
    gateway_session_id: str | None = None
    expires_at_wall: datetime | None = None
    disabled: list[str] = field(default_factory=list)
    status: str = "Active"

    def record(self) -> SubscriptionRecord:
        return SubscriptionRecord(
            id=self.id,
            transport=self.transport,
            event_filters=tuple(f.text for f in self.filters),
            extension_id=self.extension_id,
            gateway_session_id=self.gateway_session_id,
            address=self.address,
            status=self.status,
        )


@dataclass(eq=False)
class _Connection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    opened_at: float
    last_activity: float
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    session: _GatewaySession | None = None
    silent: bool = False
    #: ``on_token_expiry="silent"``: the OAuth session's access token expired while this
    #: socket was open. It stays open, heartbeats are echoed, but notifications are withheld
    #: and requests refused (401) for good: a refresh does not revive it, only a new
    #: connection (fresh ``wstoken``, recovering with ``wsc``) brings delivery back.
    token_expired: bool = False
    closing: bool = False
    closed_by_watchdog: bool = False
    last_ping_at: float = 0.0
    pong_due: float | None = None


@dataclass(eq=False)
class _GatewaySession:
    id: str
    oauth_session_id: str
    client_id: str
    account_id: str
    extension_id: str
    created: datetime
    wsc_token: str
    wsc_sequence: int = 0
    subscription_id: str | None = None
    connection: _Connection | None = None
    detached_at: float | None = None
    buffer: deque[list[Any]] = field(default_factory=deque)
    #: with ``replay_from_sequence``: the notifications sent, by wsc sequence (bounded)
    sent: deque[tuple[int, list[Any]]] = field(default_factory=deque)
    connections: int = 0
