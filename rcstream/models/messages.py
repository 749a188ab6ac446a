"""Message events: message-store changes, instant SMS, voicemail and fax."""

from __future__ import annotations

from pydantic import Field

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import (
    AttachmentType,
    Availability,
    Direction,
    MessageStatus,
    MessageType,
    Open,
    Priority,
    ReadStatus,
    VmTranscriptionStatus,
)

__all__ = [
    "ConversationInfo",
    "FaxBody",
    "FaxNotification",
    "InstantMessageBody",
    "InstantMessageNotification",
    "MessageAttachment",
    "MessageBody",
    "MessageChange",
    "MessageRecipient",
    "MessageSender",
    "MessageStoreBody",
    "MessageStoreNotification",
    "VoicemailBody",
    "VoicemailNotification",
]


class MessageChange(WireModel):
    """How many messages of one type were added or updated. Zero counts may be left out."""

    type: Open[MessageType] | None = None
    new_count: int | None = None
    updated_count: int | None = None
    new_message_ids: list[int] | None = None


class MessageStoreBody(WireModel):
    """Body of a message-store event: which kinds of messages changed, not the messages.

    ``account_id`` / ``extension_id`` are numbers on the live gateway and strings in
    other samples; the wire type is kept.
    """

    account_id: int | str | None = None
    extension_id: int | str | None = None
    last_updated: str | None = None
    changes: list[MessageChange] | None = None
    owner_id: int | str | None = None


class MessageRecipient(WireModel):
    """One entry of a message's ``to`` list."""

    phone_number: str | None = None
    extension_number: str | None = None
    target: bool | None = None
    location: str | None = None
    name: str | None = None


class MessageSender(WireModel):
    """A message's ``from``."""

    phone_number: str | None = None
    extension_number: str | None = None
    location: str | None = None
    name: str | None = None


class MessageAttachment(WireModel):
    """A message attachment (text, recording, rendered fax document ...)."""

    id: int | str | None = None
    uri: str | None = None
    type: Open[AttachmentType] | None = None
    content_type: str | None = None
    vm_duration: int | None = None
    file_name: str | None = None
    size: int | None = None
    height: int | None = None
    width: int | None = None


class ConversationInfo(WireModel):
    """The conversation a message belongs to."""

    id: str | None = None
    uri: str | None = None


class MessageBody(WireModel):
    """Fields shared by the message bodies (instant SMS, voicemail, fax)."""

    id: int | str | None = None
    to: list[MessageRecipient] | None = None
    from_: MessageSender | None = Field(default=None, alias="from")
    type: Open[MessageType] | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None
    read_status: Open[ReadStatus] | None = None
    priority: Open[Priority] | None = None
    attachments: list[MessageAttachment] | None = None
    direction: Open[Direction] | None = None
    availability: Open[Availability] | None = None
    subject: str | None = None
    message_status: Open[MessageStatus] | None = None
    owner_id: int | str | None = None


class InstantMessageBody(MessageBody):
    """Body of an instant-message (SMS) event; ``subject`` holds the text."""

    conversation_id: str | None = None
    conversation: ConversationInfo | None = None


class VoicemailBody(MessageBody):
    """Body of a voicemail event; the recording is ``attachments[0]``."""

    vm_transcription_status: Open[VmTranscriptionStatus] | None = None


class FaxBody(MessageBody):
    """Body of an inbound fax event; the document is ``attachments[0]``."""

    fax_resolution: str | None = None
    fax_page_count: int | None = None


class MessageStoreNotification(Notification[MessageStoreBody]):
    """Messages of the extension were added or changed (counts and ids only).

    Filter: ``/restapi/v1.0/account/~/extension/~/message-store`` (optionally with
    ``?type=`` / ``direction=``), built by :func:`rcstream.filters.message_store`.
    Permission: ``ReadMessages``.
    """

    family = "message-store"


class InstantMessageNotification(Notification[InstantMessageBody]):
    """An SMS arrived for the extension (the whole message is in the body).

    Filter: ``.../extension/~/message-store/instant?type=SMS``
    (:func:`rcstream.filters.instant_sms`).
    """

    family = "instant-sms"


class VoicemailNotification(Notification[VoicemailBody]):
    """A voicemail arrived for the extension.

    Filter: ``.../extension/~/voicemail`` (:func:`rcstream.filters.voicemail`).
    """

    family = "voicemail"


class FaxNotification(Notification[FaxBody]):
    """A fax arrived for the extension.

    Filter: ``.../extension/~/fax?direction=Inbound`` (:func:`rcstream.filters.fax`).
    """

    family = "fax"
