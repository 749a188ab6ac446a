"""The notification envelope and the base class of every body model.

Conventions shared by all models:

* attributes are ``snake_case``; the wire names (``camelCase``) are the aliases, and both
  are accepted on input;
* every body field is optional (the platform leaves many out);
* unknown fields are not stored on the models: :meth:`Notification.to_wire` returns the
  notification exactly as it was received (rcstream keeps the received bytes or dict), so
  nothing is lost, and no nested model pays for ``extra="allow"`` (issue 13 measured it);
* validation is *strict*: a value whose JSON type differs from the documented one fails
  validation instead of being silently converted (``"false"`` does not become ``False``),
  and :func:`rcstream.models.parse_notification` then degrades to a plain
  :class:`Notification`; it costs about 3 % of a body's validation (within noise);
* ids the platform sends sometimes as numbers and sometimes as strings are ``int | str``
  and keep the wire type; times stay strings exactly as sent;
* enumerated values are ``Open[SomeEnum]`` (see :mod:`rcstream.models.enums`): unknown
  values are kept as strings and never fail validation;
* instances are frozen.

The measurements behind these choices are in ``docs/performance.md`` (``python -m
bench.configs``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Generic, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from typing_extensions import TypeVar

__all__ = ["BodyT", "Notification", "WireModel"]

_MODEL_CONFIG = ConfigDict(
    strict=True,
    populate_by_name=True,
    alias_generator=to_camel,
    frozen=True,
    # pydantic's string cache costs more than it saves on notification bodies (ids and
    # times are mostly distinct): about 0.8 us of 11 per telephony body (bench.configs)
    cache_strings=False,
    # schemas are built on first use: a process pays (time and memory) only for the
    # families it actually receives
    defer_build=True,
)


class WireModel(BaseModel):
    """Base of every body and nested model: camelCase aliases, frozen."""

    model_config = _MODEL_CONFIG

    def to_wire(self) -> dict[str, Any]:
        """The known fields that were received, under their wire names.

        Unknown fields are not kept on nested models; the notification's
        :meth:`Notification.to_wire` is the lossless form.
        """
        return self.model_dump(by_alias=True, exclude_unset=True)


_VALIDATION_ERROR = "validation_error"
_WIRE = "wire"
_FRAME = "frame"

#: The body type of a notification class. A plain :class:`Notification` (unknown event, or
#: degraded) holds the body as received: normally a dict, ``Any`` to the type checker so
#: that every ``Notification[SomeBody]`` is also a ``Notification``.
BodyT = TypeVar("BodyT", default=Any)


def _private(notification: Notification[Any]) -> dict[str, Any]:
    private = notification.__pydantic_private__
    if private is None:
        private = {}
        object.__setattr__(notification, "__pydantic_private__", private)
    return private


def _mark_degraded(notification: Notification[Any], reason: str) -> None:
    """Record why ``notification`` fell back to the generic model (internal)."""
    _private(notification)[_VALIDATION_ERROR] = reason


def _keep_wire(notification: Notification[Any], wire: bytes | str | dict[str, Any]) -> None:
    """Remember what ``notification`` was validated from, for :meth:`to_wire` (internal)."""
    _private(notification)[_WIRE] = wire


def _keep_frame(notification: Notification[Any], frame: bytes) -> None:
    """Remember the whole gateway frame (``[header, notification]``) ``notification`` was
    validated from, for :meth:`to_wire` (internal: the one-parse fast path)."""
    _private(notification)[_FRAME] = frame


def _copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars): about 5x faster than
    ``copy.deepcopy``, which handles cycles and arbitrary objects a parsed JSON value
    cannot hold."""
    if type(value) is dict:
        return {k: _copy_json(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) for v in value]
    return value  # immutable scalars; anything else was not parsed from JSON


def _parse_timestamp(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class Notification(BaseModel, Generic[BodyT]):
    """One platform event: the ``ServerNotification`` body of the WebSocket gateway.

    This class is also the *generic* notification: events whose path rcstream does not
    know, and events whose body does not match their family's model, are delivered as a
    plain :class:`Notification` with ``body`` kept as the raw dict (in the second case
    :attr:`validation_error` says why). Subclasses narrow ``body`` to a typed model and set
    :attr:`family`: ``class TelephonySessionsNotification(Notification[TelephonySessionsBody])``.

    ``timestamp`` is the wire string as sent; :attr:`timestamp_dt` parses it.
    """

    model_config = _MODEL_CONFIG

    #: Family name of this notification class (``"generic"`` for the base class).
    family: ClassVar[str] = "generic"

    uuid: str
    event: str
    timestamp: str
    subscription_id: str | None = None
    owner_id: str | None = None
    # a missing body validates as {} (into the family's body model for subclasses)
    body: BodyT = Field(default_factory=dict, validate_default=True)

    @property
    def validation_error(self) -> str | None:
        """Why the body did not match its family's model, or ``None`` if it did (or if the
        event has no typed model)."""
        # Kept outside the model's fields and declared private attributes on purpose:
        # declaring one makes every validation slower, and only degraded notifications
        # (see rcstream.models.parse_notification) carry a reason.
        private = self.__pydantic_private__
        return None if private is None else private.get(_VALIDATION_ERROR)

    @property
    def timestamp_dt(self) -> datetime | None:
        """``timestamp`` as an aware :class:`~datetime.datetime`, or ``None`` if unparsable.

        Accepts the forms the platform uses: ``...Z``, ``...+00:00`` and ``...+0000``.
        """
        return _parse_timestamp(self.timestamp)

    def to_wire(self) -> dict[str, Any]:
        """The wire form: exactly the notification that was received (unknown fields, nulls
        and key order kept), as a new dict the caller may change.

        For a notification built in code rather than received, the fields that were set,
        under their wire names. A degraded notification may hold a body that is not an
        object (``null``, a list): it is returned as received.
        """
        private = self.__pydantic_private__
        if private is None:
            return self.model_dump(by_alias=True, exclude_unset=True, warnings=False)
        frame = private.get(_FRAME)
        if frame is not None:
            element: dict[str, Any] = json.loads(frame)[1]
            return element
        wire = private.get(_WIRE)
        if isinstance(wire, bytes | str):
            result: dict[str, Any] = json.loads(wire)
            return result
        if wire is not None:
            copied: dict[str, Any] = _copy_json(wire)
            return copied
        return self.model_dump(by_alias=True, exclude_unset=True, warnings=False)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Pydantic's copy; with ``update`` the copy forgets the received wire form (its
        :meth:`to_wire` then dumps the fields)."""
        new = super().model_copy(update=update, deep=deep)
        if update and new.__pydantic_private__ is not None:
            private = dict(new.__pydantic_private__)
            private.pop(_WIRE, None)
            private.pop(_FRAME, None)
            object.__setattr__(new, "__pydantic_private__", private)
        return new

    def __eq__(self, other: object) -> bool:
        """Equal class, fields and :attr:`validation_error`; how the notification was
        received (bytes or a dict) does not matter."""
        if not isinstance(other, Notification) or type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__ and self.validation_error == other.validation_error

    def __hash__(self) -> int:
        """Hash of the class and the ``uuid`` (bodies are dicts or unhashable models)."""
        return hash((type(self), self.uuid))
