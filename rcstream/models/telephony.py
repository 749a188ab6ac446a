"""Telephony session events (``.../telephony/sessions``)."""

from __future__ import annotations

from pydantic import Field

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import (
    CallStatusCode,
    CallStatusReason,
    ConferenceRole,
    Direction,
    Open,
    OriginType,
    UiCallInfoType,
)

__all__ = [
    "AccountTelephonySessionsNotification",
    "CallParty",
    "CallPartyInfo",
    "CallStatus",
    "MobilePickupData",
    "ParkInfo",
    "PeerInfo",
    "RecordingInfo",
    "SessionOrigin",
    "SipData",
    "TelephonySessionsBody",
    "TelephonySessionsNotification",
    "UiCallInfo",
    "UiCallInfoRecord",
]


class CallPartyInfo(WireModel):
    """``to`` / ``from`` of a call party: a phone number and, if internal, the extension."""

    phone_number: str | None = None
    name: str | None = None
    extension_id: int | str | None = None
    device_id: int | str | None = None


class PeerInfo(WireModel):
    """The other side of a transfer or pick-up (``status.peerId``)."""

    session_id: str | None = None
    telephony_session_id: str | None = None
    party_id: str | None = None


class MobilePickupData(WireModel):
    """Data a mobile client needs to pick the call up (``status.mobilePickupData``)."""

    cc_mailboxes: list[str] | None = None
    to: str | None = None
    sid: str | None = None
    srvlvl: str | None = None
    srv_lvl: str | None = None
    srv_lvl_ext: str | None = None


class CallStatus(WireModel):
    """The status of one party: ``code`` (``Setup`` ... ``Disconnected``) and why."""

    code: Open[CallStatusCode] | None = None
    reason: Open[CallStatusReason] | None = None
    description: str | None = None
    park_data: str | None = None
    peer_id: PeerInfo | None = None
    mobile_pickup_data: MobilePickupData | None = None
    rcc: bool | None = None


class ParkInfo(WireModel):
    """Where a parked call is (``park.id`` is the park orbit); usually ``{}``."""

    id: str | None = None


class RecordingInfo(WireModel):
    """One call recording of a party."""

    id: str | None = None
    active: bool | None = None


class SipData(WireModel):
    """SIP dialog identifiers of a party (with ``sipData=true``)."""

    to_tag: str | None = None
    from_tag: str | None = None
    call_id: str | None = None


class UiCallInfoRecord(WireModel):
    """One line of what a phone should display for the call."""

    type: Open[UiCallInfoType] | None = None
    value: str | None = None


class UiCallInfo(WireModel):
    """What a phone should display for the call (primary and additional lines)."""

    primary: UiCallInfoRecord | None = None
    additional: UiCallInfoRecord | None = None


class CallParty(WireModel):
    """One participant (leg) of a telephony session."""

    account_id: int | str | None = None
    extension_id: int | str | None = None
    id: str | None = None
    direction: Open[Direction] | None = None
    to: CallPartyInfo | None = None
    from_: CallPartyInfo | None = Field(default=None, alias="from")
    recordings: list[RecordingInfo] | None = None
    status: CallStatus | None = None
    park: ParkInfo | None = None
    queue_call: bool | None = None
    missed_call: bool | None = None
    stand_alone: bool | None = None
    muted: bool | None = None
    conference_role: Open[ConferenceRole] | None = None
    sip_data: SipData | None = None
    ui_call_info: UiCallInfo | None = None


class SessionOrigin(WireModel):
    """How the session started (``Call``, ``RingOut`` ...)."""

    type: Open[OriginType] | None = None


class TelephonySessionsBody(WireModel):
    """Body of a telephony session event: the session and the state of its parties.

    ``sequence`` orders the events of one session; they may arrive out of order.
    """

    sequence: int | None = None
    session_id: str | None = None
    telephony_session_id: str | None = None
    server_id: str | None = None
    event_time: str | None = None
    origin: SessionOrigin | None = None
    parties: list[CallParty] | None = None
    account_id: int | str | None = None
    extension_id: int | str | None = None


class TelephonySessionsNotification(Notification[TelephonySessionsBody]):
    """A call of the extension changed state.

    Filter: ``/restapi/v1.0/account/~/extension/~/telephony/sessions`` (optionally with
    ``?direction=``, ``missedCall=``, ``statusCode=`` ...), built by
    :func:`rcstream.filters.telephony_sessions`. Permission: ``CallControl``.
    """

    family = "telephony-sessions"


class AccountTelephonySessionsNotification(TelephonySessionsNotification):
    """A call anywhere in the account changed state (same body as the extension event).

    Filter: ``/restapi/v1.0/account/~/telephony/sessions``, built by
    ``rcstream.filters.telephony_sessions(extension=None)``.
    """

    family = "account-telephony-sessions"
