"""Lifecycle items: what happened to the stream, as values a consumer can act on.

A subscription opened with ``lifecycle=True`` yields these between notifications. Each has a
``type`` field, so ``item.model_dump(mode="json")`` is a self-describing JSON record:

* :class:`Connected` — a connection is ready (``outcome``: fresh, recovered or failed);
* :class:`Disconnected` — the connection dropped; rcstream is reconnecting;
* :class:`Reconnecting` — still disconnected: a connection attempt failed and the next one
  follows in ``next_in`` seconds (one per failed attempt, so at most one per backoff wait);
* :class:`Gap` — events may be missing (recovery failed, the recovery window passed, the
  gateway's recovery buffer filled up during the outage, the server lost the subscription,
  or the consumer fell behind and the bounded buffer dropped events). Re-read any state
  you cache.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Connected",
    "Disconnected",
    "Gap",
    "GapReason",
    "Lifecycle",
    "Reconnecting",
    "iso_utc",
]

GapReason = Literal[
    "recovery_failed",
    "recovery_window_expired",
    "recovery_buffer_full",
    "buffer_overflow",
    "subscription_recreated",
    "token_expired",
]


def iso_utc(at: float | None = None) -> str:
    """Wall-clock ``at`` (Unix seconds; now when ``None``) as ISO-8601 UTC with
    milliseconds, ``2026-01-01T00:00:00.000Z``: the ``at`` of every lifecycle item, the
    client's and the fleet's."""
    when = datetime.now(UTC) if at is None else datetime.fromtimestamp(at, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _now() -> str:
    return iso_utc()


class Lifecycle(BaseModel):
    """Base of the lifecycle items. ``at`` is the wall-clock time (ISO-8601, UTC)."""

    model_config = ConfigDict(frozen=True)

    type: str
    at: str = Field(default_factory=_now)


class Connected(Lifecycle):
    """A connection is ready and the subscription is in place.

    ``outcome`` is ``fresh`` (new session), ``recovered`` (the session and its buffered
    events survived the drop) or ``failed`` (recovery was refused; a :class:`Gap` follows).
    ``attempt`` counts connections made by this client, starting at 1.
    """

    type: Literal["connected"] = "connected"
    outcome: Literal["fresh", "recovered", "failed"]
    attempt: int


class Disconnected(Lifecycle):
    """The connection dropped; ``reason`` says why. rcstream reconnects by itself."""

    type: Literal["disconnected"] = "disconnected"
    reason: str


class Reconnecting(Lifecycle):
    """Still disconnected: connection attempt ``attempt`` failed (``reason``), the next one
    starts in ``next_in`` seconds; ``down_for`` is how long the stream has been without a
    working connection (since the drop, or since the start when it never connected).

    One item per failed attempt, and attempts are spaced by the capped backoff (at most
    60 s by default), so a consumer sees the stream is alive without being flooded. A drop
    that is repaired by the first attempt yields only :class:`Disconnected` and
    :class:`Connected`.
    """

    type: Literal["reconnecting"] = "reconnecting"
    attempt: int
    next_in: float
    reason: str
    down_for: float


class Gap(Lifecycle):
    """Events may be missing from the stream.

    ``reason`` says why; ``dropped`` is the exact number of events lost when rcstream knows
    it (buffer overflow), else ``None``; ``recovery_error_code`` carries the gateway's code
    when recovery was refused (``WSG-1003``, ``WSG-1005`` ...). ``token_expired``: the
    connection outlived its access token (the gateway refused a newer one on it) and was
    renewed; what the gateway sent to it meanwhile may be missing.
    """

    type: Literal["gap"] = "gap"
    reason: GapReason
    message: str
    dropped: int | None = None
    recovery_error_code: str | None = None
