"""Emulator fault injection: every fault method, and the counters it moves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from emu_helpers import Rc, Ws

MakeRc = Callable[..., Awaitable[Rc]]
FILTER = "/restapi/v1.0/account/~/extension/~/presence"


def event_path(rc: Rc) -> str:
    return f"/restapi/v1.0/account/{rc.emu.account_id}/extension/{rc.emu.extension_id}/presence"


async def subscribed(rc: Rc, access_token: str | None = None) -> Ws:
    ws = await rc.connect(access_token=access_token)
    await ws.subscribe(FILTER)
    return ws


async def test_abort_connections_drops_tcp_without_close_frame(rc: Rc) -> None:
    a, b = await subscribed(rc), await subscribed(rc)
    assert await rc.emu.abort_connections() == 2
    for ws in (a, b):
        _, closed = await ws.closed()
        assert closed.rcvd is None
        assert closed.sent is None
    await rc.emu.wait_for_connections(0)
    assert rc.emu.stats.closes_by_reason == {"fault_abort": 2}
    # The sessions are detached, not gone: they buffer and can be recovered.
    await rc.emu.publish(event_path(rc), {})
    assert rc.emu.stats.notifications_buffered == 2


async def test_close_connections_with_code_and_reason(rc: Rc) -> None:
    ws = await rc.connect()
    assert await rc.emu.close_connections(4001, "maintenance") == 1
    frames, closed = await ws.closed()
    assert frames == []
    assert closed.rcvd is not None
    assert (closed.rcvd.code, closed.rcvd.reason) == (4001, "maintenance")
    assert rc.emu.stats.closes_by_reason == {"fault_close": 1}


async def test_close_connections_with_an_error_frame(rc: Rc) -> None:
    ws = await rc.connect()
    await rc.emu.close_connections(1011, "boom", error_code="WSG-999", error_message="Oops")
    frames, closed = await ws.closed()
    assert frames[0][0]["type"] == "Error"
    assert frames[0][1] == {"errorCode": "WSG-999", "message": "Oops"}
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1011


async def test_go_silent_and_end_silence(rc: Rc) -> None:
    tokens = await rc.login()
    ws = await subscribed(rc, tokens["access_token"])
    assert rc.emu.go_silent() == 1
    assert rc.emu.sessions[0].silent
    await ws.send([{"type": "Heartbeat", "messageId": "lost"}])
    await rc.emu.publish(event_path(rc), {"n": 1})
    assert rc.emu.stats.notifications_buffered == 1
    # The TCP connection is still up: a ping gets no pong while silent.
    pong = asyncio.ensure_future(await ws.conn.ping())
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await asyncio.shield(pong)
    assert rc.emu.stats.heartbeats == 0
    assert rc.emu.connected == 1

    assert rc.emu.end_silence() == 1
    await (await ws.conn.ping())  # a pong answers this and every earlier ping
    assert pong.done()
    await ws.send([{"type": "Heartbeat", "messageId": "heard"}])
    assert (await ws.recv())[0]["messageId"] == "heard"
    assert rc.emu.stats.heartbeats == 1


async def test_silent_connection_is_recovered_with_replay(rc: Rc) -> None:
    tokens = await rc.login()
    ws = await subscribed(rc, tokens["access_token"])
    rc.emu.go_silent()
    uid = await rc.emu.publish(event_path(rc), {"during": "silence"})
    # The client gives up on the half-open socket and recovers on a new one.
    again = await rc.connect(access_token=tokens["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Successful"
    assert (await again.notification())["uuid"] == uid
    _, closed = await ws.closed()
    assert closed.rcvd is None


async def test_new_connections_are_not_silenced(rc: Rc) -> None:
    await rc.connect()
    rc.emu.go_silent()
    fresh = await rc.connect()
    await fresh.send([{"type": "Heartbeat", "messageId": "h"}])
    assert (await fresh.recv())[0]["messageId"] == "h"


async def test_silent_connection_ignores_timeouts(make_rc: MakeRc) -> None:
    rc = await make_rc(idle_timeout=0.1)
    ws = await rc.connect()
    rc.emu.go_silent()
    fresh = await rc.connect()  # idles out while the silent one stays
    frames, _ = await fresh.closed()
    assert frames[-1][1]["errorCode"] == "WSG-902"
    assert rc.emu.connected == 1
    rc.emu.end_silence()
    frames, _ = await ws.closed()
    assert frames[-1][1]["errorCode"] == "WSG-902"


async def test_inject_raw_sends_any_text(rc: Rc) -> None:
    a, b = await rc.connect(), await rc.connect()
    assert await rc.emu.inject_raw("{not json") == 2
    assert await a.recv_raw() == "{not json"
    assert await b.recv_raw() == "{not json"
    multipart = '[{"type":"ClientRequest","messageId":"x","status":200},--Boundary_1\r\n...'
    await rc.emu.inject_raw(multipart)
    assert await a.recv_raw() == multipart
    assert await b.recv_raw() == multipart
    assert rc.emu.stats.raw_frames_injected == 4


async def test_expire_access_tokens(rc: Rc) -> None:
    tokens = await rc.login()
    ws = await rc.connect(access_token=tokens["access_token"])
    assert await rc.emu.expire_access_tokens(close_sockets=False) == 1
    reply = await rc.api("GET", "/restapi/v1.0/subscription", tokens["access_token"])
    assert reply.status == 401
    assert reply.body["errorCode"] == "OAU-128"
    # With close_sockets=False the socket is not affected.
    await ws.send([{"type": "Heartbeat", "messageId": "h"}])
    assert (await ws.recv())[0]["messageId"] == "h"


async def test_expire_access_tokens_and_close_sockets(rc: Rc) -> None:
    tokens = await rc.login()
    ws = await subscribed(rc, tokens["access_token"])
    await rc.emu.expire_access_tokens(close_sockets=True)
    frames, closed = await ws.closed()
    header, body = frames[-1]
    assert header["type"] == "Error"
    assert header["status"] == 401
    assert body["errorCode"] == "OAU-128"
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1008
    # Refresh, then recover in the same OAuth session.
    fresh = (await rc.refresh(tokens["refresh_token"])).body
    again = await rc.connect(access_token=fresh["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Successful"


async def test_revoke_oauth_sessions(rc: Rc) -> None:
    tokens = await rc.login()
    ws = await subscribed(rc, tokens["access_token"])
    assert await rc.emu.revoke_oauth_sessions(error_code="OAU-140", message="Revoked") == 1
    frames, closed = await ws.closed()
    assert frames[-1][1] == {"errorCode": "OAU-140", "message": "Revoked"}
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1008
    assert (await rc.refresh(tokens["refresh_token"])).status == 400
    assert (await rc.wstoken(tokens["access_token"])).status == 401
    again = await rc.connect(wsc=ws.wsc)  # a new login
    assert again.details[1]["recoveryErrorCode"] == "WSG-1003"
    assert rc.emu.stats.closes_by_reason == {"revoked": 1}


async def test_http_revoke_closes_that_sessions_sockets(rc: Rc) -> None:
    mine = await rc.login()
    ws = await rc.connect(access_token=mine["access_token"])
    bystander = await rc.connect()
    await rc.call(
        "POST",
        "/restapi/oauth/revoke",
        headers={"Authorization": rc.basic()},
        data={"token": mine["refresh_token"]},
    )
    frames, _ = await ws.closed()
    assert frames[-1][1]["errorCode"] == "OAU-129"
    await bystander.send([{"type": "Heartbeat", "messageId": "h"}])
    assert (await bystander.recv())[0]["messageId"] == "h"


async def test_http_revoke_can_leave_sockets_open(make_rc: MakeRc) -> None:
    rc = await make_rc(revoke_closes_sockets=False)
    tokens = await rc.login()
    ws = await rc.connect(access_token=tokens["access_token"])
    await rc.call(
        "POST",
        "/restapi/oauth/revoke",
        headers={"Authorization": rc.basic()},
        data={"token": tokens["access_token"]},
    )
    reply = await ws.request("GET", "/restapi/v1.0/account/~")
    assert reply[0]["status"] == 401


async def test_set_timeouts_at_runtime(rc: Rc) -> None:
    ws = await rc.connect()
    rc.emu.set_timeouts(idle=0.1)
    frames, _ = await ws.closed()
    assert frames[-1][1]["errorCode"] == "WSG-902"

    rc.emu.set_timeouts(idle=1800, absolute=0.1)
    ws = await rc.connect()
    assert ws.details[1]["absoluteTimeout"] == 0.1
    frames, _ = await ws.closed()
    assert frames[-1][1]["errorCode"] == "WSG-903"

    rc.emu.set_timeouts(absolute=86400, ping_interval=0.02, pong=1)
    await rc.connect()
    await rc.emu.wait_for_stat("pongs_received", 2)
    rc.emu.set_timeouts(ping_interval=None)
    pings = rc.emu.stats.pings_sent
    await rc.emu.wait_for_stat("pongs_received", pings)  # the last ping is answered ...
    assert rc.emu.stats.pings_sent == pings  # ... and no new one was sent

    rc.emu.set_timeouts(recovery=0.05)
    await rc.emu.abort_connections()
    await rc.emu.wait_until(lambda e: not e.sessions)
    assert rc.emu.stats.sessions_expired == 3


async def test_closing_the_emulator_closes_sockets_with_1001(make_rc: MakeRc) -> None:
    rc = await make_rc()
    ws = await rc.connect()
    await rc.emu.close()
    _, closed = await ws.closed()
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1001
    assert rc.emu.stats.closes_by_reason == {"shutdown": 1}
    await rc.emu.close()  # idempotent
