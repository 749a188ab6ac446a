"""Emulator: notification shape, filter matching (``~`` expansion, query strings), catalog."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest
from emu_helpers import Rc

from rcstream.emulator import catalog

MakeRc = Callable[..., Awaitable[Rc]]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def presence(rc: Rc, ext: str | None = None) -> str:
    ext = ext or rc.emu.extension_id
    return f"/restapi/v1.0/account/{rc.emu.account_id}/extension/{ext}/presence"


async def test_notification_frame_shape(rc: Rc) -> None:
    ws = await rc.connect()
    sub_id = (await ws.subscribe("/restapi/v1.0/account/~/extension/~/presence"))[1]["id"]
    uid = await rc.emu.publish(presence(rc), {"telephonyStatus": "Ringing"})
    header, event = await ws.recv()
    assert header["type"] == "ServerNotification"
    assert header["messageId"] == uid
    assert header["status"] == 200
    assert header["headers"]["RCRequestId"]
    assert "wsc" not in header
    assert set(event) == {"uuid", "event", "timestamp", "subscriptionId", "ownerId", "body"}
    assert event["uuid"] == uid
    assert event["event"] == presence(rc)
    assert ISO_Z.match(event["timestamp"])
    assert event["subscriptionId"] == sub_id
    assert event["ownerId"] == rc.emu.extension_id
    assert event["body"] == {"telephonyStatus": "Ringing"}


async def test_uuid_override(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.subscribe("/restapi/v1.0/account/~/extension/~/presence")
    assert await rc.emu.publish(presence(rc), {}, uuid="fixed-1") == "fixed-1"
    assert (await ws.notification())["uuid"] == "fixed-1"


async def test_only_matching_sessions_receive(rc: Rc) -> None:
    me, other = rc.emu.extension_ids[:2]
    mine = await rc.connect()
    await mine.subscribe("/restapi/v1.0/account/~/extension/~/presence")
    tokens = await rc.login(rc.emu.jwt_for(other))
    theirs = await rc.connect(access_token=tokens["access_token"])
    await theirs.subscribe("/restapi/v1.0/account/~/extension/~/presence")
    bystander = await rc.connect()
    await bystander.subscribe("/restapi/v1.0/account/~/extension/~/voicemail")

    await rc.emu.publish(presence(rc, other), {"for": "other"})
    await rc.emu.publish(presence(rc, me), {"for": "me"})
    assert (await theirs.notification())["body"] == {"for": "other"}
    event = await mine.notification()
    assert event["body"] == {"for": "me"}
    assert event["ownerId"] == me
    assert rc.emu.stats.notifications_sent == 2
    # The bystander got nothing: its next frame is the reply to a heartbeat.
    await bystander.send([{"type": "Heartbeat", "messageId": "hb"}])
    assert (await bystander.recv())[0]["type"] == "Heartbeat"


async def test_numeric_ids_in_filters_match_too(rc: Rc) -> None:
    ws = await rc.connect()
    other = rc.emu.extension_ids[3]
    await ws.subscribe(f"/restapi/v1.0/account/{rc.emu.account_id}/extension/{other}/presence")
    await rc.emu.publish(presence(rc, other), {"x": 1})
    assert (await ws.notification())["event"] == presence(rc, other)


async def test_query_strings_compare_as_parameter_sets(rc: Rc) -> None:
    base = f"/restapi/v1.0/account/{rc.emu.account_id}/extension/{rc.emu.extension_id}"
    sms = await rc.connect()
    await sms.subscribe("/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS")
    everything = await rc.connect()
    await everything.subscribe("/restapi/v1.0/account/~/extension/~/message-store/instant")
    fax = await rc.connect()
    await fax.subscribe("/restapi/v1.0/account/~/extension/~/fax?direction=Inbound&x=1")

    await rc.emu.publish(f"{base}/message-store/instant?type=Fax", {"n": 1})
    await rc.emu.publish(f"{base}/message-store/instant?type=SMS", {"n": 2})
    await rc.emu.publish(f"{base}/fax?x=1&direction=Inbound", {"n": 3})

    got = await sms.notification()
    assert got["body"] == {"n": 2}
    assert got["event"] == f"{base}/message-store/instant?type=SMS"
    first, second = await everything.notification(), await everything.notification()
    assert [first["body"], second["body"]] == [{"n": 1}, {"n": 2}]
    assert first["event"] == f"{base}/message-store/instant"  # the filter had no query
    got = await fax.notification()
    assert got["body"] == {"n": 3}
    assert got["event"] == f"{base}/fax?direction=Inbound&x=1"  # the filter's query string


async def test_filter_options_the_event_does_not_name_do_not_restrict(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.subscribe("/restapi/v1.0/account/~/extension/~/presence?detailedTelephonyState=true")
    await rc.emu.publish(presence(rc), {"plain": True})
    event = await ws.notification()
    assert event["event"] == presence(rc) + "?detailedTelephonyState=true"


async def test_account_level_and_team_messaging_filters(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.subscribe("/restapi/v1.0/account/~/telephony/sessions", "/team-messaging/v1/posts")
    acc = rc.emu.account_id
    await rc.emu.publish(f"/restapi/v1.0/account/{acc}/extension/1/presence", {"n": 0})
    await rc.emu.publish(f"/restapi/v1.0/account/{acc}/extension/1/telephony/sessions", {"n": 1})
    await rc.emu.publish("/team-messaging/v1/posts", {"n": 2})
    first = await ws.notification()
    assert (first["body"], first["event"]) == (
        {"n": 1},
        f"/restapi/v1.0/account/{acc}/extension/1/telephony/sessions",
    )
    assert (await ws.notification())["body"] == {"n": 2}


async def test_detached_sessions_without_subscription_get_nothing(rc: Rc) -> None:
    await rc.connect()
    await rc.emu.publish(presence(rc), {})
    assert rc.emu.stats.notifications_sent == 0
    assert rc.emu.stats.notifications_buffered == 0
    assert rc.emu.stats.notifications_published == 1


async def test_publish_refuses_tilde(rc: Rc) -> None:
    with pytest.raises(ValueError, match="concrete"):
        await rc.emu.publish("/restapi/v1.0/account/~/extension/~/presence", {})


@pytest.mark.parametrize("family", catalog.FAMILIES)
async def test_publish_generated_reaches_the_catalog_filter(rc: Rc, family: str) -> None:
    ws = await rc.connect()
    await ws.subscribe(catalog.filter_for(family))
    uid = await rc.emu.publish_generated(family)
    event = await ws.notification()
    assert event["uuid"] == uid
    assert isinstance(event["body"], dict)


async def test_publish_generated_random_family_for_another_extension(rc: Rc) -> None:
    other = rc.emu.extension_ids[1]
    uid = await rc.emu.publish_generated(extension_id=other)
    assert uid
    assert rc.emu.stats.notifications_published == 1


async def test_event_rate_generator(make_rc: MakeRc) -> None:
    rc = await make_rc(event_rate=200, seed=7)
    ws = await rc.connect()
    await ws.subscribe(*{catalog.filter_for(f) for f in catalog.FAMILIES})
    await ws.notification()
    await rc.emu.wait_for_stat("notifications_published", 5)


async def test_seeded_emulators_share_credentials(make_rc: MakeRc) -> None:
    a = await make_rc(seed=42)
    b = await make_rc(seed=42)
    assert (a.emu.client_id, a.emu.client_secret, a.emu.jwt, a.emu.account_id) == (
        b.emu.client_id,
        b.emu.client_secret,
        b.emu.jwt,
        b.emu.account_id,
    )
    assert a.emu.extension_ids == b.emu.extension_ids
    assert set(a.emu.env()) == {
        "RINGCENTRAL_SERVER_URL",
        "RINGCENTRAL_CLIENT_ID",
        "RINGCENTRAL_CLIENT_SECRET",
        "RINGCENTRAL_JWT",
    }
