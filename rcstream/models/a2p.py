"""A2P (high-volume) SMS events: batches, batch messages and opt-outs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from rcstream.models.base import Notification, WireModel
from rcstream.models.enums import (
    A2PBatchStatus,
    Direction,
    MessageStatus,
    Open,
    OptOutSource,
    OptOutStatus,
)

__all__ = [
    "A2PBatchBody",
    "A2PBatchNotification",
    "A2PMessageBody",
    "A2PMessageNotification",
    "A2POptOutBody",
    "A2POptOutNotification",
]


class A2PBatchBody(WireModel):
    """Body of a batch event: progress and cost of one A2P SMS batch.

    Times carry microseconds (``2021-05-26T04:15:54.011183Z``).
    """

    id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    batch_size: int | None = None
    processed_count: int | None = None
    status: Open[A2PBatchStatus] | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None
    rejected: list[dict[str, Any]] | None = None
    cost: float | int | None = None


class A2PMessageBody(WireModel):
    """Body of a batch-message event: one A2P SMS (sent or received)."""

    id: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: list[str] | None = None
    text: str | None = None
    creation_time: str | None = None
    last_modified_time: str | None = None
    message_status: Open[MessageStatus] | None = None
    segment_count: int | None = None
    cost: float | int | None = None
    batch_id: str | None = None
    direction: Open[Direction] | None = None
    error_code: str | None = None


class A2POptOutBody(WireModel):
    """Body of an opt-out event: recipient ``from`` opted in or out of sender ``to``."""

    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    active: bool | None = None
    status: Open[OptOutStatus] | None = None
    source: Open[OptOutSource] | None = None


class A2PBatchNotification(Notification[A2PBatchBody]):
    """An A2P SMS batch was created or progressed.

    Filters: ``/restapi/v1.0/account/~/a2p-sms/batches`` and
    ``.../a2p-sms/batches/{batchId}`` (:func:`rcstream.filters.a2p_batches`).
    """

    family = "a2p-batches"


class A2PMessageNotification(Notification[A2PMessageBody]):
    """An A2P SMS message was sent, delivered, failed or received.

    Filter: ``/restapi/v1.0/account/~/a2p-sms/messages`` (with optional ``direction``,
    ``to``, ``from`` ... parameters), built by :func:`rcstream.filters.a2p_messages`.
    """

    family = "a2p-messages"


class A2POptOutNotification(Notification[A2POptOutBody]):
    """A recipient opted out of (or back into) A2P SMS.

    Filter: ``/restapi/v1.0/account/~/a2p-sms/opt-outs`` (:func:`rcstream.filters.a2p_opt_outs`).
    """

    family = "a2p-opt-outs"
