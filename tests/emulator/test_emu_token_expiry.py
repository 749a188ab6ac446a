"""Access-token expiry on a live socket (issue 11 item 2) and the per-user Auth group.

Sources: ringcentral/ringcentral-websocket-java ``README.md`` ("as soon as your access token
expired, the underlying WebSocket connection will be closed"; after an expiry, refresh *and*
re-subscribe), tylerlong/RingCentral.WebSocket.Demo ``Program.cs`` ("will stop working"); a
refreshed token in the same OAuth session recovers the session with ``wsc``
(tylerlong/rc-ws-recover-test, Experiment 4). The socket is bound to its OAuth session: a
refresh *before* the expiry keeps it alive. Whether it closes or goes silent is unknown,
hence the ``on_token_expiry`` option; no source says a refresh after the expiry revives a
silent socket, so it does not. Short TTLs are asked for per login (``access_token_ttl``
form field), so nothing sleeps: the tests wait for the emulator's expiry check.
"""

from __future__ import annotations

from typing import Any

from emu_helpers import JWT_GRANT, MakeRc, Rc, Ws

V1 = "/restapi/v1.0"
FILTER = f"{V1}/account/~/extension/~/presence"


async def short_login(rc: Rc, ttl: float = 0.3) -> dict[str, Any]:
    reply = await rc.post_token(
        {"grant_type": JWT_GRANT, "assertion": rc.emu.jwt, "access_token_ttl": str(ttl)}
    )
    assert reply.status == 200, reply
    assert reply.body["expires_in"] == ttl
    return reply.body  # type: ignore[no-any-return]


def presence(rc: Rc) -> str:
    return f"{V1}/account/{rc.emu.account_id}/extension/{rc.emu.extension_id}/presence"


async def subscribed(rc: Rc, tokens: dict[str, Any]) -> Ws:
    ws = await rc.connect(access_token=tokens["access_token"])
    await ws.subscribe(FILTER)
    return ws


async def test_default_closes_the_socket_when_the_session_has_no_live_token(rc: Rc) -> None:
    ws = await subscribed(rc, await short_login(rc))
    frames, closed = await ws.closed()
    header, body = frames[-1]
    assert (header["type"], header["status"], body["errorCode"]) == ("Error", 401, "OAU-128")
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert rc.emu.stats.closes_by_reason["expired_token"] == 1


async def test_a_refresh_in_the_same_session_keeps_the_socket(rc: Rc) -> None:
    tokens = await short_login(rc)
    ws = await subscribed(rc, tokens)
    refreshed = await rc.refresh(tokens["refresh_token"])  # default TTL: 3600 s
    assert refreshed.status == 200
    await rc.emu.wait_for_stat("token_expiry_checks", 1)  # the first token's expiry passed
    await rc.emu.publish(presence(rc), {"n": 1})
    assert (await ws.notification())["body"] == {"n": 1}
    frame = await ws.request("GET", f"{V1}/subscription")
    assert frame[0]["status"] == 200
    assert rc.emu.connected == 1


async def test_silent_keeps_the_socket_but_stops_it_for_good(make_rc: MakeRc) -> None:
    rc = await make_rc(on_token_expiry="silent")
    tokens = await short_login(rc)
    ws = await subscribed(rc, tokens)
    await rc.emu.wait_for_stat("token_expiry_checks", 1)
    assert [s.token_expired for s in rc.emu.sessions] == [True]
    await rc.emu.publish(presence(rc), {"n": 1})
    assert rc.emu.stats.notifications_withheld == 1
    await ws.send([{"type": "Heartbeat", "messageId": "h1"}])
    assert (await ws.recv())[0]["messageId"] == "h1"  # heartbeats are still echoed
    frame = await ws.request("GET", f"{V1}/subscription")
    assert (frame[0]["status"], frame[1]["errorCode"]) == (401, "OAU-128")
    # a refresh goes to /restapi/oauth/token: the gateway is not told, the socket stays stopped
    assert (await rc.refresh(tokens["refresh_token"])).status == 200
    await rc.emu.publish(presence(rc), {"n": 2})
    assert rc.emu.stats.notifications_withheld == 2
    frame = await ws.request("GET", f"{V1}/subscription")
    assert (frame[0]["status"], frame[1]["errorCode"]) == (401, "OAU-128")
    assert rc.emu.connected == 1


async def test_silent_socket_is_replaced_by_a_recovery_with_a_refreshed_token(
    make_rc: MakeRc,
) -> None:
    rc = await make_rc(on_token_expiry="silent")
    tokens = await short_login(rc)
    ws = await subscribed(rc, tokens)
    await rc.emu.wait_for_stat("token_expiry_checks", 1)
    await rc.emu.publish(presence(rc), {"n": 1})  # withheld: lost for good
    refreshed = await rc.refresh(tokens["refresh_token"])
    assert refreshed.status == 200
    # a fresh wstoken (the refreshed token, same OAuth session) and the old wsc
    again = await rc.connect(access_token=refreshed.body["access_token"], wsc=ws.wsc)
    assert again.details[1]["recoveryState"] == "Successful"
    _, closed = await ws.closed()  # the new socket took the session over
    assert closed.rcvd is None  # an abort, as any takeover
    assert [s.token_expired for s in rc.emu.sessions] == [False]
    await rc.emu.publish(presence(rc), {"n": 2})
    assert (await again.notification())["body"] == {"n": 2}  # n=1 is not replayed
    assert rc.emu.stats.notifications_withheld == 1
    frame = await again.request("GET", f"{V1}/subscription")
    assert frame[0]["status"] == 200


async def test_expire_access_tokens_follows_on_token_expiry(make_rc: MakeRc) -> None:
    rc = await make_rc(on_token_expiry="silent")
    ws = await subscribed(rc, await rc.login())
    await rc.emu.expire_access_tokens()
    await rc.emu.publish(presence(rc), {"n": 1})
    assert rc.emu.stats.notifications_withheld == 1
    await ws.send([{"type": "Heartbeat", "messageId": "h1"}])
    assert (await ws.recv())[0]["messageId"] == "h1"


async def test_a_socket_opened_after_expiry_closes_at_once(rc: Rc) -> None:
    tokens = await rc.login()
    wstoken = await rc.wstoken(tokens["access_token"])
    await rc.emu.expire_access_tokens()
    conn = await rc.open(f"{wstoken.body['uri']}?access_token={wstoken.body['ws_access_token']}")
    ws = Ws(conn, {})
    frames, closed = await ws.closed()
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    assert frames[0][0]["type"] == "ConnectionDetails"
    assert frames[-1][1]["errorCode"] == "OAU-128"


async def test_auth_rate_limit_is_per_user_and_app(make_rc: MakeRc) -> None:
    rc = await make_rc(auth_rate_limit=2, auth_rate_window=60)
    first, second = rc.emu.jwt, rc.emu.jwt_for(rc.emu.extension_ids[1])
    for _ in range(2):
        assert (await rc.post_token({"grant_type": JWT_GRANT, "assertion": first})).status == 200
    limited = await rc.post_token({"grant_type": JWT_GRANT, "assertion": first})
    assert limited.status == 429
    other = await rc.post_token({"grant_type": JWT_GRANT, "assertion": second})
    assert other.status == 200  # another user of the same app has its own budget
