"""Coherent synthetic traffic (issue 12 item 4): ``event_rate`` events per second for what
is subscribed, telephony in whole call lifecycles, times of now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from emu_helpers import MakeRc

V1 = "/restapi/v1.0"
FLOW = ["Setup", "Proceeding", "Answered", "Disconnected"]


async def test_telephony_follows_call_lifecycles_with_current_times(make_rc: MakeRc) -> None:
    rc = await make_rc(event_rate=300, seed=11)
    ws = await rc.connect()
    started = datetime.now(UTC)
    await ws.subscribe(f"{V1}/account/~/extension/~/telephony/sessions")
    bodies = [(await ws.notification())["body"] for _ in range(8)]
    # every event is for what was subscribed: two whole calls, in order
    first, second = bodies[:4], bodies[4:]
    for call in (first, second):
        assert len({b["telephonySessionId"] for b in call}) == 1
        assert [b["sequence"] for b in call] == [1, 2, 3, 4]
        assert [b["parties"][-1]["status"]["code"] for b in call] == FLOW
    assert first[0]["telephonySessionId"] != second[0]["telephonySessionId"]
    for body in bodies:
        when = datetime.fromisoformat(body["eventTime"].replace("Z", "+00:00"))
        assert started - timedelta(seconds=1) <= when <= datetime.now(UTC) + timedelta(seconds=1)


async def test_only_subscribed_families_are_published(make_rc: MakeRc) -> None:
    rc = await make_rc(event_rate=500)
    ws = await rc.connect()
    await ws.subscribe(f"{V1}/account/~/extension/~/presence")
    await ws.notification()  # traffic starts with the subscription
    await ws.request("DELETE", f"{V1}/subscription/{rc.emu.subscriptions[0].id}")
    await ws.subscribe("/team-messaging/v1/posts")
    while (got := await ws.notification())["event"] != "/team-messaging/v1/posts":
        assert got["event"].endswith("/presence")  # sent before the DELETE
    # every published event found its subscriber: none was made for a family nobody wants,
    # not even while nothing was subscribed
    await rc.emu.wait_until(
        lambda e: e.stats.notifications_sent == e.stats.notifications_published > 2
    )


async def test_filters_naming_other_extensions_get_those_extensions_events(
    make_rc: MakeRc,
) -> None:
    """Issue 12 item 4: ``--all-extensions presence`` subscribes to each extension's presence
    by id; the synthetic traffic then comes from those extensions, not only the caller's."""
    rc = await make_rc(event_rate=300, seed=4, extensions=4)
    ws = await rc.connect()
    ids = rc.emu.extension_ids
    await ws.subscribe(*(f"{V1}/account/~/extension/{i}/presence" for i in ids))
    wanted = {f"{V1}/account/{rc.emu.account_id}/extension/{i}/presence" for i in ids}
    seen: set[str] = set()
    for _ in range(200):  # 4 equally likely extensions: all seen long before 200 events
        event = (await ws.notification())["event"]
        assert event in wanted
        seen.add(event)
        if seen == wanted:
            break
    assert seen == wanted
