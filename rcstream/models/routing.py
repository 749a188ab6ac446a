"""From an event path to its model, and from a notification dict to a model instance.

Routing is one dictionary lookup on a normalised path, behind a bounded LRU cache keyed
by the exact ``event`` string (a stream sees few distinct event strings, so the steady
state is a single cache hit). Normalising:

1. the query string is dropped, except for the parameters that change the body's shape
   (``detailedTelephonyState``, ``sipData``, ``usageType``);
2. the segment after ``account``, ``extension``, ``device`` and ``batches`` (an id or
   ``~``) becomes ``*``;
3. a trailing ``/`` is dropped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import TypeAdapter, ValidationError

from rcstream.exceptions import FrameDecodeError
from rcstream.models.a2p import A2PBatchNotification, A2PMessageNotification, A2POptOutNotification
from rcstream.models.account import (
    ContactCenterNumberNotification,
    DirectoryEntriesNotification,
    EmergencyAddressNotification,
    ExtensionInfoNotification,
    ExtensionListNotification,
    FavoritesNotification,
    GrantsNotification,
)
from rcstream.models.base import Notification, _keep_frame, _keep_wire, _mark_degraded
from rcstream.models.messages import (
    FaxNotification,
    InstantMessageNotification,
    MessageStoreNotification,
    VoicemailNotification,
)
from rcstream.models.presence import (
    AccountPresenceNotification,
    DetailedPresenceNotification,
    DetailedPresenceWithSipNotification,
    DndNotification,
    FavoritePresenceNotification,
    LinePresenceNotification,
    PresenceLineNotification,
    PresenceNotification,
)
from rcstream.models.team_messaging import ChatNotification, PostNotification
from rcstream.models.telephony import (
    AccountTelephonySessionsNotification,
    TelephonySessionsNotification,
)
from rcstream.models.webinar import (
    WebinarRegistrantNotification,
    WebinarRegistrationStateNotification,
    WebinarSessionNotification,
    WebinarSessionStateNotification,
)

__all__ = [
    "NOTIFICATION_MODELS",
    "model_for_event",
    "parse_notification",
    "parse_notification_json",
    "route_key",
]

_ID_SEGMENTS = frozenset({"account", "extension", "device", "batches"})
# Query parameters that select a different body shape; values compared case-insensitively.
_KEY_PARAMS = frozenset({"detailedTelephonyState", "sipData", "usageType"})

_R = "/restapi/v1.0/account/*"
_X = f"{_R}/extension/*"

_ROUTES: dict[str, type[Notification]] = {
    f"{_X}/telephony/sessions": TelephonySessionsNotification,
    f"{_R}/telephony/sessions": AccountTelephonySessionsNotification,
    f"{_X}/presence": PresenceNotification,
    f"{_X}/presence?detailedtelephonystate=true": DetailedPresenceNotification,
    f"{_X}/presence?detailedtelephonystate=true&sipdata=true": (
        DetailedPresenceWithSipNotification
    ),
    f"{_R}/presence": AccountPresenceNotification,
    f"{_X}/presence/dnd": DndNotification,
    f"{_X}/presence/line": PresenceLineNotification,
    f"{_X}/presence/line/presence": LinePresenceNotification,
    f"{_X}/favorite/presence": FavoritePresenceNotification,
    f"{_X}/message-store/instant": InstantMessageNotification,
    f"{_X}/message-store": MessageStoreNotification,
    f"{_X}/voicemail": VoicemailNotification,
    f"{_X}/fax": FaxNotification,
    f"{_R}/a2p-sms/batches": A2PBatchNotification,
    f"{_R}/a2p-sms/batches/*": A2PBatchNotification,
    f"{_R}/a2p-sms/messages": A2PMessageNotification,
    f"{_R}/a2p-sms/opt-outs": A2POptOutNotification,
    f"{_R}/phone-number?usagetype=contactcenternumber": ContactCenterNumberNotification,
    "/team-messaging/v1/posts": PostNotification,
    "/restapi/v1.0/glip/posts": PostNotification,
    "/team-messaging/v1/groups": ChatNotification,
    "/team-messaging/v1/chats": ChatNotification,
    "/restapi/v1.0/glip/groups": ChatNotification,
    "/restapi/v1.0/glip/chats": ChatNotification,
    f"{_R}/directory/entries": DirectoryEntriesNotification,
    f"{_R}/device/*/emergency-address": EmergencyAddressNotification,
    f"{_X}/favorite": FavoritesNotification,
    f"{_X}/grant": GrantsNotification,
    _X: ExtensionInfoNotification,
    f"{_R}/extension": ExtensionListNotification,
    "/webinar/configuration/v1/company/sessions": WebinarSessionNotification,
    "/webinar/runtime/v1/company/sessions/state": WebinarSessionStateNotification,
    "/webinar/registration/v1/company/sessions/state": WebinarRegistrationStateNotification,
    "/webinar/registration/v1/company/sessions/registrants": WebinarRegistrantNotification,
}

#: Every typed notification class by its family name (``cls.family``).
NOTIFICATION_MODELS: Mapping[str, type[Notification]] = MappingProxyType(
    {cls.family: cls for cls in _ROUTES.values()}
)


def _normalise_path(path: str) -> str:
    if path.endswith("/") and len(path) > 1:
        path = path.rstrip("/")
    segments = path.split("/")
    for i in range(1, len(segments)):
        if segments[i - 1] in _ID_SEGMENTS:
            segments[i] = "*"
    return "/".join(segments)


def route_key(event: str) -> tuple[str, str]:
    """Return ``(key with the shape-selecting query parameters, key without query)``.

    Both are normalised as described in the module docstring; they are equal when the
    event has no shape-selecting parameter. Exposed for tests and diagnostics.
    """
    path, _, query = event.partition("?")
    base = _normalise_path(path)
    if not query:
        return base, base
    params = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name in _KEY_PARAMS:
            params.append(f"{name}={value}".lower())
    if not params:
        return base, base
    params.sort()
    return f"{base}?{'&'.join(params)}", base


@functools.lru_cache(maxsize=4096)
def model_for_event(event_path: str) -> type[Notification]:
    """The notification class for a concrete event path (or a filter); :class:`Notification`
    for paths rcstream has no model for. Results are cached (bounded LRU)."""
    key, base = route_key(event_path)
    cls = _ROUTES.get(key)
    if cls is None and key != base:
        cls = _ROUTES.get(base)
    return cls if cls is not None else Notification


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if not errors:  # pragma: no cover - pydantic always reports at least one
        return str(exc)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "<root>"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def _envelope_error(data: object) -> FrameDecodeError | None:
    if not isinstance(data, dict):
        return FrameDecodeError(
            f"A notification must be a JSON object, got {type(data).__name__}; "
            "the frame was skipped.",
            raw=type(data).__name__,
        )
    if not isinstance(data.get("uuid"), str) or not isinstance(data.get("event"), str):
        return FrameDecodeError(
            "A notification needs string 'uuid' and 'event' fields; the frame was skipped.",
            raw=f"keys={sorted(map(str, data))[:20]}",
        )
    return None


def _degrade(data: dict[str, Any], exc: ValidationError) -> Notification:
    """The typed model rejected ``data``: keep it as a generic notification, raw body."""
    reason = _describe(exc)
    try:
        generic = Notification.model_validate(data)
    except ValidationError:
        # The body itself is not an object (null, a list ...): validate the envelope alone
        # and put the raw body back unvalidated.
        rest = {k: v for k, v in data.items() if k != "body"}
        try:
            generic = Notification.model_validate(rest)
        except ValidationError as envelope_exc:
            raise FrameDecodeError(
                f"The notification envelope is invalid ({_describe(envelope_exc)}); "
                "the frame was skipped.",
                raw=f"keys={sorted(map(str, data))[:20]}",
            ) from envelope_exc
        if "body" in data:
            generic = generic.model_copy(update={"body": data["body"]})
    _mark_degraded(generic, reason)
    _keep_wire(generic, data)
    return generic


def parse_notification(data: dict[str, Any]) -> Notification:
    """Validate one notification dict into its family's model.

    Routes on ``data["event"]`` (:func:`model_for_event`). If the body does not match the
    family's model, returns a plain :class:`Notification` with the raw body and the reason
    in :attr:`Notification.validation_error`; an unknown event also gives a plain
    :class:`Notification`. Raises :class:`~rcstream.exceptions.FrameDecodeError` only when
    the envelope is unusable: not a dict, no string ``uuid``/``event``, or envelope fields
    of the wrong type (e.g. a non-string ``timestamp``).
    """
    error = _envelope_error(data)
    if error is not None:
        raise error
    cls = model_for_event(data["event"])
    try:
        notification = cls.model_validate(data)
    except ValidationError as exc:
        return _degrade(data, exc)
    _keep_wire(notification, data)
    return notification


def sniff_event(data: str | bytes) -> str | None:
    """The first ``"event": "..."`` string in the JSON text, if it is a plain one.

    Only a routing hint: the result is checked against the validated ``event`` field.
    """
    if isinstance(data, bytes):
        i = data.find(b'"event"')
        if i < 0:
            return None
        j = data.find(b'"', i + 7)
        k = data.find(b'"', j + 1)
        if j < 0 or k < 0 or data[i + 7 : j].strip() != b":":
            return None
        raw = data[j + 1 : k]
        if b"\\" in raw:
            return None
        try:
            return raw.decode()
        except UnicodeDecodeError:
            return None
    i = data.find('"event"')
    if i < 0:
        return None
    j = data.find('"', i + 7)
    k = data.find('"', j + 1)
    if j < 0 or k < 0 or data[i + 7 : j].strip() != ":":
        return None
    event = data[j + 1 : k]
    return None if "\\" in event else event


def parse_notification_json(data: str | bytes) -> Notification:
    """Like :func:`parse_notification`, from the notification's JSON text.

    Validates straight from the text (pydantic's ``model_validate_json``) when the event
    path can be found cheaply, which skips building an intermediate dict; anything
    unusual takes the :func:`parse_notification` path, so results are the same. Raises
    :class:`~rcstream.exceptions.FrameDecodeError` for text that is not JSON.
    """
    event = sniff_event(data)
    if event is not None:
        cls = model_for_event(event)
        try:
            notification = cls.model_validate_json(data)
        except ValidationError:
            pass  # not JSON, bad envelope or bad body: let the slow path sort it out
        else:
            if model_for_event(notification.event) is cls:
                _keep_wire(notification, data)
                return notification
    try:
        decoded = json.loads(data)
    except ValueError as exc:
        raise FrameDecodeError(
            "A notification is not valid JSON; the frame was skipped.",
            raw=repr(data[:100]),
        ) from exc
    return parse_notification(decoded)


#: ``tuple[dict, NotificationClass]`` validators of whole gateway frames, by model class
#: (a few dozen at most; ``setdefault`` keeps concurrent first uses from different threads
#: harmless: they build the same adapter)
_FRAME_ADAPTERS: dict[type[Notification], TypeAdapter[tuple[dict[str, Any], Notification]]] = {}


def _frame_adapter(event: str) -> TypeAdapter[tuple[dict[str, Any], Notification]]:
    cls = model_for_event(event)
    adapter = _FRAME_ADAPTERS.get(cls)
    if adapter is None:
        frame_type: Any = tuple.__class_getitem__((dict[str, Any], cls))
        adapter = _FRAME_ADAPTERS.setdefault(cls, TypeAdapter(frame_type))
    return adapter


def parse_frame_typed(frame: bytes, event: str) -> tuple[dict[str, Any], Notification] | None:
    """One pass from a whole ``ServerNotification`` frame's bytes to ``(header, model)``.

    ``event`` is the frame's event path as found by a cheap search (a hint): the frame is
    validated straight from its bytes (pydantic's ``validate_json``) into ``[dict, the
    event's model]``, with no intermediate dict for the notification. Returns ``None`` when
    anything is unusual (not a two-element array, a body that does not match its model,
    an envelope field of the wrong type, an ``event`` other than the hint): the caller then
    takes the general path (:func:`rcstream.protocol.frames.decode_frame` and
    :func:`parse_notification`), which gives the same model, degrades or reports the
    error. The header is returned unchecked; the model's :meth:`~Notification.to_wire`
    returns the notification exactly as received.
    """
    try:
        header, notification = _frame_adapter(event).validate_json(frame)
    except ValidationError:
        return None
    if notification.event != event:
        return None
    _keep_frame(notification, frame)
    return header, notification
