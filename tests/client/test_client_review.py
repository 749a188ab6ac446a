"""Regression tests for defects found in review (each one reproduced before the fix)."""

from __future__ import annotations

import json

import aiohttp
import anyio
import anyio.lowlevel
import pytest
from aiohttp import web
from client_helpers import PRESENCE, TELEPHONY, client_for, fast_options, take, telephony

import rcstream
from rcstream._http import RestClient
from rcstream.emulator import Emulator


async def test_404_as_error_frame_recreates_the_subscription() -> None:
    async with Emulator(auth_rate_limit=None, error_style="Error") as emu:
        async with client_for(emu) as client, client.subscribe(TELEPHONY, lifecycle=True) as a:
            await take(a, 1)
            await client.rest("DELETE", f"/restapi/v1.0/subscription/{client.subscription_id}")
            async with client.subscribe(PRESENCE):  # its PUT is refused with an Error 404
                (gap,) = await take(a, 1)
                uid = await telephony(emu)
                (note,) = await take(a, 1)
            assert [s.id for s in emu.subscriptions] == [client.subscription_id]
    assert isinstance(gap, rcstream.Gap)
    assert gap.reason == "subscription_recreated"
    assert note.uuid == uid


async def test_a_refused_filter_fails_only_the_consumer_that_asked() -> None:
    async with Emulator(auth_rate_limit=None, forbidden_filters=[PRESENCE]) as emu:
        async with client_for(emu) as client:
            outcome: dict[str, object] = {}
            both = anyio.Event()

            async def enter(name: str, flt: str) -> None:
                try:
                    async with client.subscribe(flt):
                        outcome[name] = "entered"
                        if len(outcome) == 2:
                            both.set()
                        await anyio.sleep_forever()
                except rcstream.PermissionDeniedError as exc:
                    outcome[name] = exc
                    if len(outcome) == 2:
                        both.set()

            async with anyio.create_task_group() as tg:  # both enter in one batch
                tg.start_soon(enter, "good", TELEPHONY)
                tg.start_soon(enter, "bad", PRESENCE)
                with anyio.fail_after(10):
                    await both.wait()
                tg.cancel_scope.cancel()
    assert outcome["good"] == "entered"
    assert isinstance(outcome["bad"], rcstream.PermissionDeniedError)


async def test_notifications_are_routed_by_filter_even_with_one_consumer(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as calls:
        stray = json.dumps(
            [
                {"type": "ServerNotification", "messageId": "stray-1", "status": 200},
                {
                    "uuid": "stray-1",
                    "event": f"/restapi/v1.0/account/{emu.account_id}/extension/"
                    f"{emu.extension_id}/presence",
                    "timestamp": "2026-01-01T00:00:00Z",
                    "subscriptionId": client.subscription_id,
                    "ownerId": emu.extension_id,
                    "body": {"telephonyStatus": "NoCall"},
                },
            ]
        )
        await emu.inject_raw(stray)  # the server still had a departed consumer's filter
        uid = await telephony(emu)
        (note,) = await take(calls, 1)
    assert note.uuid == uid
    assert client.stats.notifications == 2


@pytest.mark.parametrize(
    ("header", "body"),
    [
        (
            {"type": "Error", "status": 429, "headers": {"Retry-After": "0"}},
            {"errorCode": "CMN-301", "message": "Request rate exceeded"},
        ),
        ({"type": "Error", "status": 400}, {"errorCode": "XYZ-1", "message": "unknown"}),
        ({"type": "Error", "status": 401}, {"errorCode": "TokenExpired", "message": "x"}),
    ],
)
async def test_unsolicited_error_frames_reconnect_instead_of_stopping(
    emu: Emulator, header: dict[str, object], body: dict[str, object]
) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as ev:
        await emu.inject_raw(json.dumps([header, body]))
        await emu.wait_for_stat("recoveries_succeeded", 1)
        uid = await telephony(emu)
        (note,) = await take(ev, 1)
    assert note.uuid == uid
    assert client.stats.gateway_errors == 1


async def test_permission_error_frame_is_fatal(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as ev:
        await emu.inject_raw(
            json.dumps(
                [
                    {"type": "Error", "status": 403},
                    {"errorCode": "SUB-528", "message": "permission"},
                ]
            )
        )
        with pytest.raises(rcstream.PermissionDeniedError):
            await take(ev, 1)


async def test_aclose_wakes_a_consumer_waiting_to_enter() -> None:
    client = rcstream.Client(
        "http://127.0.0.1:9",
        auth=rcstream.StaticTokenAuth("token"),
        options=fast_options(max_attempts=None, backoff_base=5, backoff_cap=5),
    )
    result: list[BaseException] = []

    async def enter() -> None:
        try:
            async with client.subscribe(TELEPHONY):
                pass  # pragma: no cover
        except rcstream.RCStreamError as exc:
            result.append(exc)

    with anyio.fail_after(5):
        async with client, anyio.create_task_group() as tg:
            tg.start_soon(enter)
            await anyio.lowlevel.checkpoint()  # let it start waiting for its confirmation
            await client.aclose()
    assert isinstance(result[0], rcstream.StreamClosedError)


async def test_max_attempts_counts_rounds_that_never_get_the_subscription_back(
    emu: Emulator,
) -> None:
    async with client_for(emu, max_attempts=3) as client, client.subscribe(TELEPHONY) as ev:
        emu.fail_next_recovery(count=100)
        emu.rate_limit_next("request", retry_after=0.001, count=100)
        await emu.abort_connections()
        with pytest.raises(rcstream.RecoveryFailedError, match="3 failed"):
            with anyio.fail_after(10):
                async for _ in ev:
                    pass
    assert client.stats.connects <= 5


async def test_rest_survives_a_non_utf8_error_page() -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(
            status=502,
            body="Passerelle indisponible: caf\xe9".encode("latin-1"),
            content_type="text/html",
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            resp = await RestClient(f"http://127.0.0.1:{port}", http).send("GET", "/x")
    finally:
        await runner.cleanup()
    assert resp.status == 502
    assert "Passerelle" in resp.body


async def test_buffer_size_is_validated(emu: Emulator) -> None:
    async with client_for(emu) as client:
        with pytest.raises(rcstream.ConfigurationError):
            client.subscribe(TELEPHONY, buffer_size=0)
        with pytest.raises(rcstream.ConfigurationError):
            client.subscribe(TELEPHONY, buffer_size=-1)


async def test_lifecycle_items_are_never_evicted_by_events(emu: Emulator) -> None:
    async with (
        client_for(emu) as client,
        client.subscribe(TELEPHONY, lifecycle=True, buffer_size=3) as ev,
    ):
        emu.fail_next_recovery()
        await emu.abort_connections()
        await emu.wait_for_stat("subscriptions_created", 2)
        for _ in range(10):
            await telephony(emu)
        await emu.wait_for_stat("notifications_sent", 10)
        items = await take(ev, 4)
        while len([i for i in items if isinstance(i, rcstream.Notification)]) < 3:
            items += await take(ev, 1)
    kinds = [type(i).__name__ for i in items]
    assert "Gap" in kinds
    assert any(isinstance(i, rcstream.Gap) and i.reason == "recovery_failed" for i in items)
    assert any(isinstance(i, rcstream.Gap) and i.reason == "buffer_overflow" for i in items)


async def test_wsg_codes_reconnect_whatever_the_error_status(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY) as ev:
        for status in (403, 429):
            await emu.inject_raw(
                json.dumps(
                    [
                        {"type": "Error", "status": status},
                        {"errorCode": "WSG-902", "message": "Idle"},
                    ]
                )
            )
        await emu.wait_for_stat("recoveries_succeeded", 1)
        uid = await telephony(emu)
        (note,) = await take(ev, 1)
    assert note.uuid == uid


async def test_many_refused_consumers_do_not_cost_the_connection() -> None:
    async with Emulator(auth_rate_limit=None, forbidden_filters=[PRESENCE]) as emu:
        async with client_for(emu, max_attempts=2) as client, client.subscribe(TELEPHONY) as ev:
            for _ in range(8):
                with pytest.raises(rcstream.PermissionDeniedError):
                    async with client.subscribe(PRESENCE):
                        pass  # pragma: no cover
            uid = await telephony(emu)
            (note,) = await take(ev, 1)
        assert note.uuid == uid
        assert client.stats.connects == 1


async def test_a_rate_limited_subscription_request_is_retried(emu: Emulator) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    emu.rate_limit_next("request", retry_after=0.01)
    async with client_for(emu, sleep=sleep) as client, client.subscribe(TELEPHONY) as ev:
        uid = await telephony(emu)
        (note,) = await take(ev, 1)
    assert note.uuid == uid
    assert 0.01 in sleeps
    assert client.stats.connects == 1


def test_hostile_token_lifetimes_are_ignored() -> None:
    from rcstream.auth import _seconds

    assert _seconds(3600) == 3600.0
    assert _seconds(10**400) is None
    assert _seconds(float("nan")) is None
    assert _seconds(-5) is None
    assert _seconds(True) is None
    assert _seconds("3600") is None


async def test_unconfirmed_deletions_are_reported(emu: Emulator) -> None:
    async with client_for(emu) as client, client.subscribe(TELEPHONY):
        pass
    assert client.unconfirmed_deletions == ()
    silent = client_for(emu, close_timeout=0.2)
    async with silent:
        async with silent.subscribe(TELEPHONY):
            sub_id = silent.subscription_id
            emu.go_silent()  # half-open: the DELETE will get no answer
            emu.rate_limit_next("request", retry_after=60, count=5)  # nor the REST retry
    assert silent.unconfirmed_deletions == (sub_id,)
    assert sub_id in {s.id for s in emu.subscriptions}


async def test_filters_the_server_does_not_grant_fail_their_consumer_only() -> None:
    async with Emulator(auth_rate_limit=None, disabled_filters=[PRESENCE]) as emu:
        async with client_for(emu) as client, client.subscribe(TELEPHONY) as calls:
            with pytest.raises(rcstream.PermissionDeniedError, match="did not grant"):
                async with client.subscribe(PRESENCE):
                    pass  # pragma: no cover
            requests_after = emu.stats.client_requests
            uid = await telephony(emu)
            (note,) = await take(calls, 1)
            assert note.uuid == uid
            assert emu.stats.client_requests == requests_after  # no request loop
            (sub,) = emu.subscriptions
            assert len(sub.event_filters) == 1
        assert client.stats.connects == 1
