"""Every event family: emulator -> socket -> client -> typed model -> the wire JSON again."""

from __future__ import annotations

import copy
import random

import pytest
from client_helpers import client_for, take

from rcstream.emulator import Emulator, catalog
from rcstream.models import Notification, model_for_event


@pytest.mark.parametrize("family", catalog.FAMILIES)
async def test_family_round_trips_through_the_client(emu: Emulator, family: str) -> None:
    rng = random.Random(family)
    event, body = catalog.generate(
        family,
        account_id=emu.account_id,
        extension_id=emu.extension_id,
        rng=rng,
        filter_shaped=True,
    )
    body["someFutureField"] = {"nested": [1, None, "x"]}  # unknown fields must survive
    sent = copy.deepcopy(body)
    async with client_for(emu) as client, client.subscribe(catalog.filter_for(family)) as ev:
        uid = await emu.publish(event, body)
        (note,) = await take(ev, 1)
    assert isinstance(note, Notification)
    assert type(note) is model_for_event(event)
    assert type(note) is not Notification, f"{family} degraded to the generic model"
    assert note.validation_error is None
    wire = note.to_wire()
    assert wire["uuid"] == uid
    assert wire["event"] == event
    assert wire["body"] == sent
    assert note.model_dump(by_alias=True, exclude_unset=True) == wire


async def test_one_subscription_for_every_family_routes_each_to_its_model(emu: Emulator) -> None:
    filters = [catalog.filter_for(f) for f in catalog.FAMILIES]
    rng = random.Random(1)
    async with client_for(emu) as client, client.subscribe(filters) as ev:
        sent = {}
        for family in catalog.FAMILIES:
            event, body = catalog.generate(
                family,
                account_id=emu.account_id,
                extension_id=emu.extension_id,
                rng=rng,
                filter_shaped=True,
            )
            sent[await emu.publish(event, body)] = event
        got = await take(ev, len(sent))
    assert {n.uuid for n in got} == set(sent)
    for note in got:
        # with plain and detailed presence both subscribed, the platform sends the detailed
        # form ("detailed wins"), so route by the event path as delivered
        assert note.event.partition("?")[0] == sent[note.uuid].partition("?")[0]
        assert type(note) is model_for_event(note.event)
        assert note.validation_error is None
