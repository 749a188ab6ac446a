"""Options and counters of :class:`rcstream.Client` (every timing and bound is injectable)."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from rcstream.exceptions import ConfigurationError

__all__ = ["ClientOptions", "ClientStats"]


@dataclass(frozen=True, kw_only=True)
class ClientOptions:
    """Tuning for :class:`Client`. All durations are seconds; every option has a default.

    Liveness:
        ``heartbeat_interval`` — send a gateway ``Heartbeat`` after this long without
        receiving (and, at most, half the server's ``idleTimeout`` after last sending);
        ``heartbeat_timeout`` — declare the link dead when nothing arrives this long after a
        heartbeat (so a half-open socket is found within interval + timeout = 50 s);
        ``ping_interval``/``ping_timeout`` — WebSocket-level pings (``None`` disables).
    Timeouts:
        ``connect_timeout`` — open the socket and receive ``ConnectionDetails``;
        ``request_timeout`` — a ``ClientRequest`` reply; ``http_timeout`` — one REST call;
        ``close_timeout`` — deleting the subscription and closing on exit.
    Reconnects:
        ``max_attempts`` — consecutive failed connects before the stream stops with
        :class:`~rcstream.RecoveryFailedError` (``None``, the default: once a connection
        has worked, retry for as long as it takes, like the official SDKs);
        ``first_connect_timeout`` — a stream that has *never* connected stops with
        :class:`~rcstream.ConnectionFailedError` naming the URL after trying this long
        (a refused connection, DNS or TLS failure is almost always a configuration error;
        ``None`` retries forever from the start);
        ``subscription_limit_wait`` — wait before retrying after ``SUB-505`` (the user's
        subscription table for this app is full);
        ``stable_after`` — a connection that lived this long resets the backoff, so its drop
        is retried at once (shorter-lived ones keep backing off: no reconnect storms);
        ``backoff_base``/``backoff_cap``/``backoff_jitter`` — the waits (the first retry is
        immediate); ``auth_rate_limit`` calls per ``auth_rate_window`` for token + wstoken
        (``None`` disables the client-side limiter).
    Session upkeep:
        ``refresh_while_connected`` — renew the access token (refresh grant, same OAuth
        session) at ``refresh_fraction`` of its lifetime while connected, so a socket whose
        token expires is never closed or silenced; ``subscription_check_interval`` — GET the
        server subscription over the socket this often (and after every recovery) to notice
        one that was deleted, suspended or expired (``None`` disables);
        ``recreate_after_recovery`` — after every recovery, delete the recovered subscription
        and create a new one (with a ``Gap``), as RingCentral's own web widget does
        (``ringcentral-js-widgets`` ``WebSocketSubscription.ts``: a recovery "only proves the
        same subscription id was reused, not that events are still delivered"); off by
        default, since events between the delete and the new subscription are lost;
        ``keep_session_on_close`` — do not revoke the OAuth session on close (for a
        checkpoint that a later process resumes from; a caller-supplied token is never
        revoked anyway).
    Delivery:
        ``buffer_size`` — events buffered per consumer before the oldest are dropped (and
        a gap reported); ``dedupe_window`` — uuids remembered to drop replays;
        ``max_frame_size`` — larger frames close the connection.
    Checkpoint (with ``Client(checkpoint=...)``):
        ``checkpoint_buffer`` — the consumer's read-ahead: events buffered before the
        reader waits (back-pressure; what a ``kill -9`` can lose is bounded by it);
        ``checkpoint_interval``/``checkpoint_max_events`` — progress is written after this
        many seconds or events handed out, whichever comes first (a ``kill -9`` can
        duplicate at most that much).
    Read-ahead off the socket (what a ``kill -9`` loses with a stalled consumer):
        ``read_ahead``/``read_ahead_bytes`` — messages (bytes) read off the socket but not
        yet processed before reading pauses; ``receive_buffer`` — the socket's
        ``SO_RCVBUF`` (bytes). ``None`` means 1024 messages / 4 MiB / the system default
        without a checkpoint, and 16 messages / 256 KiB / 32 KiB with one
        (docs/restarts.md has the measured loss).
    Injection (for tests): ``sleep``, ``clock`` (monotonic seconds), ``rng`` (jitter).
    """

    heartbeat_interval: float = 30.0
    heartbeat_timeout: float = 20.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    connect_timeout: float = 30.0
    request_timeout: float = 30.0
    http_timeout: float = 30.0
    close_timeout: float = 5.0
    max_attempts: int | None = None
    first_connect_timeout: float | None = 15.0
    subscription_limit_wait: float = 300.0
    refresh_while_connected: bool = True
    refresh_fraction: float = 0.6
    subscription_check_interval: float | None = 300.0
    recreate_after_recovery: bool = False
    keep_session_on_close: bool = False
    stable_after: float = 5.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    backoff_jitter: float = 0.5
    auth_rate_limit: int | None = 5
    auth_rate_window: float = 60.0
    buffer_size: int = 10_000
    dedupe_window: int = 10_000
    checkpoint_buffer: int = 100
    checkpoint_interval: float = 1.0
    checkpoint_max_events: int = 100
    read_ahead: int | None = None
    read_ahead_bytes: int | None = None
    receive_buffer: int | None = None
    max_frame_size: int = 4 * 2**20
    verify_ssl: bool = True
    user_agent: str | None = None
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None

    def __post_init__(self) -> None:
        if self.buffer_size < 1:
            raise ConfigurationError("buffer_size must be at least 1.")
        if self.heartbeat_interval <= 0 or self.heartbeat_timeout <= 0:
            raise ConfigurationError("heartbeat_interval and heartbeat_timeout must be > 0.")


@dataclass
class ClientStats:
    """Counters for what the client has done (for logs, metrics and tests)."""

    connects: int = 0
    recoveries: int = 0
    recovery_failures: int = 0
    reconnects: int = 0
    notifications: int = 0
    duplicates: int = 0
    dropped: int = 0
    gaps: int = 0
    bad_frames: int = 0
    heartbeats: int = 0
    gateway_errors: int = 0
    #: Events no consumer's filter matched (delivered by resource family, or to nobody).
    unmatched: int = 0
    #: Access-token refreshes made while connected (proactive, or after a 401 over the socket).
    token_refreshes: int = 0
    #: Server subscriptions found gone (deleted, suspended, expired) and created again.
    subscriptions_recreated: int = 0
    #: Subscriptions this client created earlier and deleted over REST once replaced.
    orphans_deleted: int = 0
