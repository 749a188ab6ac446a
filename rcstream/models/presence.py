"""Presence events: extension, detailed, account, DND, line and favorite presence."""

from __future__ import annotations

from pydantic import Field

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import (
    Direction,
    DndStatus,
    MeetingStatus,
    Open,
    PresenceStatus,
    TelephonyStatus,
    TerminationType,
)

__all__ = [
    "AccountPresenceNotification",
    "ActiveCall",
    "ActiveCallSipData",
    "Appearance",
    "DetailedPresenceNotification",
    "DetailedPresenceWithSipNotification",
    "DndBody",
    "DndNotification",
    "FavoritePresenceNotification",
    "LineExtension",
    "LinePresenceNotification",
    "PresenceBody",
    "PresenceLineBody",
    "PresenceLineNotification",
    "PresenceNotification",
]


class ActiveCallSipData(WireModel):
    """SIP details of an active call (``?sipData=true``)."""

    call_id: str | None = None
    to_tag: str | None = None
    from_tag: str | None = None
    remote_uri: str | None = None
    local_uri: str | None = None
    rc_session_id: str | None = None


class Appearance(WireModel):
    """A shared-line appearance."""

    phone_number: str | None = None
    appearance_number: int | None = None
    line_status: str | None = None


class ActiveCall(WireModel):
    """One call in ``activeCalls`` of a detailed presence event."""

    id: str | None = None
    direction: Open[Direction] | None = None
    queue_call: bool | None = None
    from_: str | None = Field(default=None, alias="from")
    from_name: str | None = None
    to: str | None = None
    to_name: str | None = None
    start_time: str | None = None
    telephony_status: Open[TelephonyStatus] | None = None
    sip_data: ActiveCallSipData | None = None
    session_id: str | None = None
    telephony_session_id: str | None = None
    party_id: str | None = None
    on_behalf_of: str | None = None
    termination_type: Open[TerminationType] | None = None


class PresenceBody(WireModel):
    """Body of every presence event (the detailed fields are absent unless asked for).

    ``presence_status`` is the aggregated status, ``user_status`` the one the user set;
    ``active_calls`` and ``total_active_calls`` come with ``?detailedTelephonyState=true``.
    """

    extension_id: int | str | None = None
    telephony_status: Open[TelephonyStatus] | None = None
    aggregated_telephony_status: Open[TelephonyStatus] | None = None
    sequence: int | None = None
    presence_status: Open[PresenceStatus] | None = None
    user_status: Open[PresenceStatus] | None = None
    meeting_status: Open[MeetingStatus] | None = None
    dnd_status: Open[DndStatus] | None = None
    dnd_status_personal: Open[DndStatus] | None = None
    allow_see_my_presence: bool | None = None
    accept_call_queue_calls: bool | None = None
    ring_on_monitored_call: bool | None = None
    pick_up_calls_on_hold: bool | None = None
    owner_id: int | str | None = None
    cx_telephony_status: Open[TelephonyStatus] | None = None
    active_calls: list[ActiveCall] | None = None
    total_active_calls: int | None = None
    appearances: Appearance | list[Appearance] | None = None


class DndBody(WireModel):
    """Body of a Do-Not-Disturb event."""

    extension_id: int | str | None = None
    dnd_status: Open[DndStatus] | None = None
    dnd_status_personal: Open[DndStatus] | None = None


class LineExtension(WireModel):
    """One extension in the monitored-line list."""

    id: int | str | None = None


class PresenceLineBody(WireModel):
    """Body of a presence-line event: the extensions whose lines this one monitors."""

    extension: list[LineExtension] | None = None
    sequence: int | None = None


class PresenceNotification(Notification[PresenceBody]):
    """The extension's presence changed.

    Filter: ``/restapi/v1.0/account/~/extension/~/presence`` (:func:`rcstream.filters.presence`).
    Permission: ``ReadPresence``.
    """

    family = "presence"


class DetailedPresenceNotification(PresenceNotification):
    """Presence with the extension's active calls.

    Filter: ``.../extension/~/presence?detailedTelephonyState=true``
    (``rcstream.filters.presence(detailed=True)``).
    """

    family = "detailed-presence"


class DetailedPresenceWithSipNotification(DetailedPresenceNotification):
    """Detailed presence whose active calls carry SIP data.

    Filter: ``.../extension/~/presence?detailedTelephonyState=true&sipData=true``
    (``rcstream.filters.presence(detailed=True, sip_data=True)``).
    """

    family = "detailed-presence-sip"


class AccountPresenceNotification(PresenceNotification):
    """Presence of any extension of the account changed.

    Filter: ``/restapi/v1.0/account/~/presence`` (:func:`rcstream.filters.account_presence`).
    """

    family = "account-presence"


class LinePresenceNotification(PresenceNotification):
    """Presence of a line this extension monitors changed.

    Filter: ``.../extension/~/presence/line/presence`` (:func:`rcstream.filters.line_presence`).
    """

    family = "line-presence"


class FavoritePresenceNotification(PresenceNotification):
    """Presence of one of the extension's favorites changed.

    Filter: ``.../extension/~/favorite/presence`` (:func:`rcstream.filters.favorite_presence`).
    """

    family = "favorite-presence"


class DndNotification(Notification[DndBody]):
    """The extension's Do-Not-Disturb status changed.

    Filter: ``.../extension/~/presence/dnd`` (:func:`rcstream.filters.dnd`).
    """

    family = "dnd"


class PresenceLineNotification(Notification[PresenceLineBody]):
    """The list of lines the extension monitors changed.

    Filter: ``.../extension/~/presence/line`` (:func:`rcstream.filters.presence_line`).
    """

    family = "presence-line"
