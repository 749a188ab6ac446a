"""AuthBudget: what is counted against the Auth group, over real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from rcstream._http import AuthBudget, Response, RestClient, never_sent
from rcstream.emulator import Emulator
from rcstream.exceptions import ConnectionFailedError


def closed_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_refused_connection_is_not_counted(http: aiohttp.ClientSession) -> None:
    rest = RestClient(f"http://127.0.0.1:{closed_port()}", http, timeout=5.0)
    budget = AuthBudget(calls=1, window=60.0)
    for _ in range(3):  # with calls=1, a counted attempt would make the next one wait 60 s
        with pytest.raises(ConnectionFailedError) as info:
            await budget.spend(lambda: rest.send("POST", "/restapi/oauth/token", form={}))
        assert never_sent(info.value)
    assert not budget._stamps


async def test_answered_calls_are_counted_and_429_fills_the_window(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(auth_rate_limit=None) as emu:
        rest = RestClient(emu.server_url, http)
        budget = AuthBudget(calls=5, window=60.0)
        basic = (emu.client_id, emu.client_secret)

        async def bad_grant() -> Response:
            return await rest.send("POST", "/restapi/oauth/token", form={}, basic=basic)

        resp = await budget.spend(bad_grant)
        assert resp.status == 400  # refused, but answered: counted
        assert len(budget._stamps) == 1
        emu.rate_limit_next("token", retry_after=7)
        resp = await budget.spend(bad_grant)
        assert resp.status == 429
        assert len(budget._stamps) == 5  # the window is full until Retry-After has passed


async def test_a_timeout_is_counted(http: aiohttp.ClientSession) -> None:
    """The request may have reached the server: it stays in the window."""
    with socket.socket() as listener:  # accepts (kernel backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        rest = RestClient(f"http://127.0.0.1:{port}", http, timeout=0.3)
        budget = AuthBudget(calls=5, window=60.0)
        with pytest.raises(ConnectionFailedError) as info:
            await budget.spend(lambda: rest.send("POST", "/restapi/oauth/token", form={}))
        assert not never_sent(info.value)
        assert len(budget._stamps) == 1


async def test_compressed_time_scales_the_window() -> None:
    """A 1800x compressed run (2 s tokens) keeps 5 calls but a 60/1800 s window."""
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    budget = AuthBudget(calls=5, window=60.0 / 1800, clock=lambda: now[0], sleep=sleep)
    for _ in range(6):
        await budget.acquire()
    assert waits == [pytest.approx(60.0 / 1800)]
