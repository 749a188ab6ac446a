"""The fast path for notification frames: a bounded scan, then one validation from bytes.

A ``ServerNotification`` frame is ``[{header},{notification}]``. Everything the session
needs before the notification reaches a consumer is in the header (``messageId``, ``wsc``)
and in the notification's top-level ``uuid``, ``event`` and ``subscriptionId``. So instead
of parsing the whole frame into dicts and then validating those dicts into models (two full
passes over ~1.2 kB), :func:`scan_notification`:

1. finds the header: the text from the first ``{`` to the first ``},{`` after which it
   parses as JSON (an object's end is fixed by its start, so a cut that parses *is* the
   header), and parses only that;
2. parses only the notification's leading members, the text before its first ``"body"``
   key (the platform and the emulator send ``body`` after ``uuid``, ``event``,
   ``timestamp``, ``subscriptionId`` and ``ownerId``: the developer guide's samples;
   the emulator's frames keep that order);
3. returns the byte span of the notification object, which is then validated once,
   straight from the bytes, into the routed model (:func:`validate_scanned`), or parsed
   once into a dict for raw consumers (:func:`notification_dict`).

The scan never guesses: what it returns is what a full parse finds (property-tested in
``tests/protocol/test_scan.py``). It returns ``None`` — and the caller takes the slow
path, :func:`~rcstream.protocol.frames.decode_frame` then
:func:`~rcstream.models.parse_notification`, with the same result — whenever:

* the frame is not ``[{...},{...}]``, or the header is not a ``ServerNotification``
  header that ``decode_frame`` would accept;
* the text before ``"body"`` is not a run of members (``body`` first, a ``"body"`` in a
  string, an object-valued member before the body);
* ``uuid`` or ``event`` is missing there or not a string, ``subscriptionId`` is not a
  string;
* ``"uuid"``, ``"event"`` or ``"subscriptionId"`` occurs again after that (a duplicate
  key, where JSON's last one wins, or a nested key or a string of that text: looking is a
  ``bytes.find``, which over-approximates, so a miss costs speed, never correctness);
* the notification holds a ``\\u`` escape of an ASCII letter (``"\\u0065vent"`` is the
  key ``event``).

A frame that is invalid after the scanned parts (a bad body, a third element, text after
the array) fails the one full parse, and :func:`validate_scanned` then hands it to the slow
path, which gives what it always gives: a degraded :class:`~rcstream.models.Notification`
or a :class:`~rcstream.exceptions.FrameDecodeError`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NamedTuple

from pydantic import ValidationError
from pydantic_core import from_json

from rcstream.exceptions import FrameDecodeError
from rcstream.models import Notification, model_for_event, parse_notification
from rcstream.models.base import _WIRE, _keep_wire
from rcstream.models.routing import _degrade, _envelope_error, parse_frame_typed
from rcstream.protocol.frames import (
    ServerNotification,
    Wsc,
    _opt_int,
    _opt_str,
    _parse_wsc,
    decode_frame,
    notification_header,
)

__all__ = [
    "ScannedNotification",
    "notification_dict",
    "parse_notification_bytes",
    "scan_notification",
    "validate_frame",
    "validate_scanned",
]

_WS = rb"[ \t\r\n]*"
#: Where the header may end: ``}`` ``,`` ``{`` (with optional whitespace).
_SEAM: Final = re.compile(_WS + rb"\}" + _WS + b"," + _WS + rb"\{")
_TAIL_WS: Final = b" \t\r\n"
_set_private: Final = object.__setattr__
#: An escape that decodes to an ASCII letter; other escapes (``\\"``, ``\\n``, ``\\u00e9``)
#: cannot spell one of the names the scan looks for.
_LETTER_ESCAPE: Final = re.compile(rb"\\u00[4-7]", re.IGNORECASE)


class ScannedNotification(NamedTuple):
    """What the scan found in one ``ServerNotification`` frame.

    ``uuid``, ``event`` and ``subscription_id`` are exactly what a full parse finds (the
    scan returns ``None`` otherwise); ``start``/``end`` delimit the notification object
    in ``raw``, which nothing has parsed yet. The frame is known to be valid only once
    :func:`validate_scanned` or :func:`notification_dict` returned: a caller should act
    on ``wsc`` and record ``uuid`` as seen only then (an invalid frame raises
    :class:`~rcstream.exceptions.FrameDecodeError` there, as ``decode_frame`` would).
    """

    raw: bytes
    header: dict[str, Any]
    message_id: str | None
    wsc: Wsc | None
    uuid: str
    event: str
    subscription_id: str | None
    start: int
    end: int

    @property
    def notification_bytes(self) -> bytes:
        """The notification object's JSON text (``raw[start:end]``)."""
        return self.raw[self.start : self.end]

    def __repr__(self) -> str:
        return (
            f"ScannedNotification(uuid={self.uuid!r}, event={self.event!r}, "
            f"message_id={self.message_id!r}, wsc={self.wsc!r}, bytes={self.end - self.start})"
        )


def _header(text: bytes) -> tuple[dict[str, Any], str | None, Wsc | None] | None:
    try:
        header = from_json(text)
    except ValueError:
        return None
    if not isinstance(header, dict) or header.get("type") != "ServerNotification":
        return None
    headers = header.get("headers")
    if headers is not None and type(headers) is not dict:
        return None
    mid = header.get("messageId")
    status = header.get("status")
    if (
        (mid is None or type(mid) is str)
        and (status is None or type(status) is int)
        and header.get("wsc") is None
    ):
        return header, mid, None  # the usual header: nothing to convert
    try:
        # the same checks, and the same conversions, as decode_frame
        wsc = _parse_wsc(header.get("wsc"), "")
        message_id = _opt_str(header, "messageId", "")
        _opt_int(header, "status", "")
    except FrameDecodeError:
        return None
    return header, message_id, wsc


def scan_notification(raw: bytes) -> ScannedNotification | None:
    """Scan one frame's bytes; ``None`` when it is not a notification frame the scan can
    vouch for (then use :func:`~rcstream.protocol.frames.decode_frame`).

    Reads the header and the notification's leading scalar members only; see the module
    docstring for exactly when it gives up.
    """
    if raw[:2] == b"[{":
        lb = 1
    else:
        lb = raw.find(b"{")
        if lb < 0 or raw[:lb].strip(_TAIL_WS) != b"[":
            return None
    # The header is the JSON value from lb to the first "},{" after which it parses: a
    # JSON object's end is fixed by its start, so a cut that parses is the header (a "},{"
    # inside the header's strings or arrays makes the cut unparsable: slow path).
    seam = raw.find(b"},{", lb)
    if seam >= 0:
        hdr_end, start = seam + 1, seam + 2
    else:
        m = _SEAM.search(raw, lb)
        if m is None:
            return None
        hdr_end, start = raw.index(b"}", m.start()) + 1, m.end() - 1
    found = _header(raw[lb:hdr_end])
    if found is None:
        return None
    header, message_id, wsc = found
    end = len(raw.rstrip(_TAIL_WS))
    if raw[end - 1] != 0x5D:  # "]"
        return None
    end = len(raw[: end - 1].rstrip(_TAIL_WS))
    if raw[end - 1] != 0x7D or end <= start:  # "}"
        return None
    # The leading members: the text up to the first "body" key must be an object's members
    # with a trailing comma (a "body" inside a string or a nested object, or a body that
    # comes first, leaves text that does not parse: slow path).
    cut = raw.find(b'"body"', start, end)
    if cut < 0:
        return None
    lead = raw[start:cut].rstrip(_TAIL_WS)
    if lead[-1:] != b",":
        return None
    try:
        members = from_json(lead[:-1] + b"}")
    except ValueError:
        return None
    if type(members) is not dict:  # pragma: no cover - it starts with "{"
        return None
    uuid = members.get("uuid")
    event = members.get("event")
    sub = members.get("subscriptionId")
    if type(uuid) is not str or type(event) is not str:
        return None
    if sub is None:
        if "subscriptionId" in members or raw.find(b'"subscriptionId"', cut, end) >= 0:
            return None  # null, or after the body: the full parse decides
    elif type(sub) is not str or raw.find(b'"subscriptionId"', cut, end) >= 0:
        return None
    # Exactness: the same names must not come again after the body (a duplicate key, where
    # JSON's last one wins; or a nested key or string of that name, which costs only speed)
    # nor be spelled with a letter escape anywhere ("\u0065vent" is the key "event").
    if raw.find(b'"uuid"', cut, end) >= 0 or raw.find(b'"event"', cut, end) >= 0:
        return None
    if raw.find(b"\\u00", start, end) >= 0 and _LETTER_ESCAPE.search(raw, start, end):
        return None
    return ScannedNotification(raw, header, message_id, wsc, uuid, event, sub, start, end)


def _slow(raw: bytes, model: type[Notification] | None) -> Notification:
    frame = decode_frame(raw)
    if not isinstance(frame, ServerNotification):
        raise FrameDecodeError(
            "Expected a ServerNotification frame; the frame was skipped.",
            raw=type(frame).__name__,
        )
    return _from_dict(frame.body, model)


def _from_dict(data: dict[str, Any], model: type[Notification] | None) -> Notification:
    if model is None:
        return parse_notification(data)
    error = _envelope_error(data)
    if error is not None:
        raise error
    try:
        notification = model.model_validate(data)
    except ValidationError as exc:
        return _degrade(data, exc)
    _keep_wire(notification, data)
    return notification


def validate_scanned(
    scanned: ScannedNotification, model: type[Notification] | None = None
) -> Notification:
    """Validate a scanned notification once, from its bytes, into ``model`` (default: the
    class routed from ``scanned.event``, :func:`~rcstream.models.model_for_event`).

    Gives the same model as the slow path (``parse_notification`` of the decoded dict):
    a body that does not match degrades to a plain :class:`~rcstream.models.Notification`
    with :attr:`~rcstream.models.Notification.validation_error` set. The result keeps the
    notification bytes, so ``to_wire()`` is lossless. Raises
    :class:`~rcstream.exceptions.FrameDecodeError` only where the slow path does.
    """
    cls = model if model is not None else model_for_event(scanned.event)
    text = scanned.notification_bytes
    try:
        notification = cls.model_validate_json(text)
    except ValidationError:
        pass  # a bad body (degrade), or JSON pydantic-core refuses: the slow path decides
    else:
        if notification.uuid == scanned.uuid and notification.event == scanned.event:
            if notification.__pydantic_private__ is None:  # always, for a fresh model
                _set_private(notification, "__pydantic_private__", {_WIRE: text})
            else:  # pragma: no cover - defensive
                _keep_wire(notification, text)
            return notification
    try:
        data = json.loads(text.decode("utf-8"))  # strict UTF-8, as decode_frame
    except (ValueError, RecursionError):
        return _slow(scanned.raw, model)
    if not isinstance(data, dict):
        return _slow(scanned.raw, model)
    return _from_dict(data, model)


def notification_dict(scanned: ScannedNotification) -> dict[str, Any]:
    """The notification as a plain dict, for raw consumers (one parse of its bytes).

    Equal to ``decode_frame(scanned.raw).body``; raises
    :class:`~rcstream.exceptions.FrameDecodeError` where ``decode_frame`` does.
    """
    text = scanned.notification_bytes
    try:
        data = from_json(text)
    except ValueError:
        data = None  # e.g. a lone surrogate escape, which json.loads accepts
    if isinstance(data, dict):
        return data
    frame = decode_frame(scanned.raw)
    if not isinstance(frame, ServerNotification):  # pragma: no cover - the scan checked
        raise FrameDecodeError("Expected a ServerNotification frame.", raw="")
    return frame.body


def parse_notification_bytes(raw: bytes, model: type[Notification] | None = None) -> Notification:
    """One ``ServerNotification`` frame's bytes to its model, by the fast path when the scan
    can vouch for the frame, else by ``decode_frame`` + ``parse_notification``.

    Same result either way; raises :class:`~rcstream.exceptions.FrameDecodeError` for a
    frame that is not a usable notification.
    """
    scanned = scan_notification(raw)
    if scanned is None:
        return _slow(raw, model)
    return validate_scanned(scanned, model)


def validate_frame(frame: bytes, event: str) -> tuple[Notification, str | None, Wsc | None] | None:
    """The client's one-validate path: ``(model, messageId, wsc)`` of a ``ServerNotification``
    frame whose event path is (probably) ``event``, from one ``validate_json`` of the whole
    frame (:func:`rcstream.models.routing.parse_frame_typed`) and the header checks of
    :func:`~rcstream.protocol.frames.notification_header`.

    ``None`` whenever the frame needs the general path (:func:`decode_frame` and
    :func:`~rcstream.models.parse_notification`), which then gives the same model, degrades
    the body or reports the error. A header that carries a ``wsc`` also takes the general
    path: the model keeps the frame it was validated from (for ``to_wire()``), and the
    session token must not travel with a notification a caller may pickle or copy.
    """
    parsed = parse_frame_typed(frame, event)
    if parsed is None:
        return None
    header, notification = parsed
    ids = notification_header(header)
    if ids is None or ids[1] is not None:
        return None
    return notification, ids[0], None
