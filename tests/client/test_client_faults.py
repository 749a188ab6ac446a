"""The client healing through every emulator fault, over real sockets."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from client_helpers import PRESENCE, TELEPHONY, SleepRecorder, client_for, take, telephony

import rcstream
from rcstream.emulator import Emulator
from rcstream.models import Notification


def uuids(items: list[Any]) -> list[str]:
    return [i.uuid for i in items if isinstance(i, Notification)]


def lifecycle(items: list[Any], kind: type) -> list[Any]:
    return [i for i in items if isinstance(i, kind)]


@pytest.mark.parametrize("wsc_everywhere", [False, True])
async def test_thousand_events_with_a_drop_every_hundred_lose_nothing(
    wsc_everywhere: bool,
) -> None:
    async with Emulator(auth_rate_limit=None, wsc_on_every_frame=wsc_everywhere) as emu:
        async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
            published: list[str] = []

            async def produce() -> None:
                for i in range(1, 1001):
                    published.append(await telephony(emu))
                    if i % 100 == 50:
                        await emu.abort_connections()
                    if i % 100 == 60:  # ten events went out while the client was away
                        await emu.wait_for_stat("recoveries_succeeded", i // 100 + 1)

            got: list[Any] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(produce)
                with anyio.fail_after(30):
                    async for item in ev:
                        got.append(item)
                        if len(uuids(got)) == 1000:
                            break
    received = uuids(got)
    assert len(received) == len(set(received)) == 1000
    assert set(received) == set(published)
    assert lifecycle(got, rcstream.Gap) == []
    assert client.stats.recoveries == 10
    assert emu.stats.notifications_replayed >= 100


async def test_failed_recovery_recreates_subscription_and_reports_gap(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
        await take(ev, 1)  # connected
        first_id = client.subscription_id
        emu.fail_next_recovery("WSG-1005")
        await emu.abort_connections()
        items = await take(ev, 3)  # disconnected, connected(failed), gap
        after = await telephony(emu)
        (note,) = await take(ev, 1)
    disconnected, connected, gap = items
    assert isinstance(disconnected, rcstream.Disconnected)
    assert isinstance(connected, rcstream.Connected)
    assert connected.outcome == "failed"
    assert isinstance(gap, rcstream.Gap)
    assert gap.reason == "recovery_failed"
    assert gap.recovery_error_code == "WSG-1005"
    assert note.uuid == after
    assert client.subscription_id != first_id
    assert emu.stats.subscriptions_created == 2


async def test_recovery_window_expired_means_fresh_session_and_gap(emu: Emulator) -> None:
    emu.set_timeouts(recovery=0.05)
    sleep = SleepRecorder()
    async with (
        client_for(emu, sleep=sleep) as client,
        client.subscribe(TELEPHONY, lifecycle=True) as ev,
    ):
        await take(ev, 1)
        assert client._state.recovery_timeout == 0.05  # the advertised window is honoured
        # the reconnect is held back (429 + Retry-After) until the window has passed
        emu.rate_limit_next("wstoken", retry_after=0.1)
        await emu.abort_connections()
        items = await take(ev, 4)
    disconnected, retrying, connected, gap = items
    assert isinstance(disconnected, rcstream.Disconnected)
    assert isinstance(retrying, rcstream.Reconnecting)  # the held-back attempt, reported
    assert retrying.attempt == 1 and retrying.next_in == pytest.approx(0.1)
    assert isinstance(connected, rcstream.Connected)
    assert connected.outcome == "fresh"
    assert isinstance(gap, rcstream.Gap)
    assert gap.reason == "recovery_window_expired"
    assert emu.stats.subscriptions_created == 2
    assert emu.stats.recoveries_succeeded == 0


async def test_expired_access_token_mid_stream_refreshes_and_recovers(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as ev:
        before = await telephony(emu)
        await take(ev, 1)
        await emu.expire_access_tokens(close_sockets=True)
        during = await telephony(emu)  # buffered for the detached session
        await emu.wait_for_stat("recoveries_succeeded", 1)
        after = await telephony(emu)
        got = await take(ev, 2)
    assert uuids(got) == [during, after]
    assert before not in uuids(got)
    assert emu.stats.token_refreshes >= 1
    assert client.stats.recoveries == 1


async def test_revoked_session_logs_in_again_and_reports_gap(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
        await take(ev, 1)
        await emu.revoke_oauth_sessions(error_code="OAU-129")
        items = await take(ev, 3)
        after = await telephony(emu)
        got = await take(ev, 1)
    gap = items[-1]
    assert isinstance(gap, rcstream.Gap)
    assert gap.recovery_error_code == "WSG-1003"  # a new login cannot recover the old session
    assert uuids(got) == [after]
    assert emu.stats.grants.get("jwt", 0) + sum(emu.stats.grants.values()) >= 2


@pytest.mark.parametrize("endpoint", ["wstoken", "token"])
async def test_429_with_retry_after_waits_then_succeeds(emu: Emulator, endpoint: str) -> None:
    sleep = SleepRecorder()
    emu.rate_limit_next(endpoint, retry_after=0.05)  # type: ignore[arg-type]
    async with client_for(emu, sleep=sleep) as client, client.subscribe(TELEPHONY) as ev:
        uid = await telephony(emu)
        (note,) = await take(ev, 1)
    assert note.uuid == uid
    assert any(w >= 0.05 for w in sleep.waits)
    assert emu.stats.rate_limited == 1


async def test_429_without_retry_after_still_backs_off(emu: Emulator) -> None:
    from rcstream.retry import DEFAULT_RATE_LIMIT_WAIT, classify

    decision = classify(rcstream.RateLimitedError("x", retry_after=None))
    assert decision.retry
    assert decision.min_delay == DEFAULT_RATE_LIMIT_WAIT


async def test_garbage_frames_are_skipped(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as ev:
        for junk in [
            "not json",
            "[]",
            '[{"type":"Bogus"}]',
            '[{"type":"ServerNotification"},1]',
            "[" * 10_000,
            '[{"type":"ServerNotification"},{"uuid":5}]',
        ]:
            await emu.inject_raw(junk)
        uid = await telephony(emu)
        (note,) = await take(ev, 1)
    assert note.uuid == uid
    assert client.stats.bad_frames == 6
    assert client.stats.connects == 1  # garbage does not cost the connection


async def test_half_open_link_is_detected_and_healed(emu: Emulator) -> None:
    async with client_for(emu, heartbeat_interval=0.05, heartbeat_timeout=0.1) as client:
        async with client.subscribe(TELEPHONY, lifecycle=True) as ev:
            await take(ev, 1)
            emu.go_silent()
            during = await telephony(emu)
            items = await take(ev, 3)  # disconnected, connected(recovered), replayed event
    assert isinstance(items[0], rcstream.Disconnected)
    assert "dead" in items[0].reason
    assert isinstance(items[1], rcstream.Connected)
    assert uuids(items) == [during]
    assert client.stats.heartbeats >= 1


async def test_idle_timeout_never_fires_thanks_to_heartbeats() -> None:
    async with Emulator(auth_rate_limit=None, idle_timeout=0.3) as emu:
        async with client_for(emu, heartbeat_interval=0.05) as client:
            async with client.subscribe(TELEPHONY) as ev:
                await emu.wait_for_stat("heartbeats", 10)
                uid = await telephony(emu)
                (note,) = await take(ev, 1)
    assert note.uuid == uid
    assert client.stats.connects == 1
    assert emu.stats.closes_by_reason.get("idle_timeout", 0) == 0


async def test_absolute_timeout_wsg903_recovers_with_nothing_lost(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
        await take(ev, 1)
        before = await telephony(emu)
        emu.set_timeouts(absolute=0.05)
        await emu.wait_for_stat("recoveries_succeeded", 1)
        emu.set_timeouts(absolute=86400)
        after = await telephony(emu)
        got = await take(ev, 4)  # before, disconnected, connected(recovered), after
    assert uuids(got) == [before, after]
    assert lifecycle(got, rcstream.Gap) == []
    assert client.stats.gateway_errors >= 1


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 4400, 4999])
async def test_any_close_code_reconnects(emu: Emulator, code: int) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as ev:
        await emu.close_connections(code, "bye")
        await emu.wait_for_stat("recoveries_succeeded", 1)
        uid = await telephony(emu)
        (note,) = await take(ev, 1)
    assert note.uuid == uid


async def test_bad_credentials_fail_fast_with_one_sentence() -> None:
    async with Emulator(auth_rate_limit=None) as emu:
        env = emu.env() | {"RINGCENTRAL_JWT": "not-the-jwt"}
        client = rcstream.Client.from_env(env, options=client_for(emu).options)
        async with client:
            with pytest.raises(rcstream.AuthenticationError) as info:
                async with client.subscribe(TELEPHONY):
                    pass  # pragma: no cover
    assert "not-the-jwt" not in str(info.value)
    assert str(info.value).endswith(".")


async def test_unreachable_server_gives_up_after_max_attempts() -> None:
    with anyio.fail_after(10):
        client = rcstream.Client(
            "http://127.0.0.1:9",
            auth=rcstream.StaticTokenAuth("token"),
            options=client_for_options(max_attempts=2),
        )
        async with client:
            with pytest.raises(rcstream.RecoveryFailedError) as info:
                async with client.subscribe(TELEPHONY):
                    pass  # pragma: no cover
    assert "2 failed connection attempts" in str(info.value)
    assert isinstance(info.value.__cause__, rcstream.ConnectionFailedError)


def client_for_options(**kw: Any) -> rcstream.ClientOptions:
    from client_helpers import fast_options

    return fast_options(**kw)


async def test_subscription_lost_on_the_server_is_recreated_with_a_gap(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
        await take(ev, 1)  # connected
        old = client.subscription_id
        # someone deletes it over REST (or it expired): the next PUT gets 404 SUB-507
        await client.rest("DELETE", f"/restapi/v1.0/subscription/{old}")
        async with client.subscribe(PRESENCE):
            (gap,) = await take(ev, 1)
        uid = await telephony(emu)
        got = await take(ev, 1)
    assert isinstance(gap, rcstream.Gap)
    assert gap.reason == "subscription_recreated"
    assert client.subscription_id != old
    assert uuids(got) == [uid]


@pytest.mark.parametrize(("while_down", "gap_expected"), [(20, False), (35, True)])
async def test_a_full_recovery_buffer_is_reported_as_a_gap(
    while_down: int, gap_expected: bool
) -> None:
    async with Emulator(auth_rate_limit=None, recovery_buffer_size=30) as emu:
        async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as ev:
            await take(ev, 1)
            emu.rate_limit_next("wstoken", retry_after=0.05)  # hold the reconnect back
            await emu.abort_connections()
            await emu.wait_until(lambda e: e.connected == 0)
            sent = [await telephony(emu) for _ in range(while_down)]
            await emu.wait_for_stat("recoveries_succeeded", 1)
            await emu.wait_for_stat("heartbeats", 1)  # the probe was answered, then:
            marker = await telephony(emu)
            items: list[Any] = []
            while marker not in uuids(items):
                items += await take(ev, 1)
    gaps = lifecycle(items, rcstream.Gap)
    got = uuids(items)
    if gap_expected:
        assert [g.reason for g in gaps] == ["recovery_buffer_full"]
        assert got[:-1] == sent[-30:]  # the server kept the newest 30
        # the Gap follows the replayed events it concerns
        assert items.index(gaps[0]) > items.index(next(i for i in items if uuids([i])))
    else:
        assert gaps == []
        assert got[:-1] == sent
