"""AuthBudget: what is counted against the Auth group, over real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

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


# ---- the server's own count: X-Rate-Limit-* headers on answered Auth calls ---------------


class FakeTime:
    """One clock for the emulator's Auth limiter and the client's budget; sleeping advances
    it and records the wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def login_call(rest: RestClient, emu: Emulator) -> Any:
    form = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": emu.jwt,
    }
    basic = (emu.client_id, emu.client_secret)
    return lambda: rest.send("POST", "/restapi/oauth/token", form=form, basic=basic)


async def test_calls_spent_by_another_client_make_us_wait_instead_of_drawing_a_429(
    http: aiohttp.ClientSession,
) -> None:
    t = FakeTime()
    async with Emulator(auth_rate_limit=5, auth_rate_window=60.0, rate_clock=t) as emu:
        rest = RestClient(emu.server_url, http)
        other = AuthBudget(calls=5, window=60.0, clock=t, sleep=t.sleep)
        ours = AuthBudget(calls=5, window=60.0, clock=t, sleep=t.sleep)
        for _ in range(3):  # another process of the same user and app
            assert (await other.spend(login_call(rest, emu))).status == 200
        assert (await ours.spend(login_call(rest, emu))).status == 200
        assert len(ours._stamps) == 4  # the server said 1 call is left, not 4
        assert (await ours.spend(login_call(rest, emu))).status == 200
        assert t.waits == []
        resp = await ours.spend(login_call(rest, emu))  # waits out the window first
        assert resp.status == 200 and t.waits == [pytest.approx(60.0)]
        assert emu.stats.rate_limited == 0


async def test_a_restarted_server_that_forgot_our_calls_lets_us_go_on_at_once(
    http: aiohttp.ClientSession,
) -> None:
    t = FakeTime()
    budget = AuthBudget(calls=5, window=60.0, clock=t, sleep=t.sleep)
    async with Emulator(auth_rate_limit=5, auth_rate_window=60.0, rate_clock=t) as first:
        rest = RestClient(first.server_url, http)
        for _ in range(5):  # at 1000, 1010 ... 1040: the window is full until 1060
            await budget.spend(login_call(rest, first))
            t.now += 10
        t.now -= 10
    async with Emulator(auth_rate_limit=5, auth_rate_window=60.0, rate_clock=t) as second:
        rest = RestClient(second.server_url, http)
        # the first call still waits for our oldest call to age out (nothing told us yet);
        # its answer says the new server counted only it, so the other four go at once
        # (our own count alone would have made each of them wait 10 s more)
        for _ in range(5):
            assert (await budget.spend(login_call(rest, second))).status == 200
        assert t.waits == [pytest.approx(20.0)]
        assert second.stats.rate_limited == 0


def test_the_server_can_only_make_the_limit_stricter() -> None:
    budget = AuthBudget(calls=5, window=60.0, clock=lambda: 0.0)
    for _ in range(3):
        budget._stamps.append(0.0)
    # a looser group, or an app whose limit was raised: ignored whole, our count stays
    budget.observe(
        {
            "X-Rate-Limit-Group": "Light",
            "X-Rate-Limit-Limit": "50",
            "X-Rate-Limit-Remaining": "49",
            "X-Rate-Limit-Window": "30",
        }
    )
    assert (budget.calls, budget.window, len(budget._stamps)) == (5, 60.0, 3)
    # a stricter limit and a longer window are adopted (header names in any case)
    budget.observe(
        {
            "x-rate-limit-group": "Auth",
            "x-rate-limit-limit": "3",
            "x-rate-limit-remaining": "1",
            "x-rate-limit-window": "90",
        }
    )
    assert (budget.calls, budget.window, len(budget._stamps)) == (3, 90.0, 2)
    # another group than the first one seen: not our bucket
    budget.observe(
        {"X-Rate-Limit-Group": "Medium", "X-Rate-Limit-Limit": "3", "X-Rate-Limit-Remaining": "3"}
    )
    assert len(budget._stamps) == 2
    # bad values, or a Remaining without its Limit: ignored
    budget.observe(
        {
            "X-Rate-Limit-Group": "Auth",
            "X-Rate-Limit-Remaining": "nonsense",
            "X-Rate-Limit-Limit": "-1",
        }
    )
    budget.observe({"X-Rate-Limit-Group": "Auth", "X-Rate-Limit-Remaining": "3"})
    assert (budget.calls, budget.window, len(budget._stamps)) == (3, 90.0, 2)
    off = AuthBudget(calls=None)
    off.observe({"X-Rate-Limit-Limit": "3", "X-Rate-Limit-Remaining": "0"})
    assert off.calls is None and not off._stamps  # a disabled limiter stays disabled
