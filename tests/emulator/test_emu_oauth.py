"""Emulator OAuth: grants, errors, refresh/revoke semantics, wstoken and the Auth rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from emu_helpers import JWT_GRANT, Rc

MakeRc = Callable[..., Awaitable[Rc]]


async def test_jwt_grant_returns_the_documented_token_fields(rc: Rc) -> None:
    reply = await rc.post_token({"grant_type": JWT_GRANT, "assertion": rc.emu.jwt})
    assert reply.status == 200
    body = reply.body
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
        "scope",
        "owner_id",
        "endpoint_id",
        "session_id",
    }
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["refresh_token_expires_in"] == 604800
    assert body["owner_id"] == rc.emu.extension_id
    assert "WebSocketsSubscription" in body["scope"].split()
    assert rc.emu.stats.grants == {"jwt": 1}
    assert [o.id for o in rc.emu.oauth_sessions] == [body["session_id"]]


async def test_each_login_is_a_new_oauth_session(rc: Rc) -> None:
    a = await rc.login()
    b = await rc.login()
    assert a["session_id"] != b["session_id"]
    assert len(rc.emu.oauth_sessions) == 2


async def test_jwt_for_another_extension_logs_in_as_that_user(rc: Rc) -> None:
    other = rc.emu.extension_ids[1]
    body = await rc.login(rc.emu.jwt_for(other))
    assert body["owner_id"] == other


async def test_password_grant_with_and_without_extension(rc: Rc) -> None:
    form = {"grant_type": "password", "username": rc.emu.username, "password": rc.emu.password}
    reply = await rc.post_token(form)
    assert reply.status == 200
    assert reply.body["owner_id"] == rc.emu.extension_id
    reply = await rc.post_token({**form, "extension": "102"})
    assert reply.body["owner_id"] == rc.emu.extension_ids[1]
    reply = await rc.post_token({**form, "password": "wrong"})
    assert reply.status == 400
    assert reply.body["error"] == "invalid_grant"
    assert reply.body["errors"][0]["errorCode"] == "OAU-140"
    assert reply.body["error_description"]
    assert rc.emu.stats.grants == {"password": 2}


async def test_invalid_client_and_bad_requests(rc: Rc) -> None:
    form = {"grant_type": JWT_GRANT, "assertion": rc.emu.jwt}
    missing = await rc.post_token(form, auth=None)
    assert missing.status == 401
    assert missing.body["error"] == "invalid_client"
    wrong = await rc.post_token(form, auth=rc.basic(secret="nope"))
    assert wrong.status == 401
    assert wrong.body["error"] == "invalid_client"
    assert wrong.body["errors"][0]["errorCode"].startswith("OAU-")

    bad_jwt = await rc.post_token({"grant_type": JWT_GRANT, "assertion": "x.y.z"})
    assert bad_jwt.status == 400
    assert bad_jwt.body["error"] == "invalid_grant"

    unsupported = await rc.post_token({"grant_type": "client_credentials"})
    assert unsupported.status == 400
    assert unsupported.body["error"] == "unsupported_grant_type"

    as_json = await rc.call(
        "POST",
        "/restapi/oauth/token",
        headers={"Authorization": rc.basic()},
        json_body=form,
    )
    assert as_json.status == 400
    assert as_json.body["error"] == "invalid_request"
    assert rc.emu.stats.grants == {}
    assert rc.emu.stats.grant_failures == 5


async def test_refresh_keeps_the_session_and_invalidates_the_old_tokens(rc: Rc) -> None:
    first = await rc.login()
    reply = await rc.refresh(first["refresh_token"])
    assert reply.status == 200
    second = reply.body
    assert second["session_id"] == first["session_id"]
    assert second["access_token"] != first["access_token"]

    old = await rc.api("GET", "/restapi/v1.0/account/~/extension/~", first["access_token"])
    assert old.status == 401
    assert old.body["errorCode"] == "OAU-129"
    assert old.body["errors"][0]["errorCode"] == "OAU-129"
    new = await rc.api("GET", "/restapi/v1.0/account/~/extension/~", second["access_token"])
    assert new.status == 200

    again = await rc.refresh(first["refresh_token"])  # refresh tokens are single-use
    assert again.status == 400
    assert again.body["error"] == "invalid_grant"
    assert rc.emu.stats.token_refreshes == 1
    assert rc.emu.oauth_sessions[0].refreshes == 1


async def test_revoke_ends_the_whole_oauth_session(rc: Rc) -> None:
    tokens = await rc.login()
    reply = await rc.call(
        "POST",
        "/restapi/oauth/revoke",
        headers={"Authorization": rc.basic()},
        data={"token": tokens["access_token"]},
    )
    assert reply.status == 200
    api = await rc.api("GET", "/restapi/v1.0/account/~", tokens["access_token"])
    assert api.status == 401
    refresh = await rc.refresh(tokens["refresh_token"])
    assert refresh.status == 400
    assert rc.emu.oauth_sessions[0].revoked
    assert rc.emu.stats.revocations == 1


async def test_wstoken_shape_and_bearer_errors(rc: Rc) -> None:
    tokens = await rc.login()
    reply = await rc.wstoken(tokens["access_token"])
    assert reply.status == 200
    assert reply.body == {
        "uri": f"ws://127.0.0.1:{rc.emu.port}/ws",
        "ws_access_token": reply.body["ws_access_token"],
        "expires_in": 600,
    }
    nobody = await rc.call("POST", "/restapi/oauth/wstoken")
    assert nobody.status == 401
    corrupted = await rc.wstoken("not-a-token")
    assert corrupted.status == 401
    assert corrupted.body["errorCode"] == "OAU-129"

    assert await rc.emu.expire_access_tokens() == 1
    expired = await rc.wstoken(tokens["access_token"])
    assert expired.status == 401
    assert expired.body["errorCode"] == "OAU-128"
    assert expired.body["errors"] == [{"errorCode": "OAU-128", "message": expired.body["message"]}]
    assert rc.emu.stats.wstokens == 1

    # Refresh tokens survive the expiry; the new access token works.
    fresh = await rc.refresh(tokens["refresh_token"])
    assert (await rc.wstoken(fresh.body["access_token"])).status == 200


async def test_auth_rate_limit_is_shared_by_token_and_wstoken(make_rc: MakeRc) -> None:
    rc = await make_rc(auth_rate_limit=3)
    tokens = await rc.login()  # 1
    first = await rc.wstoken(tokens["access_token"])  # 2
    assert first.headers["X-Rate-Limit-Group"] == "Auth"
    assert first.headers["X-Rate-Limit-Limit"] == "3"
    assert first.headers["X-Rate-Limit-Remaining"] == "1"
    assert first.headers["X-Rate-Limit-Window"] == "60"
    assert (await rc.wstoken(tokens["access_token"])).status == 200  # 3

    limited = await rc.post_token({"grant_type": JWT_GRANT, "assertion": rc.emu.jwt})
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert limited.body["errorCode"] == "CMN-301"
    assert limited.body["message"] == "Request rate exceeded"
    assert (await rc.wstoken(tokens["access_token"])).status == 429
    assert rc.emu.stats.rate_limited == 2

    # The budget is per user and app: another (here: unknown) client is not throttled.
    other = await rc.post_token({"grant_type": JWT_GRANT}, auth=rc.basic("other-app", "x"))
    assert other.status == 401


class FakeClock:
    """A monotonic clock the test moves by hand (``rate_clock``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_auth_rate_limit_window_passes(make_rc: MakeRc) -> None:
    clock = FakeClock()
    rc = await make_rc(auth_rate_limit=1, auth_rate_window=60, rate_clock=clock)
    await rc.login()
    limited = await rc.post_token({"grant_type": JWT_GRANT, "assertion": rc.emu.jwt})
    assert limited.status == 429
    retry_after = float(limited.headers["Retry-After"])
    assert retry_after == 60
    clock.now += retry_after  # waiting out Retry-After is the behaviour under test
    await rc.login()


async def test_a_request_during_the_penalty_restarts_it(make_rc: MakeRc) -> None:
    clock = FakeClock()
    rc = await make_rc(auth_rate_limit=1, auth_rate_window=60, rate_clock=clock)
    await rc.login()
    form = {"grant_type": JWT_GRANT, "assertion": rc.emu.jwt}
    first = await rc.post_token(form)
    assert first.status == 429
    clock.now += 36  # inside the penalty: the retry below restarts it
    again = await rc.post_token(form)
    assert again.status == 429
    clock.now += 36  # 72 s after the first 429, but only 36 s after the second
    assert (await rc.post_token(form)).status == 429
    clock.now += float(again.headers["Retry-After"])  # honour it: let through
    await rc.login()


def test_spent_tokens_are_swept() -> None:
    from rcstream.emulator import Emulator
    from rcstream.emulator._state import _AccessToken, _WsToken

    emu = Emulator()
    emu._ws_tokens["used-and-expired"] = _WsToken(oauth_session_id="o", expires_at=1.0)
    emu._ws_tokens["fresh"] = _WsToken(oauth_session_id="o", expires_at=10_000.0)
    emu._access["long-expired"] = _AccessToken(oauth_session_id="o", expires_at=1.0)
    emu._access["just-expired"] = _AccessToken(oauth_session_id="o", expires_at=999.0)
    emu._sweep_tokens(1000.0)
    assert set(emu._ws_tokens) == {"fresh"}
    assert set(emu._access) == {"just-expired"}  # still answers "expired" for a while


async def test_unlimited_auth_sends_no_rate_headers(rc: Rc) -> None:
    for _ in range(8):
        tokens = await rc.login()
    reply = await rc.wstoken(tokens["access_token"])
    assert reply.status == 200
    assert "X-Rate-Limit-Limit" not in reply.headers


async def test_rate_limit_next_forces_429_with_retry_after(rc: Rc) -> None:
    rc.emu.rate_limit_next("token", retry_after=7, count=2)
    form = {"grant_type": JWT_GRANT, "assertion": rc.emu.jwt}
    for _ in range(2):
        reply = await rc.post_token(form)
        assert reply.status == 429
        assert reply.headers["Retry-After"] == "7"
        assert reply.body["errorCode"] == "CMN-301"
    tokens = await rc.login()

    rc.emu.rate_limit_next("wstoken", retry_after=0.05)
    reply = await rc.wstoken(tokens["access_token"])
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "0.05"
    assert (await rc.wstoken(tokens["access_token"])).status == 200
    assert rc.emu.stats.rate_limited == 3


async def test_requested_ttls_and_configured_ttls(make_rc: MakeRc) -> None:
    rc = await make_rc(access_token_ttl=0.5, ws_token_ttl=30)
    tokens = await rc.login()
    assert tokens["expires_in"] == 0.5
    assert (await rc.wstoken(tokens["access_token"])).body["expires_in"] == 30
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "access_token_ttl": "3600",
        "refresh_token_ttl": "100",
    }
    refreshed = await rc.post_token(form)
    assert refreshed.body["expires_in"] == 0.5  # the configured TTL wins when shorter
    assert refreshed.body["refresh_token_expires_in"] == 100
