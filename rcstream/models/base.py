"""The notification envelope and the base class of every body model.

Conventions shared by all models:

* attributes are ``snake_case``; the wire names (``camelCase``) are the aliases, and both
  are accepted on input;
* every body field is optional (the platform leaves many out) and unknown fields are kept,
  at every level, so ``n.to_wire()`` gives back exactly the dict that was parsed;
* validation is *strict*: a value whose JSON type differs from the documented one fails
  validation instead of being silently converted (which would break the round trip), and
  :func:`rcstream.models.parse_notification` then degrades to a plain :class:`Notification`;
* ids the platform sends sometimes as numbers and sometimes as strings are ``int | str``
  and keep the wire type; times stay strings exactly as sent;
* enumerated values are ``Open[SomeEnum]`` (see :mod:`rcstream.models.enums`): unknown
  values are kept as strings and never fail validation;
* instances are frozen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["Notification", "WireModel"]

_MODEL_CONFIG = ConfigDict(
    extra="allow",
    populate_by_name=True,
    alias_generator=to_camel,
    frozen=True,
    strict=True,
    # schemas are built on first use: a process pays (time and memory) only for the
    # families it actually receives
    defer_build=True,
)


class WireModel(BaseModel):
    """Base of every body and nested model: camelCase aliases, unknown fields kept, frozen."""

    model_config = _MODEL_CONFIG

    def to_wire(self) -> dict[str, Any]:
        """The wire form: exactly the fields that were received, under their wire names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


_VALIDATION_ERROR = "validation_error"


def _mark_degraded(notification: Notification, reason: str) -> None:
    """Record why ``notification`` fell back to the generic model (internal)."""
    object.__setattr__(notification, "__pydantic_private__", {_VALIDATION_ERROR: reason})


def _parse_timestamp(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class Notification(BaseModel):
    """One platform event: the ``ServerNotification`` body of the WebSocket gateway.

    This class is also the *generic* notification: events whose path rcstream does not
    know, and events whose body does not match their family's model, are delivered as a
    plain :class:`Notification` with ``body`` kept as the raw dict (in the second case
    :attr:`validation_error` says why). Subclasses narrow ``body`` to a typed model and set
    :attr:`family`.

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
    body: dict[str, Any] = Field(default_factory=dict)

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
        """The wire form: exactly the dict that was parsed (unknown fields and nulls kept).

        A degraded notification may hold a body that is not an object (``null``, a list):
        it is returned as received, without pydantic's serializer warning.
        """
        return self.model_dump(by_alias=True, exclude_unset=True, warnings=False)
