"""Deeper property tests: a stateful model of :class:`SessionState` driven by arbitrary
sequences of connects, losses, requests, replies, recovery ``ConnectionDetails``,
notifications, garbage and time; and cross-codec checks between the emulator's frame
builders and :func:`decode_frame`.

``tests/protocol/test_fuzz.py`` feeds random frames to one connection; here the whole
lifecycle is explored and the invariants are checked after every step.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from support import json_values as support_json_values

from rcstream.emulator import _wire as wire
from rcstream.exceptions import FrameDecodeError
from rcstream.models import parse_notification
from rcstream.protocol import (
    BadFrame,
    ClientResponse,
    Connected,
    ConnectionDetails,
    ErrorFrame,
    GatewayErrorReceived,
    HeartbeatDue,
    HeartbeatReply,
    LinkDead,
    NotificationReceived,
    RecoveryOutcome,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    ServerNotification,
    SessionState,
    SessionTimings,
    decode_frame,
)

DEDUPE = 5
FILTERS = ["/a", "/b", "/c"]
uuids = st.sampled_from([f"u{i}" for i in range(12)])
tokens = st.sampled_from(["tok-a", "tok-b", "tok-c"])
sequences = st.integers(min_value=0, max_value=20)
dts = st.sampled_from([0.0, 0.001, 0.5, 1.0, 3.0, 10.0, 100.0, 1000.0])


def cd_frame(token: str | None, seq: int, state: str | None, body: bool = True) -> str:
    header: dict[str, Any] = {"type": "ConnectionDetails", "messageId": "cd", "status": 200}
    if token is not None:
        header["wsc"] = {"token": token, "sequence": seq}
    details: dict[str, Any] = {"recoveryTimeout": 60, "idleTimeout": 40}
    if state is not None:
        details["recoveryState"] = state
        if state == "Failed":
            details["recoveryErrorCode"] = "WSG-1005"
    return json.dumps([header, details] if body else [header])


class SessionMachine(RuleBasedStateMachine):
    """Drives one SessionState like a (possibly confused) client and server would."""

    @initialize()
    def setup(self) -> None:
        counter = itertools.count(1)
        self.state = SessionState(
            timings=SessionTimings(heartbeat_interval=2, heartbeat_timeout=1, request_timeout=5),
            dedupe_window=DEDUPE,
            id_factory=lambda: f"m{next(counter)}",  # deterministic, so hypothesis can replay
        )
        self.now = 0.0
        self.pending: set[str] = set()
        self.delivered: list[str] = []  # uuids in delivery order
        self.connected_events = 0
        self.recovering = False
        self.link_ready = False
        self.message_id: str | None = None

    # ---- helpers -----------------------------------------------------------------------

    def feed(self, text: str) -> list[Any]:
        state = self.state
        before = state.wsc
        first_details = state.connected and not state.ready
        events = state.receive(text, self.now)
        after = state.wsc
        if before is not None and after is not None and after.sequence < before.sequence:
            # the sequence only goes down on a recovery ConnectionDetails (or the first
            # ConnectionDetails of a connection)
            frame = decode_frame(text)
            assert isinstance(frame, ConnectionDetails)
            recovery = frame.details is not None and frame.details.recovery_state is not None
            assert recovery or first_details
        self.check_events(events)
        return events

    def check_events(self, events: list[Any]) -> None:
        for ev in events:
            if isinstance(ev, NotificationReceived):
                uid = ev.data.get("uuid")
                if not isinstance(uid, str):
                    uid = self.message_id  # the session falls back to the frame's messageId
                if isinstance(uid, str):
                    if uid in self.delivered:
                        last = len(self.delivered) - 1 - self.delivered[::-1].index(uid)
                        since = set(self.delivered[last + 1 :])
                        assert len(since) >= DEDUPE, f"{uid} delivered twice within the window"
                    self.delivered.append(uid)
            elif isinstance(ev, ResponseReceived | RequestFailed):
                mid = ev.response.message_id if isinstance(ev, ResponseReceived) else ev.message_id
                assert mid in self.pending
                self.pending.discard(mid)
            elif isinstance(ev, RequestTimedOut):
                assert ev.message_id in self.pending
                self.pending.discard(ev.message_id)
            elif isinstance(ev, Connected):
                self.connected_events += 1
                assert not self.link_ready, "two Connected events on one connection"
                self.link_ready = True
                if ev.outcome is RecoveryOutcome.RECOVERED:
                    assert self.recovering
                else:
                    assert self.state.subscription_id is None
                if ev.outcome is RecoveryOutcome.FAILED:
                    assert self.recovering
            elif isinstance(ev, BadFrame):
                assert isinstance(ev.error, FrameDecodeError)
            else:
                assert isinstance(ev, GatewayErrorReceived | HeartbeatDue | LinkDead)

    # ---- connection lifecycle ----------------------------------------------------------

    @precondition(lambda self: not self.state.connected)
    @rule()
    def connect(self) -> None:
        s = self.state
        could = (
            s.wsc is not None
            and s.subscription_id is not None
            and s.disconnected_at is not None
            and self.now - s.disconnected_at < s.recovery_timeout
        )
        plan = s.plan_connect(self.now)
        assert plan.recover == could
        if not plan.recover:
            assert s.wsc is None
        self.recovering = plan.recover
        self.link_ready = False
        s.connection_opened(self.now, plan)

    @precondition(lambda self: self.state.connected)
    @rule()
    def lose(self) -> None:
        events = self.state.connection_lost(self.now)
        assert all(isinstance(e, RequestTimedOut) for e in events)
        assert {e.message_id for e in events} == self.pending
        self.pending.clear()
        assert self.state.disconnected_at is not None
        self.link_ready = False

    @rule(
        token=st.none() | tokens,
        seq=sequences,
        outcome=st.sampled_from([None, "Successful", "Failed", "successful", "weird"]),
        body=st.booleans(),
    )
    def connection_details(
        self, token: str | None, seq: int, outcome: str | None, body: bool
    ) -> None:
        self.feed(cd_frame(token, seq, outcome, body))

    # ---- requests and replies ----------------------------------------------------------

    @rule(filters=st.lists(st.sampled_from(FILTERS), max_size=3))
    def want(self, filters: list[str]) -> None:
        needed = self.state.want_filters(filters)
        assert needed == self.state.subscription_outdated

    @rule()
    def subscription_request(self) -> None:
        req = self.state.subscription_request(self.now, tag="sub")
        if req is not None:
            mid, text = req
            assert mid not in self.pending
            self.pending.add(mid)
            assert json.loads(text)[0]["messageId"] == mid

    @rule(method=st.sampled_from(["GET", "POST"]), timeout=st.none() | st.floats(0, 50))
    def api_request(self, method: str, timeout: float | None) -> None:
        mid, _ = self.state.request(method, "/restapi/v1.0/x", now=self.now, timeout=timeout)
        self.pending.add(mid)

    @precondition(lambda self: bool(self.pending))
    @rule(
        data=st.data(),
        status=st.sampled_from([200, 204, 404, 429, 500]),
        with_id=st.booleans(),
        as_error=st.booleans(),
    )
    def reply(self, data: st.DataObject, status: int, with_id: bool, as_error: bool) -> None:
        mid = data.draw(st.sampled_from(sorted(self.pending)))
        kind = "Error" if as_error else "ClientRequest"
        body = {"id": "sub-1"} if with_id else {"errorCode": "X"}
        self.feed(json.dumps([{"type": kind, "messageId": mid, "status": status}, body]))

    @rule(mid=st.text(max_size=8), status=st.integers(100, 599))
    def reply_to_nobody(self, mid: str, status: int) -> None:
        self.feed(
            json.dumps([{"type": "ClientRequest", "messageId": "?" + mid, "status": status}, {}])
        )

    # ---- traffic -----------------------------------------------------------------------

    @rule(uid=uuids, token=st.none() | tokens, seq=sequences, use_mid=st.booleans())
    def notification(self, uid: str, token: str | None, seq: int, use_mid: bool) -> None:
        header: dict[str, Any] = {"type": "ServerNotification", "messageId": uid}
        if token is not None:
            header["wsc"] = {"token": token, "sequence": seq}
        body: dict[str, Any] = {"event": "/a", "timestamp": "t"}
        if not use_mid:
            body["uuid"] = uid
        self.message_id = uid
        self.feed(json.dumps([header, body]))
        self.message_id = None

    @rule(
        text=st.text(max_size=40)
        | st.sampled_from(
            ["[]", "[{}]", '[{"type":"Error"}]', '[{"type":"Heartbeat"}]', "[" * 3000, "null"]
        )
    )
    def garbage(self, text: str) -> None:
        self.feed(text)

    @rule(dt=dts)
    def tick(self, dt: float) -> None:
        self.now += dt
        s = self.state
        deadline = s.next_deadline()
        events = s.poll(self.now)
        self.check_events(events)
        if deadline is not None and deadline > self.now:
            assert not any(isinstance(e, RequestTimedOut | LinkDead) for e in events)
        for e in events:
            if isinstance(e, HeartbeatDue):
                s.heartbeat(self.now)

    # ---- invariants --------------------------------------------------------------------

    @invariant()
    def consistent(self) -> None:
        s = self.state
        assert s.pending_count == len(self.pending)
        if s.ready:
            assert s.connected
        if not s.connected:
            assert not s.ready and not s.heartbeat_outstanding
        deadline = s.next_deadline()
        assert deadline is None or math.isfinite(deadline)
        if s.subscription_id is None:
            assert s.subscribed_filters == ()
        assert s.subscription_outdated == (
            (s.subscription_id is not None)
            if not s.wanted_filters
            else (s.subscription_id is None or set(s.subscribed_filters) != set(s.wanted_filters))
        )


SessionMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("RCSTREAM_FUZZ_EXAMPLES", "150")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSessionMachine = SessionMachine.TestCase


# ---- the emulator's frames and the client's decoder agree ---------------------------------

ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
json_values = support_json_values(int_range=(-(2**53), 2**53), floats=False)


@given(
    uid=ids,
    sub=ids,
    owner=ids,
    body=json_values,
    event=st.sampled_from(
        [
            "/restapi/v1.0/account/1/extension/2/presence",
            "/restapi/v1.0/account/1/extension/2/telephony/sessions",
            "/x/unknown",
        ]
    ),
)
@settings(max_examples=200, deadline=None)
def test_emulator_notification_frames_decode_and_parse(
    uid: str, sub: str, owner: str, body: Any, event: str
) -> None:
    frame = wire.notification_frame(
        uuid_=uid,
        event=event,
        timestamp="2024-01-01T00:00:00.000Z",
        subscription_id=sub,
        owner_id=owner,
        body=body,
    )
    decoded = decode_frame(wire.dumps(frame))
    assert isinstance(decoded, ServerNotification)
    assert decoded.message_id == uid
    assert decoded.body == frame[1]
    n = parse_notification(decoded.body)  # never raises for a well-formed envelope
    assert n.uuid == uid and n.event == event
    assert n.to_wire() == frame[1]


@given(
    token=st.text("abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=12, max_size=60),
    seq=st.integers(0, 2**40),
    recovery=st.sampled_from([None, "Successful", "Failed"]),
)
@settings(max_examples=150, deadline=None)
def test_emulator_connection_details_decode(token: str, seq: int, recovery: str | None) -> None:
    details: dict[str, Any] = {"recoveryTimeout": 180, "idleTimeout": 0.25}
    if recovery:
        details["recoveryState"] = recovery
    frame = wire.connection_details_frame(wsc_token=token, wsc_sequence=seq, details=details)
    decoded = decode_frame(wire.dumps(frame))
    assert isinstance(decoded, ConnectionDetails)
    assert decoded.wsc is not None
    assert (decoded.wsc.token, decoded.wsc.sequence) == (token, seq)
    assert decoded.details is not None and decoded.details.recovery_state == recovery
    assert token not in repr(decoded.wsc)


@given(
    mid=st.none() | ids,
    code=st.none() | st.text(max_size=12),
    status=st.integers(100, 599),
    body=json_values,
)
@settings(max_examples=150, deadline=None)
def test_emulator_error_and_reply_frames_decode(
    mid: str | None, code: str | None, status: int, body: Any
) -> None:
    err = wire.error_frame(code or "WSG-1", "message", status=status, message_id=mid)
    decoded = decode_frame(wire.dumps(err))
    assert isinstance(decoded, ErrorFrame)
    assert decoded.error_code == (code or "WSG-1")
    hb = decode_frame(wire.dumps(wire.heartbeat_frame(mid, with_status=True)))
    assert isinstance(hb, HeartbeatReply) and hb.message_id == mid
    if mid is not None:
        reply = wire.client_response_frame(
            message_id=mid,
            status=status,
            body=body if isinstance(body, dict) else None,
            extra_headers=None,
            frame_type="ClientRequest",
        )
        decoded_reply = decode_frame(wire.dumps(reply))
        assert isinstance(decoded_reply, ClientResponse)
        assert decoded_reply.status == status and decoded_reply.message_id == mid
