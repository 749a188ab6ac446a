"""Typed models for Vonage Contact Center (VCC) webhook notifications: CloudEvents 1.0.

VCC posts each notification as a structured-mode CloudEvents 1.0 envelope
(``application/cloudevents+json``) whose ``type`` is the event name and version, e.g.
``channel.held.v1`` [VCC docs, channel.held.v1 page]. Families found in the docs, each in
``.v0`` (beta) and ``.v1``:

* ``agent.presencechanged`` — :class:`AgentPresenceChanged`, data ``{timestamp,
  presence:{presenceId, category:{type, description, subcategory}, description},
  user:{agentId, userId}}``;
* ``channel.alerted`` / ``connected`` / ``held`` / ``retrieved`` / ``disconnected`` /
  ``wrapstarted`` — :class:`ChannelEvent`, data ``{timestamp, channel:{conversationId,
  interactionId, channelId, party:{role, agentId, userId}}}``.

Any other ``type`` (or a known type whose ``data`` does not fit) becomes a plain
:class:`CloudEvent` with ``data`` kept as received. Unknown fields are kept everywhere.
:attr:`CloudEvent.raw` holds the exact request body, for printing it unchanged.

No I/O here.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CHANNEL_EVENTS",
    "AgentPresenceChanged",
    "AgentPresenceData",
    "Channel",
    "ChannelData",
    "ChannelEvent",
    "ChannelParty",
    "CloudEvent",
    "CloudEventError",
    "Presence",
    "PresenceCategory",
    "PresenceUser",
    "compact_json",
    "parse_cloudevent",
]

_CONFIG = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

#: The channel lifecycle event names (without version suffix).
CHANNEL_EVENTS = frozenset(
    {
        "channel.alerted",
        "channel.connected",
        "channel.held",
        "channel.retrieved",
        "channel.disconnected",
        "channel.wrapstarted",
    }
)
_VERSION_RE = re.compile(r"^(?P<name>.+)\.(?P<version>v\d+)$")


class CloudEventError(ValueError):
    """A body that is not a CloudEvents 1.0 JSON object (the receiver answers 400)."""


class _Data(BaseModel):
    model_config = _CONFIG


class ChannelParty(_Data):
    """Who the channel belongs to: ``role`` (e.g. ``agent``), ``agent_id``, ``user_id``."""

    role: str | None = None
    agent_id: str | None = Field(default=None, alias="agentId")
    user_id: str | None = Field(default=None, alias="userId")


class Channel(_Data):
    """One channel of an interaction."""

    conversation_id: str | None = Field(default=None, alias="conversationId")
    interaction_id: str | None = Field(default=None, alias="interactionId")
    channel_id: str | None = Field(default=None, alias="channelId")
    party: ChannelParty | None = None


class ChannelData(_Data):
    """``data`` of the channel events: when it happened and which channel."""

    timestamp: str | None = None
    channel: Channel


class PresenceCategory(_Data):
    """The presence category: ``type``, ``description``, ``subcategory``."""

    type: str | None = None
    description: str | None = None
    subcategory: str | None = None


class Presence(_Data):
    """The presence that ended."""

    presence_id: str | None = Field(default=None, alias="presenceId")
    category: PresenceCategory | None = None
    description: str | None = None


class PresenceUser(_Data):
    """The agent whose presence changed."""

    agent_id: str | None = Field(default=None, alias="agentId")
    user_id: str | None = Field(default=None, alias="userId")


class AgentPresenceData(_Data):
    """``data`` of ``agent.presencechanged`` (sent when the previous presence ends)."""

    timestamp: str | None = None
    presence: Presence | None = None
    user: PresenceUser | None = None


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; also the generic VCC event (``data`` as received).

    ``name`` and ``version`` split ``type`` (``channel.held.v1`` → ``channel.held``,
    ``v1``). :attr:`raw` is the request body byte for byte. :attr:`key` is the
    de-duplication key (``source``, ``id``).
    """

    model_config = _CONFIG
    family: ClassVar[str] = "generic"

    specversion: str
    id: str
    source: str
    type: str
    subject: str | None = None
    time: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: Any = None

    @property
    def name(self) -> str:
        """``type`` without its ``.vN`` suffix."""
        match = _VERSION_RE.match(self.type)
        return match["name"] if match else self.type

    @property
    def version(self) -> str | None:
        """The ``vN`` suffix of ``type``, or ``None``."""
        match = _VERSION_RE.match(self.type)
        return match["version"] if match else None

    @property
    def key(self) -> tuple[str, str]:
        """``(source, id)``: unique per notification; repeats are duplicates."""
        return (self.source, self.id)

    @property
    def raw(self) -> bytes:
        """The body exactly as received (empty if the event was built in code)."""
        private = self.__pydantic_private__
        value = None if private is None else private.get("raw")
        return value if isinstance(value, bytes) else b""

    def to_wire(self) -> dict[str, Any]:
        """The envelope as a dict, field order and unknown fields kept."""
        if self.raw:
            value = orjson.loads(self.raw)
            assert isinstance(value, dict)
            return value
        return self.model_dump(by_alias=True, exclude_unset=True)


class ChannelEvent(CloudEvent):
    """``channel.alerted`` / ``connected`` / ``held`` / ``retrieved`` / ``disconnected`` /
    ``wrapstarted`` (``.v0`` or ``.v1``)."""

    family: ClassVar[str] = "channel"
    data: ChannelData


class AgentPresenceChanged(CloudEvent):
    """``agent.presencechanged`` (``.v0`` or ``.v1``)."""

    family: ClassVar[str] = "agent-presence"
    data: AgentPresenceData


def model_for_type(event_type: str) -> type[CloudEvent]:
    """The model class for a CloudEvents ``type``; :class:`CloudEvent` when unknown."""
    match = _VERSION_RE.match(event_type)
    name = match["name"] if match else event_type
    if name in CHANNEL_EVENTS:
        return ChannelEvent
    if name == "agent.presencechanged":
        return AgentPresenceChanged
    return CloudEvent


def parse_cloudevent(raw: bytes | dict[str, Any]) -> CloudEvent:
    """Parse a VCC notification body into its typed model.

    Raises :class:`CloudEventError` when the body is not JSON, not an object, or lacks the
    required CloudEvents attributes (``specversion``, ``id``, ``source``, ``type``). A known
    type whose ``data`` does not fit its model degrades to a plain :class:`CloudEvent`.
    """
    if isinstance(raw, dict):
        data, body = raw, b""
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CloudEventError("The body is not JSON.") from exc
        body = bytes(raw)
    if not isinstance(data, dict):
        raise CloudEventError("The body is not a JSON object.")
    for name in ("specversion", "id", "source", "type"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise CloudEventError(f"The CloudEvents attribute {name!r} is missing.")
    cls = model_for_type(data["type"])
    try:
        event = cls.model_validate(data)
    except ValidationError:
        if cls is CloudEvent:
            raise CloudEventError("The body is not a CloudEvents 1.0 envelope.") from None
        event = CloudEvent.model_validate(data)
    if body:
        object.__setattr__(event, "__pydantic_private__", {"raw": body})
    return event


_INSIGNIFICANT = re.compile(rb'("(?:[^"\\]|\\.)*")|[ \t\r\n]+')


def compact_json(raw: bytes) -> bytes:
    """``raw`` JSON with the whitespace between tokens removed, and nothing else changed.

    Strings, numbers, key order and every field stay byte for byte as received, so one
    JSON line can carry a pretty-printed body without re-encoding it.
    """
    return _INSIGNIFICANT.sub(lambda m: m.group(1) or b"", raw)
