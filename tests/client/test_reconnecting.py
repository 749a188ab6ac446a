"""Issue 11 item 7: while disconnected, consumers and logs keep saying the stream is retrying.

Real emulator over real sockets; the backoff waits go through an injected ``sleep`` (the
test reads the waits it asked for), and every wait in the test is on a lifecycle item.
"""

from __future__ import annotations

import logging
import time

import anyio
import pytest
from client_helpers import TELEPHONY, SleepRecorder, client_for, take

import rcstream
from rcstream.emulator import Emulator
from rcstream.models.lifecycle import Connected, Disconnected, Gap, Lifecycle, Reconnecting


async def test_an_emulator_that_went_away_yields_a_reconnecting_item_per_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sleep = SleepRecorder()
    emu = Emulator(auth_rate_limit=None, seed=3)
    await emu.start()
    try:
        async with (
            client_for(emu, max_attempts=None, sleep=sleep, backoff_cap=0.05) as client,
            client.subscribe(TELEPHONY, lifecycle=True) as events,
        ):
            first = await take(events, 1)
            assert isinstance(first[0], Connected)
            with caplog.at_level(logging.INFO, logger="rcstream.client"):
                await emu.close()  # the server is gone: every attempt is refused
                items = await take(events, 6)
            assert isinstance(items[0], Disconnected)
            retrying = items[1:]
            assert all(isinstance(i, Reconnecting) for i in retrying)
            assert [i.attempt for i in retrying] == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]
            for item in retrying:
                assert isinstance(item, Reconnecting)
                assert 0 <= item.next_in <= 0.05  # the capped backoff, as scheduled
                assert item.down_for >= 0
                assert item.reason
                record = item.model_dump(mode="json")
                assert record["type"] == "reconnecting"
            downs = [i.down_for for i in retrying if isinstance(i, Reconnecting)]
            assert downs == sorted(downs)
            # each announced wait is the one the backoff then asked the injected sleep for
            announced = [i.next_in for i in retrying if isinstance(i, Reconnecting)]
            assert announced[0] > 0  # only the retry right after the drop is immediate
            for wait in announced[:-1]:
                assert any(abs(wait - w) < 1e-3 for w in sleep.waits)
            assert client.stats.reconnects >= 5
    finally:
        await emu.close()
    lines = [r for r in caplog.records if r.getMessage().startswith("Still disconnected")]
    assert len(lines) >= 5
    # one WARNING for the outage's first failed attempt; the rest stay at INFO (the clock
    # is real and the test lasts well under the one-a-minute repeat)
    assert [r.levelno for r in lines].count(logging.WARNING) == 1
    assert "attempt 1 failed" in lines[0].getMessage() and lines[0].levelno == logging.WARNING


async def test_a_refused_reconnect_is_reported_until_the_stream_is_back(emu: Emulator) -> None:
    async with (
        client_for(emu, max_attempts=None) as client,
        client.subscribe(TELEPHONY, lifecycle=True) as events,
    ):
        assert isinstance((await take(events, 1))[0], Connected)
        emu.rate_limit_next("wstoken", retry_after=0.01, count=3)
        await emu.abort_connections()
        items: list[Lifecycle] = []
        while not (items and isinstance(items[-1], Connected)):
            (item,) = await take(events, 1)
            assert isinstance(item, Lifecycle)
            items.append(item)
        kinds = [type(i) for i in items if not isinstance(i, Gap)]
        assert kinds == [Disconnected, Reconnecting, Reconnecting, Reconnecting, Connected]
        assert [i.attempt for i in items if isinstance(i, Reconnecting)] == [1, 2, 3]
        reasons = [i.reason for i in items if isinstance(i, Reconnecting)]
        assert all("429" in r or "rate" in r.lower() for r in reasons), reasons
        uid = await emu.publish_generated("telephony-sessions")
        (note,) = await take(events, 1)
        assert isinstance(note, rcstream.Notification) and note.uuid == uid


async def test_a_drop_repaired_at_once_yields_no_reconnecting_item(emu: Emulator) -> None:
    async with (
        client_for(emu) as client,
        client.subscribe(TELEPHONY, lifecycle=True) as events,
    ):
        assert isinstance((await take(events, 1))[0], Connected)
        await emu.abort_connections()
        first, second = await take(events, 2)
        assert isinstance(first, Disconnected) and isinstance(second, Connected)
        uid = await emu.publish_generated("telephony-sessions")
        (note,) = await take(events, 1)
        assert isinstance(note, rcstream.Notification) and note.uuid == uid


@pytest.mark.parametrize("stable", [True, False])
async def test_only_a_connection_that_lived_stable_after_makes_the_next_retry_immediate(
    stable: bool,
) -> None:
    # three drops in a row, each healed by its first attempt: a connection that lived
    # stable_after resets the backoff (every retry immediate); shorter ones do not (the
    # waits grow), so a gateway that drops every connection at once is not hammered
    sleep = SleepRecorder()
    async with Emulator(auth_rate_limit=None, seed=3) as emu:
        async with (
            client_for(
                emu,
                sleep=sleep,
                stable_after=0.0 if stable else 1e9,
                backoff_base=0.01,
                backoff_cap=1.0,
                backoff_jitter=0.0,
            ) as client,
            client.subscribe(TELEPHONY),
        ):
            for k in (1, 2, 3):
                await emu.abort_connections()
                await emu.wait_for_stat("recoveries_succeeded", k)
    assert client.stats.reconnects == 3
    assert sleep.waits == ([] if stable else [0.01, 0.02])


async def test_down_for_counts_from_the_last_drop_not_from_the_first_connect() -> None:
    async with Emulator(auth_rate_limit=None, seed=3) as emu:
        async with (
            client_for(emu, max_attempts=None, sleep=SleepRecorder(), backoff_cap=0.05) as client,
            client.subscribe(TELEPHONY, lifecycle=True) as events,
        ):
            assert isinstance((await take(events, 1))[0], Connected)
            await anyio.sleep(0.5)  # not a wait for something: time the stream was up
            dropped_at = time.monotonic()
            emu.rate_limit_next("wstoken", retry_after=0.01)  # the first attempt fails
            await emu.abort_connections()
            items = await take(events, 2)
            now = time.monotonic()
    assert isinstance(items[0], Disconnected)
    retrying = items[1]
    assert isinstance(retrying, Reconnecting)
    assert retrying.down_for <= now - dropped_at < 0.5
