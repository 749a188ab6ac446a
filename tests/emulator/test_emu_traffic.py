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
