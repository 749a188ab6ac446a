"""Synthetic RingCentral notification bodies, one generator per event family.

The emulator uses this catalogue to invent realistic traffic. Each family has

* a *filter* (:func:`filter_for`): the event filter a client subscribes with, written with
  ``~`` for the account and extension, exactly as a client would send it;
* a *generator* (:func:`generate`): the concrete event path the platform would put in the
  notification's ``event`` field (ids filled in, the filter's query string kept) and a body
  shaped like the real one (field names and value sets from the public RingCentral API
  definitions and documentation samples; all ids, names and numbers are invented).

Everything is deterministic given the :class:`random.Random` passed in, and nothing reads
the clock: times are derived from the generator too.

This module deliberately imports nothing from ``rcstream.models`` or ``rcstream.filters``:
the emulator must stay independent of the client's code so that a bug shared by both sides
cannot hide. Only the standard library is used.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ACCOUNT_LEVEL_EXTENSION_EVENTS",
    "EMERGENCY_DEVICE_ID",
    "FAMILIES",
    "WATCHING_FAMILIES",
    "filter_for",
    "generate",
    "telephony_call",
]

#: The device whose emergency address the ``emergency-address`` family reports on. That
#: filter names a device, so the catalogue uses one fixed, realistic-looking device id.
EMERGENCY_DEVICE_ID = "802398834016"

_RESTAPI = "/restapi/v1.0"
_ACC = f"{_RESTAPI}/account/~"
_EXT = f"{_ACC}/extension/~"

# family -> subscription filter ("~" for the account and the extension).
_FILTERS: dict[str, str] = {
    "telephony-sessions": f"{_EXT}/telephony/sessions",
    "account-telephony-sessions": f"{_ACC}/telephony/sessions",
    "presence": f"{_EXT}/presence",
    "detailed-presence": f"{_EXT}/presence?detailedTelephonyState=true",
    "detailed-presence-sip": f"{_EXT}/presence?detailedTelephonyState=true&sipData=true",
    "account-presence": f"{_ACC}/presence",
    "dnd": f"{_EXT}/presence/dnd",
    "presence-line": f"{_EXT}/presence/line",
    "line-presence": f"{_EXT}/presence/line/presence",
    "favorite-presence": f"{_EXT}/favorite/presence",
    "instant-sms": f"{_EXT}/message-store/instant?type=SMS",
    "message-store": f"{_EXT}/message-store",
    "voicemail": f"{_EXT}/voicemail",
    "fax": f"{_EXT}/fax?direction=Inbound",
    "a2p-batches": f"{_ACC}/a2p-sms/batches",
    "a2p-messages": f"{_ACC}/a2p-sms/messages",
    "a2p-opt-outs": f"{_ACC}/a2p-sms/opt-outs",
    "contact-center-numbers": f"{_ACC}/phone-number?usageType=ContactCenterNumber",
    "team-messaging-posts": "/team-messaging/v1/posts",
    "team-messaging-groups": "/team-messaging/v1/groups",
    "directory-entries": f"{_ACC}/directory/entries",
    "emergency-address": f"{_ACC}/device/{EMERGENCY_DEVICE_ID}/emergency-address",
    "favorites": f"{_EXT}/favorite",
    "grants": f"{_EXT}/grant",
    "extension-info": _EXT,
    "extension-list": f"{_ACC}/extension",
    "webinar-sessions": "/webinar/configuration/v1/company/sessions",
    "webinar-session-state": "/webinar/runtime/v1/company/sessions/state",
    "webinar-registration-state": "/webinar/registration/v1/company/sessions/state",
    "webinar-registrants": "/webinar/registration/v1/company/sessions/registrants",
}

#: Every family the catalogue can generate, in a stable order.
FAMILIES: tuple[str, ...] = tuple(_FILTERS)


def filter_for(family: str) -> str:
    """Return the event filter (with ``~`` ids) a client subscribes with to get ``family``.

    Raises :class:`KeyError` naming the known families for an unknown one.
    """
    try:
        return _FILTERS[family]
    except KeyError:
        raise KeyError(f"unknown event family {family!r}; known: {', '.join(FAMILIES)}") from None


#: Families whose filter is account-level but whose events are extension-scoped: the
#: platform writes the extension's own path in ``event`` (DOCS
#: ``code-samples/events/account-presence.json:3``, ``account-telephony-sessions.json:10``).
ACCOUNT_LEVEL_EXTENSION_EVENTS: dict[str, str] = {
    "account-presence": "/presence",
    "account-telephony-sessions": "/telephony/sessions",
}

#: Families about *another* (watched) extension. No source shows their ``event`` path; see
#: ``presence_event_path`` in :func:`generate`.
WATCHING_FAMILIES = ("line-presence", "favorite-presence")


def _event_path(
    family: str,
    account_id: str,
    extension_id: str,
    *,
    watched_id: str | None = None,
    presence_event_path: str = "extension",
) -> str:
    """The concrete ``event`` path the platform writes for one event of ``family``."""
    suffix = ACCOUNT_LEVEL_EXTENSION_EVENTS.get(family)
    if suffix is not None:
        return f"{_RESTAPI}/account/{account_id}/extension/{extension_id}{suffix}"
    if family in WATCHING_FAMILIES and presence_event_path == "extension" and watched_id:
        return f"{_RESTAPI}/account/{account_id}/extension/{watched_id}/presence"
    path = _FILTERS[family]
    path = path.replace("/account/~", f"/account/{account_id}", 1)
    return path.replace("/extension/~", f"/extension/{extension_id}", 1)


# --------------------------------------------------------------------------- helpers

_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_FIRST = ("Alice", "Bob", "Carmen", "Deepak", "Erin", "Farid", "Grace", "Hiro", "Ines", "Jamal")
_LAST = ("Nguyen", "Smith", "Garcia", "Okafor", "Kowalski", "Tanaka", "Rossi", "Haddad", "Berg")
_CITIES = ("Belmont, CA", "Denver, CO", "Austin, TX", "Seattle, WA", "Boston, MA", "Miami, FL")
_DEPARTMENTS = ("Sales", "Support", "Engineering", "Finance", "Marketing")
_SMS_TEXTS = (
    "Hi, are we still on for 3pm?",
    "Your order #4471 has shipped.",
    "Call me back when you can, thanks",
    "Running 10 minutes late",
    "Can you send the contract over?",
    "STOP",
)


_CLOCK: ContextVar[datetime | None] = ContextVar("rcstream_catalog_clock", default=None)


def _now(rng: random.Random) -> datetime:
    """A pseudo-random instant in 2024, reproducible from ``rng``; or the ``now`` given to
    :func:`generate` / :func:`telephony_call` (the random draw is made either way, so the
    rest of a body does not depend on it)."""
    drawn = _EPOCH + timedelta(seconds=rng.randrange(366 * 86400), milliseconds=rng.randrange(1000))
    fixed = _CLOCK.get()
    return drawn if fixed is None else fixed


def _iso(t: datetime) -> str:
    """ISO-8601 with milliseconds and ``Z``, as the platform writes most times."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _iso_micro(t: datetime) -> str:
    """ISO-8601 with microseconds and ``Z``, as the A2P SMS service writes its times."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _rc_id(rng: random.Random) -> str:
    """A RingCentral-style numeric id (12 digits, ending in the usual ``004``/``016``)."""
    return str(rng.randrange(100_000_000, 999_999_999)) + rng.choice(("004", "016", "008"))


def _phone(rng: random.Random) -> str:
    return "+1" + rng.choice(("650", "415", "212", "303", "512", "206")) + "555" + _digits(rng, 4)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(_FIRST), rng.choice(_LAST)


def _id_value(value: str) -> int | str:
    """Ids the live gateway sends as JSON numbers when they are numeric."""
    return int(value) if value.isdigit() else value


# --------------------------------------------------------------------------- telephony

#: Telephony status codes in the order one inbound call goes through them.
_CALL_FLOW = ("Setup", "Proceeding", "Answered", "Disconnected")


def _session_ids(rng: random.Random) -> dict[str, str]:
    tsid = "s-a" + _hex(rng, 7) + "z" + _hex(rng, 10) + "z" + _hex(rng, 7)
    return {
        "sessionId": str(rng.randrange(10**11, 10**12)),
        "telephonySessionId": tsid,
        "serverId": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.TAM",
        "caller": _phone(rng),
        "callee": _phone(rng),
        "callerName": " ".join(_name(rng)),
        "calleeName": " ".join(_name(rng)),
        "callerExtensionId": _rc_id(rng),
        "deviceId": _rc_id(rng),
        "recordingId": _rc_id(rng),
        "sipCallId": _hex(rng, 24) + "@10.13.122.7",
        "fromTag": _digits(rng, 10),
        "toTag": _hex(rng, 12),
    }


def _telephony_body(
    ids: dict[str, str],
    *,
    stage: int,
    start: datetime,
    account_id: str,
    extension_id: str,
    account_level: bool,
) -> dict[str, Any]:
    code = _CALL_FLOW[stage]
    tsid = ids["telephonySessionId"]
    status: dict[str, Any] = {"code": code, "rcc": False}
    if code == "Disconnected":
        status["reason"] = "CallFinished"
    callee: dict[str, Any] = {
        "accountId": account_id,
        "extensionId": extension_id,
        "id": f"p-{tsid[2:]}-2",
        "direction": "Inbound",
        "to": {
            "phoneNumber": ids["callee"],
            "name": ids["calleeName"],
            "extensionId": extension_id,
            "deviceId": ids["deviceId"],
        },
        "from": {"phoneNumber": ids["caller"], "name": ids["callerName"]},
        "status": status,
        "park": {},
        "missedCall": False,
        "standAlone": False,
        "muted": False,
        "sipData": {"callId": ids["sipCallId"], "fromTag": ids["fromTag"], "toTag": ids["toTag"]},
        "uiCallInfo": {
            "primary": {"type": "CallerIdName", "value": ids["callerName"]},
            "additional": {"type": "QueueName", "value": "Sales Queue"},
        },
    }
    if code in ("Answered", "Disconnected"):
        callee["recordings"] = [{"id": ids["recordingId"], "active": code == "Answered"}]
    parties = [callee]
    if account_level:
        # Account-wide subscriptions also see the caller's side of an internal call.
        caller_status: dict[str, Any] = {"code": code, "rcc": False}
        if code == "Setup":
            caller_status["code"] = "Proceeding"
        parties.insert(
            0,
            {
                "accountId": account_id,
                "extensionId": ids["callerExtensionId"],
                "id": f"p-{tsid[2:]}-1",
                "direction": "Outbound",
                "to": {"phoneNumber": ids["callee"], "name": ids["calleeName"]},
                "from": {
                    "phoneNumber": ids["caller"],
                    "name": ids["callerName"],
                    "extensionId": ids["callerExtensionId"],
                },
                "status": caller_status,
                "park": {},
                "missedCall": False,
                "standAlone": False,
                "muted": False,
            },
        )
    event_time = start + timedelta(seconds=(0, 1, 6, 95)[stage], milliseconds=37 * stage)
    return {
        "sequence": stage + 1,
        "sessionId": ids["sessionId"],
        "telephonySessionId": tsid,
        "serverId": ids["serverId"],
        "eventTime": _iso(event_time),
        "parties": parties,
        "origin": {"type": "Call"},
    }


def telephony_call(
    *,
    account_id: str,
    extension_id: str,
    rng: random.Random,
    account_level: bool = False,
    now: datetime | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Return the whole life of one inbound call as ``(event path, body)`` pairs.

    The bodies share one telephony session and go ``Setup`` → ``Proceeding`` →
    ``Answered`` → ``Disconnected`` with ``sequence`` 1 to 4. ``account_level`` picks the
    account-wide filter (whose bodies carry both parties) instead of the extension one.
    ``now`` starts the call at that instant instead of a random one in 2024.
    """
    token = _CLOCK.set(now)
    try:
        return _telephony_call(account_id, extension_id, rng, account_level)
    finally:
        _CLOCK.reset(token)


def _telephony_call(
    account_id: str, extension_id: str, rng: random.Random, account_level: bool
) -> list[tuple[str, dict[str, Any]]]:
    family = "account-telephony-sessions" if account_level else "telephony-sessions"
    path = _event_path(family, account_id, extension_id)
    ids = _session_ids(rng)
    start = _now(rng)
    return [
        (
            path,
            _telephony_body(
                ids,
                stage=stage,
                start=start,
                account_id=account_id,
                extension_id=extension_id,
                account_level=account_level,
            ),
        )
        for stage in range(len(_CALL_FLOW))
    ]


def _gen_telephony(
    rng: random.Random, account_id: str, extension_id: str, *, account_level: bool = False
) -> dict[str, Any]:
    return _telephony_body(
        _session_ids(rng),
        stage=rng.randrange(len(_CALL_FLOW)),
        start=_now(rng),
        account_id=account_id,
        extension_id=extension_id,
        account_level=account_level,
    )


def _gen_account_telephony(
    rng: random.Random, account_id: str, extension_id: str
) -> dict[str, Any]:
    return _gen_telephony(rng, account_id, extension_id, account_level=True)


# --------------------------------------------------------------------------- presence

_TELEPHONY_STATUSES = ("NoCall", "CallConnected", "Ringing", "OnHold", "ParkedCall")
_PRESENCE_STATUSES = ("Offline", "Busy", "Available")
_DND_STATUSES = (
    "TakeAllCalls",
    "DoNotAcceptDepartmentCalls",
    "TakeDepartmentCallsOnly",
    "DoNotAcceptAnyCalls",
)


def _presence_base(rng: random.Random, extension_id: str) -> dict[str, Any]:
    telephony = rng.choice(_TELEPHONY_STATUSES)
    user = rng.choice(_PRESENCE_STATUSES)
    presence = "Busy" if telephony != "NoCall" else user
    return {
        "extensionId": extension_id,
        "telephonyStatus": telephony,
        "sequence": rng.randrange(1, 20000),
        "presenceStatus": presence,
        "userStatus": user,
        "dndStatus": rng.choice(_DND_STATUSES),
        "meetingStatus": rng.choice(("Connected", "Disconnected")),
        "allowSeeMyPresence": True,
        "ringOnMonitoredCall": False,
        "pickUpCallsOnHold": False,
        "ownerId": extension_id,
    }


def _active_call(rng: random.Random, telephony: str, *, sip: bool) -> dict[str, Any]:
    tsid = "s-a" + _hex(rng, 24)
    direction = rng.choice(("Inbound", "Outbound"))
    call: dict[str, Any] = {
        "id": _hex(rng, 8) + "-c-" + _digits(rng, 6),
        "direction": direction,
        "from": _phone(rng),
        "fromName": " ".join(_name(rng)),
        "to": _phone(rng),
        "toName": " ".join(_name(rng)),
        "startTime": _iso(_now(rng)),
        "telephonyStatus": telephony if telephony != "NoCall" else "Ringing",
        "sessionId": str(rng.randrange(10**10, 10**11)),
        "telephonySessionId": tsid,
        "partyId": f"p-{tsid[2:]}-2",
        "terminationType": "final",
    }
    if sip:
        call["sipData"] = {
            "callId": _hex(rng, 24),
            "toTag": _hex(rng, 10),
            "fromTag": _digits(rng, 10),
            "remoteUri": f"sip:{call['from'][1:]}@sip.ringcentral.com",
            "localUri": f"sip:{call['to'][1:]}@sip.ringcentral.com",
            "rcSessionId": call["sessionId"],
        }
    return call


def _gen_presence(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    body = _presence_base(rng, extension_id)
    body["aggregatedTelephonyStatus"] = body["telephonyStatus"]
    body["acceptCallQueueCalls"] = rng.random() < 0.5
    return body


def _detailed(rng: random.Random, extension_id: str, *, sip: bool) -> dict[str, Any]:
    body = _presence_base(rng, extension_id)
    telephony = body["telephonyStatus"]
    calls = [] if telephony == "NoCall" else [_active_call(rng, telephony, sip=sip)]
    body["activeCalls"] = calls
    body["totalActiveCalls"] = len(calls)
    return body


def _gen_detailed_presence(
    rng: random.Random, account_id: str, extension_id: str
) -> dict[str, Any]:
    return _detailed(rng, extension_id, sip=False)


def _gen_detailed_presence_sip(
    rng: random.Random, account_id: str, extension_id: str
) -> dict[str, Any]:
    return _detailed(rng, extension_id, sip=True)


def _gen_account_presence(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    # Account presence reports on any extension of the account: ``extension_id`` is that one.
    return _presence_base(rng, extension_id)


def _gen_dnd(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    return {
        "extensionId": extension_id,
        "dndStatus": rng.choice(_DND_STATUSES),
        "dndStatusPersonal": rng.choice(("TakeAllCalls", "DoNotAcceptAnyCalls")),
    }


def _gen_presence_line(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    return {
        "extension": [{"id": _rc_id(rng)} for _ in range(rng.randrange(1, 4))],
        "sequence": rng.randrange(1, 20000),
    }


def _gen_line_presence(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    # Presence of one monitored line: ``extension_id`` is the watched extension.
    return _detailed(rng, extension_id, sip=False)


def _gen_favorite_presence(
    rng: random.Random, account_id: str, extension_id: str
) -> dict[str, Any]:
    # ``extension_id`` is the watched (favourite) extension.
    return _presence_base(rng, extension_id)


# --------------------------------------------------------------------------- messages


def _message_uri(account_id: str, extension_id: str, message_id: str) -> str:
    return (
        f"https://platform.ringcentral.com/restapi/v1.0/account/{account_id}"
        f"/extension/{extension_id}/message-store/{message_id}/content/{message_id}"
    )


def _gen_instant_sms(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    message_id = str(rng.randrange(10**11, 10**12))
    conversation_id = str(rng.randrange(10**18, 9 * 10**18))
    first, last = _name(rng)
    created = _iso(_now(rng))
    return {
        "id": message_id,
        "to": [
            {
                "phoneNumber": _phone(rng),
                "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                "location": rng.choice(_CITIES),
                "target": True,
            }
        ],
        "from": {"phoneNumber": _phone(rng), "name": f"{first} {last}", "location": "Denver, CO"},
        "type": "SMS",
        "creationTime": created,
        "lastModifiedTime": created,
        "readStatus": "Unread",
        "priority": "Normal",
        "attachments": [
            {
                "id": message_id,
                "uri": _message_uri(account_id, extension_id, message_id),
                "type": "Text",
                "contentType": "text/plain",
            }
        ],
        "direction": "Inbound",
        "availability": "Alive",
        "subject": rng.choice(_SMS_TEXTS),
        "messageStatus": "Received",
        "conversationId": conversation_id,
        "conversation": {
            "id": conversation_id,
            "uri": f"https://platform.ringcentral.com/restapi/v1.0/conversation/{conversation_id}",
        },
        "ownerId": extension_id,
    }


def _gen_message_store(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    changes = []
    for kind in rng.sample(("SMS", "VoiceMail", "Fax", "Pager"), rng.randrange(1, 3)):
        new = rng.randrange(0, 3)
        change: dict[str, Any] = {"type": kind, "newCount": new, "updatedCount": rng.randrange(2)}
        if new:
            change["newMessageIds"] = [rng.randrange(10**10, 10**11) for _ in range(new)]
        changes.append(change)
    return {
        "accountId": _id_value(account_id),
        "extensionId": _id_value(extension_id),
        "lastUpdated": _iso(_now(rng)),
        "changes": changes,
    }


def _gen_voicemail(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    message_id = str(rng.randrange(10**10, 10**11))
    created = _now(rng)
    return {
        "id": message_id,
        "to": [{"name": " ".join(_name(rng)), "phoneNumber": _phone(rng)}],
        "from": {"phoneNumber": _phone(rng), "name": " ".join(_name(rng))},
        "type": "VoiceMail",
        "creationTime": _iso(created),
        "readStatus": "Unread",
        "priority": "Normal",
        "attachments": [
            {
                "id": message_id,
                "uri": _message_uri(account_id, extension_id, message_id),
                "type": "AudioRecording",
                "contentType": "audio/x-wav",
                "vmDuration": rng.randrange(2, 120),
            }
        ],
        "direction": "Inbound",
        "availability": "Alive",
        "messageStatus": "Received",
        "lastModifiedTime": _iso(created + timedelta(seconds=10)),
        "vmTranscriptionStatus": rng.choice(("NotAvailable", "InProgress", "Completed")),
    }


def _gen_fax(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    message_id = str(rng.randrange(10**11, 10**12))
    created = _now(rng)
    sender = _phone(rng)
    return {
        "id": message_id,
        "from": {"phoneNumber": sender},
        "type": "Fax",
        "creationTime": _iso(created),
        "readStatus": "Unread",
        "priority": "Normal",
        "attachments": [
            {
                "id": message_id,
                "uri": _message_uri(account_id, extension_id, message_id),
                "type": "RenderedDocument",
                "contentType": "application/pdf",
            }
        ],
        "direction": "Inbound",
        "availability": "Alive",
        "subject": sender,
        "messageStatus": "Received",
        "faxResolution": rng.choice(("High", "Low")),
        "faxPageCount": rng.randrange(1, 9),
        "lastModifiedTime": _iso(created + timedelta(milliseconds=673)),
    }


# --------------------------------------------------------------------------- A2P SMS


def _gen_a2p_batch(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    created = _now(rng)
    size = rng.randrange(1, 500)
    status = rng.choice(("Processing", "Completed", "Sent"))
    processed = size if status != "Processing" else rng.randrange(size + 1)
    return {
        "id": _uuid(rng),
        "from": _phone(rng),
        "batchSize": size,
        "processedCount": processed,
        "status": status,
        "creationTime": _iso_micro(created),
        "lastModifiedTime": _iso_micro(created + timedelta(seconds=rng.randrange(1, 60))),
        "cost": round(0.007 * processed, 3),
    }


def _gen_a2p_message(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    created = _iso_micro(_now(rng))
    direction = rng.choice(("Inbound", "Outbound"))
    body: dict[str, Any] = {
        "id": str(rng.randrange(1000, 10**7)),
        "from": _phone(rng),
        "to": [_phone(rng)],
        "text": rng.choice(_SMS_TEXTS),
        "creationTime": created,
        "lastModifiedTime": created,
        "messageStatus": rng.choice(("Queued", "Sent", "Delivered", "DeliveryFailed")),
        "segmentCount": 1,
        "cost": 0.007,
        "direction": direction,
    }
    if direction == "Outbound":
        body["batchId"] = _uuid(rng)
    return body


def _gen_a2p_opt_out(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    return {"from": _phone(rng), "to": _phone(rng), "active": rng.random() < 0.8}


# --------------------------------------------------------------------------- account


def _gen_contact_center(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    number_id = str(rng.randrange(10**8, 10**9))
    return {
        "eventType": rng.choice(("Created", "Updated", "Deleted")),
        "phoneNumberInfo": {
            "uri": (
                f"https://platform.ringcentral.com/restapi/v1.0/account/{account_id}"
                f"/phone-number/{number_id}"
            ),
            "id": number_id,
            "phoneNumber": _phone(rng),
            "paymentType": "Local",
            "location": rng.choice(_CITIES),
            "type": "VoiceFax",
            "usageType": "ContactCenterNumber",
            "status": "Normal",
            "contactCenterProvider": {"id": str(rng.randrange(10000, 99999)), "name": "RingCX"},
        },
    }


def _gen_directory(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    first, last = _name(rng)
    return {
        "contacts": [
            {
                "eventType": rng.choice(("Create", "Update", "Delete")),
                "id": _rc_id(rng),
                "type": "User",
                "status": rng.choice(("Enabled", "Disabled", "NotActivated")),
                "name": f"{first} {last}",
                "firstName": first,
                "lastName": last,
                "department": rng.choice(_DEPARTMENTS),
                "email": f"{first.lower()}.{last.lower()}@example.com",
                "extensionNumber": str(rng.randrange(101, 999)),
                "account": {"id": account_id},
                "phoneNumbers": [
                    {"phoneNumber": _phone(rng), "usageType": "DirectNumber", "type": "VoiceFax"}
                ],
                "profileImage": {"etag": _hex(rng, 32)},
                "site": {"id": "main-site", "name": "Headquarters"},
            }
        ]
    }


def _gen_emergency_address(
    rng: random.Random, account_id: str, extension_id: str
) -> dict[str, Any]:
    return {"extensionId": extension_id, "deviceId": EMERGENCY_DEVICE_ID}


def _gen_extension_only(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    return {"extensionId": extension_id, "ownerId": extension_id}


_HINTS = ("AccountSettings", "AnsweringRules", "CompanyNumbers", "ExtensionInfo", "Features")


def _gen_extension_info(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    return {
        "extensionId": extension_id,
        "eventType": "Update",
        "hints": sorted(rng.sample(_HINTS, rng.randrange(1, 3))),
        "ownerId": extension_id,
    }


def _gen_extension_list(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    extensions = []
    for _ in range(rng.randrange(1, 4)):
        event_type = rng.choice(("Create", "Update", "Delete"))
        item: dict[str, Any] = {"extensionId": _rc_id(rng), "eventType": event_type}
        if event_type == "Update":
            item["hints"] = sorted(rng.sample(_HINTS, 2))
        extensions.append(item)
    return {"extensions": extensions}


# --------------------------------------------------------------------------- team messaging


def _gen_post(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    post_id = str(rng.randrange(10**13, 10**14))
    event_type = rng.choice(("PostAdded", "PostAdded", "PostChanged", "PostRemoved"))
    if event_type == "PostRemoved":
        return {"id": post_id, "eventType": event_type}
    created = _now(rng)
    modified = created if event_type == "PostAdded" else created + timedelta(seconds=8)
    return {
        "id": post_id,
        "groupId": str(rng.randrange(10**11, 10**12)),
        "type": "TextMessage",
        "text": rng.choice(_SMS_TEXTS[:-1]),
        "creatorId": extension_id,
        "addedPersonIds": None,
        "creationTime": _iso(created),
        "lastModifiedTime": _iso(modified),
        "attachments": None,
        "activity": None,
        "title": None,
        "iconUri": None,
        "iconEmoji": None,
        "mentions": None,
        "eventType": event_type,
    }


def _gen_group(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    created = _iso(_now(rng))
    kind = rng.choice(("Group", "Team", "Direct"))
    return {
        "id": str(rng.randrange(10**11, 10**13)),
        "name": f"{rng.choice(_DEPARTMENTS)} team" if kind == "Team" else None,
        "description": None,
        "type": kind,
        "status": "Active",
        "members": [extension_id] + [_rc_id(rng) for _ in range(rng.randrange(1, 4))],
        "isPublic": (rng.random() < 0.5) if kind == "Team" else None,
        "creationTime": created,
        "lastModifiedTime": created,
        "eventType": rng.choice(("GroupJoined", "GroupChanged", "GroupLeft")),
    }


# --------------------------------------------------------------------------- webinar


def _webinar_ref(rng: random.Random) -> dict[str, Any]:
    return {
        "id": _digits(rng, 12),
        "title": rng.choice(("Quarterly update", "Product launch", "Onboarding 101")),
    }


def _gen_webinar_session(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    created = _now(rng)
    start = created + timedelta(days=rng.randrange(1, 30))
    return {
        "eventType": rng.choice(("Created", "Updated", "Deleted")),
        "id": _digits(rng, 12),
        "webinar": _webinar_ref(rng),
        "title": "Session 1",
        "scheduledStartTime": _iso(start.replace(minute=0, second=0, microsecond=0)),
        "scheduledDuration": rng.choice((1800, 3600, 5400)),
        "timeZone": rng.choice(("America/Los_Angeles", "America/New_York", "Europe/London")),
        "localeCode": "en-US",
        "status": "Scheduled",
        "creationTime": _iso(created),
        "lastModifiedTime": _iso(created + timedelta(minutes=5)),
    }


def _gen_webinar_state(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    runtime = rng.choice(("Idle", "Practice", "GoingLive", "Live", "Break", "Debrief"))
    start = _now(rng)
    body: dict[str, Any] = {
        "id": _digits(rng, 12),
        "webinar": _webinar_ref(rng),
        "status": "Finished" if runtime == "Debrief" else "Active",
        "runtimeStatus": runtime,
        "startTime": _iso(start),
    }
    if runtime == "Debrief":
        body["endTime"] = _iso(start + timedelta(minutes=rng.randrange(20, 90)))
    return body


def _gen_registration_state(
    rng: random.Random, account_id: str, extension_id: str
) -> dict[str, Any]:
    return {
        "id": _digits(rng, 12),
        "webinarId": _digits(rng, 12),
        "registrationStatus": rng.choice(("Open", "Closed")),
        "lastModifiedTime": _iso(_now(rng)),
    }


def _gen_registrant(rng: random.Random, account_id: str, extension_id: str) -> dict[str, Any]:
    first, last = _name(rng)
    registered = _now(rng)
    registrant_id = _digits(rng, 12)
    return {
        "eventType": rng.choice(("Created", "Updated", "Deleted")),
        "id": registrant_id,
        "sessionId": _digits(rng, 12),
        "firstName": first,
        "lastName": last,
        "email": f"{first.lower()}.{last.lower()}@example.org",
        "registrationTime": _iso(registered),
        "creationTime": _iso(registered),
        "lastModifiedTime": _iso(registered),
        "source": "Registration page",
        "registeredPostWebinar": False,
        "joinUri": f"https://v.ringcentral.com/w/j/{registrant_id}",
    }


# --------------------------------------------------------------------------- dispatch

_Generator = Callable[[random.Random, str, str], dict[str, Any]]

_GENERATORS: dict[str, _Generator] = {
    "telephony-sessions": _gen_telephony,
    "account-telephony-sessions": _gen_account_telephony,
    "presence": _gen_presence,
    "detailed-presence": _gen_detailed_presence,
    "detailed-presence-sip": _gen_detailed_presence_sip,
    "account-presence": _gen_account_presence,
    "dnd": _gen_dnd,
    "presence-line": _gen_presence_line,
    "line-presence": _gen_line_presence,
    "favorite-presence": _gen_favorite_presence,
    "instant-sms": _gen_instant_sms,
    "message-store": _gen_message_store,
    "voicemail": _gen_voicemail,
    "fax": _gen_fax,
    "a2p-batches": _gen_a2p_batch,
    "a2p-messages": _gen_a2p_message,
    "a2p-opt-outs": _gen_a2p_opt_out,
    "contact-center-numbers": _gen_contact_center,
    "team-messaging-posts": _gen_post,
    "team-messaging-groups": _gen_group,
    "directory-entries": _gen_directory,
    "emergency-address": _gen_emergency_address,
    "favorites": _gen_extension_only,
    "grants": _gen_extension_only,
    "extension-info": _gen_extension_info,
    "extension-list": _gen_extension_list,
    "webinar-sessions": _gen_webinar_session,
    "webinar-session-state": _gen_webinar_state,
    "webinar-registration-state": _gen_registration_state,
    "webinar-registrants": _gen_registrant,
}

assert set(_GENERATORS) == set(_FILTERS)


def generate(
    family: str,
    *,
    account_id: str,
    extension_id: str,
    rng: random.Random,
    watched_id: str | None = None,
    presence_event_path: str = "extension",
    now: datetime | None = None,
    filter_shaped: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Return ``(event path, body)`` for one synthetic notification of ``family``.

    The event path is what the platform writes in the ``event`` field: for most families
    the family's filter with ``account_id`` and ``extension_id`` in place of ``~`` and the
    filter's query string kept. Account-level presence and telephony sessions are
    extension-scoped (``.../account/{account_id}/extension/{extension_id}/presence``;
    ``extension_id`` is the extension the event is about). ``line-presence`` and
    ``favorite-presence`` report on ``watched_id`` (default: a random id) for the subscriber
    ``extension_id``: with ``presence_event_path="extension"`` (the default, an assumption)
    the path is the watched extension's own presence path, with ``"filter"`` the
    subscriber's filter path. ``now`` puts that instant in the body's times instead of a
    random one in 2024. ``filter_shaped=True`` returns the family's filter with the ids
    filled in as the path whatever the platform writes: for the account-level families a
    path the platform does not send, for the watching ones the ``"filter"`` reading. It is
    for unit tests of routing by filter shape; end-to-end tests use the real paths. The
    body is a fresh dict (safe to mutate). Raises :class:`KeyError` for an unknown family.
    """
    token = _CLOCK.set(now)
    try:
        path, body = _generate(
            family, account_id, extension_id, rng, watched_id, presence_event_path
        )
    finally:
        _CLOCK.reset(token)
    if filter_shaped:
        path = _FILTERS[family]
        path = path.replace("/account/~", f"/account/{account_id}", 1)
        path = path.replace("/extension/~", f"/extension/{extension_id}", 1)
    return path, body


def _generate(
    family: str,
    account_id: str,
    extension_id: str,
    rng: random.Random,
    watched_id: str | None,
    presence_event_path: str,
) -> tuple[str, dict[str, Any]]:
    generator = _GENERATORS.get(family)
    if generator is None:
        filter_for(family)  # raises the KeyError naming the known families
        raise AssertionError("unreachable")  # pragma: no cover
    if family in WATCHING_FAMILIES:
        watched = watched_id or _rc_id(rng)
        path = _event_path(
            family,
            account_id,
            extension_id,
            watched_id=watched,
            presence_event_path=presence_event_path,
        )
        return path, generator(rng, account_id, watched)
    return _event_path(family, account_id, extension_id), generator(rng, account_id, extension_id)
