"""WebHook subscriptions against the real emulator's REST API, delivered by the emulator's
WebHook delivery helper (``rcstream.emulator.webhooks``) over real HTTP.

The emulator's subscription code does not call the delivery helper yet (that is wired in
when the emulator split lands), so these tests hand the subscription's address and token
to the helper themselves: every request still goes over 127.0.0.1 sockets.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

import rcstream
from rcstream.emulator import Emulator
from rcstream.emulator.server import Emulator as _EmulatorImpl
from rcstream.emulator.webhooks import WebhookDeliverer, WebhookValidationError
from rcstream.models import Notification
from rcstream.models.lifecycle import Gap
from rcstream.webhooks import WebhookReceiver, listen

STEP = 5.0
PUBLIC = "https://hooks.example.com/rc"


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
        address=PUBLIC,
        expires_in=900,
        check_interval=60,
        sleep=ticker.sleep,
        clock=lambda: now[0],
    ) as stream:
        sub = stream.subscription
        (record,) = rc_emulator.subscriptions
        assert record.id == sub.id
        assert record.transport == "WebHook"
        assert record.address == PUBLIC
        assert sub.verification_token.get() not in repr(sub)
        await ticker.parked()
        assert ticker.calls == [60]
        updated = rc_emulator.stats.subscriptions_updated
        await ticker.tick()  # a status check, no renewal yet
        assert rc_emulator.stats.subscriptions_updated == updated
        now[0] += 650  # two thirds of the lifetime gone: renew
        await ticker.tick()
        assert rc_emulator.stats.subscriptions_updated == updated + 1
        await sub.update_filters([flt, flt + "?detailedTelephonyState=true"])
        (record,) = rc_emulator.subscriptions
        assert len(record.event_filters) == 2

        async with WebhookDeliverer() as deliver:
            # the platform's handshake, then notifications with the verification token
            await deliver.validate(sub.id or "", stream.receiver.url, sub.verification_token.get())
            sent = envelope(rc_emulator, sub.id or "")
            assert await deliver.deliver(sub.id or "", sent)
            assert await deliver.deliver(sub.id or "", sent)  # duplicate, 200, dropped
        async with asyncio.timeout(STEP):
            item = await anext(stream)
        assert isinstance(item, Notification)
        assert item.uuid == sent["uuid"]
        assert stream.receiver.stats.duplicates == 1
    assert rc_emulator.subscriptions == ()


async def test_a_vanished_subscription_is_recreated_with_a_gap(
    rc_emulator: Emulator, rc_client: rcstream.Client
) -> None:
    ticker = Ticker()
    async with listen(
        rc_client,
        [presence_filter(rc_emulator)],
        address=PUBLIC,
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
        # the receiver now wants the new token, and refuses the old one
        new_token = stream.subscription.verification_token.get()
        assert new_token != old_token
        async with WebhookDeliverer() as deliver:
            deliver.register("old", stream.receiver.url, old_token)
            deliver.register("new", stream.receiver.url, new_token)
            assert not await deliver.deliver("old", envelope(rc_emulator, "old"))
            assert await deliver.deliver("new", envelope(rc_emulator, new_id or ""))
        assert stream.receiver.stats.rejected == 1


async def test_a_blacklisted_subscription_is_recreated_and_the_gap_says_why(
    rc_emulator: Emulator, rc_client: rcstream.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fault injection: the emulator reports the status our delivery helper decided. Its
    # own subscription code will do this once it delivers WebHooks itself.
    async with WebhookDeliverer(blacklist_after=2) as deliver:
        original = _EmulatorImpl._subscription_body

        def with_status(self: _EmulatorImpl, sub: Any) -> dict[str, Any]:
            body = original(self, sub)
            target = deliver.targets.get(sub.id)
            if target is not None and target.blacklisted_data is not None:
                body["status"] = target.status
                body["blacklistedData"] = target.blacklisted_data
            return body

        monkeypatch.setattr(_EmulatorImpl, "_subscription_body", with_status)
        ticker = Ticker()
        async with listen(
            rc_client,
            [presence_filter(rc_emulator)],
            address=PUBLIC,
            lifecycle=True,
            sleep=ticker.sleep,
        ) as stream:
            sub_id = stream.subscription.id or ""
            await ticker.parked()
            # the platform posts to a URL that answers 404 (a wrong path): blacklisted
            deliver.register(sub_id, stream.receiver.url + "wrong", "x")
            for _ in range(2):
                assert not await deliver.deliver(sub_id, envelope(rc_emulator, sub_id))
            assert deliver.targets[sub_id].status == "Blacklisted"
            await ticker.tick()
            async with asyncio.timeout(STEP):
                gap = await anext(stream)
            assert isinstance(gap, Gap)
            assert "blacklisted" in gap.message
            assert "Webhook responses with code: [404]" in gap.message
            assert stream.subscription.id != sub_id
            assert [s.id for s in rc_emulator.subscriptions] == [stream.subscription.id]


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
        address=PUBLIC,
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
        async with WebhookDeliverer() as deliver:
            sub_id = stream.subscription.id or ""
            deliver.register(
                sub_id, stream.receiver.url, stream.subscription.verification_token.get()
            )
            sent = envelope(rc_emulator, sub_id)
            assert await deliver.deliver(sub_id, sent)
        async with asyncio.timeout(STEP):
            assert (await anext(stream)).uuid == sent["uuid"]
