"""The session state machine, driven synchronously with recorded frames and a fake clock."""

from __future__ import annotations

import itertools
import json

from support import load

from rcstream.protocol import (
    BadFrame,
    Connected,
    GatewayErrorReceived,
    HeartbeatDue,
    LinkDead,
    NotificationReceived,
    RecoveryOutcome,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    SessionState,
    SessionTimings,
    Wsc,
)

FILTER = "/restapi/v1.0/account/~/extension/~/presence"


def make_state(**kw: object) -> SessionState:
    ids = (f"m{i}" for i in itertools.count(1))
    return SessionState(
        timings=SessionTimings(heartbeat_interval=30, heartbeat_timeout=20, request_timeout=10),
        id_factory=lambda: next(ids),
        **kw,  # type: ignore[arg-type]
    )


def sub_reply(message_id: str, sid: str = "sub-1", status: int = 200) -> str:
    return json.dumps(
        [
            {"type": "ClientRequest", "messageId": message_id, "status": status, "headers": {}},
            {"id": sid, "eventFilters": ["/restapi/v1.0/account/1/extension/1/presence"]},
        ]
    )


def notification(uid: str) -> str:
    return json.dumps(
        [
            {"type": "ServerNotification", "messageId": uid, "status": 200},
            {
                "uuid": uid,
                "event": "/restapi/v1.0/account/1/extension/1/presence",
                "timestamp": "2024-01-01T00:00:00Z",
                "subscriptionId": "sub-1",
                "ownerId": "1",
                "body": {},
            },
        ]
    )


def connect_and_subscribe(state: SessionState, now: float = 0.0) -> None:
    state.want_filters([FILTER])
    plan = state.plan_connect(now)
    state.connection_opened(now, plan)
    (ev,) = state.receive(load("connection-details.json"), now)
    assert isinstance(ev, Connected) and ev.needs_subscription
    req = state.subscription_request(now)
    assert req is not None
    mid, text = req
    assert json.loads(text)[0]["method"] == "POST"
    (resp,) = state.receive(sub_reply(mid), now)
    assert isinstance(resp, ResponseReceived) and resp.response.ok


def test_fresh_connect_then_subscribe() -> None:
    state = make_state()
    connect_and_subscribe(state)
    assert state.subscription_id == "sub-1"
    assert state.subscribed_filters == (FILTER,)
    assert not state.subscription_outdated
    assert state.subscription_request(1.0) is None
    assert state.wsc == Wsc("WSC-EXAMPLE-TOKEN", 1)


def test_filters_change_sends_put_and_empty_sends_delete() -> None:
    state = make_state()
    connect_and_subscribe(state)
    assert state.want_filters([FILTER, "/x"])
    mid, text = state.subscription_request(1.0) or ("", "")
    header, body = json.loads(text)
    assert (header["method"], header["path"]) == ("PUT", "/restapi/v1.0/subscription/sub-1")
    assert body["eventFilters"] == [FILTER, "/x"]
    state.receive(sub_reply(mid), 1.0)
    assert state.want_filters([])
    _, text = state.subscription_request(2.0) or ("", "")
    assert json.loads(text) == [
        {
            "type": "ClientRequest",
            "messageId": "m3",
            "method": "DELETE",
            "path": "/restapi/v1.0/subscription/sub-1",
        }
    ]
    assert state.subscription_id is None


def test_put_404_means_post_again() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.want_filters(["/y"])
    mid, _ = state.subscription_request(1.0) or ("", "")
    (ev,) = state.receive(sub_reply(mid, status=404), 1.0)
    assert isinstance(ev, ResponseReceived) and ev.response.status == 404
    _, text = state.subscription_request(1.0) or ("", "")
    assert json.loads(text)[0]["method"] == "POST"


def test_recovery_inside_window_keeps_subscription() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.connection_lost(100.0)
    plan = state.plan_connect(200.0)  # 100 s later, inside 180 s
    assert plan.recover and plan.wsc == Wsc("WSC-EXAMPLE-TOKEN", 1)
    state.connection_opened(200.0, plan)
    (ev,) = state.receive(load("connection-details-recovered.json"), 200.0)
    assert isinstance(ev, Connected)
    assert ev.outcome is RecoveryOutcome.RECOVERED and not ev.needs_subscription
    assert state.subscription_id == "sub-1"
    # a recovery ConnectionDetails' wsc is taken even though its sequence is not higher
    assert state.wsc == Wsc("WSC-EXAMPLE-TOKEN-2", 1)
    # and its recoveryTimeout (30 in the sample) now applies
    assert state.recovery_timeout == 30


def test_recovery_failed_recreates_subscription() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.connection_lost(10.0)
    plan = state.plan_connect(11.0)
    state.connection_opened(11.0, plan)
    (ev,) = state.receive(load("connection-details-failed.json"), 11.0)
    assert isinstance(ev, Connected)
    assert ev.outcome is RecoveryOutcome.FAILED
    assert ev.recovery_error_code == "WSG-1005"
    assert ev.needs_subscription and ev.had_subscription
    _, text = state.subscription_request(11.0) or ("", "")
    assert json.loads(text)[0]["method"] == "POST"


def test_past_window_connects_fresh() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.connection_lost(10.0)
    plan = state.plan_connect(10.0 + 180.0)
    assert not plan.recover and state.wsc is None
    state.connection_opened(190.0, plan)
    (ev,) = state.receive(load("connection-details.json"), 190.0)
    assert isinstance(ev, Connected)
    assert ev.outcome is RecoveryOutcome.FRESH and ev.had_subscription and ev.needs_subscription


def test_window_counts_from_the_first_drop_across_failed_attempts() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.connection_lost(10.0)
    state.connection_opened(20.0, state.plan_connect(20.0))
    state.connection_lost(21.0)  # failed before ConnectionDetails
    assert state.plan_connect(189.0).recover
    assert not state.plan_connect(190.0).recover


def test_no_recovery_without_subscription() -> None:
    state = make_state()
    state.connection_opened(0.0, state.plan_connect(0.0))
    state.receive(load("connection-details.json"), 0.0)
    state.connection_lost(1.0)
    assert not state.plan_connect(2.0).recover


def test_wsc_from_any_frame_only_when_sequence_rises() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.receive(load("notification-with-wsc.json"), 1.0)
    assert state.wsc == Wsc("WSC-EXAMPLE-TOKEN-9", 9)
    lower = json.dumps(
        [{"type": "Heartbeat", "messageId": "h", "wsc": {"token": "LOW", "sequence": 2}}]
    )
    state.receive(lower, 2.0)
    assert state.wsc == Wsc("WSC-EXAMPLE-TOKEN-9", 9)


def test_second_connection_details_without_body_keeps_values() -> None:
    state = make_state()
    connect_and_subscribe(state)
    assert state.receive(load("connection-details-bare.json"), 5.0) == []
    assert state.details is not None and state.details.idle_timeout == 1800
    assert state.wsc == Wsc("WSC-EXAMPLE-TOKEN", 1)


def test_duplicate_uuids_are_dropped_and_window_is_bounded() -> None:
    state = make_state(dedupe_window=3)
    connect_and_subscribe(state)
    out = [state.receive(notification(u), 1.0) for u in ["a", "b", "a", "c", "d", "a"]]
    kinds = [bool(o and isinstance(o[0], NotificationReceived)) for o in out]
    # "a" is forgotten after three newer uuids, so its third copy passes again
    assert kinds == [True, True, False, True, True, True]


def test_error_frame_answers_pending_request() -> None:
    state = make_state()
    connect_and_subscribe(state)
    mid, _ = state.request("GET", "/restapi/v1.0/account/~/extension/~", now=1.0, tag="t")
    text = load("request-error-frame.json").replace("7f0c6a52-3c1e-4b5e-9a43-2f1d0e9b8a11", mid)
    (ev,) = state.receive(text, 1.0)
    assert isinstance(ev, RequestFailed) and ev.tag == "t"
    assert ev.error.error_code == "SUB-508"


def test_unsolicited_error_frame() -> None:
    state = make_state()
    connect_and_subscribe(state)
    (ev,) = state.receive(load("error-idle-timeout.json"), 1.0)
    assert isinstance(ev, GatewayErrorReceived) and ev.error.error_code == "WSG-902"


def test_unmatched_reply_is_ignored_and_garbage_is_reported() -> None:
    state = make_state()
    connect_and_subscribe(state)
    assert state.receive(sub_reply("nobody-asked"), 1.0) == []
    (ev,) = state.receive("}{", 1.0)
    assert isinstance(ev, BadFrame)


def test_request_deadline_and_connection_loss_fail_pending() -> None:
    state = make_state()
    connect_and_subscribe(state)
    mid, _ = state.request("GET", "/a", now=0.0, tag="A")
    assert state.next_deadline() == 10.0
    (ev,) = [e for e in state.poll(10.0) if isinstance(e, RequestTimedOut)]
    assert ev.message_id == mid and ev.tag == "A"
    state.request("GET", "/b", now=11.0, tag="B")
    lost = state.connection_lost(12.0)
    assert [e.tag for e in lost if isinstance(e, RequestTimedOut)] == ["B"]
    assert state.pending_count == 0


def test_heartbeat_due_after_quiet_interval_and_link_dead_after_timeout() -> None:
    state = make_state()
    connect_and_subscribe(state, now=0.0)
    assert state.poll(29.0) == []
    assert state.next_deadline() == 30.0
    assert state.poll(30.0) == [HeartbeatDue()]
    frame = json.loads(state.heartbeat(30.0))
    assert frame == [{"type": "Heartbeat", "messageId": frame[0]["messageId"]}]
    assert state.next_deadline() == 50.0
    assert state.poll(49.0) == []
    (dead,) = state.poll(50.0)
    assert isinstance(dead, LinkDead) and dead.silent_for == 50.0


def test_any_frame_answers_a_heartbeat() -> None:
    state = make_state()
    connect_and_subscribe(state, now=0.0)
    state.heartbeat(30.0)
    state.receive(notification("n1"), 35.0)  # a notification before the echo still proves life
    assert state.poll(50.0) == []
    state.receive(load("heartbeat-response-nostatus.json"), 51.0)
    assert state.poll(59.0) == []
    assert state.poll(60.0) == [HeartbeatDue()]  # 30 s since we last sent anything


def test_heartbeats_keep_the_server_from_going_idle() -> None:
    # inbound traffic alone does not stop the server's idle timer: we must send
    state = make_state()
    state.want_filters([FILTER])
    state.connection_opened(0.0, state.plan_connect(0.0))
    details = json.loads(load("connection-details.json"))
    details[1]["idleTimeout"] = 40
    state.receive(json.dumps(details), 0.0)
    for t in range(1, 20):
        state.receive(notification(f"n{t}"), float(t))
    assert state.poll(19.0) == []
    assert state.poll(20.0) == [HeartbeatDue()]  # idleTimeout / 2


def test_error_frame_404_for_the_subscription_means_post_again() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.want_filters(["/y"])
    mid, _ = state.subscription_request(1.0) or ("", "")
    frame = json.dumps(
        [
            {"type": "Error", "messageId": mid, "status": 404},
            {"errorCode": "SUB-507", "message": "expired"},
        ]
    )
    (ev,) = state.receive(frame, 1.0)
    assert isinstance(ev, ResponseReceived)
    assert ev.response.status == 404
    assert state.subscription_id is None
    _, text = state.subscription_request(1.0) or ("", "")
    assert json.loads(text)[0]["method"] == "POST"


def test_put_answered_without_body_counts_as_applied() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.want_filters([FILTER, "/z"])
    mid, _ = state.subscription_request(1.0) or ("", "")
    state.receive(json.dumps([{"type": "ClientRequest", "messageId": mid, "status": 204}]), 1.0)
    assert state.subscription_id == "sub-1"
    assert not state.subscription_outdated


def test_connection_lost_reports_the_callers_tags() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.want_filters([])
    state.subscription_request(1.0, tag="MY-TAG")
    (ev,) = state.connection_lost(2.0)
    assert isinstance(ev, RequestTimedOut)
    assert ev.tag == "MY-TAG"


def test_replay_after_recovery_is_counted_up_to_the_probe_echo() -> None:
    from rcstream.protocol import RecoveryReplayed

    state = make_state()
    connect_and_subscribe(state)
    state.connection_lost(10.0)
    state.connection_opened(11.0, state.plan_connect(11.0))
    details = json.loads(load("connection-details-recovered.json"))
    details[1]["recoveryBufferSize"] = 3
    (ev,) = state.receive(json.dumps(details), 11.0)
    assert isinstance(ev, Connected)
    probe = json.loads(state.replay_probe(11.0))[0]
    for uid in ["r1", "r2", "r1", "r3"]:  # a repeat still counts: the server sent it
        state.receive(notification(uid), 11.0)
    assert state.receive(json.dumps([{"type": "Heartbeat", "messageId": "other"}]), 11.0) == []
    (done,) = state.receive(
        json.dumps([{"type": "Heartbeat", "messageId": probe["messageId"]}]), 11.0
    )
    assert done == RecoveryReplayed(replayed=4, buffer_size=3)
    assert done.buffer_was_full
    assert state.receive(notification("r4"), 12.0)  # counting has stopped
    assert not RecoveryReplayed(replayed=2, buffer_size=3).buffer_was_full


def test_a_late_error_reply_to_an_expired_request_is_ignored() -> None:
    state = make_state()
    connect_and_subscribe(state)
    mid, _ = state.request("GET", "/slow", now=0.0, timeout=1.0)
    assert any(isinstance(e, RequestTimedOut) for e in state.poll(1.0))
    late = json.dumps(
        [
            {"type": "Error", "messageId": mid, "status": 403},
            {"errorCode": "CMN-401", "message": "late"},
        ]
    )
    assert state.receive(late, 2.0) == []  # not an unsolicited gateway error


def test_disabled_filters_are_not_counted_as_subscribed() -> None:
    from rcstream.protocol.session import disabled_filters, same_filter

    assert same_filter(
        "/restapi/v1.0/account/~/extension/~/presence",
        "/restapi/v1.0/account/1/extension/2/presence",
    )
    assert not same_filter(
        "/restapi/v1.0/account/~/extension/~/presence",
        "/restapi/v1.0/account/1/extension/2/presence/dnd",
    )
    state = make_state()
    state.want_filters([FILTER, "/x"])
    state.connection_opened(0.0, state.plan_connect(0.0))
    state.receive(load("connection-details.json"), 0.0)
    mid, _ = state.subscription_request(0.0) or ("", "")
    body = {
        "id": "s1",
        "eventFilters": ["/x"],
        "disabledFilters": [
            {
                "filter": "/restapi/v1.0/account/1/extension/2/presence",
                "reason": "Permission",
                "message": "no ReadPresence",
            }
        ],
    }
    state.receive(
        json.dumps([{"type": "ClientRequest", "messageId": mid, "status": 200}, body]), 0.0
    )
    assert state.subscribed_filters == ("/x",)
    assert disabled_filters((FILTER, "/x"), body) == {FILTER: "no ReadPresence"}


def test_a_replay_reaching_into_delivered_events_is_not_a_full_buffer() -> None:
    from rcstream.protocol import RecoveryReplayed

    state = make_state()
    connect_and_subscribe(state)
    for uid in ["a", "b", "c"]:
        state.receive(notification(uid), 1.0)
    state.connection_lost(2.0)
    state.connection_opened(3.0, state.plan_connect(3.0))
    details = json.loads(load("connection-details-recovered.json"))
    details[1]["recoveryBufferSize"] = 3
    state.receive(json.dumps(details), 3.0)
    probe = json.loads(state.replay_probe(3.0))[0]["messageId"]
    for uid in ["b", "c", "d"]:  # a last-N ring buffer: b and c were delivered before
        state.receive(notification(uid), 3.0)
    (done,) = state.receive(json.dumps([{"type": "Heartbeat", "messageId": probe}]), 3.0)
    assert isinstance(done, RecoveryReplayed)
    assert not done.buffer_was_full


def test_a_wsc_refused_before_connection_details_is_not_reused() -> None:
    state = make_state()
    connect_and_subscribe(state)
    state.connection_lost(1.0)
    plan = state.plan_connect(2.0)
    assert plan.recover
    state.connection_opened(2.0, plan)
    state.receive(load("error-malformed-wsc.json"), 2.0)
    state.connection_lost(2.1)
    assert not state.plan_connect(2.2).recover


def test_replay_probe_without_an_echo_ends_at_its_timeout_and_remembers_a_bounded_set() -> None:
    from rcstream.protocol import RecoveryReplayed

    ids = (f"m{i}" for i in itertools.count(1))
    state = SessionState(
        timings=SessionTimings(
            heartbeat_interval=300,
            heartbeat_timeout=300,
            request_timeout=100,
            replay_probe_timeout=5,
            replay_uids_cap=3,
        ),
        id_factory=lambda: next(ids),
    )
    connect_and_subscribe(state)
    state.connection_lost(10.0)
    state.connection_opened(11.0, state.plan_connect(11.0))
    (ev,) = state.receive(load("connection-details-recovered.json"), 11.0)
    assert isinstance(ev, Connected)
    state.replay_probe(11.0)
    assert state.next_deadline() == 16.0  # the probe's deadline is a timer like the others
    for i in range(10):
        state.receive(notification(f"r{i}"), 12.0)
    assert len(state._replay_uids) == 3  # bounded, whatever the gateway sends
    assert [e for e in state.poll(15.9) if isinstance(e, RecoveryReplayed)] == []
    (done,) = [e for e in state.poll(16.0) if isinstance(e, RecoveryReplayed)]
    assert done == RecoveryReplayed(replayed=10, buffer_size=None, timed_out=True)
    assert not done.buffer_was_full  # undecided: the client says so, it claims nothing
    assert state._replay_uids == set()
    assert state.receive(notification("late"), 17.0)  # counting has stopped


def test_the_core_reads_each_subscription_reply_once() -> None:
    state = make_state()
    state.want_filters([FILTER, FILTER + "?detailedTelephonyState=true"])
    state.connection_opened(0.0, state.plan_connect(0.0))
    state.receive(load("connection-details.json"), 0.0)
    mid, _ = state.subscription_request(0.0) or ("", "")
    body = {
        "id": "sub-1",
        "eventFilters": [FILTER],
        "disabledFilters": [{"filter": FILTER + "?detailedTelephonyState=true", "reason": "x"}],
    }
    reply = json.dumps([{"type": "ClientRequest", "messageId": mid, "status": 200}, body])
    (ev,) = state.receive(reply, 0.0)
    assert isinstance(ev, ResponseReceived) and ev.subscription is not None
    assert ev.subscription.outcome == "applied" and ev.subscription.method == "POST"
    assert dict(ev.subscription.refused) == {FILTER + "?detailedTelephonyState=true": "x"}
    state.want_filters([FILTER, "/restapi/v1.0/account/~/extension/~/message-store"])
    mid, _ = state.subscription_request(1.0) or ("", "")
    (gone,) = state.receive(sub_reply(mid, status=404), 1.0)
    assert isinstance(gone, ResponseReceived) and gone.subscription is not None
    assert gone.subscription.outcome == "gone" and state.subscription_id is None
    mid, _ = state.subscription_request(2.0) or ("", "")
    (failed,) = state.receive(sub_reply(mid, status=403), 2.0)
    assert isinstance(failed, ResponseReceived) and failed.subscription is not None
    assert failed.subscription.outcome == "failed"
    mid, _ = state.request("GET", "/restapi/v1.0/subscription/sub-1", None, now=3.0)
    (plain,) = state.receive(sub_reply(mid), 3.0)
    assert isinstance(plain, ResponseReceived) and plain.subscription is None


def _fields(text: str) -> tuple[str | None, str | None, Wsc | None]:
    """What the client's one-validate path hands receive_notification for a frame."""
    from rcstream.protocol.frames import notification_header

    header, note = json.loads(text)
    ids = notification_header(header)
    assert ids is not None
    return note.get("uuid"), ids[0], ids[1]


def test_receive_notification_keeps_the_books_receive_keeps() -> None:
    """The one-validate path (the client decodes the frame itself) and ``receive`` leave a
    session in the same state: dedupe by uuid (not messageId), the highest wsc, heartbeat
    and link-dead timers, and the replay count after a recovery."""
    from rcstream.protocol import RecoveryReplayed

    def with_wsc(uid: str, message_id: str, seq: int | None) -> str:
        frame = json.loads(notification(uid))
        frame[0]["messageId"] = message_id
        if seq is not None:
            frame[0]["wsc"] = {"token": f"w{seq}", "sequence": seq}
        return json.dumps(frame)

    script = [
        (with_wsc("a", "m1", 5), 1.0),
        (with_wsc("a", "m2", None), 2.0),  # same uuid, new messageId: a duplicate
        (with_wsc("c", "m3", 9), 3.0),
        (with_wsc("b", "m1", 3), 4.0),  # new uuid, old messageId: new; lower wsc ignored
    ]
    general, direct = make_state(), make_state()
    for state in (general, direct):
        connect_and_subscribe(state)
    accepted: list[list[bool]] = [[], []]
    for i, state in enumerate((general, direct)):
        state.heartbeat(1.5)  # a heartbeat in flight: any frame answers it
        for text, now in script:
            if state is general:
                accepted[i].append(bool(state.receive(text, now)))
            else:
                accepted[i].append(state.receive_notification(*_fields(text), now))
    assert accepted[0] == accepted[1] == [True, False, True, True]
    assert general.duplicates == direct.duplicates == 1
    assert general.wsc == direct.wsc == Wsc("w9", 9)
    assert not general.heartbeat_outstanding and not direct.heartbeat_outstanding
    assert general.next_deadline() == direct.next_deadline()
    # the frames after the heartbeat answered it: no LinkDead at 1.5 + 20 s
    assert general.poll(25.0) == direct.poll(25.0) == []
    assert general.poll(31.5) == direct.poll(31.5) == [HeartbeatDue()]
    # the replay after a recovery is counted the same way, up to the probe's echo
    done = []
    for state in (general, direct):
        state.connection_lost(40.0)
        state.connection_opened(41.0, state.plan_connect(41.0))
        details = json.loads(load("connection-details-recovered.json"))
        details[1]["recoveryBufferSize"] = 3
        state.receive(json.dumps(details), 41.0)
        probe = json.loads(state.replay_probe(41.0))[0]
        for uid in ["c", "d", "e"]:  # "c" was delivered before the outage
            text = notification(uid)
            if state is general:
                state.receive(text, 41.0)
            else:
                state.receive_notification(*_fields(text), 41.0)
        echo = json.dumps([{"type": "Heartbeat", "messageId": probe["messageId"]}])
        done.append(state.receive(echo, 41.0))
    assert done[0] == done[1]
    (replayed,) = done[0]
    assert replayed == RecoveryReplayed(replayed=3, buffer_size=None)  # overlap: none fell out
    assert general.duplicates == direct.duplicates == 2
