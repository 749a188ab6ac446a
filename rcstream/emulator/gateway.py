"""The emulator's WebSocket gateway (``/ws``): sessions, recovery, timers and delivery."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

from aiohttp import WSMsgType, web

from rcstream.emulator import _wire as wire
from rcstream.emulator._base import (
    _AuthContext,
    _b64url_decode,
    _json,
    _Reply,
)
from rcstream.emulator._filters import EventFilter, Params, PresenceEventPath, split_event
from rcstream.emulator._state import (
    _Connection,
    _GatewaySession,
    _OAuthSession,
)
from rcstream.emulator.rest import _RestLayer

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _GatewayLayer(_RestLayer):
    """The WebSocket gateway: sessions, recovery, frames, timers and notification delivery."""

    async def publish(self, event: str, body: Any, *, uuid: str | None = None) -> str:
        """Deliver one notification to every WebSocket and WebHook subscription whose
        filters match (WebHook ones by POST, awaited here; see ``rest.py``).

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
            if sub.transport not in ("WebSocket", "WebHook") or (
                sub.transport == "WebSocket" and sub.gateway_session_id is None
            ):
                continue
            delivered_as = _first_match(
                sub.filters, path, params, presence_event_path=self.options.presence_event_path
            )
            if delivered_as is None:
                continue
            if sub.status != "Active":
                self._stats.notifications_withheld += 1  # suspended/blacklisted: nothing
                continue
            if sub.transport == "WebHook":  # POSTed by rest.py's WebHook delivery
                _, envelope = wire.notification_frame(
                    uuid_=uid,
                    event=delivered_as,
                    timestamp=timestamp,
                    subscription_id=sub.id,
                    owner_id=sub.extension_id,
                    body=body,
                )
                sends.append(self._deliver_webhook(sub, envelope))
                continue
            session = self._gw.get(sub.gateway_session_id or "")
            if session is None:
                continue
            frame = wire.notification_frame(
                uuid_=uid,
                event=delivered_as,
                timestamp=timestamp,
                subscription_id=sub.id,
                owner_id=sub.extension_id,
                body=body,
            )
            conn = session.connection
            if conn is not None and self._outlived_token(conn):
                self._stats.notifications_withheld += 1  # "stops working": see _expire_socket
            elif conn is not None and not conn.silent and not conn.closing:
                sends.append(self._deliver(session, conn, frame))
            else:
                self._buffer(session, frame)
        self._inc("notifications_published")
        if sends:
            await asyncio.gather(*sends)
        return uid

    def _outlived_token(self, conn: _Connection) -> bool:
        """``on_token_expiry="silent"``: whether ``conn`` outlived its OAuth session's access
        token (marked at once when the expiry timer has not fired yet); for good, see
        :meth:`_expire_socket`."""
        if self.options.on_token_expiry != "silent" or conn.session is None:
            return False
        if not conn.token_expired and not self._oauth_live(
            self._oauth[conn.session.oauth_session_id]
        ):
            self._expire_socket(conn)
        return conn.token_expired

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

    def _parse_wsc(self, token: str) -> str | None:
        data = self._wsc_data(token)
        sid = data.get("s") if data is not None else None
        return sid if isinstance(sid, str) else None

    def _wsc_sequence(self, token: str) -> int | None:
        """The sequence a token minted under ``replay_from_sequence`` names, else None."""
        data = self._wsc_data(token)
        seq = data.get("q") if data is not None else None
        return seq if type(seq) is int else None

    def _wsc_data(self, token: str) -> dict[str, Any] | None:
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
        return data if isinstance(data, dict) else None

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
                account_id=self._account_of(oauth.extension_id).id,
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
            seen = self._wsc_sequence(request.query.get("wsc", ""))
            if recovery.get("recoveryState") == "Successful" and seen is not None:
                # replay_from_sequence, the other plausible reading of the gateway: it
                # replays what it sent after the sequence the client presents, then what it
                # buffered while detached (bounded by recovery_buffer_size, like the buffer)
                again = [f for q, f in session.sent if q > seen]
                session.sent = deque((q, f) for q, f in session.sent if q <= seen)
                replay = again + replay
            frame = wire.connection_details_frame(
                wsc_token=(
                    self._make_wsc(session.id, session.wsc_sequence)
                    if self.replay_from_sequence
                    else session.wsc_token
                ),
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
        if not self._oauth_live(oauth):
            self._spawn(self._enforce_token_expiry(oauth.id), "rcstream-emulator-expiry")
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
        """The recovery window passed: the session ends, its subscription does not. A
        WebSocket subscription stays on the platform (listed, counted toward the limit,
        deletable over REST) until deleted or expired (``subscription_ttl``, 24 h): WIDGETS
        ``WebSocketSubscription.ts:160-161`` revokes old ones because of the 24 h TTL and
        the per-user limit; a live reply has ``expiresIn: 86399`` (ringcentral-python #92).
        Events for an orphan go nowhere."""
        self._gw.pop(session.id, None)
        if session.subscription_id is not None:
            sub = self._subs.get(session.subscription_id)
            if sub is not None and sub.gateway_session_id == session.id:
                sub.gateway_session_id = None
                # renewed while its session lived: the orphan's time starts now
                sub.expires_at_wall = wire.utcnow() + timedelta(seconds=sub.expires_in)
                logger.debug("Emulator: subscription %s outlives its session", sub.id)
        session.buffer.clear()
        self._inc("sessions_expired")

    def _sweep_subscriptions(self) -> float | None:
        """Drop expired subscriptions; return the seconds until the next one expires."""
        now = wire.utcnow()
        soonest: float | None = None
        for sub in list(self._subs.values()):
            if sub.expires_at_wall is None:
                continue
            if sub.gateway_session_id is not None and sub.gateway_session_id in self._gw:
                # WebSocket subscriptions "are renewed automatically while websocket
                # session is alive" (RCEX's WebSocket extension docs): no expiry while the
                # session lives; it starts when the session ends (_expire_session)
                continue
            left = (sub.expires_at_wall - now).total_seconds()
            if left <= 0:
                self._drop_subscription(sub, "expired")
            elif soonest is None or left < soonest:
                soonest = left
        return soonest

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
        """Expire detached sessions once their recovery window has passed, subscriptions at
        their expiry, and sweep spent tokens once a minute."""
        while True:
            now = time.monotonic()
            self._sweep_tokens(now)
            next_deadline: float | None = now + 60.0
            sub_left = self._sweep_subscriptions()
            if sub_left is not None and sub_left < 60.0:
                next_deadline = now + sub_left
            expired = False
            for session in list(self._gw.values()):
                if session.detached_at is None:
                    continue
                deadline = session.detached_at + self.recovery_timeout
                if deadline <= now:
                    self._expire_session(session)
                    expired = True
                elif next_deadline is None or deadline < next_deadline:
                    next_deadline = deadline
            if expired:
                continue  # its subscription's time has just started: sweep again
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
            elif self._outlived_token(conn) or not self._oauth_live(oauth):
                # the session's access token expired and was not refreshed (DOCS errors.md);
                # under "silent" a socket that outlived its token refuses for good
                self._inc("requests_refused_expired")
                reply = _Reply(401, wire.rc_error("OAU-128", "Access token expired."))
            else:
                path_only, _, qs = path.partition("?")
                query = _query_dict(qs, header.get("query"))
                ctx = _AuthContext(
                    oauth=oauth,
                    account_id=self._account_of(oauth.extension_id).id,
                    extension_id=oauth.extension_id,
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


def _first_match(
    filters: list[EventFilter],
    path: str,
    params: Params,
    *,
    presence_event_path: PresenceEventPath,
) -> str | None:
    """The ``event`` field of an event delivered through the most specific covering filter
    of a subscription, or ``None`` when no filter covers it.

    When a subscription holds both a plain and a narrowed filter for one resource (presence
    and ``?detailedTelephonyState=true``), the platform delivers the detailed form ("detailed
    wins"), so the filter naming the most query parameters is preferred; ties keep order.
    """
    best: tuple[EventFilter, str] | None = None
    for f in filters:
        event = f.delivery(path, params, presence_event_path=presence_event_path)
        if event is not None and (best is None or len(f.params) > len(best[0].params)):
            best = (f, event)
    return None if best is None else best[1]


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
