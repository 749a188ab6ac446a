"""Parsing notifications into typed models: every family, round trip, degradation."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import rcstream.models
from rcstream.emulator import catalog
from rcstream.exceptions import FrameDecodeError
from rcstream.models import (
    NOTIFICATION_MODELS,
    A2PBatchNotification,
    CallStatusCode,
    ChatNotification,
    DetailedPresenceNotification,
    Direction,
    InstantMessageNotification,
    MessageStoreNotification,
    Notification,
    PostNotification,
    TelephonySessionsBody,
    TelephonySessionsNotification,
    WireModel,
    parse_notification,
    parse_notification_json,
)

ACCOUNT = "809646016"
EXTENSION = "809646017"


def envelope(event: str, body: Any, **extra: Any) -> dict[str, Any]:
    return {
        "uuid": "1823485288313900000",
        "event": event,
        "timestamp": "2024-02-22T17:01:00.123Z",
        "subscriptionId": "5b7a1c9e-0000-4000-8000-0000000005b1",
        "ownerId": EXTENSION,
        "body": body,
        **extra,
    }


def generated(family: str, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(f"{family}-{seed}")
    path, body = catalog.generate(
        family, account_id=ACCOUNT, extension_id=EXTENSION, rng=rng, filter_shaped=True
    )
    return envelope(path, body)


def test_every_catalog_family_has_a_model() -> None:
    assert set(NOTIFICATION_MODELS) == set(catalog.FAMILIES)
    for family, cls in NOTIFICATION_MODELS.items():
        assert cls.family == family
        assert cls.__doc__, cls


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_catalog_bodies_parse_into_their_family_and_round_trip(family: str) -> None:
    for seed in range(15):
        data = generated(family, seed)
        original = copy.deepcopy(data)
        n = parse_notification(data)
        assert type(n) is NOTIFICATION_MODELS[family]
        assert n.validation_error is None
        assert n.to_wire() == original
        assert data == original  # the input is not mutated
        assert n.model_dump(by_alias=True, exclude_unset=True) == original
        assert n.uuid == original["uuid"] and n.event == original["event"]
        assert n.subscription_id == original["subscriptionId"]
        assert n.owner_id == EXTENSION
        # The JSON path gives the same result.
        from_json = parse_notification_json(json.dumps(original))
        assert type(from_json) is type(n)
        assert from_json.to_wire() == original
        from_bytes = parse_notification_json(json.dumps(original).encode())
        assert from_bytes.to_wire() == original


def test_telephony_fields_are_typed() -> None:
    events = catalog.telephony_call(
        account_id=ACCOUNT, extension_id=EXTENSION, rng=random.Random(1)
    )
    codes = []
    for path, body in events:
        n = parse_notification(envelope(path, body))
        assert isinstance(n, TelephonySessionsNotification)
        party = n.body.parties[0] if n.body.parties else None
        assert party is not None and party.status is not None
        codes.append(party.status.code)
        assert party.direction is Direction.INBOUND
        assert party.to is not None and party.to.extension_id == EXTENSION
        assert party.from_ is not None and party.from_.phone_number
        assert n.body.sequence is not None
        assert n.body.origin is not None and n.body.origin.type == "Call"
    assert codes == [
        CallStatusCode.SETUP,
        CallStatusCode.PROCEEDING,
        CallStatusCode.ANSWERED,
        CallStatusCode.DISCONNECTED,
    ]
    assert all(isinstance(code, CallStatusCode) for code in codes)


def test_documented_samples_parse() -> None:
    # Shapes of the developer guide's notification samples (ids invented).
    store = envelope(
        "/restapi/v1.0/account/233676004/extension/233676004/message-store",
        {
            "accountId": 233676004,
            "extensionId": 233676004,
            "lastUpdated": "2023-04-18T20:25:15.775Z",
            "changes": [
                {"type": "Pager", "newCount": 2, "updatedCount": 0, "newMessageIds": [1, 2]}
            ],
        },
    )
    n = parse_notification(store)
    assert isinstance(n, MessageStoreNotification)
    assert n.body.account_id == 233676004  # numbers stay numbers
    assert n.body.changes is not None and n.body.changes[0].new_message_ids == [1, 2]
    assert n.to_wire() == store

    store["body"]["accountId"] = "233676004"  # and strings stay strings
    n = parse_notification(store)
    assert n.body.account_id == "233676004"  # type: ignore[attr-defined]

    post = envelope(
        "/team-messaging/v1/posts",
        {"id": "26848769679364", "eventType": "PostRemoved", "text": None, "mentions": None},
    )
    n = parse_notification(post)
    assert isinstance(n, PostNotification)
    assert n.body.event_type == "PostRemoved" and n.body.text is None
    assert n.to_wire() == post  # the nulls that were sent are kept

    chat = envelope(
        "/team-messaging/v1/chats",
        {"id": "1", "members": ["62534323", {"id": "2"}], "isPublic": None, "type": "Group"},
    )
    n = parse_notification(chat)
    assert isinstance(n, ChatNotification)
    assert n.to_wire() == chat


def test_unknown_fields_survive_at_every_level() -> None:
    data = generated("telephony-sessions")
    data["newTopLevel"] = {"a": [1, None]}
    data["body"]["newBodyField"] = 5
    party = data["body"]["parties"][0]
    party["newPartyField"] = [{"x": "y"}]
    party["status"]["newStatusField"] = None
    party["to"]["newToField"] = True
    party["sipData"]["newSip"] = "v"
    original = copy.deepcopy(data)
    n = parse_notification(data)
    assert isinstance(n, TelephonySessionsNotification)
    assert n.validation_error is None
    assert n.to_wire() == original
    # the models do not carry unknown fields (issue 13: extra="allow" on every nested
    # model cost time on every event); the wire form is where they live
    assert n.model_extra is None and n.body.model_extra is None
    wire = n.to_wire()
    wire["body"]["parties"][0]["newPartyField"].append("changed")
    assert n.to_wire() == original  # a fresh dict each time


def test_unknown_enum_values_are_kept_as_strings() -> None:
    data = generated("telephony-sessions")
    data["body"]["parties"][0]["status"]["code"] = "Teleporting"
    data["body"]["parties"][0]["direction"] = "Sideways"
    n = parse_notification(data)
    assert isinstance(n, TelephonySessionsNotification)
    assert n.body.parties is not None
    status = n.body.parties[0].status
    assert status is not None
    assert status.code == "Teleporting" and not isinstance(status.code, CallStatusCode)
    assert n.body.parties[0].direction == "Sideways"
    assert n.to_wire() == data


def test_enum_members_compare_equal_to_their_wire_strings() -> None:
    n = parse_notification(generated("detailed-presence"))
    assert isinstance(n, DetailedPresenceNotification)
    assert n.body.telephony_status in {"NoCall", "CallConnected", "Ringing", "OnHold", "ParkedCall"}
    assert json.loads(n.model_dump_json(by_alias=True, exclude_unset=True)) == n.to_wire()


def test_bad_body_degrades_to_generic_notification_with_reason() -> None:
    data = generated("telephony-sessions")
    data["body"]["sequence"] = "three"
    n = parse_notification(copy.deepcopy(data))
    assert type(n) is Notification
    assert n.body == data["body"]
    assert n.validation_error is not None and "sequence" in n.validation_error
    assert n.to_wire() == data
    # Same from JSON.
    from_json = parse_notification_json(json.dumps(data))
    assert type(from_json) is Notification and from_json.validation_error
    assert from_json.to_wire() == data


def test_lax_conversions_are_refused_so_the_round_trip_holds() -> None:
    data = generated("telephony-sessions")
    data["body"]["parties"][0]["missedCall"] = "false"  # would silently become False
    n = parse_notification(data)
    assert type(n) is Notification
    assert n.to_wire() == data


@pytest.mark.parametrize("body", [None, [1, 2], "text", 5])
def test_non_object_bodies_degrade(body: Any) -> None:
    data = envelope(f"/restapi/v1.0/account/{ACCOUNT}/extension/{EXTENSION}/presence", body)
    n = parse_notification(data)
    assert type(n) is Notification
    assert n.body == body
    assert n.validation_error
    assert n.to_wire() == data


def test_missing_body_is_allowed() -> None:
    data = envelope("/team-messaging/v1/posts", {})
    del data["body"]
    n = parse_notification(data)
    assert isinstance(n, PostNotification)
    assert n.body.id is None
    assert n.to_wire() == data


def test_unknown_event_gives_generic_notification() -> None:
    data = envelope("/restapi/v1.0/account/1/brand-new-thing", {"x": {"y": 1}})
    n = parse_notification(data)
    assert type(n) is Notification and n.family == "generic"
    assert n.validation_error is None
    assert n.body == {"x": {"y": 1}}
    assert n.to_wire() == data


@pytest.mark.parametrize(
    "data",
    [
        [],
        "notification",
        None,
        {"event": "/team-messaging/v1/posts", "timestamp": "t", "body": {}},
        {"uuid": 5, "event": "/team-messaging/v1/posts", "timestamp": "t", "body": {}},
        {"uuid": "u", "event": None, "timestamp": "t", "body": {}},
        {"uuid": "u", "event": "/team-messaging/v1/posts", "timestamp": 5, "body": {}},
        {"uuid": "u", "event": "/team-messaging/v1/posts", "body": {}},
    ],
)
def test_unusable_envelopes_raise_frame_decode_error(data: Any) -> None:
    with pytest.raises(FrameDecodeError, match="skipped"):
        parse_notification(data)
    with pytest.raises(FrameDecodeError, match="skipped"):
        parse_notification_json(json.dumps(data))


@pytest.mark.parametrize("text", ["", "{", "not json", b"\xff\xfe"])
def test_invalid_json_raises_frame_decode_error(text: str | bytes) -> None:
    with pytest.raises(FrameDecodeError, match="not valid JSON"):
        parse_notification_json(text)


def test_json_path_is_not_fooled_by_an_event_key_inside_the_body() -> None:
    body = {"event": "/team-messaging/v1/posts", "subject": "hi"}
    text = (
        '{"body": ' + json.dumps(body) + ', "uuid": "u", "timestamp": "t", '
        '"event": "/restapi/v1.0/account/1/extension/2/message-store/instant?type=SMS"}'
    )
    n = parse_notification_json(text)
    assert isinstance(n, InstantMessageNotification)
    assert n.body.subject == "hi"


def test_json_path_handles_escaped_event() -> None:
    text = json.dumps(envelope("/restapi/v1.0/account/1/a2p-sms/batches", {"id": "b"}))
    text = text.replace("a2p-sms", "a2p\\u002dsms")
    n = parse_notification_json(text)
    assert isinstance(n, A2PBatchNotification)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("2024-02-22T17:01:00.123Z", datetime(2024, 2, 22, 17, 1, 0, 123000, tzinfo=UTC)),
        ("2014-04-29T13:23:12.468+0000", datetime(2014, 4, 29, 13, 23, 12, 468000, tzinfo=UTC)),
        (
            "2021-05-26T04:15:54.011183+02:00",
            datetime(2021, 5, 26, 4, 15, 54, 11183, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("yesterday", None),
    ],
)
def test_timestamp_is_kept_and_parsed(wire: str, expected: datetime | None) -> None:
    data = envelope("/team-messaging/v1/posts", {})
    data["timestamp"] = wire
    n = parse_notification(data)
    assert n.timestamp == wire
    assert n.timestamp_dt == expected


def test_models_are_frozen() -> None:
    n = parse_notification(generated("presence"))
    with pytest.raises(ValueError, match="frozen"):
        n.uuid = "other"


def test_snake_case_names_are_accepted_on_input() -> None:
    n = TelephonySessionsNotification(
        uuid="u",
        event="/restapi/v1.0/account/1/extension/2/telephony/sessions",
        timestamp="t",
        subscription_id="s",
        body={"telephony_session_id": "s-1"},
    )
    assert n.body.telephony_session_id == "s-1"
    assert n.to_wire()["body"] == {"telephonySessionId": "s-1"}
    assert n.to_wire()["subscriptionId"] == "s"


def test_ids_keep_their_wire_type() -> None:
    data = generated("telephony-sessions")
    party = data["body"]["parties"][0]
    party["accountId"] = 809646016  # a number on the wire
    party["extensionId"] = "62264425016"  # a string on the wire
    n = parse_notification(data)
    assert isinstance(n, TelephonySessionsNotification)
    assert n.body.parties is not None
    assert n.body.parties[0].account_id == 809646016
    assert n.body.parties[0].extension_id == "62264425016"
    assert n.to_wire() == data


def test_notification_is_generic_in_its_body() -> None:
    # each family narrows ``body`` through the type parameter, not by redeclaring it
    for cls in NOTIFICATION_MODELS.values():
        body = cls.model_fields["body"].annotation
        assert isinstance(body, type) and issubclass(body, WireModel), cls
        assert issubclass(cls, Notification)
    assert Notification[TelephonySessionsBody].model_fields["body"].annotation is (
        TelephonySessionsBody
    )
    models_dir = Path(rcstream.models.__file__).parent
    ignores = [p.name for p in models_dir.glob("*.py") if "type: ignore" in p.read_text()]
    assert ignores == []


def test_a_missing_body_validates_as_the_familys_empty_body() -> None:
    data = envelope(f"/restapi/v1.0/account/{ACCOUNT}/extension/{EXTENSION}/telephony/sessions", {})
    del data["body"]
    n = parse_notification(data)
    assert isinstance(n, TelephonySessionsNotification)
    assert isinstance(n.body, TelephonySessionsBody) and n.body.parties is None


def test_equality_ignores_how_the_notification_was_received() -> None:
    data = generated("presence")
    from_dict = parse_notification(copy.deepcopy(data))
    from_text = parse_notification_json(json.dumps(data))
    assert from_dict == from_text and hash(from_dict) == hash(from_text)
    degraded = parse_notification({**data, "body": {"presenceStatus": {"not": "a string"}}})
    assert degraded != parse_notification(data)


def test_a_changed_copy_forgets_the_received_wire_form() -> None:
    data = generated("presence")
    n = parse_notification(data)
    changed = n.model_copy(update={"uuid": "other"})
    assert changed.to_wire()["uuid"] == "other"
    assert n.model_copy().to_wire() == data
