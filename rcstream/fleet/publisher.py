"""Publish to JetStream with a bounded number in flight and acknowledgements in order.

:class:`Publisher` sends each message as its own JetStream request (the reply is the
``PubAck``) without waiting for the previous one, up to ``max_in_flight`` at once. Acks
are handed to ``on_ack`` strictly in submission order, so a caller advances its
checkpoint only past messages JetStream has stored. Nothing is dropped: a publish that
gets no ack within ``ack_timeout`` (NATS down, JetStream restarting, a leader election)
is sent again with the same ``Nats-Msg-Id`` until it is acked, and the stream's
duplicate window keeps one copy. While acks are missing the window fills and
:meth:`Publisher.publish` blocks: back-pressure reaches the reader, which stops reading
so the events wait in the platform's buffer. Retries may store a message after one
submitted later (JetStream order can differ from receive order across an outage); the
``on_ack`` order never does.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from rcstream.exceptions import ConfigurationError
from rcstream.fleet.errors import NatsUnavailable
from rcstream.fleet.subjects import LIFECYCLE, family_of, lifecycle_json, subject_for
from rcstream.retry import backoff

__all__ = ["Ack", "Publisher"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ack:
    """JetStream stored (or had already stored) one message."""

    #: Submission order, from 0.
    index: int
    subject: str
    msg_id: str
    #: The stream sequence; for a duplicate, the sequence of the earlier copy.
    stream_seq: int
    #: True when the duplicate window recognised ``msg_id`` (stored once, earlier).
    duplicate: bool
    #: How many times it was sent (1 unless an ack went missing).
    attempts: int
    #: Whatever the caller passed to :meth:`Publisher.publish`.
    context: Any = None


@dataclass(slots=True)
class _Pending:
    index: int
    subject: str
    data: bytes
    msg_id: str
    context: Any
    done: asyncio.Future[Ack]


class Publisher:
    """Asynchronous, ordered-ack, never-dropping JetStream publisher.

    ``js`` is a nats-py JetStream context. Use it as ``async with Publisher(js) as pub``
    (or call :meth:`aclose`): leaving waits for every message to be acked.
    ``retry_backoff`` is (first wait, longest wait) in seconds between re-sends of one
    message: the shared capped, jittered backoff (:func:`rcstream.retry.backoff`; the first
    re-send follows at once).
    """

    def __init__(
        self,
        js: Any,
        *,
        stream: str | None = None,
        max_in_flight: int = 256,
        ack_timeout: float = 2.0,
        retry_backoff: tuple[float, float] = (0.05, 1.0),
        on_ack: Callable[[Ack], None] | None = None,
        no_stream_grace: float = 30.0,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._js = js
        self._stream = stream
        self._ack_timeout = ack_timeout
        self._backoff = retry_backoff
        self._on_ack = on_ack
        self._no_stream_grace = no_stream_grace
        self._slots = asyncio.Semaphore(max_in_flight)
        self._window: collections.deque[_Pending] = collections.deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_index = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._failure: BaseException | None = None
        #: Counters (for metrics): messages acked, duplicates, re-sends.
        self.acked = 0
        self.duplicates = 0
        self.retries = 0

    @property
    def in_flight(self) -> int:
        """Messages submitted and not yet handed to ``on_ack``."""
        return len(self._window)

    def unacked(self, predicate: Callable[[Any], bool] = lambda _: True) -> int:
        """Messages submitted and not acked (yet) whose ``context`` matches ``predicate``."""
        return sum(1 for item in self._window if predicate(item.context))

    async def publish(
        self, subject: str, data: bytes, msg_id: str, *, context: Any = None
    ) -> asyncio.Future[Ack]:
        """Submit one message; returns once it is on its way (blocks while the window is
        full). The returned future resolves with its :class:`Ack`. Raises the error that
        made an earlier message fail for good (the connection was closed)."""
        self._raise_if_failed()
        await self._slots.acquire()
        if self._failure is not None:  # failed while we waited for a slot
            self._slots.release()
            self._raise_if_failed()
        loop = asyncio.get_running_loop()
        item = _Pending(self._next_index, subject, data, msg_id, context, loop.create_future())
        self._next_index += 1
        self._window.append(item)
        self._idle.clear()
        task = loop.create_task(self._send(item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return item.done

    async def publish_notification(
        self,
        account_id: str | int,
        raw: bytes,
        *,
        event: str | None,
        uuid: str,
        context: Any = None,
    ) -> asyncio.Future[Ack]:
        """Publish one notification's bytes (the caller's serialisation of it) to
        ``rcstream.<accountId>.<family of event>`` with ``Nats-Msg-Id: uuid``."""
        subject = subject_for(account_id, family_of(event))
        return await self.publish(subject, raw, uuid, context=context)

    async def publish_lifecycle(
        self,
        account_id: str | int,
        item: Mapping[str, Any],
        *,
        msg_id: str | None = None,
        context: Any = None,
    ) -> asyncio.Future[Ack]:
        """Publish a lifecycle item (gap, reconnect, take-over) as compact JSON to
        ``rcstream.<accountId>.lifecycle``; ``msg_id`` defaults to a fresh uuid (pass a
        stable one for an item that may be re-published)."""
        subject = subject_for(account_id, LIFECYCLE)
        body = lifecycle_json(item)
        return await self.publish(subject, body, msg_id or str(uuid4()), context=context)

    async def _send(self, item: _Pending) -> None:
        import nats.errors
        import nats.js.errors

        first, cap = self._backoff
        delays = backoff(base=first, cap=cap)
        attempts = 0
        loop = asyncio.get_running_loop()
        no_stream_since: float | None = None
        while True:
            attempts += 1
            try:
                ack = await self._js.publish(
                    item.subject,
                    item.data,
                    timeout=self._ack_timeout,
                    stream=self._stream,
                    headers={"Nats-Msg-Id": item.msg_id},
                )
            except (nats.errors.ConnectionClosedError, nats.errors.NoServersError) as exc:
                self._fail(exc)
                return
            except asyncio.CancelledError:
                raise
            except nats.js.errors.NoStreamResponseError:
                # no stream stores the subject: normal for a moment while JetStream
                # restarts, a configuration error when it lasts
                now = loop.time()
                no_stream_since = now if no_stream_since is None else no_stream_since
                if now - no_stream_since >= self._no_stream_grace:
                    self._fail(
                        ConfigurationError(
                            f"No JetStream stream stores {item.subject} (no stream answered "
                            f"for {self._no_stream_grace:g} s); create one on rcstream.> or "
                            "pass the --stream that does, then restart."
                        )
                    )
                    return
                if attempts == 1:
                    logger.warning(
                        "no JetStream stream answered for %s; retrying for up to %g s",
                        item.subject,
                        self._no_stream_grace,
                    )
                self.retries += 1
                await asyncio.sleep(next(delays))
                continue
            except (
                TimeoutError,
                nats.errors.TimeoutError,
                nats.errors.Error,
                nats.js.errors.Error,
                OSError,
            ) as exc:
                if attempts == 1 or logger.isEnabledFor(logging.DEBUG):
                    logger.info(
                        "publish to %s not acked (%s); retrying with the same Nats-Msg-Id",
                        item.subject,
                        type(exc).__name__,
                    )
                self.retries += 1
                await asyncio.sleep(next(delays))
                continue
            except Exception as exc:  # anything else is a bug or a refusal: fail loudly
                logger.error("publish to %s failed: %s", item.subject, type(exc).__name__)
                self._fail(exc)
                return
            result = Ack(
                item.index,
                item.subject,
                item.msg_id,
                int(ack.seq),
                bool(ack.duplicate),
                attempts,
                item.context,
            )
            item.done.set_result(result)
            self._release_in_order()
            return

    def _release_in_order(self) -> None:
        while self._window and self._window[0].done.done():
            item = self._window.popleft()
            self._slots.release()
            if item.done.cancelled() or item.done.exception() is not None:
                continue
            ack = item.done.result()
            self.acked += 1
            self.duplicates += ack.duplicate
            if self._on_ack is not None:
                self._on_ack(ack)
        if not self._window:
            self._idle.set()

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            if isinstance(exc, ConfigurationError):
                logger.error("%s", exc)
            else:
                logger.error("NATS connection closed for good; publishing stops")
        self._failure = exc
        for item in self._window:
            if not item.done.done():
                item.done.set_exception(
                    NatsUnavailable(
                        "The NATS connection was closed before JetStream acknowledged the "
                        "message; resume from the checkpoint."
                    )
                )
                item.done.exception()  # retrieved here; awaiting callers still get it
            self._slots.release()  # wake publishers blocked on a slot: they raise
        self._window.clear()
        self._idle.set()

    async def flush(self) -> None:
        """Wait until every submitted message is acked (and handed to ``on_ack``)."""
        await self._idle.wait()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        """Raise what made publishing fail for good, if anything did: a
        :class:`ConfigurationError` as itself (no stream stores the subjects: the fix is
        the user's), anything else (the connection was closed) as :class:`NatsUnavailable`."""
        failure = self._failure
        if failure is None:
            return
        if isinstance(failure, ConfigurationError):
            raise failure
        raise NatsUnavailable(
            "Publishing failed for good; reconnect to NATS and resume from the checkpoint."
        ) from failure

    def abort(self) -> None:
        """Cancel the sends still in flight (after a bounded :meth:`flush` on shutdown):
        their messages were not acked, so no checkpoint covers them."""
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Flush, then return. On cancellation the in-flight sends are cancelled; their
        messages were not acked and the caller's checkpoint does not cover them."""
        try:
            await self.flush()
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def __aenter__(self) -> Publisher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
