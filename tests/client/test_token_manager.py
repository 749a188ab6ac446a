"""TokenManager against the emulator's OAuth endpoints over real sockets on 127.0.0.1.

Proactive refresh inside one OAuth session, rotation visible to ``on_tokens`` before use,
resuming from a stored pair, static-token expiry, revoke, and one login shared by many
connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

import rcstream
from rcstream._http import AuthBudget, RestClient
from rcstream.auth import RefreshTokenRejectedError, TokenManager, TokenSet
from rcstream.emulator import Emulator
from rcstream.redact import Secret
from rcstream.transport import build_ws_url, connect


@pytest.fixture
async def rest(emu: Emulator) -> AsyncIterator[RestClient]:
    async with aiohttp.ClientSession() as http:
        yield RestClient(emu.server_url, http, timeout=5.0)


def jwt(emu: Emulator) -> rcstream.JWTAuth:
    return rcstream.JWTAuth(emu.client_id, emu.client_secret, emu.jwt)


def manager(
    auth: rcstream.Auth, rest: RestClient, budget: AuthBudget | None = None, **kw: object
) -> TokenManager:
    return TokenManager(auth, rest, budget or AuthBudget(calls=None), **kw)  # type: ignore[arg-type]


async def test_refresh_now_stays_in_the_oauth_session(emu: Emulator, rest: RestClient) -> None:
    tm = manager(jwt(emu), rest, refresh_fraction=0.6)
    assert tm.can_refresh and tm.owns_session
    assert tm.next_refresh_at() is None  # nothing to refresh before the first token
    first = await tm.access_token()
    tokens = tm.tokens
    assert tokens is not None and tokens.issued_at is not None and tokens.expires_at is not None
    due = tm.next_refresh_at()
    assert due == pytest.approx(tokens.issued_at + 0.6 * 3600.0)
    assert tokens.expires_at_wall == pytest.approx(time.time() + 3600.0, abs=5)
    new = await tm.refresh_now()
    assert new.access_token.get() != first
    assert new.session_id == tokens.session_id  # same OAuth session: the gateway can recover
    assert new.refresh_token != tokens.refresh_token  # rotated
    assert await tm.access_token() == new.access_token.get()
    assert emu.stats.grants == {"jwt": 1, "refresh_token": 1}
    assert tm.logins == 1


async def test_rotated_pair_reaches_on_tokens_before_the_token_is_used(
    emu: Emulator, rest: RestClient
) -> None:
    seen: list[TokenSet] = []
    release = asyncio.Event()

    async def on_tokens(tokens: TokenSet) -> None:
        seen.append(tokens)
        await release.wait()  # e.g. a checkpoint's fsync

    tm = manager(jwt(emu), rest)
    await tm.access_token()
    tm.on_tokens = on_tokens
    task = asyncio.create_task(tm.refresh_now())
    while not seen:
        await asyncio.sleep(0)
    # the hook holds the new pair; nobody has the new access token yet
    getter = asyncio.create_task(tm.access_token())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done() and not getter.done()
    release.set()
    new = await task
    assert seen == [new]
    assert await getter == new.access_token.get()


async def test_resume_from_a_stored_pair_without_an_auth_call(
    emu: Emulator, rest: RestClient
) -> None:
    stored: list[TokenSet] = []

    async def keep(tokens: TokenSet) -> None:
        stored.append(tokens)

    await manager(jwt(emu), rest, on_tokens=keep).access_token()
    (old,) = stored
    assert old.refresh_token is not None
    # a new process: only the wall-clock fields of the stored set are meaningful
    auth = rcstream.RefreshTokenAuth(
        emu.client_id,
        emu.client_secret,
        old.refresh_token,
        access_token=old.access_token,
        access_expires_at=old.expires_at_wall,
        refresh_expires_at=old.refresh_expires_at_wall,
        session_id=old.session_id,
    )
    tm = manager(auth, rest, clock=lambda: time.monotonic() + 1e6)
    assert await tm.access_token() == old.access_token.get()
    ws = await tm.ws_token()  # the stored access token works for the gateway
    assert ws.token
    assert emu.stats.grants == {"jwt": 1}  # no refresh, no second login
    assert tm.next_refresh_at() is not None


async def test_restore_past_expiry_refreshes(emu: Emulator, rest: RestClient) -> None:
    stored: list[TokenSet] = []

    async def keep(tokens: TokenSet) -> None:
        stored.append(tokens)

    await manager(jwt(emu), rest, on_tokens=keep).access_token()
    tm = manager(jwt(emu), rest, wall_clock=lambda: time.time() + 7200)  # two hours on
    tm.restore(stored[0])
    token = await tm.access_token()
    assert token != stored[0].access_token.get()
    assert emu.stats.grants == {"jwt": 1, "refresh_token": 1}  # same session, refreshed


async def test_used_refresh_token_raises_a_distinct_error(emu: Emulator, rest: RestClient) -> None:
    tm = manager(jwt(emu), rest)
    await tm.access_token()
    old = tm.tokens
    assert old is not None and old.refresh_token is not None
    await tm.refresh_now()  # rotates: the old refresh token is now spent
    stale = manager(
        rcstream.RefreshTokenAuth(emu.client_id, emu.client_secret, old.refresh_token), rest
    )
    with pytest.raises(RefreshTokenRejectedError) as info:
        await stale.access_token()
    assert isinstance(info.value, rcstream.AuthenticationError)
    assert "log in again" in str(info.value)
    assert old.refresh_token.get() not in str(info.value)


async def test_revoked_session_with_jwt_falls_back_to_a_login(
    emu: Emulator, rest: RestClient
) -> None:
    tm = manager(jwt(emu), rest)
    await tm.access_token()
    await emu.revoke_oauth_sessions()
    await tm.refresh_now()
    assert tm.logins == 2
    assert emu.stats.grants == {"jwt": 2}


async def test_revoked_refresh_token_auth_raises_refresh_rejected(
    emu: Emulator, rest: RestClient
) -> None:
    tm = manager(jwt(emu), rest)
    await tm.access_token()
    assert tm.tokens is not None and tm.tokens.refresh_token is not None
    auth = rcstream.RefreshTokenAuth(emu.client_id, emu.client_secret, tm.tokens.refresh_token)
    await emu.revoke_oauth_sessions()
    with pytest.raises(RefreshTokenRejectedError):
        await manager(auth, rest).refresh_now()


# ---- caller-supplied tokens -----------------------------------------------------------------


async def access_token(emu: Emulator, rest: RestClient) -> str:
    return await manager(jwt(emu), rest).access_token()


async def test_static_token_with_known_expiry_says_so(emu: Emulator, rest: RestClient) -> None:
    wall = [time.time()]
    token = await access_token(emu, rest)
    tm = manager(
        rcstream.StaticTokenAuth(token, expires_at=wall[0] + 30), rest, wall_clock=lambda: wall[0]
    )
    assert not tm.can_refresh and not tm.owns_session
    assert await tm.access_token() == token
    due = tm.next_refresh_at()
    assert due is not None and due == pytest.approx(time.monotonic() + 30, abs=2)
    assert (await tm.refresh_now()).access_token.get() == token  # not expired yet: no-op
    wall[0] += 31
    for call in (tm.access_token, tm.refresh_now, tm.ws_token):
        with pytest.raises(rcstream.AuthenticationError) as info:
            await call()
        text = str(info.value)
        assert text.startswith("The access token given to rcstream expired at ")
        assert "cannot be refreshed: pass JWT or refresh-token credentials instead" in text
        assert token not in text


async def test_static_token_without_expiry_stops_at_the_first_401(
    emu: Emulator, rest: RestClient
) -> None:
    token = await access_token(emu, rest)
    tm = manager(rcstream.StaticTokenAuth(token), rest)
    assert tm.next_refresh_at() is None
    await tm.ws_token()
    await emu.expire_access_tokens()
    with pytest.raises(rcstream.AuthenticationError) as info:
        await tm.ws_token()
    assert "given to rcstream was refused" in str(info.value)
    with pytest.raises(rcstream.AuthenticationError):  # and stays stopped, no loop
        await tm.access_token()
    assert emu.stats.wstokens == 1  # the refused token is not retried


def test_static_token_expiry_arguments() -> None:
    auth = rcstream.StaticTokenAuth("T", expires_in=60)
    assert auth.expires_at == pytest.approx(time.time() + 60, abs=2)
    with pytest.raises(rcstream.ConfigurationError):
        rcstream.StaticTokenAuth("T", expires_in=60, expires_at=1.0)


async def test_provider_is_called_again_on_refresh_now(emu: Emulator, rest: RestClient) -> None:
    calls: list[str] = []

    async def provider() -> str:
        calls.append(await access_token(emu, rest))
        return calls[-1]

    tm = manager(rcstream.TokenProviderAuth(provider), rest)
    assert tm.can_refresh and not tm.owns_session
    first = await tm.access_token()
    second = (await tm.refresh_now()).access_token.get()
    assert calls == [first, second]
    assert tm.next_refresh_at() is None  # a provider says nothing about expiry


# ---- revoke -------------------------------------------------------------------------------


async def test_revoke_ends_our_own_session(
    emu: Emulator, rest: RestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tm = manager(jwt(emu), rest)
    token = await tm.access_token()
    assert await tm.revoke() is True
    assert emu.stats.revocations == 1
    assert tm.tokens is None
    assert await tm.revoke() is False  # nothing left to revoke
    assert token not in caplog.text


@pytest.mark.parametrize("kind", ["static", "provider"])
async def test_revoke_never_touches_a_caller_supplied_token(
    emu: Emulator, rest: RestClient, kind: str
) -> None:
    token = await access_token(emu, rest)

    async def provide() -> str:
        return token

    auth: rcstream.Auth = (
        rcstream.StaticTokenAuth(token) if kind == "static" else rcstream.TokenProviderAuth(provide)
    )
    tm = manager(auth, rest)
    await tm.access_token()
    assert await tm.revoke() is False
    assert emu.stats.revocations == 0


async def test_revoke_is_bounded_and_never_raises() -> None:
    """A server that accepts and never answers: revoke gives up after ``within``."""
    writers: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, aiohttp.ClientSession() as http:
        rest = RestClient(f"http://127.0.0.1:{port}", http, timeout=60.0)
        tm = manager(rcstream.JWTAuth("id", "secret", "jwt"), rest)
        tm.restore(TokenSet(access_token=Secret("AT"), expires_at=None, expires_at_wall=None))
        started = time.monotonic()
        assert await tm.revoke(within=0.3) is False
        assert time.monotonic() - started < 2.0
        for writer in writers:
            writer.close()
    async with aiohttp.ClientSession() as http:  # refused: also quiet
        tm = manager(rcstream.JWTAuth("id", "s", "j"), RestClient(f"http://127.0.0.1:{port}", http))
        tm.restore(TokenSet(access_token=Secret("AT"), expires_at=None))
        assert await tm.revoke(within=2.0) is False


# ---- one login, many connections ----------------------------------------------------------


async def test_many_connections_share_one_login(rest: RestClient) -> None:
    # the platform's Auth group, compressed 60x: 5 calls per second
    async with Emulator(auth_rate_limit=5, auth_rate_window=1.0, seed=3) as emu:
        budget = AuthBudget(calls=5, window=1.0)
        tm = manager(jwt(emu), RestClient(emu.server_url, rest._session), budget)
        n = 8
        tokens = await asyncio.gather(*(tm.ws_token() for _ in range(n)))
        assert len({t.token.get() for t in tokens}) == n  # one single-use token each
        transports = [
            await connect(
                build_ws_url(t.uri, t.token.get()),
                open_timeout=5,
                max_size=2**20,
                ping_interval=None,
                ping_timeout=None,
            )
            for t in tokens
        ]
        await emu.wait_for_connections(n)
        for transport in transports:
            await transport.close()
        assert emu.stats.grants == {"jwt": 1}  # exactly one login
        assert tm.logins == 1
        assert emu.stats.wstokens == n
        assert emu.stats.rate_limited == 0  # paced: the emulator never had to refuse


# ---- proactive refresh (the client's upkeep loop drives it) -----------------------------


async def test_refresh_now_raises_once_a_static_token_expires(
    emu: Emulator, rest: RestClient
) -> None:
    token = await access_token(emu, rest)
    wall = [time.time()]
    tm = manager(rcstream.StaticTokenAuth(token, expires_in=60), rest, wall_clock=lambda: wall[0])
    await tm.access_token()
    wall[0] += 61  # an injected wall clock: the token is past its expiry
    with pytest.raises(rcstream.AuthenticationError) as info:
        await tm.refresh_now()
    assert "expired at" in str(info.value)
