"""The emulator's control API for tests: waiters and fault injection."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from rcstream.emulator import _wire as wire
from rcstream.emulator._base import (
    _UNSET,
    RateLimitEndpoint,
    _Unset,
)
from rcstream.emulator._filters import parse_filter
from rcstream.emulator._state import (
    SubscriptionRecord,
)
from rcstream.emulator.gateway import _GatewayLayer
from rcstream.emulator.rest import Gone

if TYPE_CHECKING:
    from rcstream.emulator.server import Emulator

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _ControlLayer(_GatewayLayer):
    """What tests drive: waiters, fault injection, runtime timeouts and synthetic traffic."""

    async def wait_until(
        self,
        predicate: Callable[[Emulator], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a convenience for tests
    ) -> None:
        """Wait until ``predicate(self)`` is true; it is re-checked on every state change.

        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while not predicate(cast("Emulator", self)):
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

        value(cast("Emulator", self))  # fail fast on a typo
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

    async def send_error(
        self,
        code: str,
        message: str = "Unexpected error",
        *,
        close: bool = False,
        close_code: int | None = None,
    ) -> int:
        """Send an unsolicited ``Error`` frame (``errorCode`` ``code``; status 401 for
        ``OAU-*``, else 400) to every live socket; return how many got it.

        ``close=False``: the socket stays open and keeps delivering (whether the gateway
        ever sends a non-terminal ``Error`` is unknown; real SDKs keep reading). With
        ``close=True`` a close handshake follows, as ``WSG-400`` + close in RECOV exp. 6;
        ``close_code`` defaults to 1000 for ``WSG-902``/``WSG-903`` and 1008 otherwise (the
        emulator's convention; the real codes are unknown).
        """
        conns = [c for c in self._conns.values() if not c.closing and not c.silent and c.session]
        if close:
            if close_code is None:
                close_code = 1000 if code in ("WSG-902", "WSG-903") else 1008
            await asyncio.gather(
                *(
                    self._terminate(
                        c,
                        (code, message),
                        close_code=close_code,
                        reason_text=message,
                        reason="fault_error",
                    )
                    for c in conns
                )
            )
            return len(conns)
        status = 401 if code.startswith("OAU-") else 400
        sent = await asyncio.gather(
            *(self._send(c, wire.error_frame(code, message, status=status)) for c in conns)
        )
        return sum(1 for ok in sent if ok)

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

    async def expire_access_tokens(self, *, close_sockets: bool | None = None) -> int:
        """Expire every access token now (the next REST/wstoken call gets 401 ``OAU-128``);
        refresh tokens keep working. Returns how many tokens expired.

        ``close_sockets``: ``None`` (default) does what natural expiry does, per
        ``on_token_expiry`` (close each affected socket with ``Error`` ``OAU-128`` + 1008,
        or keep it open but stopped for good); ``True`` closes every socket that way
        at once; ``False`` leaves sockets alone (only REST and ``wstoken`` see the expiry).
        """
        now = time.monotonic()
        n = 0
        sessions: set[str] = set()
        for tok in self._access.values():
            if tok.expires_at > now:
                tok.expires_at = now
                tok.quiet = close_sockets is False
                sessions.add(tok.oauth_session_id)
                n += 1
        self._bump()
        if close_sockets is None:
            await asyncio.gather(*(self._enforce_token_expiry(sid) for sid in sessions))
        elif close_sockets:
            await self._close_for_expired_token(c for c in self._conns.values() if not c.closing)
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

    async def delete_subscription(self, sub_id: str) -> bool:
        """Delete a subscription as another tool or an admin would, under a live listener:
        nothing more is delivered, and ``GET``/``PUT`` of its id (REST or over the socket)
        answer 404 ``SUB-507``. The session stays; recovery of it fails (``WSG-1005``) until
        it subscribes again. Returns whether the subscription existed."""
        return self._end_subscription(sub_id, "deleted")

    def set_subscription_status(self, sub_id: str, status: str) -> None:
        """Set a subscription's ``status`` (``"Suspended"``, ``"Blacklisted"``, back to
        ``"Active"`` …). Only ``Active`` subscriptions get notifications; the others stay
        listed with that status (REST and ``ClientRequest`` ``GET`` show it) until deleted.
        Raises :class:`KeyError` for an unknown id."""
        sub = self._subs.get(sub_id)
        if sub is None:
            raise KeyError(f"no subscription {sub_id!r} in the emulator")
        sub.status = status
        self._bump()

    async def expire_subscription(self, sub_id: str) -> bool:
        """Make a subscription expire now, as at the end of its ``subscription_ttl``: it is
        gone (404 ``SUB-507`` "not found or has expired"). Returns whether it existed."""
        return self._end_subscription(sub_id, "expired")

    def _end_subscription(self, sub_id: str, why: Gone) -> bool:
        sub = self._subs.get(sub_id)
        if sub is not None:
            self._drop_subscription(sub, why)
        return sub is not None

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

    async def publish_generated(
        self,
        family: str | None = None,
        *,
        extension_id: str | None = None,
        account_id: str | None = None,
    ) -> str:
        """Publish one synthetic event of ``family`` (random when ``None``) from the catalog,
        for ``extension_id`` (default: the first extension of ``account_id``, itself the
        primary account by default; for the account-level families ``account-presence``
        and ``account-telephony-sessions``, a random extension of the account, whose own
        path the event carries). ``line-presence`` and ``favorite-presence`` report on
        another extension of the account, with the path ``presence_event_path`` selects.
        Returns the notification ``uuid``."""
        from rcstream.emulator import catalog

        rng = self._rng
        fam = family if family is not None else rng.choice(catalog.FAMILIES)
        wanted = account_id or self._account_id
        found = next((a for a in self._accounts if a.id == wanted), None)
        if extension_id is not None:
            account = self._account_of(extension_id)
        elif found is None:
            raise KeyError(f"no account {account_id!r} in the emulator")
        else:
            account = found
            account_level = fam in catalog.ACCOUNT_LEVEL_EXTENSION_EVENTS
            ids = [e.id for e in account.extensions]
            extension_id = rng.choice(ids) if account_level else ids[0]
        others = [e.id for e in account.extensions if e.id != extension_id]
        event, body = catalog.generate(
            fam,
            account_id=account.id,
            extension_id=extension_id,
            rng=rng,
            watched_id=rng.choice(others) if others else None,
            presence_event_path=self.options.presence_event_path,
        )
        return await self.publish(event, body)

    async def _generator(self) -> None:
        """``event_rate`` synthetic events per second for what is subscribed (see
        :meth:`_traffic_once`); nothing while no live subscription names a catalog family."""
        calls: dict[tuple[str, str], deque[tuple[str, dict[str, Any]]]] = {}
        while True:
            await asyncio.sleep(1.0 / self.event_rate)
            try:
                await self._traffic_once(calls)
            except Exception:  # pragma: no cover - a catalog bug must not stop the server
                logger.exception("Emulator could not publish a synthetic event")

    def _subscribed_families(self) -> list[tuple[str, str]]:
        """``(family, extension whose events they are)`` for every
        catalog family that a live, active subscription names (any account): WebSocket ones
        with a session, and WebHook ones.

        A filter may name another extension of the subscriber's account
        (``.../extension/{id}/presence``, as ``rcstream listen --all-extensions`` does): that
        extension's events are generated for it, so such a listener sees several extensions.
        """
        out: list[tuple[str, str]] = []
        for sub in self._subs.values():
            if sub.status != "Active" or (
                sub.transport == "WebSocket" and sub.gateway_session_id not in self._gw
            ):
                continue
            account = self._account_of(sub.extension_id)
            for f in sub.filters:
                target = sub.extension_id
                m = _EXTENSION_PATH.match(f.path)
                if m is not None and m.group(1) == account.id and m.group(2) != target:
                    if not any(e.id == m.group(2) for e in account.extensions):
                        continue
                    target = m.group(2)
                for family in _shape_families(account.id, target).get((f.path, f.params), ()):
                    out.append((family, target))
        return out

    async def _traffic_once(
        self, calls: dict[tuple[str, str], deque[tuple[str, dict[str, Any]]]]
    ) -> None:
        """Publish one coherent synthetic event for a random subscribed family.

        Telephony follows whole call lifecycles (``Setup`` → ``Proceeding`` → ``Answered``
        → ``Disconnected`` for one ``telephonySessionId``, the parties changing status, one
        stage per event), and every body's times are now.
        """
        from rcstream.emulator import catalog

        subscribed = self._subscribed_families()
        if not subscribed:
            return
        rng = self._rng
        family, subscriber = rng.choice(subscribed)  # the extension the filter names
        account = self._account_of(subscriber)
        ids = [e.id for e in account.extensions]
        now = wire.utcnow()
        account_level = family in catalog.ACCOUNT_LEVEL_EXTENSION_EVENTS
        if family in ("telephony-sessions", "account-telephony-sessions"):
            key = (family, account.id if account_level else subscriber)
            pending = calls.get(key)
            if not pending:
                callee = rng.choice(ids) if account_level else subscriber
                pending = calls[key] = deque(
                    catalog.telephony_call(
                        account_id=account.id,
                        extension_id=callee,
                        rng=rng,
                        account_level=account_level,
                        now=now,
                    )
                )
            event, body = pending.popleft()
            body["eventTime"] = wire.iso_z(now)
        else:
            others = [e for e in ids if e != subscriber]
            event, body = catalog.generate(
                family,
                account_id=account.id,
                extension_id=rng.choice(ids) if account_level else subscriber,
                rng=rng,
                watched_id=rng.choice(others) if others else None,
                presence_event_path=self.options.presence_event_path,
                now=now,
            )
        await self.publish(event, body)

    # ------------------------------------------------------------------ HTTP


#: An extension-scoped path with its account and extension ids (``~`` already resolved).
_EXTENSION_PATH = re.compile(r"^/restapi/v1\.0/account/([^/]+)/extension/([^/]+)/")


@functools.lru_cache(maxsize=4096)
def _shape_families(
    account_id: str, extension_id: str
) -> dict[tuple[str, tuple[tuple[str, frozenset[str]], ...]], tuple[str, ...]]:
    """``(path, params)`` → the families of that catalog filter, expanded for one extension."""
    out: dict[tuple[str, tuple[tuple[str, frozenset[str]], ...]], tuple[str, ...]] = {}
    for family, shape in _family_shapes(account_id, extension_id):
        out[shape] = (*out.get(shape, ()), family)
    return out


@functools.lru_cache(maxsize=256)
def _family_shapes(
    account_id: str, extension_id: str
) -> tuple[tuple[str, tuple[str, tuple[tuple[str, frozenset[str]], ...]]], ...]:
    """``(family, (path, params))`` of every catalog filter expanded for one subscriber."""
    from rcstream.emulator import catalog

    out = []
    for family in catalog.FAMILIES:
        f = parse_filter(
            catalog.filter_for(family), account_id=account_id, extension_id=extension_id
        )
        out.append((family, (f.path, f.params)))
    return tuple(out)
