"""The client against the real emulator: subscribe, stream, merge, request, close."""

from __future__ import annotations

import anyio
import pytest
from client_helpers import PRESENCE, TELEPHONY, client_for, presence, take, telephony

import rcstream
from rcstream.emulator import Emulator
from rcstream.models import Notification


async def test_stream_yields_typed_notifications(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe([TELEPHONY]) as events:
        (sub,) = emu.subscriptions
        assert sub.id == client.subscription_id
        uid = await telephony(emu)
        (note,) = await take(events, 1)
    assert isinstance(note, Notification)
    assert note.family == "telephony-sessions"
    assert note.uuid == uid
    assert note.body.parties  # typed body
    assert note.subscription_id == sub.id


async def test_subscription_sent_over_the_socket_and_deleted_on_exit(emu: Emulator) -> None:
    async with client_for(emu) as client:
        async with client.subscribe(TELEPHONY):
            assert emu.stats.subscriptions_created == 1
            assert emu.stats.client_requests >= 1
        assert emu.stats.subscriptions_deleted == 1
    assert emu.subscriptions == ()


async def test_second_subscribe_merges_filters_and_routes(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe([TELEPHONY]) as calls:
        async with client.subscribe([PRESENCE]) as people:
            (sub,) = emu.subscriptions  # still one server subscription
            assert len(sub.event_filters) == 2
            assert emu.stats.subscriptions_updated >= 1
            t1 = await telephony(emu)
            p1 = await presence(emu)
            t2 = await telephony(emu)
            got_calls = await take(calls, 2)
            got_people = await take(people, 1)
        assert [n.uuid for n in got_calls] == [t1, t2]
        assert [n.uuid for n in got_people] == [p1]
        # the presence consumer left: its filter is gone from the server subscription
        (sub,) = emu.subscriptions
        assert len(sub.event_filters) == 1


async def test_request_over_the_socket(emu: Emulator) -> None:
    async with client_for(emu) as client:
        resp = await client.request("GET", "/restapi/v1.0/account/~/extension/~")
        assert resp.ok
        assert str(resp.body["id"]) == emu.extension_id
        with pytest.raises(rcstream.GatewayError) as info:
            await client.request("GET", "/restapi/v1.0/no/such/thing")
        assert info.value.status == 404


async def test_rest_over_https(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY):
        resp = await client.rest("GET", "/restapi/v1.0/subscription")
        assert [r["id"] for r in resp.body["records"]] == [client.subscription_id]


async def test_missing_websocket_permission_is_fatal_with_advice() -> None:
    async with Emulator(auth_rate_limit=None, deny_websocket_permission=True) as emu:
        async with client_for(emu) as client:
            with pytest.raises(rcstream.PermissionDeniedError) as info:
                async with client.subscribe(TELEPHONY):
                    pass  # pragma: no cover
            assert info.value.error_code == "SUB-528"
            assert "WebSocket Subscriptions" in str(info.value)


async def test_rejection_as_error_frame() -> None:
    async with (
        Emulator(auth_rate_limit=None, error_style="Error", forbidden_filters=[PRESENCE]) as emu,
        client_for(emu) as client,
        client.subscribe(TELEPHONY) as events,
    ):
        with pytest.raises(rcstream.PermissionDeniedError):
            async with client.subscribe(PRESENCE):
                pass  # pragma: no cover
        # the first consumer is unaffected
        uid = await telephony(emu)
        (note,) = await take(events, 1)
        assert note.uuid == uid


async def test_bad_filter_is_rejected_before_sending(emu: Emulator) -> None:
    async with client_for(emu) as client:
        with pytest.raises(rcstream.ConfigurationError):
            client.subscribe(["restapi/v1.0/account/~/presence"])
    assert emu.stats.client_requests == 0


async def test_usage_errors() -> None:
    client = rcstream.Client("http://127.0.0.1:9", auth=rcstream.StaticTokenAuth("x"))
    with pytest.raises(rcstream.UsageError):
        async with client.subscribe(TELEPHONY):
            pass  # pragma: no cover
    with pytest.raises(rcstream.ConfigurationError):
        rcstream.Client("platform.ringcentral.com", auth=rcstream.StaticTokenAuth("x"))


async def test_from_env_requires_credentials() -> None:
    with pytest.raises(rcstream.ConfigurationError, match="RINGCENTRAL_CLIENT_ID"):
        rcstream.Client.from_env({})


async def test_cancellation_deletes_subscription_and_leaves_no_tasks(emu: Emulator) -> None:
    started = anyio.Event()

    async def consume() -> None:
        async with client_for(emu) as client, client.subscribe(TELEPHONY) as events:
            async for _ in events:
                started.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await emu.wait_for_subscription()
        await telephony(emu)
        await started.wait()
        tg.cancel_scope.cancel()  # what Ctrl-C does to a running consumer
    await emu.wait_for_stat("subscriptions_deleted", 1)
    assert emu.subscriptions == ()


async def test_consumer_exception_does_not_kill_other_consumers(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as keeper:
        with pytest.raises(ZeroDivisionError):
            async with client.subscribe(TELEPHONY) as crasher:
                await telephony(emu)
                await take(crasher, 1)
                raise ZeroDivisionError
        uid = await telephony(emu)
        got = await take(keeper, 2)
        assert got[-1].uuid == uid


async def test_slow_consumer_is_bounded_and_gap_reported(emu: Emulator) -> None:
    async with (
        client_for(emu) as client,
        client.subscribe(TELEPHONY) as fast,
        client.subscribe(TELEPHONY, buffer_size=10, lifecycle=True) as slow,
    ):
        sent = [await telephony(emu) for _ in range(50)]
        await take(fast, 50)  # by now every event has been handed to both consumers
        items = await take(slow, 11)
    gap, *rest = items
    assert isinstance(gap, rcstream.Gap)
    assert gap.reason == "buffer_overflow"
    assert gap.dropped == 40
    assert [n.uuid for n in rest] == sent[-10:]
    assert client.stats.dropped == 40


async def test_on_gap_callback_when_lifecycle_off(emu: Emulator) -> None:
    gaps: list[rcstream.Gap] = []
    async with (
        client_for(emu) as client,
        client.subscribe(TELEPHONY) as fast,
        client.subscribe(TELEPHONY, buffer_size=2, on_gap=gaps.append) as slow,
    ):
        for _ in range(5):
            await telephony(emu)
        await take(fast, 5)
        got = await take(slow, 2)
    assert len(got) == 2
    assert [g.dropped for g in gaps] == [3]


async def test_plain_and_detailed_presence_consumers_share_detailed_events(
    emu: Emulator,
) -> None:
    detailed = PRESENCE + "?detailedTelephonyState=true"
    async with client_for(emu) as client:
        async with client.subscribe(PRESENCE) as plain, client.subscribe(detailed) as rich:
            # the platform sends only the detailed form when both are subscribed
            uid = await presence(emu)
            (a,) = await take(plain, 1)
            (b,) = await take(rich, 1)
    assert a.uuid == b.uuid == uid
    assert a.event.endswith("?detailedTelephonyState=true")


async def test_buffered_counts_what_the_next_iterations_return_without_waiting(
    emu: Emulator,
) -> None:
    async with (
        client_for(emu) as client,
        client.subscribe([TELEPHONY]) as held,
        client.subscribe([TELEPHONY]) as probe,
    ):
        assert held.buffered == 0
        uids = [await telephony(emu) for _ in range(3)]
        # the reader hands each event to every consumer at once: once the probe has all
        # three, the held consumer's buffer has them too
        assert [n.uuid for n in await take(probe, 3)] == uids
        assert held.buffered == 3
        assert [n.uuid for n in await take(held, 1)] == uids[:1]
        assert held.buffered == 2
