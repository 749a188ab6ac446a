"""Event paths as the platform writes them (issue 11 item 1).

Account-level presence and telephony-session filters deliver extension-scoped ``event``
paths (DOCS ``code-samples/events/account-presence.json:3``,
``account-telephony-sessions.json:10``). ``line/presence`` and ``favorite/presence`` carry
the watched extension's own path by default (an assumption: no source shows it) or the
filter's path with ``presence_event_path="filter"``.
"""

from __future__ import annotations

import pytest
from emu_helpers import MakeRc, Rc

from rcstream.emulator import catalog

V1 = "/restapi/v1.0"


async def test_account_presence_delivers_each_extensions_own_path(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.subscribe(f"{V1}/account/~/presence")
    acc = rc.emu.account_id
    for ext in rc.emu.extension_ids[:3]:
        await rc.emu.publish(f"{V1}/account/{acc}/extension/{ext}/presence", {"ext": ext})
    got = [await ws.notification() for _ in range(3)]
    assert [g["event"] for g in got] == [
        f"{V1}/account/{acc}/extension/{ext}/presence" for ext in rc.emu.extension_ids[:3]
    ]
    assert all(g["ownerId"] == rc.emu.extension_id for g in got)


async def test_account_telephony_keeps_the_filter_query_and_ignores_other_families(
    rc: Rc,
) -> None:
    ws = await rc.connect()
    await ws.subscribe(f"{V1}/account/~/telephony/sessions?direction=Inbound")
    acc, ext = rc.emu.account_id, rc.emu.extension_ids[2]
    await rc.emu.publish(f"{V1}/account/{acc}/extension/{ext}/presence", {"n": 0})
    await rc.emu.publish(f"{V1}/account/{acc}/extension/{ext}/telephony/sessions", {"n": 1})
    got = await ws.notification()
    assert got["body"] == {"n": 1}
    assert (
        got["event"] == f"{V1}/account/{acc}/extension/{ext}/telephony/sessions?direction=Inbound"
    )


@pytest.mark.parametrize("family", ["account-presence", "account-telephony-sessions"])
async def test_generated_account_level_events_carry_extension_paths(rc: Rc, family: str) -> None:
    ws = await rc.connect()
    await ws.subscribe(catalog.filter_for(family))
    ext = rc.emu.extension_ids[3]
    await rc.emu.publish_generated(family, extension_id=ext)
    got = await ws.notification()
    assert got["event"].startswith(f"{V1}/account/{rc.emu.account_id}/extension/{ext}/")
    if family == "account-presence":
        assert got["body"]["extensionId"] == ext


@pytest.mark.parametrize("tail", ["presence/line/presence", "favorite/presence"])
async def test_watched_presence_uses_the_watched_extensions_path_by_default(
    rc: Rc, tail: str
) -> None:
    ws = await rc.connect()
    await ws.subscribe(f"{V1}/account/~/extension/~/{tail}")
    acc, me, other = rc.emu.account_id, rc.emu.extension_id, rc.emu.extension_ids[1]
    await rc.emu.publish(f"{V1}/account/{acc}/extension/{me}/presence", {"who": "me"})
    await rc.emu.publish(f"{V1}/account/{acc}/extension/{other}/presence", {"who": "other"})
    got = await ws.notification()
    assert got["body"] == {"who": "other"}  # one's own presence is not a watched line
    assert got["event"] == f"{V1}/account/{acc}/extension/{other}/presence"


@pytest.mark.parametrize("tail", ["presence/line/presence", "favorite/presence"])
async def test_watched_presence_filter_shape_option(make_rc: MakeRc, tail: str) -> None:
    rc = await make_rc(presence_event_path="filter")
    ws = await rc.connect()
    await ws.subscribe(f"{V1}/account/~/extension/~/{tail}")
    acc, me, other = rc.emu.account_id, rc.emu.extension_id, rc.emu.extension_ids[1]
    await rc.emu.publish(f"{V1}/account/{acc}/extension/{other}/presence", {"who": "other"})
    got = await ws.notification()
    assert got["event"] == f"{V1}/account/{acc}/extension/{me}/{tail}"
    family = "line-presence" if tail.startswith("presence") else "favorite-presence"
    await rc.emu.publish_generated(family)
    got = await ws.notification()
    assert got["event"] == f"{V1}/account/{acc}/extension/{me}/{tail}"
    assert got["body"]["extensionId"] != me


async def test_generated_watched_presence_reports_another_extension(rc: Rc) -> None:
    ws = await rc.connect()
    await ws.subscribe(catalog.filter_for("line-presence"))
    await rc.emu.publish_generated("line-presence")
    got = await ws.notification()
    watched = got["body"]["extensionId"]
    assert watched in rc.emu.extension_ids and watched != rc.emu.extension_id
    assert got["event"] == f"{V1}/account/{rc.emu.account_id}/extension/{watched}/presence"


def test_catalog_paths_for_every_account_level_family() -> None:
    import random

    for family in catalog.FAMILIES:
        event, _ = catalog.generate(
            family, account_id="11", extension_id="22", rng=random.Random(1), watched_id="33"
        )
        if family in catalog.ACCOUNT_LEVEL_EXTENSION_EVENTS:
            assert event.startswith(f"{V1}/account/11/extension/22/"), family
        elif family in catalog.WATCHING_FAMILIES:
            assert event == f"{V1}/account/11/extension/33/presence", family
        else:
            assert "~" not in event, family
