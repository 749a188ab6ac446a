"""A consumer of a :class:`rcstream.Client`: :class:`Subscription` and its bounded inbox."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Self, TypeVar

import anyio

from rcstream.exceptions import (
    FrameDecodeError,
    UsageError,
)
from rcstream.models import Notification, parse_notification
from rcstream.models.lifecycle import Gap, Lifecycle
from rcstream.options import ClientStats
from rcstream.protocol.frames import Wsc

__all__ = ["Subscription"]

if TYPE_CHECKING:
    from rcstream.client import Client

#: Connected/Disconnected items a stalled consumer's buffer keeps (gaps are always kept).
_MAX_LIFECYCLE: Final = 32


@dataclass(slots=True)
class _Handed:
    """An event handed to a consumer, with what the checkpoint records for it."""

    uuid: str | None
    wsc: Wsc | None
    at: float | None
    body: dict[str, Any]


logger = logging.getLogger(__name__)


class _Typed:
    """One notification routed to typed consumers, validated once and the same frozen model
    handed to every one of them.

    On the general path the first typed consumer to reach it validates ``data`` in its own
    task (so an event a full buffer drops is never validated); on the one-validate path
    (every consumer on the route typed, see ``Client._typed_fast_path``) the reader has
    already validated the frame and ``data`` is rebuilt from the model only if asked for.
    Raw consumers get the dict itself; a typed consumer's buffer holds this instead.
    """

    __slots__ = ("_data", "error", "model")

    def __init__(self, data: dict[str, Any] | None, model: Notification | None = None) -> None:
        self._data = data
        self.model: Notification | None = model
        self.error: FrameDecodeError | None = None

    @classmethod
    def validated(cls, model: Notification) -> _Typed:
        """A holder for a notification the reader already validated (the one-parse path)."""
        return cls(None, model)

    @property
    def data(self) -> dict[str, Any]:
        """The notification as received (rebuilt from the model's wire form if the reader
        validated the frame straight from its bytes)."""
        if self._data is None:
            assert self.model is not None
            self._data = self.model.to_wire()
        return self._data

    def resolve(self, stats: ClientStats) -> Notification | None:
        """The model, validated on the first call; None (logged and counted once) when the
        envelope is unreadable. A body that does not match degrades, it never fails."""
        if self.model is not None:
            return self.model
        if self.error is not None:
            return None
        try:
            model = self.model = parse_notification(self.data)
        except FrameDecodeError as exc:
            self.error = exc
            stats.bad_frames += 1
            logger.warning("%s", exc)
            return None
        return model


#: What a buffer counts as an event (raw consumers hold the dict, typed ones a _Typed).
_NOTES: Final = (dict, _Typed)


class _Inbox:
    """A consumer's bounded buffer. ``put`` never blocks; overflow drops the oldest event.

    Only notifications count toward the bound; lifecycle items (rare, and the signal a
    consumer needs most) are never dropped. With ``block=True`` (back-pressure) nothing is
    dropped: ``put`` still never blocks, but :attr:`room` is cleared once ``maxsize``
    events are buffered and the reader waits on it before reading the next frame.
    """

    __slots__ = (
        "_closed",
        "_error",
        "_event",
        "_items",
        "_lifecycle",
        "_max",
        "_notes",
        "block",
        "dropped",
        "pending_drop",
        "room",
    )

    def __init__(self, maxsize: int, *, block: bool = False) -> None:
        self._items: deque[dict[str, Any] | _Typed | Lifecycle] = deque()
        self._max = maxsize
        self._notes = 0
        self._lifecycle = 0
        self._event = asyncio.Event()
        self._closed = False
        self._error: BaseException | None = None
        self.dropped = 0
        self.pending_drop = 0
        self.block = block
        self.room = asyncio.Event()
        self.room.set()

    def undelivered(self) -> list[dict[str, Any]]:
        """The notifications still buffered, oldest first (for a checkpoint's pending)."""
        out: list[dict[str, Any]] = []
        for item in self._items:
            if isinstance(item, _Typed):
                out.append(item.data)
            elif isinstance(item, dict):
                out.append(item)
        return out

    def put(self, item: dict[str, Any] | _Typed | Lifecycle) -> bool:
        """Buffer ``item``; returns False when an older event had to be dropped."""
        fits = True
        if type(item) not in _NOTES:
            # lifecycle items are never dropped for events, but a consumer stalled through
            # many reconnects must not grow without bound: keep gaps, drop the oldest
            # Connected/Disconnected beyond a few dozen
            self._lifecycle += 1
            if self._lifecycle > _MAX_LIFECYCLE:
                for i, old in enumerate(self._items):
                    if type(old) not in _NOTES and not isinstance(old, Gap):
                        del self._items[i]
                        self._lifecycle -= 1
                        break
        elif self.block:
            self._notes += 1
            if self._notes >= self._max and not self._closed:
                self.room.clear()  # the reader waits until the consumer catches up
        else:
            if self._notes >= self._max:
                items = self._items
                if type(items[0]) in _NOTES:
                    items.popleft()
                else:  # keep lifecycle items in place; drop the oldest notification
                    for i, old in enumerate(items):
                        if type(old) in _NOTES:
                            del items[i]
                            break
                self.dropped += 1
                self.pending_drop += 1
                fits = False
            else:
                self._notes += 1
        self._items.append(item)
        self._event.set()
        return fits

    def close(self, error: BaseException | None = None) -> None:
        if not self._closed:
            self._closed = True
            self._error = error
            self._event.set()
            self.room.set()

    async def get(self) -> dict[str, Any] | _Typed | Lifecycle | None:
        """The next item; None once closed cleanly; raises the error it was closed with."""
        while True:
            if self._items:
                item = self._items.popleft()
                if type(item) in _NOTES:
                    self._notes -= 1
                    if self._notes < self._max:
                        self.room.set()
                else:
                    self._lifecycle -= 1
                return item
            if self._closed:
                if self._error is not None:
                    raise self._error
                return None
            self._event.clear()
            await self._event.wait()


ItemT = TypeVar("ItemT")


class Subscription(Generic[ItemT]):
    """One consumer's view of the stream: an async context manager and async iterator.

    Entering registers the filters with the client's server subscription and waits until
    the server confirmed them (raising :class:`~rcstream.GatewayError` or
    :class:`~rcstream.PermissionDeniedError` when it refuses). Iterating yields typed
    :class:`~rcstream.models.Notification` objects — and, with ``lifecycle=True``,
    :class:`~rcstream.models.lifecycle.Lifecycle` items — until the block is left. If the
    stream cannot be kept alive the iteration raises the reason. Leaving removes the
    filters (the last consumer's exit deletes the server subscription).
    """

    def __init__(
        self,
        client: Client,
        filters: tuple[str, ...],
        *,
        lifecycle: bool,
        on_gap: Callable[[Gap], None] | None,
        buffer_size: int,
        raw: bool = False,
        ack: Literal["auto", "manual"] = "auto",
        backpressure: bool = False,
    ) -> None:
        self._client = client
        self.filters = filters
        self.lifecycle = lifecycle
        self.raw = raw
        self.ack_mode = ack
        self._on_gap = on_gap
        client._keys += 1
        self._key = client._keys
        self._inbox = _Inbox(buffer_size, block=backpressure)
        #: events handed out and not acked yet (manual ack with a checkpoint), oldest first
        self._unacked: deque[_Handed] = deque()
        self._entered = False
        self._left = False
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<Subscription filters={len(self.filters)} dropped={self.dropped}>"

    @property
    def confirmed(self) -> bool:
        """True once the server subscription carries all of this consumer's filters."""
        return self._client._table.is_confirmed(self._key)

    @property
    def dropped(self) -> int:
        """Events dropped because this consumer fell more than ``buffer_size`` behind."""
        return self._inbox.dropped

    @property
    def buffered(self) -> int:
        """Items buffered for this consumer, which the next iterations return without
        waiting. Lets a consumer batch work: flush its output or commit a transaction only
        when this drops to 0 (``rcstream listen`` does).

        Exact with ``raw=True``. Typed, an item whose envelope turns out unreadable when it
        is validated (rare; logged and counted in ``stats.bad_frames``) is skipped, so the
        next iteration can wait although this was positive: a batching consumer should
        also bound how long a batch may wait."""
        inbox = self._inbox
        return inbox._notes + inbox._lifecycle if self.lifecycle else inbox._notes

    @property
    def backpressure(self) -> bool:
        """True when a full buffer makes the reader wait instead of dropping the oldest."""
        return self._inbox.block

    def ack(self, event: object) -> None:
        """Mark ``event`` and every event handed out before it as done (``ack="manual"``).

        With a checkpoint, progress advances only over acked events: a restart hands out
        again what was not acked. Acks are cumulative (like a stream offset), so acking
        the last of a batch acks the batch. Without a checkpoint, or with ``ack="auto"``,
        this does nothing. Raises :class:`~rcstream.UsageError` for an event this
        subscription did not hand out (or that was acked already).
        """
        if self.ack_mode != "manual" or self._client._writer is None:
            return
        uuid = event.get("uuid") if isinstance(event, dict) else getattr(event, "uuid", None)
        if not any(h.uuid == uuid for h in self._unacked):
            raise UsageError(
                "ack() takes an event this subscription handed out and that was not acked yet."
            )
        while self._unacked:
            handed = self._unacked.popleft()
            self._client._progress(handed)
            if handed.uuid == uuid:
                break

    def _undelivered(self) -> list[dict[str, Any]]:
        """Wire bodies not done yet: handed out but not acked, then still buffered."""
        return [h.body for h in self._unacked] + self._inbox.undelivered()

    def matches(self, event: str) -> bool:
        """True if a notification with this ``event`` path belongs to this consumer."""
        return self._client._router.matches(self._key, event)

    async def __aenter__(self) -> Self:
        if self._entered:
            raise UsageError("A Subscription can be entered only once; call subscribe() again.")
        self._entered = True
        await self._client._add_consumer(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop this consumer and take its filters off the server subscription."""
        if self._left:
            return
        self._left = True
        self._inbox.close()
        with anyio.CancelScope(shield=True):
            await self._client._remove_consumer(self)

    def __aiter__(self) -> AsyncIterator[ItemT]:
        return self

    async def __anext__(self) -> ItemT:
        if not self._entered:
            raise UsageError(
                "Enter the subscription first: 'async with client.subscribe(...) as events:'."
            )
        while True:
            if self._inbox.pending_drop:
                count, self._inbox.pending_drop = self._inbox.pending_drop, 0
                gap = self._client._gap_item(
                    "buffer_overflow",
                    f"{count} events were dropped because the consumer fell more than "
                    f"{self._inbox._max} events behind; consume faster or raise buffer_size.",
                    dropped=count,
                )
                if self.lifecycle:
                    return gap  # type: ignore[return-value]
                self._notify_gap(gap)
            item = await self._inbox.get()
            if item is None:
                raise StopAsyncIteration
            if type(item) is _Typed:
                if self._client._writer is not None:
                    self._client._handed_out(self, item.data)  # checkpoint progress
                # typed in the consumer's task, once per event for all typed consumers
                model = item.model
                if model is None:
                    model = item.resolve(self._client._stats)
                    if model is None:
                        continue  # an unreadable envelope: logged and counted once
                return model  # type: ignore[return-value]
            if type(item) is dict:
                if self._client._writer is not None:
                    self._client._handed_out(self, item)  # checkpoint progress (hand-off)
                return item  # type: ignore[return-value]
            if not self.lifecycle:
                if isinstance(item, Gap):
                    self._notify_gap(item)
                continue
            return item  # type: ignore[return-value]

    def _notify_gap(self, gap: Gap) -> None:
        if self._on_gap is not None:
            self._on_gap(gap)

    # called by the client (reader task); never blocks
    def _deliver(self, item: dict[str, Any] | _Typed | Lifecycle) -> bool:
        return self._inbox.put(item)

    def _close(self, error: BaseException | None) -> None:
        self.error = error
        self._inbox.close(error)
