"""Every credential type against the emulator's OAuth endpoints, and token refresh."""

from __future__ import annotations

import base64
import time
from typing import Any

import aiohttp
import pytest
from client_helpers import TELEPHONY, fast_options, take, telephony

import rcstream
from rcstream.emulator import Emulator


async def grant(emu: Emulator, **form: str) -> dict[str, Any]:
    raw = base64.b64encode(f"{emu.client_id}:{emu.client_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {raw}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(emu.server_url + "/restapi/oauth/token", data=form, headers=headers) as resp,
    ):
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def stream_one(emu: Emulator, auth: rcstream.Auth, **opts: Any) -> rcstream.Client:
    client = rcstream.Client(emu.server_url, auth=auth, options=fast_options(**opts))
    async with client, client.subscribe(TELEPHONY) as events:
        uid = await telephony(emu)
        (note,) = await take(events, 1)
        assert note.uuid == uid
    return client


async def test_jwt_grant(emu: Emulator) -> None:
    await stream_one(emu, rcstream.JWTAuth(emu.client_id, emu.client_secret, emu.jwt))
    assert emu.stats.grants == {"jwt": 1}


async def test_password_grant(emu: Emulator) -> None:
    auth = rcstream.PasswordAuth(emu.client_id, emu.client_secret, emu.username, emu.password)
    await stream_one(emu, auth)
    assert emu.stats.grants == {"password": 1}


async def test_refresh_token_auth(emu: Emulator) -> None:
    tokens = await grant(
        emu, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=emu.jwt
    )
    auth = rcstream.RefreshTokenAuth(emu.client_id, emu.client_secret, tokens["refresh_token"])
    await stream_one(emu, auth)
    assert emu.stats.token_refreshes == 1


async def test_static_token(emu: Emulator) -> None:
    tokens = await grant(
        emu, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=emu.jwt
    )
    await stream_one(emu, rcstream.StaticTokenAuth(tokens["access_token"]))


async def test_token_provider_is_asked_again_after_expiry(emu: Emulator) -> None:
    calls: list[int] = []

    async def provider() -> str:
        calls.append(1)
        tokens = await grant(
            emu, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=emu.jwt
        )
        return str(tokens["access_token"])

    client = rcstream.Client(
        emu.server_url, auth=rcstream.TokenProviderAuth(provider), options=fast_options()
    )
    async with client, client.subscribe(TELEPHONY) as events:
        await emu.expire_access_tokens(close_sockets=True)
        # the provider's new token is a new OAuth session: recovery fails, so wait for the
        # re-created subscription before publishing
        await emu.wait_for_stat("subscriptions_created", 2)
        uid = await telephony(emu)
        got = await take(events, 1)
        assert got[0].uuid == uid
    assert len(calls) == 2


async def test_refresh_before_expiry_keeps_the_oauth_session(emu: Emulator) -> None:
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    client = rcstream.Client.from_env(emu.env(), options=fast_options(clock=clock))
    async with client, client.subscribe(TELEPHONY) as events:
        offset[0] = 3600.0  # an hour later, by the client's clock
        await emu.abort_connections()
        await emu.wait_for_stat("recoveries_succeeded", 1)  # same OAuth session: recovered
        uid = await telephony(emu)
        (note,) = await take(events, 1)
        assert note.uuid == uid
    assert emu.stats.token_refreshes == 1
    assert emu.stats.grants.get("jwt") == 1  # no second login


async def test_expired_refresh_token_falls_back_to_a_new_grant(emu: Emulator) -> None:
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    client = rcstream.Client.from_env(emu.env(), options=fast_options(clock=clock))
    async with client, client.subscribe(TELEPHONY, lifecycle=True) as events:
        await take(events, 1)
        offset[0] = 30 * 86400.0  # past the refresh token's lifetime too
        await emu.abort_connections()
        items = await take(events, 3)
    assert emu.stats.grants.get("jwt") == 2
    # a new OAuth session cannot recover the old gateway session: a gap is reported
    assert isinstance(items[-1], rcstream.Gap)


async def test_static_token_that_expires_stops_with_advice(emu: Emulator) -> None:
    tokens = await grant(
        emu, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=emu.jwt
    )
    client = rcstream.Client(
        emu.server_url,
        auth=rcstream.StaticTokenAuth(tokens["access_token"]),
        options=fast_options(),
    )
    async with client, client.subscribe(TELEPHONY) as events:
        await emu.expire_access_tokens(close_sockets=True)
        with pytest.raises(rcstream.AuthenticationError) as info:
            await take(events, 1)
    assert "given to rcstream was refused" in str(info.value)
    assert "cannot be refreshed: pass JWT or refresh-token credentials instead" in str(info.value)


def test_auth_reprs_hide_secrets() -> None:
    auths = [
        rcstream.JWTAuth("id", "SECRET-1", "JWT-2"),
        rcstream.PasswordAuth("id", "SECRET-1", "user", "PASSWORD-3"),
        rcstream.RefreshTokenAuth("id", "SECRET-1", "REFRESH-4"),
        rcstream.StaticTokenAuth("ACCESS-5"),
    ]
    for auth in auths:
        text = repr(auth) + str(vars(auth))
        for secret in ("SECRET-1", "JWT-2", "PASSWORD-3", "REFRESH-4", "ACCESS-5"):
            assert secret not in text
