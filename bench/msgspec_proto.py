"""Prototype, not wired: what a msgspec decoder of the telephony models would cost.

``python -m bench.msgspec_proto [-n N]`` (needs ``pip install msgspec``; rcstream does not
depend on it). Structs mirror :mod:`rcstream.models.telephony` field for field (the same
optional fields, ``int | str`` ids keeping the wire type, open enums as plain ``str``,
frozen), decoded straight from the notification bytes, next to ``json.loads``,
pydantic-core's ``from_json`` and the shipped pydantic models, on the same 889-byte body
the throughput benchmark floods. Issue 13 item 2(d): reported in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import msgspec
from pydantic_core import from_json

from bench.flood import build_notifications
from rcstream.models import TelephonySessionsNotification, parse_notification
from rcstream.models.routing import parse_frame_typed

_KW: Any = {"frozen": True, "rename": "camel", "omit_defaults": True}


class CallPartyInfo(msgspec.Struct, **_KW):
    phone_number: str | None = None
    name: str | None = None
    extension_id: int | str | None = None
    device_id: int | str | None = None


class PeerInfo(msgspec.Struct, **_KW):
    session_id: str | None = None
    telephony_session_id: str | None = None
    party_id: str | None = None


class MobilePickupData(msgspec.Struct, **_KW):
    cc_mailboxes: list[str] | None = None
    to: str | None = None
    sid: str | None = None
    srvlvl: str | None = None
    srv_lvl: str | None = None
    srv_lvl_ext: str | None = None


class CallStatus(msgspec.Struct, **_KW):
    code: str | None = None
    reason: str | None = None
    description: str | None = None
    park_data: str | None = None
    peer_id: PeerInfo | None = None
    mobile_pickup_data: MobilePickupData | None = None
    rcc: bool | None = None


class ParkInfo(msgspec.Struct, **_KW):
    id: str | None = None


class RecordingInfo(msgspec.Struct, **_KW):
    id: str | None = None
    active: bool | None = None


class SipData(msgspec.Struct, **_KW):
    to_tag: str | None = None
    from_tag: str | None = None
    call_id: str | None = None


class UiCallInfoRecord(msgspec.Struct, **_KW):
    type: str | None = None
    value: str | None = None


class UiCallInfo(msgspec.Struct, **_KW):
    primary: UiCallInfoRecord | None = None
    additional: UiCallInfoRecord | None = None


class CallParty(msgspec.Struct, **_KW):
    account_id: int | str | None = None
    extension_id: int | str | None = None
    id: str | None = None
    direction: str | None = None
    to: CallPartyInfo | None = None
    from_: CallPartyInfo | None = msgspec.field(default=None, name="from")
    recordings: list[RecordingInfo] | None = None
    status: CallStatus | None = None
    park: ParkInfo | None = None
    queue_call: bool | None = None
    missed_call: bool | None = None
    stand_alone: bool | None = None
    muted: bool | None = None
    conference_role: str | None = None
    sip_data: SipData | None = None
    ui_call_info: UiCallInfo | None = None


class SessionOrigin(msgspec.Struct, **_KW):
    type: str | None = None


class TelephonySessionsBody(msgspec.Struct, **_KW):
    sequence: int | None = None
    session_id: str | None = None
    telephony_session_id: str | None = None
    server_id: str | None = None
    event_time: str | None = None
    origin: SessionOrigin | None = None
    parties: list[CallParty] | None = None
    account_id: int | str | None = None
    extension_id: int | str | None = None


class TelephonyNotification(msgspec.Struct, frozen=True, rename="camel"):
    uuid: str
    event: str
    timestamp: str
    body: TelephonySessionsBody
    subscription_id: str | None = None
    owner_id: int | str | None = None


class Frame(msgspec.Struct, array_like=True):
    """``[header, notification]`` in one decode: the header as a dict, the rest typed."""

    header: dict[str, Any]
    notification: TelephonyNotification


def _pyd(frame: bytes) -> object:
    return parse_notification(from_json(frame)[1])


def _best(fn: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / n / 1000)
    return best


_new = object.__new__
_set = object.__setattr__
_PLANS: dict[type, Callable[[Any], Any]] = {}


def _nested(t: Any) -> tuple[type | None, bool]:
    """The struct type a msgspec field type holds (directly, optionally, or in a list)."""
    import msgspec.inspect as mi

    if isinstance(t, mi.UnionType):
        for member in t.types:
            found = _nested(member)
            if found[0] is not None:
                return found
    if isinstance(t, mi.StructType):
        return t.cls, False
    if isinstance(t, mi.ListType) and isinstance(t.item_type, mi.StructType):
        return t.item_type.cls, True
    return None, False


def _builder(struct_cls: type, model_cls: Any) -> Callable[[Any], Any]:
    """A function from a decoded struct to an instance of ``model_cls`` (rcstream's pydantic
    model of the same shape), made without any validation: ``object.__new__`` and the four
    attributes pydantic keeps, nested structs converted by their own builders. What keeping
    pydantic models as the output would cost on top of msgspec's decode."""
    built = _PLANS.get(struct_cls)
    if built is not None:
        return built
    import msgspec.inspect as mi

    from rcstream.models import telephony

    plain: list[str] = []
    nested: list[tuple[str, Callable[[Any], Any], bool]] = []
    info = mi.type_info(struct_cls)
    assert isinstance(info, mi.StructType)
    for field in info.fields:
        cls, many = _nested(field.type)
        if cls is None:
            plain.append(field.name)
        else:
            sub_model = model_cls.model_fields[field.name].annotation
            target = getattr(telephony, cls.__name__, None) or sub_model
            nested.append((field.name, _builder(cls, target), many))

    def build(value: Any) -> Any:
        fields = {name: getattr(value, name) for name in plain}
        for name, sub, many in nested:
            v = getattr(value, name)
            fields[name] = None if v is None else ([sub(x) for x in v] if many else sub(v))
        model = _new(model_cls)
        _set(model, "__dict__", fields)
        _set(model, "__pydantic_fields_set__", set())
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model

    _PLANS[struct_cls] = build
    return build


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.msgspec_proto")
    p.add_argument("-n", type=int, default=3000)
    a = p.parse_args(argv)
    frame = _frame()
    notes = from_json(frame)[1]
    body = json.dumps(notes, separators=(",", ":")).encode()
    dec_note = msgspec.json.Decoder(TelephonyNotification)
    dec_frame = msgspec.json.Decoder(Frame)
    typed = dec_frame.decode(frame).notification
    to_model = _builder(TelephonyNotification, TelephonySessionsNotification)
    # the unvalidated instances hold what validation gives (ids, strings; enums stay str)
    assert to_model(typed).body.model_dump() == _pyd(frame).body.model_dump()  # type: ignore[attr-defined]
    assert typed.body.parties
    assert typed.uuid == notes["uuid"]
    rows = [
        ("json.loads(notification bytes)", lambda: json.loads(body)),
        ("from_json(notification bytes)", lambda: from_json(body)),
        ("msgspec: notification bytes -> Structs", lambda: dec_note.decode(body)),
        ("msgspec: frame bytes -> header dict + Structs", lambda: dec_frame.decode(frame)),
        ("msgspec: frame bytes -> dicts (untyped)", lambda: msgspec.json.decode(frame)),
        ("pydantic: from_json(frame) + parse_notification", lambda: _pyd(frame)),
        (
            "pydantic: one validate_json of the frame (the client's path)",
            lambda: parse_frame_typed(frame, notes["event"]),
        ),
        (
            "msgspec decode + the pydantic models built unvalidated",
            lambda: to_model(dec_frame.decode(frame).notification),
        ),
    ]
    print(f"notification {len(body)} bytes, frame {len(frame)} bytes; best of 5 x {a.n}")
    for name, fn in rows:
        print(f"  {_best(fn, a.n):6.2f} us  {name}")


def _frame() -> bytes:
    """The first frame the throughput flood sends, without its WebSocket header."""
    wire = build_notifications(1, family="telephony-sessions", seed=1)[0]
    return wire[wire.index(b"[") :]


if __name__ == "__main__":
    main()
