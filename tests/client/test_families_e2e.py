"""Every event family: emulator -> socket -> client -> typed model -> the wire JSON again.

The events carry the paths the platform sends (the catalog's defaults): account-level
presence and telephony filters get the extension's own path
(``/account/{acc}/extension/{ext}/presence``, the developer guide's
``code-samples/events/account-presence.json``), never the filter's. For line and favorite
presence no source shows the path: the default reading (the watched extension's own
presence path) runs with every family, and the other one (the filter's path,
``presence_event_path="filter"``) has its own test below.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from client_helpers import client_for, take

from rcstream.emulator import Emulator, catalog
from rcstream.models import Notification, model_for_event


def real_event(emu: Emulator, family: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One event of ``family`` as the platform sends it to the emulator's first user:
    account-level families and the watching ones (line, favorite presence) report on
    another extension of the account."""
    other = emu.extension_ids[1]
    about = other if family in catalog.ACCOUNT_LEVEL_EXTENSION_EVENTS else emu.extension_id
    return catalog.generate(
        family, account_id=emu.account_id, extension_id=about, rng=rng, watched_id=other
    )


async def _round_trip(emu: Emulator, family: str, event: str, body: dict[str, Any]) -> str:
    """Publish ``event`` to a client subscribed with the family's filter; check the model
    and the wire JSON it gives back; return the ``event`` field as delivered."""
    body["someFutureField"] = {"nested": [1, None, "x"]}  # unknown fields must survive
    sent = copy.deepcopy(body)
    async with client_for(emu) as client, client.subscribe(catalog.filter_for(family)) as ev:
        uid = await emu.publish(event, body)
        (note,) = await take(ev, 1)
    assert isinstance(note, Notification)
    assert type(note) is model_for_event(note.event)
    assert type(note) is not Notification, f"{family} degraded to the generic model"
    assert note.validation_error is None
    wire = note.to_wire()
    assert wire["uuid"] == uid
    assert wire["body"] == sent
    # the models carry the documented fields (issue 13); unknown ones live in to_wire()
    dumped = note.model_dump(by_alias=True, exclude_unset=True)
    assert "someFutureField" not in dumped["body"]
    dumped["body"]["someFutureField"] = sent["someFutureField"]
    assert dumped == wire
    return str(wire["event"])


@pytest.mark.parametrize("family", catalog.FAMILIES)
async def test_family_round_trips_through_the_client(emu: Emulator, family: str) -> None:
    event, body = real_event(emu, family, random.Random(family))
    assert await _round_trip(emu, family, event, body) == event


@pytest.mark.parametrize("family", catalog.WATCHING_FAMILIES)
async def test_watching_family_round_trips_under_the_filter_path_reading(family: str) -> None:
    # the other reading of line/favorite presence (an assumption either way): the platform
    # writes the subscriber's filter path in ``event``, not the watched extension's
    async with Emulator(auth_rate_limit=None, seed=7, presence_event_path="filter") as emu:
        event, body = real_event(emu, family, random.Random(family))
        delivered = await _round_trip(emu, family, event, body)
        expected, _ = catalog.generate(
            family,
            account_id=emu.account_id,
            extension_id=emu.extension_id,
            rng=random.Random(family),
            presence_event_path="filter",
        )
        assert delivered == expected != event


async def test_one_subscription_for_every_family_routes_each_to_its_model(emu: Emulator) -> None:
    filters = [catalog.filter_for(f) for f in catalog.FAMILIES]
    rng = random.Random(1)
    async with client_for(emu) as client, client.subscribe(filters) as ev:
        sent = {}
        for family in catalog.FAMILIES:
            event, body = real_event(emu, family, rng)
            sent[await emu.publish(event, body)] = event
        got = await take(ev, len(sent))
    assert {n.uuid for n in got} == set(sent)
    for note in got:
        # with plain and detailed presence both subscribed, the platform sends the detailed
        # form ("detailed wins"), so route by the event path as delivered
        assert note.event.partition("?")[0] == sent[note.uuid].partition("?")[0]
        assert type(note) is model_for_event(note.event)
        assert note.validation_error is None
