"""Emulator: session recovery with ``wsc`` — success with replay, failures, malformed tokens."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from emu_helpers import Rc, Ws
from websockets.exceptions import ConnectionClosedError

MakeRc = Callable[..., Awaitable[Rc]]
FILTER = "/restapi/v1.0/account/~/extension/~/presence"


def event_path(rc: Rc) -> str:
    return f"/restapi/v1.0/account/{rc.emu.account_id}/extension/{rc.emu.extension_id}/presence"


async def subscribed(rc: Rc, access_token: str) -> tuple[Ws, str]:
    ws = await rc.connect(access_token=access_token)
    sub_id = (await ws.subscribe(FILTER))[1]["id"]
    return ws, sub_id


async def drop(rc: Rc, ws: Ws) -> None:
    await ws.close()
    await rc.emu.wait_for_connections(0)


async def test_recovery_succeeds_and_replays_oldest_first(rc: Rc) -> None:
    tokens = await rc.login()
    ws, sub_id = await subscribed(rc, tokens["access_token"])
    wsc = ws.wsc
    await drop(rc, ws)
    uids = [await rc.emu.publish(event_path(rc), {"n": n}) for n in range(3)]
    assert rc.emu.stats.notifications_buffered == 3
    assert rc.emu.sessions[0].buffered == 3

    again = await rc.connect(access_token=tokens["access_token"], wsc=wsc)
    header, body = again.details
    assert body["recoveryState"] == "Successful"
    assert "recoveryErrorCode" not in body
    assert header["wsc"]["sequence"] == 2
    replayed = [await again.notification() for _ in uids]
    assert [e["uuid"] for e in replayed] == uids
    assert [e["body"]["n"] for e in replayed] == [0, 1, 2]
    assert {e["subscriptionId"] for e in replayed} == {sub_id}

    # The subscription (same id) keeps working on the new socket.
    live = await rc.emu.publish(event_path(rc), {"n": 3})
    assert (await again.notification())["uuid"] == live
    (session,) = rc.emu.sessions
    assert session.subscription_id == sub_id
    assert session.connections == 2
    assert rc.emu.stats.recoveries_succeeded == 1
    assert rc.emu.stats.notifications_replayed == 3


async def test_buffer_overflow_drops_the_oldest(make_rc: MakeRc) -> None:
    rc = await make_rc(recovery_buffer_size=3)
    tokens = await rc.login()
    ws, _ = await subscribed(rc, tokens["access_token"])
    await drop(rc, ws)
    for n in range(5):
        await rc.emu.publish(event_path(rc), {"n": n})
    assert rc.emu.stats.notifications_dropped == 2
    again = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert [(await again.notification())["body"]["n"] for _ in range(3)] == [2, 3, 4]


async def test_recovery_after_refresh_in_the_same_oauth_session(rc: Rc) -> None:
    tokens = await rc.login()
    ws, sub_id = await subscribed(rc, tokens["access_token"])
    await drop(rc, ws)
    refreshed = (await rc.refresh(tokens["refresh_token"])).body
    again = await rc.connect(access_token=refreshed["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Successful"
    assert rc.emu.sessions[0].subscription_id == sub_id


async def test_recovery_from_another_oauth_session_fails_wsg_1003(rc: Rc) -> None:
    tokens = await rc.login()
    ws, _ = await subscribed(rc, tokens["access_token"])
    await drop(rc, ws)
    again = await rc.connect(wsc=ws.wsc)  # a new login: a new OAuth session
    body = again.details[1]
    assert body["recoveryState"] == "Failed"
    assert body["recoveryErrorCode"] == "WSG-1003"
    assert again.wsc != ws.wsc
    assert again.details[0]["wsc"]["sequence"] == 1
    assert rc.emu.stats.recoveries_failed == 1
    # A fresh session without a subscription; the client re-subscribes on this socket.
    assert (await again.subscribe(FILTER))[0]["status"] == 200


async def test_recovery_of_a_session_without_subscription_fails_wsg_1005(rc: Rc) -> None:
    tokens = await rc.login()
    ws = await rc.connect(access_token=tokens["access_token"])
    await drop(rc, ws)
    again = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Failed"
    assert again.details[1]["recoveryErrorCode"] == "WSG-1005"


async def test_recovery_after_the_window_fails_wsg_1005(make_rc: MakeRc) -> None:
    rc = await make_rc(recovery_timeout=0.05)
    tokens = await rc.login()
    ws, _ = await subscribed(rc, tokens["access_token"])
    await drop(rc, ws)
    await rc.emu.wait_for_stat("sessions_expired")
    assert rc.emu.sessions == ()
    (orphan,) = rc.emu.subscriptions  # the subscription outlives its session
    assert orphan.gateway_session_id is None
    again = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Failed"
    assert again.details[1]["recoveryErrorCode"] == "WSG-1005"


async def test_malformed_wsc_gets_wsg_400_then_close(rc: Rc) -> None:
    tokens = await rc.login()
    reply = await rc.wstoken(tokens["access_token"])
    url = f"{reply.body['uri']}?access_token={reply.body['ws_access_token']}&wsc=garbage"
    conn = await rc.open(url)
    header, body = json.loads(await conn.recv())
    assert header["type"] == "Error"
    assert header["status"] == 400
    assert body == {"errorCode": "WSG-400", "message": "Malformed WebSocket session context token"}
    with pytest.raises(ConnectionClosedError) as info:
        await conn.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008
    assert rc.emu.stats.closes_by_reason == {"malformed_wsc": 1}


async def test_tampered_wsc_is_malformed(rc: Rc) -> None:
    tokens = await rc.login()
    ws, _ = await subscribed(rc, tokens["access_token"])
    tampered = ws.wsc[:-1] + ("0" if ws.wsc[-1] != "0" else "1")
    reply = await rc.wstoken(tokens["access_token"])
    conn = await rc.open(
        f"{reply.body['uri']}?access_token={reply.body['ws_access_token']}&wsc={tampered}"
    )
    assert json.loads(await conn.recv())[1]["errorCode"] == "WSG-400"


async def test_fail_next_recovery(rc: Rc) -> None:
    tokens = await rc.login()
    ws, _ = await subscribed(rc, tokens["access_token"])
    await drop(rc, ws)
    rc.emu.fail_next_recovery("WSG-1003")
    failed = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert failed.details[1]["recoveryErrorCode"] == "WSG-1003"
    # Only the next one: the original session is still recoverable.
    ok = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert ok.details[1]["recoveryState"] == "Successful"


async def test_recovery_takes_over_a_still_open_socket(rc: Rc) -> None:
    tokens = await rc.login()
    ws, sub_id = await subscribed(rc, tokens["access_token"])
    again = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Successful"
    _, closed = await ws.closed()
    assert closed.rcvd is None  # the old socket was dropped without a close frame
    assert rc.emu.stats.closes_by_reason == {"takeover": 1}
    uid = await rc.emu.publish(event_path(rc), {})
    assert (await again.notification())["uuid"] == uid
    assert rc.emu.sessions[0].subscription_id == sub_id


async def test_wsc_on_every_frame(make_rc: MakeRc) -> None:
    rc = await make_rc(wsc_on_every_frame=True)
    ws = await rc.connect()
    reply = await ws.subscribe(FILTER)
    await rc.emu.publish(event_path(rc), {})
    note = await ws.recv()
    await ws.send([{"type": "Heartbeat", "messageId": "h"}])
    beat = await ws.recv()
    sequences = [f[0]["wsc"]["sequence"] for f in (ws.details, reply, note, beat)]
    assert sequences == [1, 2, 3, 4]
    assert {f[0]["wsc"]["token"] for f in (ws.details, reply, note, beat)} == {ws.wsc}
