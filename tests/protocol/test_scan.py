"""The client's one-validate path (issue 13): ``validate_frame`` against the general path.

Two properties carry it: wherever ``validate_frame`` answers, it answers what the general
path (``decode_frame`` + ``parse_notification``) gives: the same model, the same
``to_wire()``, the same ``messageId`` and ``wsc``; and the transport's bytes decode as the
same frame as their text. The frames are the shapes the emulator's catalogue sends
(``rcstream/emulator/catalog.py``), re-encoded with every spacing and key order JSON
allows, plus hand-written hostile ones.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import json_values as support_json_values

from rcstream.emulator import catalog
from rcstream.exceptions import FrameDecodeError
from rcstream.models import NOTIFICATION_MODELS, Notification, parse_notification
from rcstream.models.base import WireModel
from rcstream.models.routing import sniff_event
from rcstream.protocol.frames import ServerNotification, decode_frame
from rcstream.protocol.scan import validate_frame

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = support_json_values()
# keys that collide with the envelope's, or spell them with escapes
tricky_keys = st.sampled_from(
    ["uuid", "event", "subscriptionId", "body", "type", "wsc", '"', "\\", "},{", "ü", "\u2028"]
) | st.text(max_size=6)
tricky_strings = st.sampled_from(
    ['"uuid"', '"event":"x"', "},{", '\\"', "\\u0065", "é", "\ud800x", "\n", "{", "]"]
) | st.text(max_size=10)


def _outcome(fn: Any, raw: bytes) -> tuple[str, Any, Any, Any]:
    try:
        n = fn(raw)
    except FrameDecodeError:
        return ("error", None, None, None)
    return (type(n).__name__, n, n.to_wire(), n.validation_error)


def encode(frame: list[Any], style: int) -> bytes:
    """The frame as JSON text in one of several spellings."""
    if style == 0:
        text = json.dumps(frame, separators=(",", ":"))
    elif style == 1:
        text = json.dumps(frame)
    elif style == 2:
        text = json.dumps(frame, indent=2, ensure_ascii=False)
    else:
        text = " \n" + json.dumps(frame, separators=(" ,\t", " :\r\n")) + "\t "
    return text.encode("utf-8", "surrogatepass")


def header(message_id: Any = "m-1", **extra: Any) -> dict[str, Any]:
    return {"type": "ServerNotification", "messageId": message_id, "status": 200, **extra}


def catalog_notification(family: str, seed: int) -> dict[str, Any]:
    # filter_shaped: the model is chosen from the event path, and account-level families
    # really deliver extension paths (whose model is the extension family's)
    event, body = catalog.generate(
        family,
        account_id="809646016",
        extension_id="62264425016",
        rng=random.Random(seed),
        filter_shaped=True,
    )
    return {
        "uuid": f"u-{seed}",
        "event": event,
        "timestamp": "2025-04-01T10:00:00.169Z",
        "subscriptionId": "5b7a1c9e-0000-4000-8000-0000000005b1",
        "ownerId": "62264425016",
        "body": body,
    }


def _paths(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*here, i))
    return out


@st.composite
def hostile_bodies(draw: st.DrawFn, body: Any) -> Any:
    """``body`` with a few values replaced by anything JSON allows, and unknown keys added."""
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(0, 3))):
        paths = [p for p in _paths(body) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        target = body
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = draw(json_values | tricky_strings)
    if isinstance(body, dict) and draw(st.booleans()):
        body[draw(tricky_keys)] = draw(json_values)
    return body


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    family = draw(st.sampled_from(catalog.FAMILIES))
    note = catalog_notification(family, draw(st.integers(0, 50)))
    if draw(st.booleans()):
        note["body"] = draw(hostile_bodies(note["body"]))
    if draw(st.booleans()):
        note["uuid"] = draw(tricky_strings)
    if draw(st.booleans()):
        note[draw(tricky_keys)] = draw(json_values)
    items = list(note.items())
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    hdr = header(draw(st.sampled_from(["m-1", 7, None])))
    if draw(st.booleans()):
        hdr["wsc"] = {"token": "t0ken", "sequence": draw(st.integers(0, 99))}
    if draw(st.booleans()):
        hdr["headers"] = {"RCRequestId": draw(tricky_strings)}
    return encode([hdr, dict(items)], draw(st.integers(0, 3)))


# ---- the wired path: the client parses the transport's bytes (issue 13, phase 2) ----------


def _wired(raw: bytes) -> Notification:
    """What the client now does: ``decode_frame`` of the frame's bytes as the transport
    hands them (a ``bytearray``), then one validation of the notification dict."""
    frame = decode_frame(bytearray(raw))
    if not isinstance(frame, ServerNotification):
        raise FrameDecodeError("not a notification", raw="")
    return parse_notification(frame.body)


def _from_text(raw: bytes) -> Notification:
    """The path before: the frame decoded to ``str`` first."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameDecodeError("not UTF-8", raw="") from None
    frame = decode_frame(text)
    if not isinstance(frame, ServerNotification):
        raise FrameDecodeError("not a notification", raw="")
    return parse_notification(frame.body)


def assert_wired_same(raw: bytes) -> None:
    wired = _outcome(_wired, raw)
    text = _outcome(_from_text, raw)
    assert wired[0] == text[0]
    assert wired[1] == text[1] or repr(wired[1]) == repr(text[1])
    assert wired[2] == text[2] or repr(wired[2]) == repr(text[2])
    assert wired[3] == text[3]
    try:
        a = decode_frame(bytearray(raw))
    except FrameDecodeError:
        a = None
    try:
        b = decode_frame(raw.decode("utf-8"))
    except (FrameDecodeError, UnicodeDecodeError):
        b = None
    assert type(a) is type(b)
    if isinstance(a, ServerNotification) and isinstance(b, ServerNotification):
        assert (a.message_id, a.wsc) == (b.message_id, b.wsc)


@SETTINGS
@given(frames())
def test_the_wired_bytes_path_equals_the_text_path(raw: bytes) -> None:
    assert_wired_same(raw)


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_the_wired_bytes_path_equals_the_text_path_for_every_family(family: str) -> None:
    for seed in range(3):
        note = catalog_notification(family, seed)
        for style in range(4):
            assert_wired_same(encode([header(), note], style))


# ---- the client's path: one validate_json of the whole frame (issue 13, session 4) -------


def _one_validate(raw: bytes) -> tuple[Notification, Any, Any] | None:
    """What ``Client._typed_fast_path`` does with a frame, or None where it hands the frame
    to the general path."""
    event = sniff_event(raw)
    return None if event is None else validate_frame(raw, event)


def assert_one_validate_same(raw: bytes) -> bool:
    """Wherever the one-validate path answers, it answers what ``decode_frame`` +
    ``parse_notification`` give; returns whether it answered."""
    fast = _one_validate(raw)
    if fast is None:
        return False
    n, message_id, wsc = fast
    frame = decode_frame(raw)
    assert isinstance(frame, ServerNotification)
    assert (message_id, wsc) == (frame.message_id, frame.wsc)
    slow = parse_notification(frame.body)
    assert type(n) is type(slow)
    # repr, not ==: 1 == 1.0 == True and a StrEnum member == its str would hide a type
    # difference (NaN, the one value unequal to itself, has the same repr on both)
    assert repr(n) == repr(slow)
    assert repr(n.to_wire()) == repr(slow.to_wire())
    assert n.model_fields_set == slow.model_fields_set
    if isinstance(slow.body, WireModel):
        # which nested fields were present (pydantic's fields_set), all the way down
        assert repr(n.body.to_wire()) == repr(slow.body.to_wire())
    assert n.validation_error is None  # a body that does not match never takes this path
    return True


@SETTINGS
@given(frames())
def test_one_validate_of_the_frame_equals_the_general_path(raw: bytes) -> None:
    assert_one_validate_same(raw)


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_every_family_takes_one_validate(family: str) -> None:
    for seed in range(3):
        note = catalog_notification(family, seed)
        for style in range(4):
            raw = encode([header(), note], style)
            assert assert_one_validate_same(raw), (family, style)
            fast = _one_validate(raw)
            assert fast is not None and type(fast[0]) is NOTIFICATION_MODELS[family]
            assert fast[0].to_wire() == note
            # a wsc in the header: the general path, so that no model keeps the token
            with_wsc = encode([header(wsc={"token": "t", "sequence": 3}), note], style)
            assert _one_validate(with_wsc) is None


@pytest.mark.parametrize(
    "raw",
    [
        # the first "event" is not the notification's: the hint is checked
        b'[{"type":"ServerNotification","headers":{"event":"/x"}},{"uuid":"a","event":'
        b'"/restapi/v1.0/account/1/extension/2/presence","timestamp":"t","body":{}}]',
        # duplicate "event" keys: the last wins (JSON), the hint was the first
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{},"event":"/restapi/v1.0/account/1/extension/2/presence"}]',
        # a body that does not match its model: degraded on the general path only
        b'[{"type":"ServerNotification"},{"uuid":"a","event":'
        b'"/restapi/v1.0/account/1/extension/2/presence","timestamp":"t",'
        b'"body":{"telephonyStatus":5}}]',
        # headers decode_frame converts or refuses: a numeric messageId, a string status,
        # headers that are not an object, a wsc without a token, another frame type
        b'[{"type":"ServerNotification","messageId":7},{"uuid":"a","event":"/x",'
        b'"timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification","status":"200"},{"uuid":"a","event":"/x",'
        b'"timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification","headers":[]},{"uuid":"a","event":"/x",'
        b'"timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification","wsc":{"sequence":1}},{"uuid":"a","event":"/x",'
        b'"timestamp":"t","body":{}}]',
        b'[{"type":"ClientRequest"},{"uuid":"a","event":"/x","timestamp":"t","body":{}}]',
        # three elements; a typed body that is not an object; bad UTF-8
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t","body":{}},{}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":'
        b'"/restapi/v1.0/account/1/extension/2/presence","timestamp":"t","body":null}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{"s":"\xff"}}]',
    ],
)
def test_unusual_frames_leave_one_validate_for_the_general_path(raw: bytes) -> None:
    assert _one_validate(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        # a duplicate top-level key after the body: JSON's last one wins, on both paths
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{},"uuid":"b","event":"/restapi/v1.0/account/1/extension/2/presence"}]',
        # the key "event" spelled with an escape
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{},"\\u0065vent":"/y"}]',
        # body first: no leading members to read
        b'[{"type":"ServerNotification"},{"body":{"uuid":"n"},"uuid":"a","event":"/x",'
        b'"timestamp":"t"}]',
        # "body" inside a string value, and a nested object before the body
        b'[{"type":"ServerNotification"},{"uuid":"\\"body\\"","event":"/x","timestamp":"t",'
        b'"meta":{"body":1},"body":{}}]',
        # "},{" inside the header
        b'[{"type":"ServerNotification","messageId":"},{\\"uuid\\":1"},{"uuid":"a",'
        b'"event":"/x","timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification","x":[{"a":1},{"b":2}]},{"uuid":"a","event":"/x",'
        b'"timestamp":"t","body":{}}]',
        # three elements, trailing garbage, no body element
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{}},{"uuid":"b"}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t","body":{}}]]',
        b'[{"type":"ServerNotification"}]',
        # a lone surrogate (json accepts it, pydantic-core does not), NaN
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{"s":"\\ud800"}}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{"v":NaN}}]',
        # not-a-string envelope values, bodies that are not objects
        b'[{"type":"ServerNotification"},{"uuid":5,"event":"/x","timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","subscriptionId":5,'
        b'"timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":'
        b'"/restapi/v1.0/account/1/extension/2/presence","timestamp":"t","body":null}]',
        b'[{"type":"ServerNotification"},{"uuid":"a","event":'
        b'"/restapi/v1.0/account/1/extension/2/presence","timestamp":"t","body":[1]}]',
        # a bad wsc, a bad status, a non-notification frame, not JSON at all
        b'[{"type":"ServerNotification","wsc":{"sequence":1}},{"uuid":"a","event":"/x",'
        b'"timestamp":"t","body":{}}]',
        b'[{"type":"ServerNotification","status":"x","wsc":{"token":"t","sequence":1}},'
        b'{"uuid":"a","event":"/x","timestamp":"t","body":{}}]',
        b'[{"type":"Heartbeat"},{"uuid":"a","event":"/x","timestamp":"t","body":{}}]',
        b"[{,{]",
        b"\xff\xfe",
    ],
)
def test_hostile_frames_give_what_the_general_path_gives(raw: bytes) -> None:
    assert_wired_same(raw)
    assert_one_validate_same(raw)


def test_a_string_status_is_what_decode_frame_says_it_is() -> None:
    # decode_frame converts "200"; the one-validate path leaves such a header to it
    raw = (
        b'[{"type":"ServerNotification","status":"200","wsc":{"token":"t","sequence":"4"}},'
        b'{"uuid":"a","event":"/x","timestamp":"t","body":{}}]'
    )
    assert _one_validate(raw) is None
    frame = decode_frame(raw)
    assert isinstance(frame, ServerNotification) and frame.wsc is not None
    assert frame.wsc.sequence == 4


def test_a_superscript_digit_in_a_header_number_is_a_bad_frame_not_a_crash() -> None:
    # "²".isdigit() is True and int("²") raises ValueError (it once stopped the client)
    note = {"uuid": "a", "event": "/x", "timestamp": "t", "body": {}}
    bad_wsc = {"type": "ServerNotification", "wsc": {"token": "w", "sequence": "\u00b2"}}
    raw = json.dumps([bad_wsc, note])
    assert _one_validate(raw.encode()) is None
    with pytest.raises(FrameDecodeError):
        decode_frame(raw)
    with pytest.raises(FrameDecodeError):  # the same rule for a status that must be read
        decode_frame(json.dumps([{"type": "ClientRequest", "messageId": "m", "status": "\u00b2"}]))
    # a notification's status is not read by decode_frame; the one-validate path leaves it
    odd_status = json.dumps([{"type": "ServerNotification", "status": "\u00b2"}, note])
    assert _one_validate(odd_status.encode()) is None
    assert isinstance(decode_frame(odd_status), ServerNotification)


def test_a_copy_with_changes_forgets_the_frame_it_was_validated_from() -> None:
    note = catalog_notification("telephony-sessions", 1)
    fast = _one_validate(encode([header(), note], 0))
    assert fast is not None
    n = fast[0]
    assert n.to_wire() == note
    changed = n.model_copy(update={"uuid": "changed"})
    assert changed.to_wire()["uuid"] == "changed"  # dumped from the fields, not the frame
    assert n.model_copy().to_wire() == note  # an unchanged copy still has the wire form


def _general(raw: bytes) -> Notification:
    frame = decode_frame(raw)
    assert isinstance(frame, ServerNotification)
    return parse_notification(frame.body)


def test_a_later_duplicate_key_wins_on_both_paths() -> None:
    raw = (
        b'[{"type":"ServerNotification"},{"uuid":"a","event":"/x","timestamp":"t",'
        b'"body":{},"uuid":"b"}]'
    )
    assert _general(raw).uuid == "b"  # what every JSON parser says
    fast = _one_validate(raw)
    assert fast is None or fast[0].uuid == "b"
    assert_one_validate_same(raw)


def test_escapes_in_leading_values_are_decoded() -> None:
    raw = (
        b'[{"type":"ServerNotification","messageId":"m\\u00e9"},{"uuid":"a\\"b",'
        b'"event":"/restapi/v1.0/account/1/extension/2/presence","timestamp":"t","body":{}}]'
    )
    fast = _one_validate(raw)
    assert fast is not None
    assert fast[0].uuid == 'a"b' and fast[1] == "m\u00e9"
    assert assert_one_validate_same(raw)


def test_a_body_that_does_not_match_degrades_on_the_general_path() -> None:
    note = catalog_notification("telephony-sessions", 1)
    note["body"]["parties"] = "not a list"
    raw = encode([header(), note], 0)
    assert _one_validate(raw) is None
    n = _general(raw)
    assert type(n) is Notification
    assert n.validation_error and "parties" in n.validation_error
    assert n.to_wire() == note


def test_a_numeric_message_id_and_a_wsc_are_read_by_decode_frame() -> None:
    note = catalog_notification("presence", 1)
    hdr = header(42, wsc={"token": "secret-token", "sequence": "17"})
    raw = encode([hdr, note], 0)
    assert _one_validate(raw) is None  # converted values: the general path reads them
    frame = decode_frame(raw)
    assert isinstance(frame, ServerNotification)
    assert frame.message_id == "42"
    assert frame.wsc is not None and frame.wsc.sequence == 17
    assert "secret-token" not in repr(frame.wsc)


@pytest.mark.parametrize("path", ["one-validate", "general"])
def test_to_wire_keeps_key_order_and_is_a_fresh_dict(path: str) -> None:
    note = catalog_notification("message-store", 1)
    note["body"]["zzUnknown"] = {"nested": [1, {"x": None}]}
    raw = encode([header(), note], 1)
    if path == "general":
        n = _general(raw)
    else:
        fast = _one_validate(raw)
        assert fast is not None
        n = fast[0]
    wire = n.to_wire()
    assert list(wire) == list(note) and wire == note
    wire["body"]["zzUnknown"]["nested"].append(2)
    assert n.to_wire() == note
