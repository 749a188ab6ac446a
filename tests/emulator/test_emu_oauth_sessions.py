"""The OAuth session limit and revocation (issue 11 item 4).

DOCS ``docs/authentication/tokens.md:24``: tokens are invalidated when "the application
reached the limit (usually five) of parallel active sessions for the same user"; NET
``README.md:34-36``: older sessions are revoked and "your WebSocket connection will not
function".
"""

from __future__ import annotations

from emu_helpers import MakeRc, Rc

V1 = "/restapi/v1.0"


async def test_a_sixth_login_revokes_the_oldest_session_and_its_socket(rc: Rc) -> None:
    first = await rc.login()
    ws = await rc.connect(access_token=first["access_token"])
    for _ in range(4):
        await rc.login()
    assert rc.emu.stats.oauth_sessions_evicted == 0
    await rc.login()  # the sixth
    assert rc.emu.stats.oauth_sessions_evicted == 1
    frames, closed = await ws.closed()
    assert frames[-1][1]["errorCode"] == "OAU-129"
    assert closed.rcvd is not None and closed.rcvd.code == 1008
    gone = await rc.api("GET", f"{V1}/subscription", first["access_token"])
    assert gone.status == 401
    assert (await rc.refresh(first["refresh_token"])).status == 400
    assert sum(not o.revoked for o in rc.emu.oauth_sessions) == 5


async def test_refreshes_do_not_count_and_users_are_separate(make_rc: MakeRc) -> None:
    rc = await make_rc(oauth_session_limit=1)
    tokens = await rc.login()
    for _ in range(3):
        reply = await rc.refresh(tokens["refresh_token"])
        assert reply.status == 200
        tokens = reply.body
    await rc.login(rc.emu.jwt_for(rc.emu.extension_ids[1]))
    assert rc.emu.stats.oauth_sessions_evicted == 0
    await rc.login()
    assert rc.emu.stats.oauth_sessions_evicted == 1
