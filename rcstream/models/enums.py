"""Value sets the platform defines for notification fields.

Every enumerated field in the models is typed ``Open[SomeEnum]``: a known value becomes the
:class:`~enum.StrEnum` member, an unknown one (the platform adds values over time) stays a
plain ``str``. Validation never fails because of a new value, and because a ``StrEnum``
member *is* a ``str``, comparisons such as ``status.code == "Answered"`` work either way::

    if party.status.code is CallStatusCode.ANSWERED: ...   # known value
    isinstance(party.status.code, CallStatusCode)          # False for values added later
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import Field, Strict

__all__ = [
    "A2PBatchStatus",
    "AttachmentType",
    "Availability",
    "CallStatusCode",
    "CallStatusReason",
    "ChatStatus",
    "ChatType",
    "ConferenceRole",
    "Direction",
    "DndStatus",
    "ExtensionEventType",
    "ExtensionHint",
    "MeetingStatus",
    "MessageStatus",
    "MessageType",
    "Open",
    "OptOutSource",
    "OptOutStatus",
    "OriginType",
    "PhoneNumberEventType",
    "PostEventType",
    "PostType",
    "PresenceStatus",
    "Priority",
    "ReadStatus",
    "TelephonyStatus",
    "TerminationType",
    "UiCallInfoType",
    "VmTranscriptionStatus",
    "WebinarRuntimeStatus",
    "WebinarSessionStatus",
]

_E = TypeVar("_E")

#: ``Open[SomeEnum]``: the enum member for a known value, else the string as sent.
Open = Annotated[Annotated[_E, Strict(False)] | str, Field(union_mode="left_to_right")]


class Direction(StrEnum):
    """Direction of a call, party or message."""

    INBOUND = "Inbound"
    OUTBOUND = "Outbound"


class CallStatusCode(StrEnum):
    """``parties[].status.code`` in telephony session events."""

    SETUP = "Setup"
    PROCEEDING = "Proceeding"
    ANSWERED = "Answered"
    DISCONNECTED = "Disconnected"
    GONE = "Gone"
    PARKED = "Parked"
    HOLD = "Hold"
    VOICEMAIL = "VoiceMail"
    FAX_RECEIVE = "FaxReceive"
    TDS = "Tds"
    VOICEMAIL_SCREENING = "VoiceMailScreening"


class CallStatusReason(StrEnum):
    """``parties[].status.reason``: why a party reached its status."""

    PICKUP = "Pickup"
    SUPERVISING = "Supervising"
    TAKE_OVER = "TakeOver"
    TIMEOUT = "Timeout"
    BLIND_TRANSFER = "BlindTransfer"
    RCC_TRANSFER = "RccTransfer"
    ATTENDED_TRANSFER = "AttendedTransfer"
    CALLER_INPUT_REDIRECT = "CallerInputRedirect"
    CALL_FLIP = "CallFlip"
    PARK_LOCATION = "ParkLocation"
    DTMF_TRANSFER = "DtmfTransfer"
    AGENT_ANSWERED = "AgentAnswered"
    AGENT_DROPPED = "AgentDropped"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"
    INTERNAL_ERROR = "InternalError"
    NO_ANSWER = "NoAnswer"
    TARGET_BUSY = "TargetBusy"
    INVALID_NUMBER = "InvalidNumber"
    INTERNATIONAL_DISABLED = "InternationalDisabled"
    DESTINATION_BLOCKED = "DestinationBlocked"
    NOT_ENOUGH_FUNDS = "NotEnoughFunds"
    NO_SUCH_USER = "NoSuchUser"
    CALL_PARK = "CallPark"
    CALL_REDIRECTED = "CallRedirected"
    CALL_REPLIED = "CallReplied"
    CALL_SWITCH = "CallSwitch"
    CALL_FINISHED = "CallFinished"
    CALL_DROPPED = "CallDropped"
    VOICEMAIL = "Voicemail"


class OriginType(StrEnum):
    """``origin.type``: how a telephony session started."""

    CALL = "Call"
    RING_OUT = "RingOut"
    RING_ME = "RingMe"
    CONFERENCE = "Conference"
    GREETINGS_RECORDING = "GreetingsRecording"
    VERIFICATION_CALL = "VerificationCall"
    ZOOM = "Zoom"
    CALL_OUT = "CallOut"


class ConferenceRole(StrEnum):
    """``parties[].conferenceRole``."""

    HOST = "Host"
    PARTICIPANT = "Participant"


class UiCallInfoType(StrEnum):
    """``parties[].uiCallInfo.primary.type``: what the UI should show for the call."""

    QUEUE_NAME = "QueueName"
    CALLER_ID_NAME = "CallerIdName"


class TelephonyStatus(StrEnum):
    """Telephony status of an extension or of one active call (presence events)."""

    NO_CALL = "NoCall"
    CALL_CONNECTED = "CallConnected"
    RINGING = "Ringing"
    ON_HOLD = "OnHold"
    PARKED_CALL = "ParkedCall"


class PresenceStatus(StrEnum):
    """``presenceStatus`` (aggregated) and ``userStatus`` (user-defined)."""

    OFFLINE = "Offline"
    BUSY = "Busy"
    AVAILABLE = "Available"


class MeetingStatus(StrEnum):
    """``meetingStatus`` in presence events."""

    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"


class DndStatus(StrEnum):
    """``dndStatus`` / ``dndStatusPersonal``: which calls the extension accepts."""

    TAKE_ALL_CALLS = "TakeAllCalls"
    DO_NOT_ACCEPT_DEPARTMENT_CALLS = "DoNotAcceptDepartmentCalls"
    TAKE_DEPARTMENT_CALLS_ONLY = "TakeDepartmentCallsOnly"
    DO_NOT_ACCEPT_ANY_CALLS = "DoNotAcceptAnyCalls"
    UNKNOWN = "Unknown"


class TerminationType(StrEnum):
    """``activeCalls[].terminationType``."""

    FINAL = "final"
    INTERMEDIATE = "intermediate"


class MessageType(StrEnum):
    """Type of a message-store message (``changes[].type`` and message ``type``).

    The platform writes both ``VoiceMail`` and ``Voicemail``; both are listed.
    """

    SMS = "SMS"
    FAX = "Fax"
    VOICEMAIL = "VoiceMail"
    VOICEMAIL_LOWER = "Voicemail"
    PAGER = "Pager"


class ReadStatus(StrEnum):
    """Whether a message has been read."""

    READ = "Read"
    UNREAD = "Unread"


class Priority(StrEnum):
    """Message priority."""

    NORMAL = "Normal"
    HIGH = "High"


class Availability(StrEnum):
    """Whether a message still exists in the message store."""

    ALIVE = "Alive"
    DELETED = "Deleted"
    PURGED = "Purged"


class MessageStatus(StrEnum):
    """Delivery status of a message (message store and A2P SMS)."""

    QUEUED = "Queued"
    SENT = "Sent"
    DELIVERED = "Delivered"
    DELIVERY_FAILED = "DeliveryFailed"
    SENDING_FAILED = "SendingFailed"
    RECEIVED = "Received"


class AttachmentType(StrEnum):
    """Type of a message attachment."""

    AUDIO_RECORDING = "AudioRecording"
    AUDIO_TRANSCRIPTION = "AudioTranscription"
    TEXT = "Text"
    SOURCE_DOCUMENT = "SourceDocument"
    RENDERED_DOCUMENT = "RenderedDocument"
    MMS_ATTACHMENT = "MmsAttachment"


class VmTranscriptionStatus(StrEnum):
    """Status of a voicemail's transcription."""

    NOT_AVAILABLE = "NotAvailable"
    IN_PROGRESS = "InProgress"
    TIMED_OUT = "TimedOut"
    COMPLETED = "Completed"
    COMPLETED_PARTIALLY = "CompletedPartially"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


class A2PBatchStatus(StrEnum):
    """Status of an A2P (high-volume) SMS batch."""

    PROCESSING = "Processing"
    COMPLETED = "Completed"
    SENT = "Sent"


class OptOutStatus(StrEnum):
    """Opt-out state of an A2P SMS recipient."""

    OPT_IN = "OptIn"
    OPT_OUT = "OptOut"


class OptOutSource(StrEnum):
    """Who recorded an A2P SMS opt-out."""

    RECIPIENT = "Recipient"
    ACCOUNT = "Account"
    UPSTREAM = "Upstream"
    CARRIER = "Carrier"


class PhoneNumberEventType(StrEnum):
    """``eventType`` of a contact-centre phone number event."""

    CREATED = "Created"
    UPDATED = "Updated"
    DELETED = "Deleted"


class ExtensionEventType(StrEnum):
    """``eventType`` of extension info/list and directory events."""

    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"


class ExtensionHint(StrEnum):
    """``hints[]``: which part of an extension changed."""

    ACCOUNT_SETTINGS = "AccountSettings"
    ACCOUNT_STATUS = "AccountStatus"
    ANSWERING_RULES = "AnsweringRules"
    COMPANY_NUMBERS = "CompanyNumbers"
    DIALING_PLAN = "DialingPlan"
    EXTENSION_INFO = "ExtensionInfo"
    FEATURES = "Features"
    LIMITS = "Limits"
    PERMISSIONS = "Permissions"
    PROFILE_IMAGE = "ProfileImage"
    VIDEO_CONFIGURATION = "VideoConfiguration"


class PostEventType(StrEnum):
    """``eventType`` of a Team Messaging post event."""

    POST_ADDED = "PostAdded"
    POST_CHANGED = "PostChanged"
    POST_REMOVED = "PostRemoved"


class PostType(StrEnum):
    """``type`` of a Team Messaging post."""

    TEXT_MESSAGE = "TextMessage"
    PERSON_JOINED = "PersonJoined"
    PERSONS_ADDED = "PersonsAdded"
    CARD = "Card"


class ChatType(StrEnum):
    """``type`` of a Team Messaging chat (group)."""

    EVERYONE = "Everyone"
    TEAM = "Team"
    GROUP = "Group"
    DIRECT = "Direct"
    PERSONAL = "Personal"


class ChatStatus(StrEnum):
    """``status`` of a Team Messaging chat."""

    ACTIVE = "Active"
    ARCHIVED = "Archived"


class WebinarSessionStatus(StrEnum):
    """Scheduling status of a webinar session."""

    SCHEDULED = "Scheduled"
    ACTIVE = "Active"
    FINISHED = "Finished"


class WebinarRuntimeStatus(StrEnum):
    """Live state of a webinar session."""

    IDLE = "Idle"
    PRACTICE = "Practice"
    GOING_LIVE = "GoingLive"
    LIVE = "Live"
    BREAK = "Break"
    DEBRIEF = "Debrief"
