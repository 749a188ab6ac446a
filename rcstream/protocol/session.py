"""The client side of a gateway session, as a sans-I/O state machine.

:class:`SessionState` is fed text frames and the current time and answers with events and
with frames to send. It never reads a clock, sleeps or touches a socket: the I/O layer
(:mod:`rcstream.client`) calls, in a loop,

* :meth:`SessionState.plan_connect` before each connect (recover with ``wsc`` or not),
* :meth:`SessionState.connection_opened` / :meth:`SessionState.connection_lost`,
* :meth:`SessionState.receive` with each text frame,
* :meth:`SessionState.poll` when :meth:`SessionState.next_deadline` has passed,

and acts on what they return. What it tracks:

* the latest ``wsc`` token: taken from *any* frame when its sequence is higher, and from a
  recovery ``ConnectionDetails`` whatever its sequence;
* the server limits from ``ConnectionDetails`` (earlier values kept when a later one lacks them);
* pending ``ClientRequest`` s by ``messageId``, each with a deadline;
* the one server-side subscription (id and confirmed filters) and the filters wanted;
* heartbeats: when one is due and when a missing reply means the link is dead;
* which notification uuids were already delivered (bounded), to drop replays.
"""

from __future__ import annotations

import uuid as _uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from rcstream.exceptions import FrameDecodeError
from rcstream.protocol.frames import (
    ClientResponse,
    ConnectionDetails,
    ConnectionDetailsBody,
    ErrorFrame,
    HeartbeatReply,
    ServerNotification,
    Wsc,
    decode_frame,
    encode_client_request,
    encode_heartbeat,
)

__all__ = [
    "SUBSCRIPTION_PATH",
    "BadFrame",
    "ConnectPlan",
    "Connected",
    "GatewayErrorReceived",
    "HeartbeatDue",
    "LinkDead",
    "NotificationReceived",
    "RecoveryOutcome",
    "RecoveryReplayed",
    "RequestFailed",
    "RequestTimedOut",
    "ResponseReceived",
    "SessionEvent",
    "SessionState",
    "SessionTimings",
    "SubscriptionReply",
    "disabled_filters",
    "same_filter",
]

SUBSCRIPTION_PATH: Final = "/restapi/v1.0/subscription"

#: Documented gateway defaults, used until ``ConnectionDetails`` says otherwise (seconds).
DEFAULT_RECOVERY_TIMEOUT: Final = 180.0
DEFAULT_IDLE_TIMEOUT: Final = 1800.0
DEFAULT_MAX_ACTIVE_REQUESTS: Final = 10


class RecoveryOutcome(StrEnum):
    """What a connect did to the session."""

    FRESH = "fresh"  #: a new session (no wsc sent)
    RECOVERED = "recovered"  #: recoveryState Successful: subscription and buffered events kept
    FAILED = "failed"  #: recoveryState Failed: the subscription must be re-created


@dataclass(frozen=True, slots=True)
class SessionTimings:
    """Heartbeat and request timing, in seconds.

    ``heartbeat_interval``: send a ``Heartbeat`` after this long without receiving anything,
    and also after this long without sending anything (capped at half the server's
    ``idleTimeout``, since only client frames keep a session from going idle).
    ``heartbeat_timeout``: the link is dead when nothing at all arrives this long after a
    heartbeat was sent. ``request_timeout``: deadline for a ``ClientRequest`` reply.
    ``replay_probe_timeout``: how long after a successful recovery the echo of the replay
    probe may take; past it the probe ends undecided (``RecoveryReplayed.timed_out``).
    ``replay_uids_cap``: at most this many replayed uuids are remembered while the probe
    runs (the overlap check stops there; memory stays bounded).
    """

    heartbeat_interval: float = 30.0
    heartbeat_timeout: float = 20.0
    request_timeout: float = 30.0
    replay_probe_timeout: float = 30.0
    replay_uids_cap: int = 10_000


@dataclass(frozen=True, slots=True)
class ConnectPlan:
    """How to open the next connection. ``wsc`` is set when recovery should be tried."""

    wsc: Wsc | None

    @property
    def recover(self) -> bool:
        """True when the connect should carry ``wsc`` and try to recover the session."""
        return self.wsc is not None


# ---- events -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """``ConnectionDetails`` arrived on a new connection.

    ``needs_subscription`` is true when the subscription must be (re-)created now; when
    ``outcome`` is FAILED, or FRESH after an earlier subscription, events may be missing.
    """

    outcome: RecoveryOutcome
    details: ConnectionDetailsBody
    needs_subscription: bool
    had_subscription: bool
    recovery_error_code: str | None = None


@dataclass(slots=True)
class NotificationReceived:
    """A notification not seen before. ``data`` is the raw notification object.

    Not frozen, unlike the other events: one is made per event on the hot path, and a
    frozen dataclass costs 0.1-0.3 us more to construct (treat it as read-only).
    """

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SubscriptionReply:
    """How the core read the reply to a subscription request (the one place it is read).

    ``outcome``: ``"applied"`` (2xx; ``refused`` lists the filters the server did not grant,
    ``disabledFilters``: filter -> reason), ``"deleted"`` (a DELETE answered 2xx or 404),
    ``"gone"`` (404/``SUB-507``: the server lost the subscription; the next request POSTs
    anew), ``"failed"`` (any other error status: map it with ``classify``). ``sent``: the
    filters the request carried; ``method``: POST, PUT or DELETE."""

    method: str
    sent: tuple[str, ...]
    outcome: str
    refused: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A reply to one of our requests (any status). ``tag`` is what the request was sent
    with; ``subscription`` is set for subscription requests (see :class:`SubscriptionReply`)."""

    response: ClientResponse
    tag: Any
    subscription: SubscriptionReply | None = None


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """An ``Error`` frame answered one of our requests."""

    message_id: str
    error: ErrorFrame
    tag: Any


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    """No reply arrived for a request before its deadline."""

    message_id: str
    tag: Any


@dataclass(frozen=True, slots=True)
class GatewayErrorReceived:
    """An ``Error`` frame not tied to a request (``WSG-902``, ``WSG-903``, ``OAU-*`` ...)."""

    error: ErrorFrame


@dataclass(frozen=True, slots=True)
class RecoveryReplayed:
    """The echo of the post-recovery probe arrived: ``replayed`` notifications came before it.

    The gateway replays its buffer right after a successful recovery and drops the oldest
    events beyond ``recoveryBufferSize`` without saying so. ``replayed`` reaching
    ``buffer_size`` means the buffer was full: events from the outage may be missing.
    """

    replayed: int
    buffer_size: int | None
    #: The echo did not come within ``replay_probe_timeout``: how many were replayed is
    #: unknown (``replayed`` counts what arrived meanwhile, live events included).
    timed_out: bool = False

    @property
    def buffer_was_full(self) -> bool:
        """True when as many events came back as the gateway's buffer holds."""
        return self.buffer_size is not None and self.replayed >= self.buffer_size


@dataclass(frozen=True, slots=True)
class HeartbeatDue:
    """Time to send a heartbeat: call :meth:`SessionState.heartbeat`."""


@dataclass(frozen=True, slots=True)
class LinkDead:
    """A heartbeat went unanswered (nothing arrived) for ``heartbeat_timeout`` seconds."""

    silent_for: float


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that could not be decoded was skipped."""

    error: FrameDecodeError


SessionEvent = (
    Connected
    | RecoveryReplayed
    | NotificationReceived
    | ResponseReceived
    | RequestFailed
    | RequestTimedOut
    | GatewayErrorReceived
    | HeartbeatDue
    | LinkDead
    | BadFrame
)


@dataclass(slots=True)
class _Pending:
    deadline: float
    tag: Any


@dataclass(slots=True)
class _Link:
    opened_at: float
    last_received: float
    last_sent: float
    heartbeat_sent_at: float | None = None
    details_seen: bool = False
    recovering: bool = False


def _new_id() -> str:
    return str(_uuid.uuid4())


@dataclass(slots=True)
class SessionState:
    """Client-side gateway session state. See the module docstring for the calling protocol.

    ``dedupe_window`` bounds how many delivered uuids are remembered to drop replays.
    ``id_factory`` makes ``messageId`` values (UUIDv4 strings by default).
    """

    timings: SessionTimings = field(default_factory=SessionTimings)
    dedupe_window: int = 10_000
    id_factory: Callable[[], str] = _new_id

    wsc: Wsc | None = None
    details: ConnectionDetailsBody | None = None
    subscription_id: str | None = None
    subscribed_filters: tuple[str, ...] = ()
    wanted_filters: tuple[str, ...] = ()
    disconnected_at: float | None = None
    #: Notifications dropped because their uuid was already delivered (replays).
    duplicates: int = 0
    _probe_id: str | None = None
    _probe_deadline: float | None = None
    _replayed: int | None = None
    _replay_overlap: bool = False
    _replay_uids: set[str] = field(default_factory=set)
    _last_heartbeat_id: str | None = None
    _link: _Link | None = None
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _expired: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict)

    # ---- configuration ----------------------------------------------------------------

    @property
    def recovery_timeout(self) -> float:
        """Seconds after a disconnect during which recovery is possible."""
        value = self.details.recovery_timeout if self.details else None
        return float(value) if value else DEFAULT_RECOVERY_TIMEOUT

    @property
    def idle_timeout(self) -> float:
        """The server's idle timeout in seconds."""
        value = self.details.idle_timeout if self.details else None
        return float(value) if value else DEFAULT_IDLE_TIMEOUT

    @property
    def max_active_requests(self) -> int:
        """How many requests may be in flight at once."""
        value = self.details.max_active_requests if self.details else None
        return int(value) if value else DEFAULT_MAX_ACTIVE_REQUESTS

    @property
    def connected(self) -> bool:
        """True between :meth:`connection_opened` and :meth:`connection_lost`."""
        return self._link is not None

    @property
    def ready(self) -> bool:
        """True once this connection's ``ConnectionDetails`` has arrived."""
        return self._link is not None and self._link.details_seen

    @property
    def heartbeat_outstanding(self) -> bool:
        """True while a heartbeat was sent and nothing has arrived since."""
        return self._link is not None and self._link.heartbeat_sent_at is not None

    @property
    def pending_count(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    def want_filters(self, filters: Iterable[str]) -> bool:
        """Set the filters the subscription should have. True if a request is now needed."""
        self.wanted_filters = tuple(dict.fromkeys(filters))
        return self.subscription_outdated

    @property
    def subscription_outdated(self) -> bool:
        """True when the server-side subscription differs from the wanted filters."""
        if not self.wanted_filters:
            return self.subscription_id is not None
        return self.subscription_id is None or set(self.subscribed_filters) != set(
            self.wanted_filters
        )

    # ---- connection lifecycle -----------------------------------------------------------

    def plan_connect(self, now: float) -> ConnectPlan:
        """Decide whether the next connect tries recovery.

        Recovery is tried when a ``wsc`` is known, a subscription existed, and the
        disconnect was less than ``recoveryTimeout`` ago. Otherwise the stored ``wsc`` is
        dropped and the connect starts a fresh session.
        """
        if (
            self.wsc is not None
            and self.subscription_id is not None
            and self.disconnected_at is not None
            and now - self.disconnected_at < self.recovery_timeout
        ):
            return ConnectPlan(wsc=self.wsc)
        self.wsc = None
        return ConnectPlan(wsc=None)

    def connection_opened(self, now: float, plan: ConnectPlan) -> None:
        """The socket is open (``ConnectionDetails`` not yet seen)."""
        self._link = _Link(opened_at=now, last_received=now, last_sent=now, recovering=plan.recover)

    def connection_lost(self, now: float) -> list[SessionEvent]:
        """The socket closed. Every pending request fails (returned as RequestTimedOut)."""
        was_ready = self._link is not None and self._link.details_seen
        self._link = None
        self._probe_id = None
        self._probe_deadline = None
        self._replayed = None
        self._replay_uids = set()
        if was_ready or self.disconnected_at is None:
            self.disconnected_at = now
        failed: list[SessionEvent] = [
            RequestTimedOut(message_id=mid, tag=_unwrap(p.tag)) for mid, p in self._pending.items()
        ]
        self._pending.clear()
        return failed

    # ---- incoming -----------------------------------------------------------------------

    def receive(self, text: str | bytes | bytearray, now: float) -> list[SessionEvent]:
        """Feed one text frame; return the events it produces (possibly none)."""
        link = self._link
        if link is not None:
            link.last_received = now
            link.heartbeat_sent_at = None
        try:
            frame = decode_frame(text)
        except FrameDecodeError as exc:
            return [BadFrame(exc)]
        if frame.wsc is not None and not isinstance(frame, ConnectionDetails):
            self._take_wsc(frame.wsc, force=False)
        if isinstance(frame, ServerNotification):
            return self._on_notification(frame)
        if isinstance(frame, ClientResponse):
            pending = self._pending.pop(frame.message_id, None)
            if pending is None:
                return []
            reading = None
            if isinstance(pending.tag, _SubscribeTag):
                reading = self._on_subscription_reply(frame, pending.tag)
            return [ResponseReceived(frame, _unwrap(pending.tag), reading)]
        if isinstance(frame, HeartbeatReply):
            if self._probe_id is not None and frame.message_id == self._probe_id:
                replayed, self._replayed, self._probe_id = self._replayed or 0, None, None
                self._probe_deadline = None
                size = self.details.recovery_buffer_size if self.details else None
                if self._replay_overlap:
                    size = None  # the replay overlapped delivered events: nothing fell out
                self._replay_uids = set()
                return [RecoveryReplayed(replayed=replayed, buffer_size=size)]
            return []
        if isinstance(frame, ConnectionDetails):
            return self._on_connection_details(frame, now)
        if isinstance(frame, ErrorFrame):
            if frame.message_id is not None and frame.message_id in self._pending:
                pending = self._pending.pop(frame.message_id)
                if isinstance(pending.tag, _SubscribeTag):
                    # Some gateways reject a request with an Error frame instead of a
                    # ClientRequest reply; for the subscription both mean the same, so
                    # treat it as the reply it stands for (a 404 must still re-POST).
                    reply = ClientResponse(
                        message_id=frame.message_id,
                        status=frame.status if frame.status and frame.status >= 400 else 400,
                        headers={},
                        body=frame.body,
                        wsc=frame.wsc,
                    )
                    reading = self._on_subscription_reply(reply, pending.tag)
                    return [ResponseReceived(reply, _unwrap(pending.tag), reading)]
                return [RequestFailed(frame.message_id, frame, _unwrap(pending.tag))]
            link = self._link
            if link is not None and link.recovering and not link.details_seen:
                # refused before ConnectionDetails while recovering (WSG-400 malformed
                # wsc ...): that token will not work again, connect fresh next time
                self.wsc = None
            if frame.message_id is not None and frame.message_id in self._expired:
                del self._expired[frame.message_id]
                return []  # a late answer to a request we gave up on
            return [GatewayErrorReceived(frame)]
        return []  # pragma: no cover - decode_frame returns only the types above

    def _take_wsc(self, wsc: Wsc, *, force: bool) -> None:
        if force or self.wsc is None or wsc.sequence > self.wsc.sequence:
            self.wsc = wsc

    def receive_notification(
        self, uid: str | None, message_id: str | None, wsc: Wsc | None, now: float
    ) -> bool:
        """Account for a ``ServerNotification`` the caller decoded itself (the client's
        one-parse fast path); the same bookkeeping as :meth:`receive` gives such a frame.

        ``uid`` is the notification's ``uuid`` (``None`` if it has none). Returns whether
        the notification is new (``False``: a duplicate, to be dropped).
        """
        link = self._link
        if link is not None:
            link.last_received = now
            link.heartbeat_sent_at = None
        if wsc is not None:
            self._take_wsc(wsc, force=False)
        return self._accept(uid if uid is not None else message_id)

    def _on_notification(self, frame: ServerNotification) -> list[SessionEvent]:
        uid = frame.body.get("uuid")
        if not isinstance(uid, str):
            uid = frame.message_id
        if not self._accept(uid):
            return []
        return [NotificationReceived(frame.body)]

    def _accept(self, uid: str | None) -> bool:
        """Dedupe by ``uid`` and count replays; False for a duplicate."""
        if uid is not None:
            if uid in self._seen:
                self.duplicates += 1
                if self._replayed is not None:
                    self._replayed += 1  # the server sent it
                    if uid not in self._replay_uids:
                        # delivered before the outage: the replay reaches back into what
                        # the client already has, so nothing fell out in front of it
                        self._replay_overlap = True
                return False
            self._seen[uid] = None
            if len(self._seen) > self.dedupe_window:
                self._seen.popitem(last=False)
        if self._replayed is not None:
            self._replayed += 1
            if uid is not None and len(self._replay_uids) < self.timings.replay_uids_cap:
                self._replay_uids.add(uid)
        return True

    def _on_connection_details(self, frame: ConnectionDetails, now: float) -> list[SessionEvent]:
        link = self._link
        first = link is not None and not link.details_seen
        body = frame.details
        if body is not None:
            if self.details is None:
                self.details = body
            else:
                # keep earlier values for fields a later frame leaves out
                merged = self.details.model_dump(by_alias=True, exclude_none=True)
                merged.update(body.model_dump(by_alias=True, exclude_none=True))
                if body.recovery_state is None:
                    merged.pop("recoveryState", None)
                    merged.pop("recoveryErrorCode", None)
                self.details = ConnectionDetailsBody.model_validate(merged)
        if frame.wsc is not None:
            recovery_frame = body is not None and body.recovery_state is not None
            self._take_wsc(frame.wsc, force=recovery_frame or first)
        if not first or link is None:
            return []
        link.details_seen = True
        state = body.recovery_state if body is not None else None
        had = self.subscription_id is not None
        if link.recovering and state is not None and state.lower() == "successful":
            outcome = RecoveryOutcome.RECOVERED
            self.disconnected_at = None
            self._replayed = 0  # count what the gateway replays until the probe's echo
            self._replay_overlap = False
            self._replay_uids = set()
        else:
            outcome = RecoveryOutcome.FAILED if link.recovering else RecoveryOutcome.FRESH
            # the server has no subscription for us on this session
            self.subscription_id = None
            self.subscribed_filters = ()
            self.disconnected_at = None
        details = self.details or ConnectionDetailsBody()
        return [
            Connected(
                outcome=outcome,
                details=details,
                needs_subscription=bool(self.wanted_filters) and self.subscription_outdated,
                had_subscription=had,
                recovery_error_code=body.recovery_error_code if body is not None else None,
            )
        ]

    def _on_subscription_reply(
        self, frame: ClientResponse, tag: _SubscribeTag
    ) -> SubscriptionReply:
        if tag.method == "DELETE":
            # state was cleared when the DELETE was sent
            gone = frame.ok or frame.status == 404
            return SubscriptionReply(tag.method, tag.filters, "deleted" if gone else "failed")
        if frame.ok:
            body = frame.body if isinstance(frame.body, dict) else {}
            sid = body.get("id")
            granted = _granted(tag.filters, body)
            if isinstance(sid, str) and sid:
                self.subscription_id = sid
                self.subscribed_filters = granted
            elif tag.method == "PUT":
                # a 2xx without SubscriptionInfo: the update was applied to the same id
                self.subscribed_filters = granted
            # a 2xx POST without an id leaves no subscription; the caller must not loop
            refused = disabled_filters(tag.filters, body)
            return SubscriptionReply(tag.method, tag.filters, "applied", refused)
        if subscription_lost(frame.status, _error_code(frame.body)):
            # the subscription is gone (expired or unknown): the next request POSTs anew
            self.subscription_id = None
            self.subscribed_filters = ()
            return SubscriptionReply(tag.method, tag.filters, "gone")
        return SubscriptionReply(tag.method, tag.filters, "failed")

    @property
    def last_received(self) -> float | None:
        """When the open connection last received a frame (this state's clock), or None."""
        return self._link.last_received if self._link is not None else None

    def seed(
        self,
        *,
        wsc: Wsc | None = None,
        subscription_id: str | None = None,
        filters: Iterable[str] = (),
        disconnected_at: float | None = None,
        delivered: Iterable[str] = (),
    ) -> None:
        """Start from what a previous process left (a checkpoint), before the first connect.

        ``wsc``/``subscription_id``/``filters``/``disconnected_at`` (on this state's clock)
        make :meth:`plan_connect` try to recover that session; ``delivered`` are uuids
        already handed out, so a replay of them is dropped as a duplicate.
        """
        if wsc is not None:
            self.wsc = wsc
        if subscription_id is not None:
            self.subscription_id = subscription_id
            self.subscribed_filters = tuple(filters)
        if disconnected_at is not None:
            self.disconnected_at = disconnected_at
        for uid in delivered:
            self._seen[uid] = None
        while len(self._seen) > self.dedupe_window:
            self._seen.popitem(last=False)

    def forget_subscription(self) -> str | None:
        """The server no longer has the subscription (found gone, suspended or expired by
        a check): forget it so the next :meth:`subscription_request` POSTs a new one.
        Returns the forgotten id."""
        sid, self.subscription_id, self.subscribed_filters = self.subscription_id, None, ()
        return sid

    # ---- outgoing -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        now: float,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        tag: Any = None,
    ) -> tuple[str, str]:
        """Register a ``ClientRequest``; return ``(message_id, frame_text)`` to send."""
        message_id = self.id_factory()
        deadline = now + (self.timings.request_timeout if timeout is None else timeout)
        self._pending[message_id] = _Pending(deadline=deadline, tag=tag)
        self._sent(now)
        return message_id, encode_client_request(
            message_id, method, path, body, query=query, headers=headers
        )

    def subscription_request(self, now: float, *, tag: Any = None) -> tuple[str, str] | None:
        """The request that brings the server subscription in line with the wanted filters.

        POST when there is none, PUT when the filters changed, DELETE when no filters are
        wanted any more; ``None`` when nothing needs doing.
        """
        if not self.subscription_outdated:
            return None
        if not self.wanted_filters:
            sid = self.subscription_id
            self.subscription_id = None
            self.subscribed_filters = ()
            return self.request(
                "DELETE",
                f"{SUBSCRIPTION_PATH}/{sid}",
                now=now,
                tag=_SubscribeTag(tag, "DELETE", ()),
            )
        body = {
            "eventFilters": list(self.wanted_filters),
            "deliveryMode": {"transportType": "WebSocket"},
        }
        if self.subscription_id is None:
            return self.request(
                "POST",
                SUBSCRIPTION_PATH,
                body,
                now=now,
                tag=_SubscribeTag(tag, "POST", self.wanted_filters),
            )
        return self.request(
            "PUT",
            f"{SUBSCRIPTION_PATH}/{self.subscription_id}",
            body,
            now=now,
            tag=_SubscribeTag(tag, "PUT", self.wanted_filters),
        )

    @property
    def replaying(self) -> bool:
        """A recovery's replay is being counted (until the probe's echo or its timeout)."""
        return self._replayed is not None

    def replay_probe(self, now: float) -> str:
        """A ``Heartbeat`` to send right after a recovery: its echo marks the end of the
        replay, and :class:`RecoveryReplayed` then says how many events were replayed."""
        text = self.heartbeat(now)
        self._probe_id = self._last_heartbeat_id
        self._probe_deadline = now + self.timings.replay_probe_timeout
        return text

    def heartbeat(self, now: float) -> str:
        """Return a ``Heartbeat`` frame to send and start its reply deadline."""
        if self._link is not None and self._link.heartbeat_sent_at is None:
            self._link.heartbeat_sent_at = now
        self._sent(now)
        self._last_heartbeat_id = self.id_factory()
        return encode_heartbeat(self._last_heartbeat_id)

    def _sent(self, now: float) -> None:
        if self._link is not None:
            self._link.last_sent = now

    # ---- timers -------------------------------------------------------------------------

    def _send_interval(self) -> float:
        return min(self.timings.heartbeat_interval, self.idle_timeout / 2)

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`poll` has something to report, or None."""
        candidates = [p.deadline for p in self._pending.values()]
        if self._probe_deadline is not None:
            candidates.append(self._probe_deadline)
        link = self._link
        if link is not None and link.details_seen:
            if link.heartbeat_sent_at is not None:
                candidates.append(link.heartbeat_sent_at + self.timings.heartbeat_timeout)
            else:
                candidates.append(link.last_received + self.timings.heartbeat_interval)
                candidates.append(link.last_sent + self._send_interval())
        return min(candidates) if candidates else None

    def poll(self, now: float) -> list[SessionEvent]:
        """Report timers that have run out: request deadlines, heartbeats, a dead link."""
        events: list[SessionEvent] = []
        for mid in [m for m, p in self._pending.items() if p.deadline <= now]:
            pending = self._pending.pop(mid)
            self._expired[mid] = None
            if len(self._expired) > 256:
                self._expired.popitem(last=False)
            events.append(RequestTimedOut(message_id=mid, tag=_unwrap(pending.tag)))
        if self._probe_deadline is not None and now >= self._probe_deadline:
            replayed = self._replayed or 0
            self._probe_id = self._probe_deadline = self._replayed = None
            self._replay_uids = set()
            events.append(RecoveryReplayed(replayed=replayed, buffer_size=None, timed_out=True))
        link = self._link
        if link is not None and link.details_seen:
            if link.heartbeat_sent_at is not None:
                silent = now - link.heartbeat_sent_at
                if silent >= self.timings.heartbeat_timeout:
                    events.append(LinkDead(silent_for=now - link.last_received))
            elif (
                now - link.last_received >= self.timings.heartbeat_interval
                or now - link.last_sent >= self._send_interval()
            ):
                events.append(HeartbeatDue())
        return events


@dataclass(frozen=True, slots=True)
class _SubscribeTag:
    inner: Any
    method: str
    filters: tuple[str, ...]


def same_filter(sent: str, echoed: str) -> bool:
    """Whether ``echoed`` (as the server writes it, ``~`` expanded to ids) is ``sent``."""
    sent_path, _, sent_query = sent.rstrip("/").partition("?")
    echo_path, _, echo_query = echoed.rstrip("/").partition("?")
    a, b = sent_path.split("/"), echo_path.split("/")
    if len(a) != len(b) or any(x != y and x != "~" for x, y in zip(a, b, strict=True)):
        return False
    return set(sent_query.split("&")) == set(echo_query.split("&"))


def disabled_filters(sent: tuple[str, ...], body: Any) -> dict[str, str]:
    """``{sent filter: reason}`` for the filters a SubscriptionInfo lists as not granted."""
    items = body.get("disabledFilters") if isinstance(body, dict) else None
    out: dict[str, str] = {}
    for d in items if isinstance(items, list) else []:
        echoed = d.get("filter") if isinstance(d, dict) else None
        if not isinstance(echoed, str):
            continue
        reason = str(d.get("message") or d.get("reason") or "not granted")
        for f in sent:
            if same_filter(f, echoed):
                out[f] = reason
    return out


def _granted(sent: tuple[str, ...], body: Any) -> tuple[str, ...]:
    """The filters of ``sent`` the server did not list in ``disabledFilters``."""
    off = disabled_filters(sent, body)
    return tuple(f for f in sent if f not in off) if off else sent


def subscription_lost(status: int | None, error_code: str | None) -> bool:
    """Whether a refusal of a subscription request means the server no longer has the
    subscription: HTTP 404 or ``SUB-507`` (the developer guide's error table)."""
    return status == 404 or error_code == "SUB-507"


def _error_code(body: Any) -> str | None:
    code = body.get("errorCode") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _unwrap(tag: Any) -> Any:
    return tag.inner if isinstance(tag, _SubscribeTag) else tag
