"""Frame and body builders for the emulator, written independently of the client's codec.

Everything here is plain dicts and :func:`json.dumps`: the emulator deliberately does not
import ``rcstream.protocol`` or ``rcstream.models`` so that a bug in the client's codec
cannot hide on both sides of a test.

Frame shapes (documented in ``docs/emulator.md``):

* ``ConnectionDetails``: ``[{"type", "messageId", "status": 200, "wsc": {token, sequence},
  "headers": {"RCRequestId": <messageId>}}, {details}]``
* ``ClientRequest`` response: ``[{"type": "ClientRequest", "messageId": <echoed>, "status",
  "headers": {...}}, body]`` (no body element for 204)
* ``ServerNotification``: ``[{"type", "messageId": <uuid>, "status": 200, "headers":
  {"RCRequestId"}}, {uuid, event, timestamp, subscriptionId, ownerId, body}]``
* ``Heartbeat`` echo: ``[{"type": "Heartbeat", "messageId": <echoed>, "status": 200}]``
* ``Error``: ``[{"type": "Error", "messageId": <new uuid>, "status": 400|401, "headers": {}},
  {"errorCode", "message"}]``
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

Frame = list[Any]
"""One gateway message: ``[header]`` or ``[header, body]``."""

JsonObject = dict[str, Any]


def new_id() -> str:
    """A fresh UUIDv4 string (message ids, request ids, subscription ids)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The wall clock in UTC (only for timestamps in bodies; timeouts use the monotonic clock)."""
    return datetime.now(UTC)


def iso_z(t: datetime) -> str:
    """``2025-04-01T10:00:00.169Z``: ISO-8601 with milliseconds and ``Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso_offset(t: datetime) -> str:
    """``2025-04-01T10:00:00.169+0000``: the form the ConnectionDetails sample uses."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def http_date(t: datetime) -> str:
    """RFC 7231 date for ``Date`` headers, e.g. ``Tue, 01 Apr 2025 10:00:00 GMT``."""
    return format_datetime(t, usegmt=True)


def number(value: float) -> int | float:
    """``value`` as an int when it is integral (``1800.0`` -> ``1800``), else the float.

    Timeouts shortened below a second for tests are sent as JSON floats (e.g. ``0.2``).
    """
    if math.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def seconds_header(value: float) -> str:
    """A ``Retry-After`` value: whole seconds as ``"3"``; sub-second test values as ``"0.05"``."""
    v = number(value)
    return str(v)


def dumps(frame: Frame) -> str:
    """Serialise a frame compactly (one WebSocket text message)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def rc_error(code: str, message: str, **extra: Any) -> JsonObject:
    """The standard RingCentral REST error body ``{errorCode, message, errors: [...]}``."""
    return {
        "errorCode": code,
        "message": message,
        "errors": [{"errorCode": code, "message": message, **extra}],
    }


def oauth_error(error: str, code: str, message: str) -> JsonObject:
    """The OAuth endpoint error body ``{error, errors: [...], error_description}``."""
    return {
        "error": error,
        "errors": [{"errorCode": code, "message": message}],
        "error_description": message,
    }


def error_frame(code: str, message: str, *, status: int, message_id: str | None = None) -> Frame:
    """An ``Error`` frame; ``messageId`` is a fresh UUID unless one is echoed."""
    header: JsonObject = {
        "type": "Error",
        "messageId": message_id or new_id(),
        "status": status,
        "headers": {},
    }
    return [header, {"errorCode": code, "message": message}]


def connection_details_frame(*, wsc_token: str, wsc_sequence: int, details: JsonObject) -> Frame:
    """The ``ConnectionDetails`` frame; ``messageId`` equals ``headers.RCRequestId``."""
    message_id = new_id()
    header: JsonObject = {
        "type": "ConnectionDetails",
        "messageId": message_id,
        "status": 200,
        "wsc": {"token": wsc_token, "sequence": wsc_sequence},
        "headers": {"RCRequestId": message_id},
    }
    return [header, details]


def response_headers(*, content: bool) -> dict[str, str]:
    """HTTP-like response headers as the gateway passes them through on a ClientRequest reply."""
    headers = {
        "Server": "nginx",
        "Date": http_date(utcnow()),
        "RoutingKey": "EMU01P01",
        "RCRequestId": new_id(),
    }
    if content:
        headers["Content-Type"] = "application/json;charset=UTF-8"
    return headers


def client_response_frame(
    *,
    message_id: str,
    status: int,
    body: JsonObject | None,
    extra_headers: dict[str, str] | None = None,
    frame_type: str = "ClientRequest",
) -> Frame:
    """A reply to a ``ClientRequest`` (or an ``Error`` frame with the echoed id)."""
    headers = response_headers(content=body is not None)
    if extra_headers:
        headers.update(extra_headers)
    header: JsonObject = {
        "type": frame_type,
        "messageId": message_id,
        "status": status,
        "headers": headers,
    }
    return [header] if body is None else [header, body]


def notification_frame(
    *,
    uuid_: str,
    event: str,
    timestamp: str,
    subscription_id: str,
    owner_id: str,
    body: Any,
) -> Frame:
    """A ``ServerNotification`` frame whose ``messageId`` equals the event ``uuid``."""
    header: JsonObject = {
        "type": "ServerNotification",
        "messageId": uuid_,
        "status": 200,
        "headers": {"RCRequestId": new_id()},
    }
    event_body: JsonObject = {
        "uuid": uuid_,
        "event": event,
        "timestamp": timestamp,
        "subscriptionId": subscription_id,
        "ownerId": owner_id,
        "body": body,
    }
    return [header, event_body]


def heartbeat_frame(message_id: str | None, *, with_status: bool) -> Frame:
    """The Heartbeat echo: same type and ``messageId``; ``status: 200`` unless disabled."""
    header: JsonObject = {"type": "Heartbeat"}
    if message_id is not None:
        header["messageId"] = message_id
    if with_status:
        header["status"] = 200
    return [header]
