"""Team Messaging events: posts and chats (groups)."""

from __future__ import annotations

from typing import Any

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import ChatStatus, ChatType, Open, PostEventType, PostType

__all__ = [
    "ChatBody",
    "ChatMember",
    "ChatNotification",
    "Mention",
    "PostBody",
    "PostNotification",
]


class Mention(WireModel):
    """A person, team, file ... mentioned in a post."""

    id: str | None = None
    type: str | None = None
    name: str | None = None


class PostBody(WireModel):
    """Body of a post event. Unused fields come as ``null``; a ``PostRemoved`` body has
    only ``id`` and ``event_type``. ``attachments`` are kept as raw dicts (cards, files,
    events, notes and tasks have different shapes)."""

    id: str | None = None
    group_id: str | None = None
    type: Open[PostType] | None = None
    text: str | None = None
    creator_id: str | None = None
    added_person_ids: list[str] | None = None
    removed_person_ids: list[str] | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None
    attachments: list[dict[str, Any]] | None = None
    activity: str | None = None
    title: str | None = None
    icon_uri: str | None = None
    icon_emoji: str | None = None
    mentions: list[Mention] | None = None
    event_type: Open[PostEventType] | None = None
    is_parent: bool | None = None
    parent_post_id: str | None = None
    thread_id: str | None = None


class ChatMember(WireModel):
    """A chat member given as an object (the events usually give bare id strings)."""

    id: str | None = None


class ChatBody(WireModel):
    """Body of a chat (group) event; ``event_type`` is e.g. ``GroupJoined``."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    type: Open[ChatType] | None = None
    status: Open[ChatStatus] | None = None
    members: list[str | ChatMember] | None = None
    is_public: bool | None = None
    public: bool | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None
    event_type: str | None = None


class PostNotification(Notification[PostBody]):
    """A Team Messaging post was added, changed or removed.

    Filter: ``/team-messaging/v1/posts`` (older: ``/restapi/v1.0/glip/posts``), built by
    :func:`rcstream.filters.team_messaging_posts`.
    """

    family = "team-messaging-posts"


class ChatNotification(Notification[ChatBody]):
    """A Team Messaging chat (group) was joined, changed or left.

    Filter: ``/team-messaging/v1/groups`` (also ``/team-messaging/v1/chats`` and the older
    ``/restapi/v1.0/glip/groups``), built by :func:`rcstream.filters.team_messaging_groups`.
    """

    family = "team-messaging-groups"
