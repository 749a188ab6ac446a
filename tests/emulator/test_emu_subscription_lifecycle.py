"""Subscriptions outlive their session, the per-user/app limit counts them, and tests can
delete, suspend or expire one under a live listener (issue 11 items 3 and 8).

Sources: WebSocket subscriptions live 24 h (live reply ``expiresIn: 86399``,
ringcentral-python #92) and RingCentral's own app deletes old ones "for reduce the total
number of subscriptions (ttl 24 hours, limited number 20)" (WIDGETS
``WebSocketSubscription.ts:160-161``); the limit (now 30) answers 403 ``SUB-505``
(DOCS ``errors.md``); a missing subscription answers 404 ``SUB-507`` (DOCS ``errors.md``).
"""

from __future__ import annotations

import asyncio

from emu_helpers import MakeRc, Rc, Ws

V1 = "/restapi/v1.0"
FILTER = f"{V1}/account/~/extension/~/presence"


def event_path(rc: Rc) -> str:
    return f"{V1}/account/{rc.emu.account_id}/extension/{rc.emu.extension_id}/presence"


async def subscribed(rc: Rc, access_token: str) -> tuple[Ws, str]:
    ws = await rc.connect(access_token=access_token)
    return ws, (await ws.subscribe(FILTER))[1]["id"]


async def orphan(rc: Rc, access_token: str) -> str:
    """Subscribe, drop the socket and let the session's recovery window pass."""
    ws, sub_id = await subscribed(rc, access_token)
    expired = rc.emu.stats.sessions_expired
    await ws.close()
    await rc.emu.wait_for_stat("sessions_expired", expired + 1)
    return sub_id


async def test_the_live_reply_says_24_hours(rc: Rc) -> None:
    ws = await rc.connect()
    body = (await ws.subscribe(FILTER))[1]
    assert body["expiresIn"] == 86399


async def test_a_subscription_outlives_its_session_and_rest_sees_it(make_rc: MakeRc) -> None:
    rc = await make_rc(recovery_timeout=0.05)
    token = (await rc.login())["access_token"]
    sub_id = await orphan(rc, token)
    assert rc.emu.sessions == ()
    listed = await rc.api("GET", f"{V1}/subscription", token)
    assert [r["id"] for r in listed.body["records"]] == [sub_id]
    await rc.emu.publish(event_path(rc), {"n": 1})  # goes nowhere
    assert rc.emu.stats.notifications_sent == rc.emu.stats.notifications_buffered == 0
    assert (await rc.api("DELETE", f"{V1}/subscription/{sub_id}", token)).status == 204
    gone = await rc.api("GET", f"{V1}/subscription/{sub_id}", token)
    assert (gone.status, gone.body["errorCode"]) == (404, "SUB-507")


async def test_the_limit_counts_orphans_and_answers_sub_505(make_rc: MakeRc) -> None:
    rc = await make_rc(recovery_timeout=0.05, subscription_limit=2)
    token = (await rc.login())["access_token"]
    first = await orphan(rc, token)
    await orphan(rc, token)
    ws = await rc.connect(access_token=token)
    refused = await ws.request(
        "POST",
        f"{V1}/subscription",
        {"eventFilters": [FILTER], "deliveryMode": {"transportType": "WebSocket"}},
    )
    assert refused[0]["status"] == 403
    assert refused[1] == {
        "errorCode": "SUB-505",
        "message": "Subscriptions limit exceeded",
        "errors": [{"errorCode": "SUB-505", "message": "Subscriptions limit exceeded"}],
    }
    assert (await rc.api("DELETE", f"{V1}/subscription/{first}", token)).status == 204
    await ws.subscribe(FILTER)  # room again


async def test_another_user_of_the_app_has_its_own_limit(make_rc: MakeRc) -> None:
    rc = await make_rc(recovery_timeout=0.05, subscription_limit=1)
    await orphan(rc, (await rc.login())["access_token"])
    other = await rc.login(rc.emu.jwt_for(rc.emu.extension_ids[1]))
    ws = await rc.connect(access_token=other["access_token"])
    await ws.subscribe(FILTER)


async def test_subscriptions_expire_after_subscription_ttl_once_orphaned(
    make_rc: MakeRc,
) -> None:
    # WebSocket subscriptions "are renewed automatically while websocket session is
    # alive" (RCEX's WebSocket extension docs): the TTL runs only once the session ended
    rc = await make_rc(subscription_ttl=0.2, recovery_timeout=0.05)
    token = (await rc.login())["access_token"]
    ws, sub_id = await subscribed(rc, token)
    await asyncio.sleep(0.5)  # an absence to show: more than two TTLs with the socket open
    frame = await ws.request("GET", f"{V1}/subscription/{sub_id}")
    assert frame[0]["status"] == 200 and rc.emu.stats.subscriptions_expired == 0
    expired = rc.emu.stats.sessions_expired
    await ws.close()
    await rc.emu.wait_for_stat("sessions_expired", expired + 1)
    await rc.emu.wait_for_stat("subscriptions_expired")
    gone = await rc.api("GET", f"{V1}/subscription/{sub_id}", token)
    assert (gone.status, gone.body["errorCode"]) == (404, "SUB-507")


async def test_delete_subscription_under_a_live_listener(rc: Rc) -> None:
    token = (await rc.login())["access_token"]
    ws, sub_id = await subscribed(rc, token)
    assert await rc.emu.delete_subscription(sub_id) is True
    assert await rc.emu.delete_subscription(sub_id) is False
    await rc.emu.publish(event_path(rc), {"n": 1})
    frame = await ws.request("GET", f"{V1}/subscription/{sub_id}")
    assert (frame[0]["status"], frame[1]["errorCode"]) == (404, "SUB-507")
    assert rc.emu.stats.notifications_sent == 0
    # the listener notices and subscribes again on the same socket
    await ws.subscribe(FILTER)
    await rc.emu.publish(event_path(rc), {"n": 2})
    assert (await ws.notification())["body"] == {"n": 2}


async def test_a_suspended_subscription_shows_its_status_and_delivers_nothing(rc: Rc) -> None:
    ws, sub_id = await subscribed(rc, (await rc.login())["access_token"])
    rc.emu.set_subscription_status(sub_id, "Suspended")
    frame = await ws.request("GET", f"{V1}/subscription/{sub_id}")
    assert (frame[0]["status"], frame[1]["status"]) == (200, "Suspended")
    assert rc.emu.subscriptions[0].status == "Suspended"
    await rc.emu.publish(event_path(rc), {"n": 1})
    assert rc.emu.stats.notifications_withheld == 1
    rc.emu.set_subscription_status(sub_id, "Active")
    await rc.emu.publish(event_path(rc), {"n": 2})
    assert (await ws.notification())["body"] == {"n": 2}


async def test_expire_subscription_now(rc: Rc) -> None:
    ws, sub_id = await subscribed(rc, (await rc.login())["access_token"])
    assert await rc.emu.expire_subscription(sub_id) is True
    frame = await ws.request("GET", f"{V1}/subscription/{sub_id}")
    assert (frame[0]["status"], frame[1]["errorCode"]) == (404, "SUB-507")
    assert rc.emu.stats.subscriptions_expired == 1
