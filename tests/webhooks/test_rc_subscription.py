"""WebHook subscriptions against the real emulator: its REST API creates, renews, updates
and deletes them, runs the validation handshake against our receiver, POSTs every
published event with the ``Verification-Token`` header and blacklists an address that
keeps failing. Every request goes over 127.0.0.1 sockets; nothing is patched.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import rcstream
from rcstream.emulator import Emulator
from rcstream.emulator.webhooks import WebhookDeliverer, WebhookValidationError
from rcstream.exceptions import ConfigurationError, GatewayError
from rcstream.models import Notification
from rcstream.models.lifecycle import Gap
from rcstream.redact import Secret
from rcstream.webhooks import WebhookReceiver, listen

STEP = 5.0


class Ticker:
    """An injected ``sleep``: each call parks until the test calls :meth:`tick`."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self._go = asyncio.Queue[None]()
        self._parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)
        self._parked.set()
        await self._go.get()

    async def tick(self) -> None:
        """Let the sleeper go once and wait until it sleeps again (its step is done)."""
        self._parked.clear()
        self._go.put_nowait(None)
        async with asyncio.timeout(STEP):
            await self._parked.wait()

    async def parked(self) -> None:
        async with asyncio.timeout(STEP):
            await self._parked.wait()


def presence_filter(emulator: Emulator) -> str:
    return f"/restapi/v1.0/account/{emulator.account_id}/extension/{emulator.extension_id}/presence"


def envelope(emulator: Emulator, sub_id: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "event": presence_filter(emulator),
        "timestamp": "2026-01-01T00:00:00.000Z",
        "subscriptionId": sub_id,
        "ownerId": emulator.extension_id,
        "body": {"extensionId": int(emulator.extension_id), "presenceStatus": "Busy"},
    }


async def test_listen_creates_renews_updates_and_deletes(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    ticker = Ticker()
    now = [1000.0]
    flt = presence_filter(rc_emulator)
    async with listen(
        rc_client,
        [flt],
        address=None,  # the receiver's own URL: the emulator reaches 127.0.0.1
        expires_in=900,
        check_interval=60,
        sleep=ticker.sleep,
        clock=lambda: now[0],
    ) as stream:
        sub = stream.subscription
        (record,) = rc_emulator.subscriptions
        assert record.id == sub.id
        assert record.transport == "WebHook"
        assert record.address == stream.receiver.url
        assert record.status == "Active"
        assert stream.receiver.stats.handshakes == 1  # the emulator validated the address
        assert sub.verification_token.get() not in repr(sub)
        body = (await rc_client.rest("GET", f"/restapi/v1.0/subscription/{sub.id}")).body
        assert 0 < body["expiresIn"] <= 900  # the short top-level expiresIn was honoured
        await ticker.parked()
        assert ticker.calls == [60]
        updated = rc_emulator.stats.subscriptions_updated
        await ticker.tick()  # a status check, no renewal yet
        assert rc_emulator.stats.subscriptions_updated == updated
        now[0] += 650  # two thirds of the lifetime gone: renew
        await ticker.tick()
        assert rc_emulator.stats.subscriptions_updated == updated + 1
        # renewed with the short lifetime again, not the platform's 7-day default that
        # POST .../renew or an empty PUT gives (review of issue 15; RCEX Subscription/index.ts)
        body = (await rc_client.rest("GET", f"/restapi/v1.0/subscription/{sub.id}")).body
        assert 0 < body["expiresIn"] <= 900
        await sub.update_filters([flt, flt + "?detailedTelephonyState=true"])
        (record,) = rc_emulator.subscriptions
        assert len(record.event_filters) == 2

        # the emulator POSTs each published event with the verification token; a repeat
        # of a uuid is answered 200 and dropped
        event = envelope(rc_emulator, sub.id or "")
        sent = await rc_emulator.publish(event["event"], event["body"])
        await rc_emulator.publish(event["event"], event["body"], uuid=sent)
        async with asyncio.timeout(STEP):
            item = await anext(stream)
        assert isinstance(item, Notification)
        assert item.uuid == sent
        assert item.subscription_id == sub.id
        assert stream.receiver.stats.duplicates == 1
        assert stream.receiver.stats.rejected == 0
    assert rc_emulator.subscriptions == ()


async def test_a_vanished_subscription_is_recreated_with_a_gap(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    ticker = Ticker()
    async with listen(
        rc_client,
        [presence_filter(rc_emulator)],
        address=None,
        lifecycle=True,
        sleep=ticker.sleep,
    ) as stream:
        old_id = stream.subscription.id
        old_token = stream.subscription.verification_token.get()
        await ticker.parked()
        await rc_client.rest("DELETE", f"/restapi/v1.0/subscription/{old_id}")
        await ticker.tick()
        async with asyncio.timeout(STEP):
            gap = await anext(stream)
        assert isinstance(gap, Gap)
        assert gap.reason == "subscription_recreated"
        assert old_id in gap.message
        new_id = stream.subscription.id
        assert new_id != old_id
        assert [s.id for s in rc_emulator.subscriptions] == [new_id]
        # the emulator delivers to the new subscription, with its new token
        event = envelope(rc_emulator, new_id or "")
        sent = await rc_emulator.publish(event["event"], event["body"])
        async with asyncio.timeout(STEP):
            item = await anext(stream)
        assert isinstance(item, Notification)
        assert (item.uuid, item.subscription_id) == (sent, new_id)
        # and the receiver refuses the old token (a delivery for the deleted subscription)
        new_token = stream.subscription.verification_token.get()
        assert new_token != old_token
        async with WebhookDeliverer() as deliver:
            deliver.register("old", stream.receiver.url, old_token)
            assert not await deliver.deliver("old", envelope(rc_emulator, "old"))
        assert stream.receiver.stats.rejected == 1


@pytest.mark.rc_emulator(webhook_blacklist_after=2)
async def test_a_blacklisted_subscription_is_recreated_and_the_gap_says_why(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    ticker = Ticker()
    async with listen(
        rc_client,
        [presence_filter(rc_emulator)],
        address=None,
        lifecycle=True,
        sleep=ticker.sleep,
    ) as stream:
        sub_id = stream.subscription.id or ""
        await ticker.parked()
        # the receiver now expects another token (a misconfigured proxy, say): it answers
        # the emulator's deliveries with 4xx, and the emulator blacklists the subscription
        stream.receiver.set_token(Secret("not-the-subscription-token"))
        event = envelope(rc_emulator, sub_id)
        for _ in range(2):
            await rc_emulator.publish(event["event"], event["body"])
        assert stream.receiver.stats.rejected == 2
        (record,) = rc_emulator.subscriptions
        assert record.status == "Blacklisted"
        body = (await rc_client.rest("GET", f"/restapi/v1.0/subscription/{sub_id}")).body
        assert body["status"] == "Blacklisted"
        assert body["blacklistedData"]["reason"].startswith("Webhook responses with code: [4")
        # a blacklisted subscription gets nothing more
        await rc_emulator.publish(event["event"], event["body"])
        assert stream.receiver.stats.rejected == 2
        await ticker.tick()
        async with asyncio.timeout(STEP):
            gap = await anext(stream)
        assert isinstance(gap, Gap)
        assert "blacklisted" in gap.message
        assert "Webhook responses with code: [4" in gap.message
        new_id = stream.subscription.id
        assert new_id != sub_id
        assert [s.id for s in rc_emulator.subscriptions] == [new_id]
        # the re-created subscription's new token is the receiver's again: delivered
        sent = await rc_emulator.publish(event["event"], event["body"])
        async with asyncio.timeout(STEP):
            item = await anext(stream)
        assert isinstance(item, Notification)
        assert (item.uuid, item.subscription_id) == (sent, new_id)


async def test_the_emulator_refuses_an_address_that_fails_the_handshake_with_sub_525(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    flt = presence_filter(rc_emulator)
    async with WebhookReceiver(token="t", path="/ok") as rx:
        wrong = rx.url.replace("/ok", "/nope")  # answers 404, echoes nothing
        with pytest.raises(GatewayError) as info:
            await rc_client.rest(
                "POST",
                "/restapi/v1.0/subscription",
                json={
                    "eventFilters": [flt],
                    "deliveryMode": {"transportType": "WebHook", "address": wrong},
                    "expiresIn": 600,
                },
            )
        assert info.value.error_code == "SUB-525"
        with pytest.raises(ConfigurationError, match="SUB-525"):
            async with listen(rc_client, [flt], address=wrong, path="/ok"):
                pass  # pragma: no cover - creation fails
    assert rc_emulator.subscriptions == ()


async def test_a_webhook_subscription_expires_at_its_expires_in(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    async with WebhookReceiver(token="t") as rx:
        resp = await rc_client.rest(
            "POST",
            "/restapi/v1.0/subscription",
            json={
                "eventFilters": [presence_filter(rc_emulator)],
                "deliveryMode": {
                    "transportType": "WebHook",
                    "address": rx.url,
                    "verificationToken": "t",
                },
                "expiresIn": 1,
            },
        )
        assert resp.body["expiresIn"] <= 1
        await rc_emulator.wait_until(lambda e: not e.subscriptions, timeout=STEP)
        assert rc_emulator.stats.subscriptions_expired == 1


async def test_delivery_helper_handshake_failures_are_sub_525() -> None:
    async with WebhookDeliverer(validation_timeout=STEP) as deliver:
        async with WebhookReceiver(token="t", path="/ok") as rx:
            target = await deliver.validate("s1", rx.url, "t")
            assert target.status == "Active"
            with pytest.raises(WebhookValidationError) as info:
                await deliver.validate("s2", rx.url.replace("/ok", "/nope"), "t")
            assert info.value.error_code == "SUB-525"
        with pytest.raises(WebhookValidationError):
            await deliver.validate("s3", rx.url, "t")  # nothing listens any more


async def test_transient_rest_failures_do_not_end_the_stream(
    rc_emulator: Emulator, rc_client: rcstream.Client, caplog: pytest.LogCaptureFixture
) -> None:
    ticker = Ticker()
    now = [0.0]
    async with listen(
        rc_client,
        [presence_filter(rc_emulator)],
        address=None,
        sleep=ticker.sleep,
        clock=lambda: now[0],
    ) as stream:
        await ticker.parked()
        rc_emulator.rate_limit_next("request", retry_after=0.01)
        await ticker.tick()  # the status check gets 429: logged, tried again later
        assert "retrying" in caplog.text
        updated = rc_emulator.stats.subscriptions_updated
        now[0] += 700
        await ticker.tick()  # the next step renews as usual
        assert rc_emulator.stats.subscriptions_updated == updated + 1
        sub_id = stream.subscription.id or ""
        event = envelope(rc_emulator, sub_id)
        sent = await rc_emulator.publish(event["event"], event["body"])
        async with asyncio.timeout(STEP):
            assert (await anext(stream)).uuid == sent


async def test_put_moves_a_subscription_to_a_new_address_after_validating_it(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    flt = presence_filter(rc_emulator)
    async with (
        WebhookReceiver(token="one", path="/a") as first,
        WebhookReceiver(token="two", path="/b") as second,
    ):
        created = await rc_client.rest(
            "POST",
            "/restapi/v1.0/subscription",
            json={
                "eventFilters": [flt],
                "deliveryMode": {
                    "transportType": "WebHook",
                    "address": first.url,
                    "verificationToken": "one",
                },
                "expiresIn": 600,
            },
        )
        path = f"/restapi/v1.0/subscription/{created.body['id']}"
        with pytest.raises(GatewayError) as info:  # a URL that fails the handshake
            await rc_client.rest("PUT", path, json={"deliveryMode": {"address": second.url + "/x"}})
        assert info.value.error_code == "SUB-525"
        moved = await rc_client.rest(
            "PUT",
            path,
            json={
                "deliveryMode": {"address": second.url, "verificationToken": "two"},
                "expiresIn": 300,
            },
        )
        assert moved.body["deliveryMode"]["address"] == second.url
        assert moved.body["expiresIn"] <= 300
        event = envelope(rc_emulator, created.body["id"])
        sent = await rc_emulator.publish(event["event"], event["body"])
        async with asyncio.timeout(STEP):
            assert (await anext(second)).uuid == sent
        assert first.stats.delivered == 0
        assert (first.stats.handshakes, second.stats.handshakes) == (1, 1)


async def test_the_emulator_renews_a_webhook_without_expires_in_for_the_default_lifetime(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    # RCEX Subscription/index.ts: a renew without expiresIn (POST .../renew, an empty PUT) gives the
    # platform's default lifetime (7 days observed), whatever was asked at creation
    async with WebhookReceiver(token="tok") as rx:
        created = await rc_client.rest(
            "POST",
            "/restapi/v1.0/subscription",
            json={
                "eventFilters": [presence_filter(rc_emulator)],
                "deliveryMode": {
                    "transportType": "WebHook",
                    "address": rx.url,
                    "verificationToken": "tok",
                },
                "expiresIn": 900,
            },
        )
        sub_id = created.body["id"]
        assert 0 < created.body["expiresIn"] <= 900
        path = f"/restapi/v1.0/subscription/{sub_id}"
        renewed = await rc_client.rest("POST", f"{path}/renew")
        assert renewed.body["expiresIn"] > 7 * 86400 - 60
        short = await rc_client.rest("PUT", path, json={"expiresIn": 900})
        assert 0 < short.body["expiresIn"] <= 900
        empty = await rc_client.rest("PUT", path, json={})
        assert empty.body["expiresIn"] > 7 * 86400 - 60
        await rc_client.rest("DELETE", path)


@pytest.mark.parametrize(
    ("content_type", "valid"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/plain", False),
        (None, False),
    ],
)
async def test_the_emulator_handshake_requires_a_json_content_type(
    content_type: str | None, valid: bool
) -> None:
    # DOCS creating-webhooks.md: the validation answer sends Content-Type: application/json
    # even with an empty body; a receiver that echoes the token without it gets SUB-525
    from aiohttp import web

    async def answer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            status=200, headers={"Validation-Token": request.headers["Validation-Token"]}
        )
        if content_type is not None:
            resp.headers["Content-Type"] = content_type
        resp.content_length = 0
        await resp.prepare(request)
        return resp

    app = web.Application()
    app.router.add_post("/", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with WebhookDeliverer(validation_timeout=STEP) as deliver:
            if valid:
                await deliver.handshake(f"http://127.0.0.1:{port}/")
            else:
                with pytest.raises(WebhookValidationError) as info:
                    await deliver.handshake(f"http://127.0.0.1:{port}/")
                assert info.value.error_code == "SUB-525"
    finally:
        await runner.cleanup()
