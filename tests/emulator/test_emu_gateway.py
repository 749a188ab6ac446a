"""Emulator gateway: connect, ConnectionDetails, tokens on the socket, heartbeats, timeouts."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from emu_helpers import STEP, Rc
from websockets.exceptions import ConnectionClosedError, InvalidStatus

MakeRc = Callable[..., Awaitable[Rc]]
ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


async def ws_url(rc: Rc) -> str:
    tokens = await rc.login()
    reply = await rc.wstoken(tokens["access_token"])
    return f"{reply.body['uri']}?access_token={reply.body['ws_access_token']}"


async def test_connection_details_is_the_first_frame(rc: Rc) -> None:
    ws = await rc.connect()
    header, body = ws.details
    assert header["type"] == "ConnectionDetails"
    assert header["status"] == 200
    assert header["messageId"] == header["headers"]["RCRequestId"]
    assert isinstance(header["wsc"]["token"], str)
    assert header["wsc"]["sequence"] == 1
    assert ISO_OFFSET.match(body.pop("creationTime"))
    assert body == {
        "maxConnectionsPerSession": 50,
        "recoveryBufferSize": 100,
        "recoveryTimeout": 180,
        "idleTimeout": 1800,
        "absoluteTimeout": 86400,
        "maxActiveRequests": 10,
    }
    assert "recoveryState" not in body
    await rc.emu.wait_for_connections(1)
    (session,) = rc.emu.sessions
    assert session.connected
    assert session.subscription_id is None
    assert session.oauth_session_id == rc.emu.oauth_sessions[0].id


async def test_connection_details_reflect_configured_timeouts(make_rc: MakeRc) -> None:
    rc = await make_rc(idle_timeout=0.25, absolute_timeout=30, recovery_timeout=2.5)
    ws = await rc.connect()
    body = ws.details[1]
    assert body["idleTimeout"] == 0.25
    assert body["absoluteTimeout"] == 30
    assert isinstance(body["absoluteTimeout"], int)
    assert body["recoveryTimeout"] == 2.5


async def test_missing_token_closes_with_4400(rc: Rc) -> None:
    conn = await rc.open(rc.emu.ws_url)
    with pytest.raises(ConnectionClosedError) as info:
        await conn.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 4400
    assert rc.emu.stats.closes_by_reason == {"missing_token": 1}


async def test_bad_token_gets_an_error_frame_then_1008(rc: Rc) -> None:
    conn = await rc.open(f"{rc.emu.ws_url}?access_token=nope")
    frame = json.loads(await conn.recv())
    assert frame[0]["type"] == "Error"
    assert frame[0]["status"] == 401
    assert frame[1]["errorCode"] == "OAU-129"
    with pytest.raises(ConnectionClosedError) as info:
        await conn.recv()
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1008


async def test_ws_token_is_single_use_by_default(rc: Rc) -> None:
    url = await ws_url(rc)
    first = await rc.open(url)
    assert json.loads(await first.recv())[0]["type"] == "ConnectionDetails"
    second = await rc.open(url)
    frame = json.loads(await second.recv())
    assert frame[0]["type"] == "Error"
    assert frame[1]["errorCode"] == "OAU-129"
    assert "used" in frame[1]["message"]
    with pytest.raises(ConnectionClosedError):
        await second.recv()
    assert rc.emu.stats.connections_rejected == 1


async def test_ws_token_reuse_when_allowed(make_rc: MakeRc) -> None:
    rc = await make_rc(ws_token_single_use=False)
    url = await ws_url(rc)
    for _ in range(2):
        conn = await rc.open(url)
        assert json.loads(await conn.recv())[0]["type"] == "ConnectionDetails"
    assert rc.emu.stats.connections_rejected == 0


async def test_expired_ws_token(make_rc: MakeRc) -> None:
    rc = await make_rc(ws_token_ttl=0)
    conn = await rc.open(await ws_url(rc))
    frame = json.loads(await conn.recv())
    assert frame[1]["errorCode"] == "OAU-128"


async def test_bearer_header_is_accepted(rc: Rc) -> None:
    tokens = await rc.login()
    reply = await rc.wstoken(tokens["access_token"])
    conn = await rc.open(
        reply.body["uri"],
        additional_headers={"Authorization": f"Bearer {reply.body['ws_access_token']}"},
    )
    assert json.loads(await conn.recv())[0]["type"] == "ConnectionDetails"


async def test_plain_http_get_on_ws_is_refused(rc: Rc) -> None:
    reply = await rc.call("GET", "/ws")
    assert reply.status == 400


async def test_heartbeat_echo(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.send([{"type": "Heartbeat", "messageId": "hb-1"}])
    assert await ws.recv() == [{"type": "Heartbeat", "messageId": "hb-1", "status": 200}]
    assert rc.emu.stats.heartbeats == 1


async def test_heartbeat_echo_without_status(make_rc: MakeRc) -> None:
    rc = await make_rc(heartbeat_status=False)
    ws = await rc.connect()
    await ws.send([{"type": "Heartbeat", "messageId": "hb-2"}])
    assert await ws.recv() == [{"type": "Heartbeat", "messageId": "hb-2"}]


async def test_frames_sent_before_reading_connection_details_are_accepted(rc: Rc) -> None:
    conn = await rc.open(await ws_url(rc))
    await conn.send(json.dumps([{"type": "Heartbeat", "messageId": "early"}]))
    first = json.loads(await conn.recv())
    second = json.loads(await conn.recv())
    assert first[0]["type"] == "ConnectionDetails"
    assert second[0] == {"type": "Heartbeat", "messageId": "early", "status": 200}


@pytest.mark.parametrize(
    "frame",
    [
        "this is not json",
        '{"type":"Heartbeat"}',
        '[{"type":"Whatever","messageId":"w"}]',
        '[{"type":"ClientRequest","method":"GET","path":"/x"}]',
    ],
)
async def test_unparsable_frames_get_an_error_then_close_1008(rc: Rc, frame: str) -> None:
    ws = await rc.connect()
    await ws.conn.send(frame)
    frames, closed = await ws.closed()
    (error,) = frames
    assert error[0]["type"] == "Error"
    assert error[1]["errorCode"] in ("CMN-103", "CMN-104")
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1008
    assert rc.emu.stats.closes_by_reason == {"bad_frame": 1}


async def test_unparsable_frames_can_leave_the_socket_open(make_rc: MakeRc) -> None:
    rc = await make_rc(close_on_bad_frame=False)
    ws = await rc.connect()
    await ws.conn.send("this is not json")
    frame = await ws.recv()
    assert frame[0]["type"] == "Error"
    assert frame[1]["errorCode"] == "CMN-103"
    await ws.send([{"type": "Whatever", "messageId": "w1"}])
    assert (await ws.recv())[1]["errorCode"] == "CMN-104"
    await ws.send([{"type": "Heartbeat", "messageId": "still-alive"}])
    assert (await ws.recv())[0]["messageId"] == "still-alive"


async def test_idle_timeout_sends_wsg_902_and_closes_1000(make_rc: MakeRc) -> None:
    rc = await make_rc(idle_timeout=0.2)
    ws = await rc.connect()
    frames, closed = await ws.closed()
    assert len(frames) == 1
    header, body = frames[0]
    assert header["type"] == "Error"
    assert header["status"] == 400
    assert header["messageId"]
    assert body == {"errorCode": "WSG-902", "message": "Idle timeout expired"}
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000
    assert rc.emu.stats.closes_by_reason == {"idle": 1}


async def test_text_frames_reset_the_idle_timer(make_rc: MakeRc) -> None:
    rc = await make_rc(idle_timeout=0.4)
    ws = await rc.connect()
    loop = asyncio.get_running_loop()
    start = loop.time()
    # Heartbeat every 0.1 s for 0.8 s (twice the idle timeout): the socket stays open.
    while loop.time() - start < 0.8:
        await ws.send([{"type": "Heartbeat", "messageId": "hb"}])
        assert (await ws.recv())[0]["type"] == "Heartbeat"
        await asyncio.sleep(0.1)  # pacing the client's own heartbeats
    frames, _ = await ws.closed()
    assert frames[-1][1]["errorCode"] == "WSG-902"
    assert loop.time() - start >= 0.8


async def test_websocket_pings_do_not_count_as_activity(make_rc: MakeRc) -> None:
    rc = await make_rc(idle_timeout=0.3)
    # The websockets client pings every 50 ms and fails if a pong is late: the server
    # answers every ping, and still ends the idle connection.
    ws = await rc.connect(ping_interval=0.05, ping_timeout=1)
    frames, closed = await ws.closed()
    assert frames[-1][1]["errorCode"] == "WSG-902"
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000


async def test_absolute_timeout_sends_wsg_903(make_rc: MakeRc) -> None:
    rc = await make_rc(absolute_timeout=0.2)
    ws = await rc.connect()
    frames, closed = await ws.closed()
    assert frames[-1][1] == {"errorCode": "WSG-903", "message": "Absolute timeout expired"}
    assert closed.rcvd is not None
    assert closed.rcvd.code == 1000
    assert rc.emu.stats.closes_by_reason == {"absolute": 1}


async def test_server_pings_are_answered_by_a_normal_client(make_rc: MakeRc) -> None:
    rc = await make_rc(ping_interval=0.02, pong_timeout=1)
    await rc.connect()
    await rc.emu.wait_for_stat("pongs_received", 3)
    assert rc.emu.stats.pings_sent >= 3
    assert rc.emu.connected == 1


async def test_missing_pong_drops_the_connection(make_rc: MakeRc) -> None:
    rc = await make_rc(ping_interval=0.02, pong_timeout=0.1)
    url = await ws_url(rc)
    # aiohttp with autoping=False never answers the server's pings.
    async with rc.http.ws_connect(url, autoping=False) as ws:
        first = await ws.receive(timeout=STEP)
        assert json.loads(first.data)[0]["type"] == "ConnectionDetails"
        async with asyncio.timeout(STEP):
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
                assert msg.type is aiohttp.WSMsgType.PING
    assert rc.emu.stats.closes_by_reason == {"pong_timeout": 1}
    assert rc.emu.stats.pongs_received == 0


async def test_client_close_detaches_the_session(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.close()
    await rc.emu.wait_for_connections(0)
    (session,) = rc.emu.sessions
    assert not session.connected
    assert rc.emu.stats.closes_by_reason == {"client": 1}


async def test_unknown_gateway_path_is_not_a_websocket(rc: Rc) -> None:
    with pytest.raises(InvalidStatus):
        await rc.open(f"ws://127.0.0.1:{rc.emu.port}/other")
