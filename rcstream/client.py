"""The public client: tokens, socket, one merged subscription, typed events, recovery.

.. code-block:: python

    async with rcstream.Client.from_env() as client:
        async with client.subscribe(["/restapi/v1.0/account/~/extension/~/presence"]) as events:
            async for event in events:
                print(event.body)

How it works. The first :meth:`Client.subscribe` (or :meth:`Client.request`) starts one
background *supervisor* task in the client's task group. It fetches a single-use WebSocket
token over REST, connects, waits for ``ConnectionDetails``, and keeps the server's single
subscription equal to the union of every open :class:`Subscription`'s filters (POST, PUT,
DELETE over the socket). Each incoming frame's bytes are parsed once by the sans-I/O
:class:`~rcstream.protocol.SessionState` (de-duplicated by uuid) and the notification is
routed to each consumer whose filters match: raw consumers get the parsed dict, typed ones
share one model, validated once per event by :func:`rcstream.models.parse_notification`.

When the link drops (close, error frame, silent socket, expired token ...) the supervisor
reconnects with capped, jittered backoff and recovers the session with the latest ``wsc``
inside the recovery window; if recovery fails it re-creates the subscription and puts a
:class:`~rcstream.models.lifecycle.Gap` in front of every consumer. Whether a failure is
retried is decided by :func:`rcstream.retry.classify` alone. Each consumer has a bounded
buffer; the reader never blocks on a slow consumer (it keeps answering heartbeats), and
overflow drops the oldest events and is reported as a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Literal, Self, overload

import aiohttp
import anyio
from anyio.abc import TaskGroup

from rcstream._errors import error_from_frame, error_from_reply
from rcstream._http import AuthBudget, Response, RestClient, error_from_response
from rcstream.auth import Auth, TokenManager, TokenSet, auth_from_env
from rcstream.checkpoint import (
    Checkpoint,
    CheckpointCorrupt,
    CheckpointError,
    CheckpointStore,
    CheckpointWriter,
)
from rcstream.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    GatewayError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    RCStreamError,
    RecoveryFailedError,
    RequestTimeoutError,
    StreamClosedError,
    UsageError,
)
from rcstream.filters import validate_filter
from rcstream.models import Notification
from rcstream.models.lifecycle import Connected as ConnectedItem
from rcstream.models.lifecycle import Disconnected, Gap, Lifecycle, Reconnecting
from rcstream.models.routing import sniff_event
from rcstream.options import ClientOptions, ClientStats
from rcstream.protocol import (
    BadFrame,
    ClientResponse,
    Connected,
    ErrorFrame,
    GatewayErrorReceived,
    HeartbeatDue,
    LinkDead,
    NotificationReceived,
    RecoveryOutcome,
    RecoveryReplayed,
    RequestFailed,
    RequestTimedOut,
    ResponseReceived,
    SessionEvent,
    SessionState,
    SessionTimings,
    SubscriptionReply,
)
from rcstream.protocol.consumers import ConsumerTable
from rcstream.protocol.frames import Wsc
from rcstream.protocol.resume import (
    DEFAULT_UUID_WINDOW,
    ResumeAction,
    ResumePlan,
    TokenAction,
    after_refresh_failed,
    plan_resume,
)
from rcstream.protocol.scan import validate_frame
from rcstream.protocol.session import subscription_lost
from rcstream.redact import Secret, redact, redact_url
from rcstream.retry import backoff, classify, give_up, is_subscription_limit
from rcstream.subscription import Subscription, _Handed, _Typed
from rcstream.transport import Transport, build_ws_url, connect
from rcstream.version import __version__

__all__ = ["Client", "ClientOptions", "ClientStats", "Subscription"]

logger = logging.getLogger(__name__)

DEFAULT_SERVER: Final = "https://platform.ringcentral.com"


def _version() -> str:
    return __version__


class _Phase(enum.Enum):
    """The client's one lifecycle state (instead of several booleans)."""

    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(eq=False)
class _Pending:
    future: asyncio.Future[ClientResponse]
    what: str = ""
    subscription: bool = False
    reading: SubscriptionReply | None = None


@dataclass
class _Round:
    transport: Transport
    reason: BaseException | None = None
    ready: bool = False
    healthy: bool = False
    tg: TaskGroup | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: an unsolicited Error with an undocumented code: the round ends with this reason
    #: when the server closes, or at ``error_deadline`` (whichever comes first)
    pending_error: RCStreamError | None = None
    error_deadline: float | None = None
    #: end with a close handshake (the gateway said why), not an abort
    graceful: bool = False
    #: seconds from the socket's opening to the round's end
    lasted: float = 0.0
    #: when the socket opened (the client's clock): a 401 over it with an access token
    #: issued later means the socket outlived its token (see ``Client._token_rejected``)
    opened_at: float = 0.0
    #: ended by the client because the socket outlived its access token
    renewed_for_token: bool = False


class Client:
    """An asyncio RingCentral event-stream client. Use it as an async context manager.

    ``server_url`` is the platform (``https://platform.ringcentral.com``, the sandbox, or an
    emulator); ``auth`` one of :mod:`rcstream.auth`'s credential types; ``options`` tunes
    timeouts, reconnects and buffering (see :class:`ClientOptions`). Nothing connects until
    the first :meth:`subscribe` or :meth:`request`.

    ``checkpoint`` (a :class:`~rcstream.checkpoint.CheckpointStore`, e.g.
    ``FileCheckpoint(path)``) makes restarts resume the same session: entering the client
    loads it and continues the stored OAuth session (token rotations are saved before the
    new token is used), recovers the gateway session within its window or re-creates the
    subscription with a :class:`~rcstream.models.lifecycle.Gap` saying how long the process
    was away; progress is saved only after events are handed out (see
    :meth:`Subscription.ack`); closing keeps the session and the subscription for the next
    run. One subscription per client with a checkpoint. ``docs/restarts.md`` has the rules.
    """

    def __init__(
        self,
        server_url: str,
        *,
        auth: Auth,
        options: ClientOptions | None = None,
        checkpoint: CheckpointStore | None = None,
    ) -> None:
        if not server_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"The server URL {server_url!r} must start with https:// (or http:// for a "
                "local emulator)."
            )
        self.server_url = server_url.rstrip("/")
        self.auth = auth
        self.options = options or ClientOptions()
        self._stats = ClientStats()
        opts = self.options
        self._state = SessionState(
            timings=SessionTimings(
                heartbeat_interval=opts.heartbeat_interval,
                heartbeat_timeout=opts.heartbeat_timeout,
                request_timeout=opts.request_timeout,
                replay_probe_timeout=opts.request_timeout,
            ),
            dedupe_window=opts.dedupe_window,
        )
        self._consumers: list[Subscription[Any]] = []
        self._keys = 0
        self._by_key: dict[int, Subscription[Any]] = {}
        #: typed consumers registered (the one-validate path is not even tried without one)
        self._typed_count = 0
        #: the routing core: which consumers each event goes to
        self._table = ConsumerTable()
        self._router = self._table.router
        #: ids of server subscriptions this client created (only these are ever deleted
        #: as orphans; the resume engineer persists them across restarts)
        self.created_subscription_ids: set[str] = set()
        self._last_subscription_id: str | None = None
        self._background: set[asyncio.Task[None]] = set()
        #: DELETEs of orphaned subscriptions in flight (a new POST waits for them first)
        self._orphan_deletes: set[asyncio.Task[None]] = set()
        self._ever_connected = False
        #: a connection was renewed after a 401 and nothing but 401s was answered since:
        #: another such renewal would only loop, so the 401 is raised instead
        self._renewed_for_401 = False
        #: one 401 decision at a time, so concurrent 401s share one refresh (shared by forks)
        self._token_lock = asyncio.Lock()
        #: (method, path) refused with 401 on a connection renewed for it, while the
        #: connection served other requests: raised at once next time (no refresh, no renewal)
        self._refused_paths: dict[tuple[str, str], None] = {}
        self._first_connect_scope: anyio.CancelScope | None = None
        self._check_now: asyncio.Event | None = None
        #: the next subscription check re-creates it (``recreate_after_recovery``), and how
        #: often deleting the recovered one failed on this connection
        self._recreate_next_check = False
        self._recreate_failures = 0
        self._parent: Client | None = None
        self._closer: asyncio.Task[None] | None = None
        #: requests in flight, by the messageId the core gave them (the core never
        #: carries the client's futures)
        self._waiting: dict[str, _Pending] = {}
        self._changed: asyncio.Condition | None = None
        self._sync_wanted: asyncio.Event | None = None
        self._http: aiohttp.ClientSession | None = None
        self._rest: RestClient | None = None
        self._tokens: TokenManager | None = None
        self._supervisor: asyncio.Task[None] | None = None
        #: NEW -> OPEN (entered) -> CLOSING (aclose started) -> CLOSED
        self._phase = _Phase.NEW
        self._round: _Round | None = None
        self._error: BaseException | None = None
        self._slots: asyncio.Semaphore | None = None
        #: the round the supervisor last ran (None: its connection never opened)
        self._ended_round: _Round | None = None
        self._held: list[Lifecycle] = []
        self._unconfirmed: dict[str, None] = {}
        #: durable resume (docs/restarts.md): the store, its batching writer, the plan the
        #: stored checkpoint led to, per-event (wsc, arrival time) until hand-off, and the
        #: events no consumer took (kept as the checkpoint's pending on close)
        self.checkpoint = checkpoint
        self._writer: CheckpointWriter | None = None
        self.resume_plan: ResumePlan | None = None
        self._arrivals: dict[str, tuple[Wsc | None, float]] = {}
        self._leftover: list[dict[str, Any]] = []
        #: events dropped because no consumer took them and the leftover was full
        self._leftover_dropped = 0
        #: set while a consumer is subscribed or the client is closing: with a checkpoint and
        #: a full leftover the reader waits on it instead of dropping events
        self._taker = asyncio.Event()
        self._replay_first: list[dict[str, Any]] = []
        #: the previous run's pending events not handed out yet: kept in every write
        self._pending_left: deque[dict[str, Any]] = deque()
        self._flushing: asyncio.Task[None] | None = None
        #: consumers in back-pressure mode (the reader waits for room in their inboxes)
        self._blocking = 0

    def __repr__(self) -> str:
        return f"<rcstream.Client {self.server_url} auth={self.auth!r}>"

    @property
    def _closing(self) -> bool:
        return self._phase is _Phase.CLOSING or self._phase is _Phase.CLOSED

    @property
    def stats(self) -> ClientStats:
        """Counters for what this client has done (a live object; read, don't write)."""
        self._stats.duplicates = self._state.duplicates
        return self._stats

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        server_url: str | None = None,
        options: ClientOptions | None = None,
        checkpoint: CheckpointStore | None = None,
    ) -> Client:
        """Build a client from ``RINGCENTRAL_SERVER_URL``, ``RINGCENTRAL_CLIENT_ID``,
        ``RINGCENTRAL_CLIENT_SECRET`` and ``RINGCENTRAL_JWT`` (or ``RINGCENTRAL_USERNAME``/
        ``RINGCENTRAL_PASSWORD``, or ``RINGCENTRAL_ACCESS_TOKEN``).

        ``env`` defaults to ``os.environ``; ``server_url`` overrides the variable, which
        defaults to production. Raises :class:`~rcstream.ConfigurationError` when
        credentials are missing.
        """
        source = dict(os.environ if env is None else env)
        url = server_url or source.get("RINGCENTRAL_SERVER_URL") or DEFAULT_SERVER
        return cls(url, auth=auth_from_env(source), options=options, checkpoint=checkpoint)

    # ---- context management -------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._phase is not _Phase.NEW:
            raise UsageError("A Client can be entered only once; create a new Client.")
        opts = self.options
        if not opts.verify_ssl:
            logger.warning("TLS certificate verification is OFF; use this only for testing.")
        self._changed = asyncio.Condition()
        self._sync_wanted = asyncio.Event()
        self._check_now = asyncio.Event()
        self._http = aiohttp.ClientSession()  # cheap; a fork keeps its own for REST calls
        self._rest = RestClient(
            self.server_url,
            self._http,
            timeout=opts.http_timeout,
            user_agent=opts.user_agent or f"rcstream/{_version()}",
            verify_ssl=opts.verify_ssl,
        )
        budget = AuthBudget(
            calls=opts.auth_rate_limit,
            window=opts.auth_rate_window,
            clock=opts.clock,
            sleep=opts.sleep,
        )
        if self._parent is not None:
            # a fork: the parent's OAuth session (one login), its Auth budget and HTTP
            # session; a single-use wstoken per connection, paced through that budget
            if self._parent._phase is not _Phase.OPEN or self._parent._tokens is None:
                raise UsageError("Enter the parent client before entering its fork().")
            self._tokens = self._parent._tokens
            self._token_lock = self._parent._token_lock  # 401s share one refresh
        else:
            self._tokens = TokenManager(
                self.auth,
                self._rest,
                budget,
                clock=opts.clock,
                refresh_fraction=opts.refresh_fraction,
            )
        self._phase = _Phase.OPEN
        if self.checkpoint is not None:
            if self._parent is not None:
                raise UsageError("A fork() shares its parent's session; give it no checkpoint.")
            try:
                await self._resume_start(self.checkpoint)
            except BaseException:
                await self.aclose()
                raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Delete the subscription, close the socket and HTTP session, cancel every task.

        Safe to call more than once, and from a cancelled task (the cleanup is shielded and
        bounded by ``close_timeout``).
        """
        if self._phase is _Phase.NEW:
            return
        if self._closer is None:
            # the cleanup runs in a task of its own: cancelling the caller (a second
            # Ctrl-C) cannot interrupt it half-way, and every wait in it is bounded
            self._closer = asyncio.get_running_loop().create_task(
                self._close_now(), name="rcstream-close"
            )
        closer = self._closer
        cancelled: asyncio.CancelledError | None = None
        # Wait for the bounded cleanup even when cancelled meanwhile (then re-raise): a
        # caller that returns from aclose() finds the client closed.
        while not closer.done():
            try:
                await asyncio.shield(closer)
            except asyncio.CancelledError as exc:
                if closer.cancelled():
                    raise
                cancelled = exc
        if cancelled is not None:
            raise cancelled

    async def _close_now(self) -> None:
        self._phase = _Phase.CLOSING
        self._taker.set()  # a reader held for lack of a consumer drains into pending now
        with anyio.CancelScope(shield=True):
            await self._notify()  # wake anyone waiting for a connection or a confirmation
            for consumer in list(self._consumers):
                consumer._close(None)
            if not self.options.keep_session_on_close and self.checkpoint is None:
                await self._delete_subscription()
            rnd = self._round
            task, self._supervisor = self._supervisor, None
            if self.checkpoint is not None and rnd is not None and task is not None:
                # a clean stop keeps the session: close first and let the reader drain
                # what arrived before the gateway's close frame (it becomes pending), so
                # nothing the gateway counts as delivered is lost
                with anyio.move_on_after(self.options.close_timeout):
                    await rnd.transport.close()
                await asyncio.wait([task], timeout=self.options.close_timeout)
            if task is not None:
                task.cancel()
                # bounded: a supervisor stuck in a third-party wait must not hang the close
                await asyncio.wait([task], timeout=self.options.close_timeout)
            for bg in list(self._background):
                bg.cancel()
            if self._background:
                await asyncio.wait(list(self._background), timeout=self.options.close_timeout)
            if rnd is not None:
                with anyio.move_on_after(self.options.close_timeout):
                    await rnd.transport.close()
                rnd.transport.abort()
            if not self.options.keep_session_on_close and self.checkpoint is None:
                await self._delete_leftovers_on_close()  # a checkpoint keeps them on purpose
            await self._revoke_on_close()
            if self.checkpoint is not None:
                await self._close_checkpoint()
            if self._http is not None:
                with anyio.move_on_after(self.options.close_timeout):
                    await self._http.close()
                self._http = None
        self._phase = _Phase.CLOSED
        logger.debug("Client closed")

    async def _revoke_on_close(self) -> None:
        """Revoke the OAuth session when rcstream owns it (``TokenManager.owns_session``: a
        JWT or password login, or ``RefreshTokenAuth(owned=True)``), so closed clients do
        not use up the platform's ~5 sessions per user and app. Never a caller-supplied
        token; not when ``keep_session_on_close`` (a checkpoint resumes it)."""
        if (
            self.options.keep_session_on_close
            or self.checkpoint is not None
            or self._tokens is None
            or self._parent
        ):
            return  # kept for a checkpoint; a fork's session belongs to its parent
        if not self._tokens.owns_session or self._tokens.tokens is None:
            return  # never revoke a caller-supplied token
        if await self._tokens.revoke(within=self.options.close_timeout):
            logger.debug("Revoked the OAuth session")

    async def _delete_leftovers_on_close(self) -> None:
        """DELETE over REST every subscription this client created and has not seen deleted
        (the link was down at close, the socket DELETE got no answer, an orphan delete was
        cut short): the platform keeps them 24 h and counts them toward ``SUB-505``.
        Best effort, bounded by ``close_timeout``."""
        leftovers = sorted(self.created_subscription_ids)
        if not leftovers or self._tokens is None or self._rest is None:
            return
        with anyio.move_on_after(self.options.close_timeout):
            for sid in leftovers:
                if await self._rest_delete_subscription(sid):
                    self._unconfirmed.pop(sid, None)
                    logger.info("Deleted the subscription %s over REST on close", sid)

    async def _rest_delete_subscription(self, sid: str) -> bool:
        """DELETE subscription ``sid`` over REST (best effort, also while closing). True
        when it is gone (deleted, or the server no longer knows it)."""
        try:
            await self._rest_call("DELETE", f"/restapi/v1.0/subscription/{sid}")
        except GatewayError as exc:
            if exc.status != 404:
                logger.info("Could not delete the subscription %s: %s", sid, exc)
                return False
        except (RCStreamError, OSError, TimeoutError) as exc:
            logger.info("Could not delete the subscription %s: %s", sid, exc)
            return False
        self.created_subscription_ids.discard(sid)
        return True

    async def _delete_subscription(self) -> None:
        rnd = self._round
        state = self._state
        if rnd is None or not state.ready or state.subscription_id is None:
            return
        state.want_filters(())
        sid = state.subscription_id
        pending = self._new_pending("DELETE subscription")
        req = state.subscription_request(self.options.clock())
        if req is None:
            return
        mid, text = req
        self._waiting[mid] = pending
        self._unconfirmed[sid] = None
        with anyio.move_on_after(self.options.close_timeout):
            try:
                await rnd.transport.send(text)
                reply = await pending.future
                if reply.ok or reply.status == 404:
                    self._unconfirmed.pop(sid, None)
                    self.created_subscription_ids.discard(sid)
                    logger.info("Deleted the subscription")
            except RCStreamError as exc:
                logger.info("Could not delete the subscription on exit: %s", exc)

    # ---- durable resume (checkpoint) ----------------------------------------------------

    async def _resume_start(self, store: CheckpointStore) -> None:
        """Load the checkpoint, decide how to continue (:func:`plan_resume`), restore the
        OAuth session and seed the session state; gaps are held until the stream is back.

        A corrupt or foreign checkpoint starts fresh with a Gap (never a crash); a locked
        one raises :class:`~rcstream.checkpoint.CheckpointLocked`."""
        assert self._tokens is not None
        opts = self.options
        client_id = str(getattr(self.auth, "client_id", "") or "")
        reset: str | None = None
        try:
            stored = await store.load()
        except CheckpointCorrupt as exc:
            stored, reset = None, str(exc)
        if stored is not None and (
            stored.client_id != client_id or stored.server_url.rstrip("/") != self.server_url
        ):
            stored = None
            reset = (
                "The checkpoint was written for another app or server; a fresh session "
                "starts, so events published since the last run may be missing."
            )
            logger.warning("%s", reset)
        plan = plan_resume(stored, time.time())
        base = (
            Checkpoint(client_id=client_id, server_url=self.server_url)
            if stored is None
            # the stored pending stays on disk until each event is handed out (_progress):
            # a kill before that must not lose them
            else stored.evolve(pending=tuple(plan.pending))
        )
        self._writer = CheckpointWriter(
            store,
            base,
            interval=opts.checkpoint_interval,
            max_events=opts.checkpoint_max_events,
            window=max(DEFAULT_UUID_WINDOW, opts.checkpoint_buffer * 2),
            clock=opts.clock,
        )
        self._tokens.on_tokens = self._save_tokens
        if stored is not None and plan.tokens is not TokenAction.LOGIN:
            self._tokens.restore(
                TokenSet(
                    # REFRESH: no access token, so the first use refreshes (same session)
                    access_token=(
                        stored.access_token or Secret("")
                        if plan.tokens is TokenAction.REUSE
                        else Secret("")
                    ),
                    expires_at=None,
                    refresh_token=stored.refresh_token,
                    owner_id=stored.owner_id,
                    expires_at_wall=(
                        stored.access_expires_at if plan.tokens is TokenAction.REUSE else None
                    ),
                    refresh_expires_at_wall=stored.refresh_expires_at,
                )
            )
        # the first token now: a refresh token that was revoked or expired shows here
        # (TokenManager logs in afresh for JWT/password credentials: a new OAuth session)
        logins = self._tokens.logins
        await self._tokens.access_token()
        if plan.tokens is not TokenAction.LOGIN and self._tokens.logins > logins:
            logger.info("The stored OAuth session could not be refreshed; logged in again")
            plan = after_refresh_failed(plan)
        self.resume_plan = plan
        self._seed(plan, stored, reset)
        task = asyncio.get_running_loop().create_task(
            self._checkpoint_loop(), name="rcstream-checkpoint-loop"
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _seed(self, plan: ResumePlan, stored: Checkpoint | None, reset: str | None) -> None:
        """Apply ``plan`` to the session state before the first connect."""
        state = self._state
        opts = self.options
        delivered: list[str] = list(stored.recent_uuids) if stored is not None else []
        self._replay_first = list(plan.pending)
        self._pending_left = deque(plan.pending)
        delivered += [u for body in plan.pending if isinstance(u := body.get("uuid"), str)]
        if plan.action is ResumeAction.RECOVER and plan.wsc is not None:
            assert stored is not None
            assert plan.subscription_id is not None
            state.seed(
                wsc=Wsc(token=plan.wsc.get(), sequence=plan.wsc_sequence or 0),
                subscription_id=plan.subscription_id,
                filters=stored.filters,
                disconnected_at=opts.clock() - min(plan.away or 0.0, state.recovery_timeout / 2),
                delivered=delivered,
            )
            # ours: kept if recovery works, deleted as an orphan if it fails
            self.created_subscription_ids.add(plan.subscription_id)
            self._last_subscription_id = plan.subscription_id
            logger.info("Resuming the session from the checkpoint (away %.1f s)", plan.away or 0.0)
        else:
            state.seed(delivered=delivered)
            old = plan.delete_subscription_id
            if old is not None:
                # the old process's subscription: deleted once this session is connected
                self.created_subscription_ids.add(old)
                self._last_subscription_id = old
        if plan.gap is not None:
            reason: Any = {
                "recovery_window_expired": "recovery_window_expired",
                "recovery_failed": "recovery_failed",
            }.get(plan.gap.cause, "subscription_recreated")
            text = plan.gap.message.removeprefix("Events may be missing: ")
            self._hold(self._gap_item(reason, text[:1].upper() + text[1:]))
        elif reset is not None:
            self._hold(self._gap_item("subscription_recreated", reset))

    async def _save_tokens(self, tokens: TokenSet) -> None:
        """``TokenManager.on_tokens``: the new pair is durable before it is used."""
        if self._writer is None:
            return
        await self._writer.save_now(
            access_token=tokens.access_token,
            access_expires_at=tokens.expires_at_wall,
            refresh_token=tokens.refresh_token,
            refresh_expires_at=tokens.refresh_expires_at_wall,
            owner_id=tokens.owner_id or (self._writer.checkpoint.owner_id),
        )

    def _note_arrival(self, data: dict[str, Any]) -> None:
        """Remember the ``wsc`` that came with this event and when it arrived (wall clock):
        the checkpoint records them once the event is handed out."""
        if not self._consumers:
            # kept as pending: nobody took it. While closing there is no cap (the read-ahead
            # the transport still holds is bounded, and all of it goes to the checkpoint);
            # a client left open with no consumer keeps a bounded amount and reports the rest
            if self._closing or not self._leftover_full():
                self._leftover.append(data)
            else:
                if not self._leftover_dropped:
                    logger.warning(
                        "No consumer is subscribed and %d events are already kept for the "
                        "checkpoint; dropping further events until a consumer subscribes "
                        "(it gets a gap)",
                        len(self._leftover),
                    )
                self._leftover_dropped += 1
            return
        uuid = data.get("uuid")
        if isinstance(uuid, str):
            arrivals = self._arrivals
            arrivals[uuid] = (self._state.wsc, time.time())
            if len(arrivals) > 10_000:  # events no consumer takes must not pile up
                del arrivals[next(iter(arrivals))]

    def _read_ahead(self) -> dict[str, Any]:
        """The transport's read-ahead limits: small with a checkpoint, where what was read
        off the socket but not handed out is lost on ``kill -9`` (docs/restarts.md)."""
        opts = self.options
        durable = self.checkpoint is not None
        return {
            # None: the transport's own defaults (1024 messages / 4 MiB / the system's)
            "read_ahead": opts.read_ahead or (16 if durable else None),
            "read_ahead_bytes": opts.read_ahead_bytes or (256 * 1024 if durable else None),
            "receive_buffer": opts.receive_buffer or (32 * 1024 if durable else None),
        }

    def _leftover_full(self) -> bool:
        return len(self._leftover) >= 10 * self.options.checkpoint_buffer

    def _handed_out(self, consumer: Subscription[Any], body: dict[str, Any]) -> None:
        """``body`` was just handed to ``consumer`` (its ``__anext__`` returns it)."""
        uuid = body.get("uuid")
        uuid = uuid if isinstance(uuid, str) else None
        wsc, at = self._arrivals.pop(uuid, (None, None)) if uuid is not None else (None, None)
        handed = _Handed(uuid, wsc, at, body)
        if consumer.ack_mode == "manual":
            consumer._unacked.append(handed)
        else:
            self._progress(handed)

    def _progress(self, handed: _Handed) -> None:
        """Checkpoint progress over one event the consumer is done with (memory; batched)."""
        writer = self._writer
        if writer is None:
            return
        left = self._pending_left
        if left:
            head = left[0]
            if head is handed.body or (handed.uuid is not None and head.get("uuid") == handed.uuid):
                left.popleft()  # handed out: no longer pending on disk
                writer.update(pending=tuple(left))
        wsc = handed.wsc
        due = writer.note_delivered(
            handed.uuid,
            wsc=Secret(wsc.token) if wsc is not None else None,
            sequence=wsc.sequence if wsc is not None else None,
            at=handed.at,
        )
        if due:
            self._flush_soon()

    def _flush_soon(self) -> None:
        """Write the checkpoint in the background (one write at a time)."""
        if self._writer is None or self._phase is not _Phase.OPEN:
            return
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(
                self._flush_checkpoint(), name="rcstream-checkpoint"
            )

    async def _flush_checkpoint(self) -> None:
        assert self._writer is not None
        try:
            while await self._writer.flush():
                pass  # changes made during a write are written next (an update is never left)
        except CheckpointError as exc:
            await self._fail(exc)

    async def _checkpoint_loop(self) -> None:
        """Write due progress, and note liveness: while connected, the wall-clock time of
        the last frame received is saved a few times per recovery window, so that after a
        ``kill -9`` the next process can tell whether the gateway may still hold the
        session (heartbeats count; an idle stream is not mistaken for a dead one)."""
        writer = self._writer
        assert writer is not None
        opts = self.options
        while True:
            every = max(0.2, min(30.0, self._state.recovery_timeout / 4))
            await anyio.sleep(min(every, opts.checkpoint_interval))
            received = self._state.last_received
            if self.connected and received is not None:
                at = time.time() - max(0.0, opts.clock() - received)
                last = writer.checkpoint.last_frame_at
                if last is None or at - last >= every:
                    writer.update(last_frame_at=at)
                    await self._flush_checkpoint()
                    continue
            if writer.due():
                await self._flush_checkpoint()

    def _checkpoint_session(self, *, new_session: bool) -> None:
        """Record the live session (subscription, window; a new session's ``wsc``)."""
        writer = self._writer
        if writer is None:
            return
        state = self._state
        changes: dict[str, Any] = {"disconnected_at": None, "last_frame_at": time.time()}
        if state.details is not None:
            changes["recovery_timeout"] = state.recovery_timeout
        if state.subscription_id is not None:
            changes["subscription_id"] = state.subscription_id
            changes["filters"] = tuple(state.subscribed_filters)
        if new_session and state.wsc is not None:
            # nothing of this session was handed out yet: its first wsc is the progress
            changes["wsc"] = Secret(state.wsc.token)
            changes["wsc_sequence"] = state.wsc.sequence
        current = writer.checkpoint
        if any(getattr(current, k) != v for k, v in changes.items() if k != "last_frame_at"):
            writer.update(**changes)
            self._flush_soon()

    async def _close_checkpoint(self) -> None:
        """A clean stop: keep the session; write the latest ``wsc``, the disconnect time and
        the events not handed out yet (``pending``), then release the store."""
        writer, store = self._writer, self.checkpoint
        if writer is None or store is None:
            if store is not None:
                with contextlib.suppress(CheckpointError):
                    await store.aclose()
            return
        pending = list(self._replay_first) + list(self._leftover)
        for consumer in self._consumers:
            pending += consumer._undelivered()
        if self._leftover_dropped:
            logger.warning(
                "Events may be missing: %d events arrived while no consumer was subscribed "
                "and were dropped before the checkpoint was saved",
                self._leftover_dropped,
            )
        state = self._state
        changes: dict[str, Any] = {"pending": tuple(pending)}
        if self._ever_connected:
            changes["disconnected_at"] = time.time()
            if state.wsc is not None:
                changes["wsc"] = Secret(state.wsc.token)
                changes["wsc_sequence"] = state.wsc.sequence
            if state.subscription_id is not None:
                changes["subscription_id"] = state.subscription_id
                changes["filters"] = tuple(state.subscribed_filters)
        writer.update(**changes)
        if self._flushing is not None and not self._flushing.done():
            await asyncio.wait([self._flushing], timeout=self.options.close_timeout)
        try:
            await writer.aclose()
            logger.info(
                "Checkpoint saved (%d pending events); the next run resumes from it",
                len(pending),
            )
        except CheckpointError as exc:
            logger.error("%s", exc)
        finally:
            with contextlib.suppress(CheckpointError):
                await store.aclose()

    # ---- public API ---------------------------------------------------------------------

    @overload
    def subscribe(
        self,
        filters: Iterable[str] | str,
        *,
        lifecycle: Literal[False] = ...,
        on_gap: Callable[[Gap], None] | None = ...,
        buffer_size: int | None = ...,
        raw: Literal[False] = ...,
        ack: Literal["auto", "manual"] = ...,
        backpressure: bool | None = ...,
    ) -> Subscription[Notification]: ...

    @overload
    def subscribe(
        self,
        filters: Iterable[str] | str,
        *,
        lifecycle: Literal[True],
        on_gap: Callable[[Gap], None] | None = ...,
        buffer_size: int | None = ...,
        raw: Literal[False] = ...,
        ack: Literal["auto", "manual"] = ...,
        backpressure: bool | None = ...,
    ) -> Subscription[Notification | Lifecycle]: ...

    @overload
    def subscribe(
        self,
        filters: Iterable[str] | str,
        *,
        lifecycle: Literal[False] = ...,
        on_gap: Callable[[Gap], None] | None = ...,
        buffer_size: int | None = ...,
        raw: Literal[True],
        ack: Literal["auto", "manual"] = ...,
        backpressure: bool | None = ...,
    ) -> Subscription[dict[str, Any]]: ...

    @overload
    def subscribe(
        self,
        filters: Iterable[str] | str,
        *,
        lifecycle: Literal[True],
        on_gap: Callable[[Gap], None] | None = ...,
        buffer_size: int | None = ...,
        raw: Literal[True],
        ack: Literal["auto", "manual"] = ...,
        backpressure: bool | None = ...,
    ) -> Subscription[dict[str, Any] | Lifecycle]: ...

    @overload
    def subscribe(
        self,
        filters: Iterable[str] | str,
        *,
        lifecycle: bool = ...,
        on_gap: Callable[[Gap], None] | None = ...,
        buffer_size: int | None = ...,
        raw: bool = ...,
        ack: Literal["auto", "manual"] = ...,
        backpressure: bool | None = ...,
    ) -> Subscription[Any]: ...

    def subscribe(
        self,
        filters: Iterable[str] | str,
        *,
        lifecycle: bool = False,
        on_gap: Callable[[Gap], None] | None = None,
        buffer_size: int | None = None,
        raw: bool = False,
        ack: Literal["auto", "manual"] = "auto",
        backpressure: bool | None = None,
    ) -> Subscription[Any]:
        """A :class:`Subscription` for ``filters`` (event filter paths; ``~`` allowed).

        Iterating it yields typed :class:`~rcstream.models.Notification` models (validated
        as they are taken from the buffer). ``lifecycle=True`` also yields
        :class:`~rcstream.models.lifecycle.Lifecycle` items (connected, disconnected, gap);
        otherwise gaps go to ``on_gap`` and a WARNING log line. ``raw=True`` yields each
        notification as the wire dict instead (nothing validated: the fastest way to pipe
        events on; treat the dicts as read-only, other consumers may share them).
        ``buffer_size`` overrides :attr:`ClientOptions.buffer_size` (with a checkpoint:
        :attr:`ClientOptions.checkpoint_buffer`). ``backpressure=True`` makes a full buffer
        hold the reader instead of dropping the oldest event (the default with a
        checkpoint; a consumer stalled past the heartbeat timeout then costs a reconnect
        with recovery, never an event). ``ack="manual"``: with a checkpoint, progress
        advances only over events passed to :meth:`Subscription.ack` (for consumers that
        finish work later); ``"auto"`` counts an event done once iteration returns it.
        Filters are checked now (:class:`~rcstream.ConfigurationError` for obvious
        mistakes); the server confirms them when the subscription is entered.
        """
        items = [filters] if isinstance(filters, str) else list(filters)
        if not items:
            raise ConfigurationError("subscribe() needs at least one event filter.")
        checked = tuple(dict.fromkeys(validate_filter(f) for f in items))
        if buffer_size is not None and buffer_size < 1:
            raise ConfigurationError("buffer_size must be at least 1 (or None for the default).")
        if ack not in ("auto", "manual"):
            raise ConfigurationError('ack must be "auto" or "manual".')
        durable = self.checkpoint is not None
        if buffer_size is None:
            buffer_size = self.options.checkpoint_buffer if durable else self.options.buffer_size
        return Subscription(
            self,
            checked,
            lifecycle=lifecycle,
            on_gap=on_gap,
            buffer_size=buffer_size,
            raw=raw,
            ack=ack,
            backpressure=durable if backpressure is None else backpressure,
        )

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request reply deadline
    ) -> Response:
        """Make a REST call over the socket (``ClientRequest``) and return its response.

        Waits for the connection if needed. A non-2xx reply raises the matching
        :class:`~rcstream.RCStreamError`; no reply within ``timeout`` (default
        ``request_timeout``) raises :class:`~rcstream.RequestTimeoutError`. A 401 refreshes
        the access token and asks again; a 401 to a token newer than the connection renews
        the connection (the session is recovered) and asks once more there, as it does for
        other idempotent requests that were in flight on it.
        """
        self._check_open()
        self._ensure_supervisor()
        await self._wait_until(lambda: self._state.ready, self.options.connect_timeout * 2)
        key = (method.upper(), path.partition("?")[0])
        for attempt in (1, 2, 3):
            sent: list[float | None] = [None]  # the token current when it went out
            error: Exception
            try:
                reply = await self._request_once(method, path, body, query, headers, timeout, sent)
            except AuthenticationError as exc:
                # the gateway may answer with an Error frame carrying the messageId instead
                # of a ClientRequest reply (emulator error_style="Error"): same 401 rule
                error = exc
            else:
                response = Response(status=reply.status, headers=reply.headers, body=reply.body)
                if response.ok:
                    self._refused_paths.pop(key, None)
                    return response
                error = error_from_reply(
                    f"{method.upper()} {redact(path)}", reply.status, reply.headers, reply.body
                )
            if not _token_refusal(error):
                raise error
            if attempt == 3:
                # refused on a connection renewed for it: this path, if the connection takes
                # the token otherwise (that answer also ends the guard against renewing in a
                # loop); else the token itself, and the guard stays
                if await self._token_accepted(timeout) is True:
                    if len(self._refused_paths) >= 256:
                        self._refused_paths.clear()
                    self._refused_paths[key] = None
                raise error
            if key in self._refused_paths:
                if await self._token_accepted(timeout) is not False:
                    raise error  # this path (or no way to tell): no refresh, no renewal
                self._refused_paths.pop(key, None)  # the token is refused too: the usual rule
            if not await self._token_rejected(error, sent[0]):
                raise error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request_once(
        self,
        method: str,
        path: str,
        body: Any,
        query: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        timeout: float | None,  # noqa: ASYNC109 - a per-request reply deadline
        sent: list[float | None],
    ) -> ClientResponse:
        """Send one request on a usable connection and wait for its reply; ``sent[0]``
        becomes the issue time of the access token current when it went out."""

        def usable() -> bool:
            # not on a connection that is ending (a renewal after a 401 is on its way)
            rnd = self._round
            return self._state.ready and rnd is not None and rnd.reason is None

        while True:
            await self._wait_until(usable, self.options.connect_timeout * 2)
            slots = self._slots or asyncio.Semaphore(max(1, self._state.max_active_requests - 1))
            self._slots = slots
            async with slots:
                rnd = self._round
                if rnd is None or not usable():  # it ended while we waited for a slot
                    continue
                pending = self._new_pending(f"{method.upper()} {redact(path)}")
                mid, text = self._state.request(
                    method,
                    path,
                    body,
                    now=self.options.clock(),
                    query=dict(query) if query else None,
                    headers=dict(headers) if headers else None,
                    timeout=timeout,
                )
                self._waiting[mid] = pending
                rnd.wake.set()
                sent[0] = self._token_issued_at()
                await rnd.transport.send(text)
                try:
                    return await pending.future
                except ConnectionFailedError:
                    # renewed under it because the socket outlived its token, which refuses
                    # requests: ask again on the new one if asking twice is harmless
                    if rnd.renewed_for_token and method.upper() in _IDEMPOTENT:
                        continue
                    raise

    def fork(self, *, options: ClientOptions | None = None) -> Client:
        """A second client on **the same login**: one OAuth session (no new grant), its own
        gateway connection and server subscription (a single-use ``wstoken`` for each
        connection, paced through this client's Auth budget, about 5 calls a minute shared
        with token refresh). Enter it inside this client's ``async with``; closing it never
        revokes the shared session (this client does, on its own close). Use it to spread
        more filters than one subscription holds over several connections.
        """
        child = Client(self.server_url, auth=self.auth, options=options or self.options)
        child._parent = self
        return child

    async def rest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        query: Mapping[str, Any] | None = None,
    ) -> Response:
        """Make a REST call over HTTPS with the client's access token.

        Refreshes the token once after a 401. A non-2xx reply raises the matching
        :class:`~rcstream.RCStreamError`.
        """
        self._check_open()
        return await self._rest_call(method, path, json=json, query=query)

    async def _rest_call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        query: Mapping[str, Any] | None = None,
    ) -> Response:
        assert self._rest is not None
        assert self._tokens is not None
        for attempt in (1, 2):
            token = await self._tokens.access_token()
            resp = await self._rest.send(method, path, json_body=json, query=query, bearer=token)
            if resp.status == 401 and attempt == 1:
                await self._tokens.invalidate(token)
                continue
            if not resp.ok:
                raise error_from_response(f"{method.upper()} {redact_url(path)}", resp)
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def connected(self) -> bool:
        """True while a connection is open and ``ConnectionDetails`` has arrived."""
        return self._round is not None and self._state.ready

    @property
    def subscription_id(self) -> str | None:
        """The server subscription's id, or None."""
        return self._state.subscription_id

    @property
    def unconfirmed_deletions(self) -> tuple[str, ...]:
        """Ids of server subscriptions this client asked to delete without getting a
        confirmation (the link dropped, or the server did not answer within
        ``close_timeout``). On close the client tries once more over REST (unless
        ``keep_session_on_close``); an id still listed here after close is left on the
        platform until it expires (24 h): delete it with ``rcstream subscriptions delete``
        or ``DELETE /restapi/v1.0/subscription/{id}``."""
        return tuple(self._unconfirmed)

    # ---- consumers ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._phase is _Phase.NEW:
            raise UsageError("Use the client as 'async with client:' before subscribing.")
        if self._closing:
            raise StreamClosedError("The client is closed; create a new Client.")
        if self._error is not None:
            raise self._error

    async def _wait_for_room(self) -> None:
        """Back-pressure: wait until every blocking consumer's inbox has room again."""
        for consumer in list(self._consumers):
            inbox = consumer._inbox
            if inbox.block and not inbox.room.is_set():
                await inbox.room.wait()

    async def _add_consumer(self, consumer: Subscription[Any]) -> None:
        self._check_open()
        if self._writer is not None:
            if self._consumers:
                raise UsageError(
                    "A client with a checkpoint serves one subscription at a time (its "
                    "progress is that consumer's); use one client and checkpoint per consumer."
                )
            if self._leftover_dropped:
                count, self._leftover_dropped = self._leftover_dropped, 0
                consumer._deliver(
                    self._gap_item(
                        "buffer_overflow",
                        f"{count} events arrived while no consumer was subscribed and "
                        "were dropped; subscribe before events flow, or keep a consumer "
                        "subscribed.",
                    )
                )
            # events the previous run received but did not hand out come first
            for body in self._replay_first:
                consumer._deliver(body if consumer.raw else _Typed(body))
            self._replay_first = []
            # then what arrived in this run while no consumer was subscribed, in order
            for body in self._leftover:
                consumer._deliver(body if consumer.raw else _Typed(body))
            self._leftover = []
        settled = self._state.ready and not self._held and not self._state.subscription_outdated
        self._consumers.append(consumer)
        self._taker.set()
        self._by_key[consumer._key] = consumer
        self._typed_count += not consumer.raw
        self._blocking += consumer._inbox.block
        self._table.add(consumer._key, consumer.filters)
        if settled:
            self._mark_confirmed()  # already covered by the live subscription (and no
            # request in flight that could take filters away)
        self._state.want_filters(self._table.wanted())
        self._ensure_supervisor()
        self._kick_sync()
        try:
            await self._wait_until(lambda: consumer.confirmed or consumer.error is not None, None)
        except BaseException:
            await self._remove_consumer(consumer)
            raise
        if consumer.error is not None:
            await self._remove_consumer(consumer)
            raise consumer.error
        flushing = self._flushing
        if flushing is not None and not flushing.done():
            # the new session is on disk before the first event is handed out
            await asyncio.wait([flushing], timeout=self.options.close_timeout)

    async def _remove_consumer(self, consumer: Subscription[Any]) -> None:
        if consumer not in self._consumers:
            return
        if self._writer is not None:
            # with a checkpoint the server subscription outlives its consumer (the next
            # run resumes it); what this consumer did not finish becomes pending
            self._leftover[:0] = consumer._undelivered()
            consumer._unacked.clear()
            self._drop_consumer(consumer)
            return
        self._drop_consumer(consumer)
        if self._closing or self._error is not None:
            return
        self._state.want_filters(self._table.wanted())
        self._kick_sync()
        # best effort: leaving never raises because the stream broke meanwhile
        with anyio.move_on_after(self.options.close_timeout), contextlib.suppress(RCStreamError):
            await self._wait_until(
                lambda: not self._state.ready or not self._state.subscription_outdated, None
            )

    def _drop_consumer(self, consumer: Subscription[Any]) -> None:
        if consumer._inbox.block:
            consumer._inbox.room.set()  # never hold the reader for a consumer that left
        self._blocking -= consumer._inbox.block
        self._consumers.remove(consumer)
        if self._by_key.pop(consumer._key, None) is not None:
            self._typed_count -= not consumer.raw
        self._table.remove(consumer._key)

    def _mark_confirmed(self) -> None:
        """Confirm every consumer whose filters the server subscription now carries."""
        if self._table.confirm(self._state.subscribed_filters):
            self._state.want_filters(self._table.wanted())  # a parked consumer's turn
            self._kick_sync()

    def _kick_sync(self) -> None:
        if self._sync_wanted is not None:
            self._sync_wanted.set()

    async def _wait_until(self, predicate: Callable[[], bool], limit: float | None) -> None:
        assert self._changed is not None
        try:
            with anyio.fail_after(limit):
                async with self._changed:
                    while not predicate():
                        if self._error is not None:
                            raise self._error
                        if self._closing:
                            raise StreamClosedError("The client is closing.")
                        await self._changed.wait()
        except TimeoutError:
            raise ConnectionFailedError(
                f"No usable gateway connection within {limit:g} s; check the network and "
                "the server URL."
            ) from None

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def _gap_item(self, reason: Any, message: str, **kw: Any) -> Gap:
        self._stats.gaps += 1
        logger.warning("Events may be missing: %s", message)
        return Gap(reason=reason, message=message, **kw)

    def _broadcast(self, item: Lifecycle) -> None:
        for consumer in self._consumers:
            consumer._deliver(item)

    # ---- supervisor ---------------------------------------------------------------------

    def _ensure_supervisor(self) -> None:
        # The supervisor is a task the client owns (cancelled and awaited by aclose), not a
        # child of the caller's cancel scope: cancelling the consumer must still let aclose
        # delete the subscription over the live connection.
        if self._supervisor is None and self._phase is _Phase.OPEN:
            self._supervisor = asyncio.get_running_loop().create_task(
                self._supervise(), name="rcstream-supervisor"
            )

    async def _supervise(self) -> None:
        opts = self.options
        delays = self._new_backoff()
        failures = 0
        down_since = opts.clock()
        warned_at: float | None = None  # when the current outage was last logged at WARNING
        tries = 0  # failed connection attempts in the current outage
        while not self._closing:
            self._ended_round = None
            reason: BaseException
            # Before the first success, one attempt (an HTTP call can take http_timeout, a
            # handshake connect_timeout) may not outlast first_connect_timeout; the deadline
            # is lifted as soon as the gateway's ConnectionDetails arrives.
            scope = self._first_connect_scope = anyio.CancelScope(
                deadline=self._first_connect_deadline(down_since)
            )
            try:
                with scope:
                    await self._connection_round()
                reason = ConnectionFailedError("The connection ended.")
            except RCStreamError as exc:
                reason = exc
            except (OSError, TimeoutError) as exc:
                reason = ConnectionFailedError(f"The connection failed ({type(exc).__name__}).")
                reason.__cause__ = exc
            except Exception as exc:
                # a bug: stop the stream loudly with the bug itself (never disguised as a
                # RecoveryFailedError, never retried)
                logger.exception("Internal error in the rcstream supervisor; please report it")
                await self._fail(exc)
                return
            self._first_connect_scope = None
            if scope.cancelled_caught and not self._closing:
                reason = ConnectionFailedError("The connection attempt did not finish in time.")
            ended = self._ended_round
            healthy = ended is not None and ended.healthy
            if self._closing:
                return
            decision = classify(reason, subscription_limit_wait=opts.subscription_limit_wait)
            if not decision.retry:
                await self._fail(reason)
                return
            if healthy:
                failures = 0  # the stream worked (subscription in place): a new outage
            if ended is not None and ended.ready:
                down_since = opts.clock()
            stable = ended is not None and ended.ready and ended.lasted >= opts.stable_after
            if decision.reset or stable:
                delays = self._new_backoff()  # the next retry is immediate again
            failures += 1
            if give_up(
                failures=failures,
                max_attempts=opts.max_attempts,
                ever_connected=self._ever_connected,
                disconnected_for=opts.clock() - down_since,
                first_connect_timeout=opts.first_connect_timeout,
            ):
                await self._fail(self._give_up_error(reason, failures))
                return
            delay = max(next(delays), decision.min_delay)
            if not self._ever_connected and opts.first_connect_timeout is not None:
                # never sleep past the first-connect deadline: give_up decides right after
                left = opts.first_connect_timeout - (opts.clock() - down_since)
                delay = max(0.0, min(delay, left))
            self._stats.reconnects += 1
            if is_subscription_limit(reason):
                _warn_subscription_limit(delay)
            else:
                # a drop at INFO; a failed attempt at INFO too, but at WARNING for the first
                # one of an outage and then at most once a minute, so a long outage stays
                # visible at the default level without a line per attempt
                now = opts.clock()
                if healthy:
                    logger.info("Reconnecting in %.2f s: %s", delay, reason)
                else:
                    loud = warned_at is None or now - warned_at >= 60.0
                    if loud:
                        warned_at = now
                    (logger.warning if loud else logger.info)(
                        "Still disconnected after %.0f s: attempt %d failed (%s); "
                        "retrying in %.2f s",
                        now - down_since,
                        tries + 1,
                        str(reason).rstrip("."),
                        delay,
                    )
            if healthy:
                tries = 0
                warned_at = None  # the next outage gets its own first warning
            else:
                # the attempt itself failed: tell the consumers the stream is still retrying
                # (a drop repaired by the first attempt shows only Disconnected, Connected)
                tries += 1
                self._broadcast(
                    Reconnecting(
                        attempt=tries,
                        next_in=round(delay, 3),
                        reason=str(reason),
                        down_for=round(opts.clock() - down_since, 3),
                    )
                )
            if delay > 0:
                await opts.sleep(delay)

    def _first_connect_deadline(self, down_since: float) -> float:
        """The event-loop deadline of an attempt before the first success (infinite once
        the client has connected, or without ``first_connect_timeout``)."""
        limit = self.options.first_connect_timeout
        if self._ever_connected or limit is None:
            return math.inf
        left = limit - (self.options.clock() - down_since)
        return anyio.current_time() + max(0.0, left)

    def _give_up_error(self, reason: BaseException, failures: int) -> RCStreamError:
        opts = self.options
        last = str(reason).rstrip(".")  # a sentence inside a sentence: no doubled period
        err: RCStreamError
        if not self._ever_connected and (
            opts.max_attempts is None or failures <= opts.max_attempts
        ):
            err = ConnectionFailedError(
                f"Could not connect to {redact_url(self.server_url)} within "
                f"{opts.first_connect_timeout:g} s (last: {last}); check the server URL, "
                "the network and the credentials."
            )
        else:
            err = RecoveryFailedError(
                f"Gave up after {opts.max_attempts} failed connection attempts "
                f"(last: {last}); check the network and the server, then restart."
            )
        err.__cause__ = reason
        return err

    def _new_backoff(self) -> Any:
        opts = self.options
        return backoff(
            base=opts.backoff_base, cap=opts.backoff_cap, jitter=opts.backoff_jitter, rng=opts.rng
        )

    async def _fail(self, error: BaseException) -> None:
        logger.error("The event stream stopped: %s", error)
        self._error = error
        for consumer in list(self._consumers):
            consumer._close(error)
        await self._notify()

    async def _connection_round(self) -> None:
        """Connect once and serve until the link ends; raises why it ended."""
        assert self._tokens is not None
        opts = self.options
        state = self._state
        plan = state.plan_connect(opts.clock())
        ws = await self._tokens.ws_token()
        tokens = self._tokens.tokens
        if tokens is not None and tokens.owner_id:
            self._router.set_owner(tokens.owner_id)
        url = build_ws_url(ws.uri, ws.token.get(), plan.wsc.token if plan.wsc else None)
        logger.info(
            "Connecting to %s%s",
            redact_url(ws.uri),
            " (recovering the session)" if plan.recover else "",
        )
        transport = await connect(
            url,
            open_timeout=opts.connect_timeout,
            max_size=opts.max_frame_size,
            ping_interval=opts.ping_interval,
            ping_timeout=opts.ping_timeout,
            user_agent=opts.user_agent or f"rcstream/{_version()}",
            verify_ssl=opts.verify_ssl,
            close_timeout=opts.close_timeout,
            **self._read_ahead(),
        )
        started = opts.clock()
        rnd = _Round(transport=transport, opened_at=started)
        self._round = rnd
        state.connection_opened(opts.clock(), plan)
        self._stats.connects += 1
        try:
            async with anyio.create_task_group() as tg:
                rnd.tg = tg
                tg.start_soon(self._guard, rnd, self._read_loop(rnd))
                tg.start_soon(self._guard, rnd, self._timer_loop(rnd))
                tg.start_soon(self._guard, rnd, self._sync_loop(rnd))
                tg.start_soon(self._guard, rnd, self._upkeep_loop(rnd))
        finally:
            self._round = None
            lost = state.connection_lost(opts.clock())
            for ev in lost:
                if not isinstance(ev, RequestTimedOut):
                    continue
                waiting = self._waiting.pop(ev.message_id, None)
                if waiting is not None:
                    self._resolve_error(
                        waiting,
                        ConnectionFailedError(
                            f"The connection dropped before '{waiting.what}' was answered; "
                            "it may or may not have been applied."
                        ),
                    )
            with anyio.CancelScope(shield=True):
                if rnd.reason is None or rnd.graceful:
                    # a clean end, or the gateway said why (Error frame): close handshake,
                    # bounded by close_timeout
                    with anyio.move_on_after(opts.close_timeout):
                        await transport.close()
                    transport.abort()  # no-op once closed; frees a peer that never answered
                else:
                    transport.abort()  # dead link or protocol breach: nothing to say
                await self._notify()
            if rnd.healthy and not self._closing:  # consumers were told it was connected
                self._broadcast(Disconnected(reason=str(rnd.reason or "closed")))
        rnd.lasted = opts.clock() - started
        self._ended_round = rnd
        raise rnd.reason or ConnectionFailedError("The connection ended.")

    async def _guard(self, rnd: _Round, coro: Awaitable[None]) -> None:
        try:
            await coro
        except RCStreamError as exc:
            if rnd.reason is None:
                rnd.reason = rnd.pending_error or exc
        except (OSError, TimeoutError) as exc:
            if rnd.reason is None:
                rnd.reason = rnd.pending_error or ConnectionFailedError(
                    f"The connection failed ({exc!r})."
                )
        self._end_round(rnd, rnd.pending_error or ConnectionFailedError("The connection ended."))

    @staticmethod
    def _end_round(rnd: _Round, reason: RCStreamError) -> None:
        """End connection round ``rnd`` (its first reason wins); the supervisor reconnects."""
        if rnd.reason is None:
            rnd.reason = reason
        assert rnd.tg is not None
        rnd.tg.cancel_scope.cancel()

    async def _read_loop(self, rnd: _Round) -> None:
        state = self._state
        clock = self.options.clock
        ahead = 0
        while True:
            text = await rnd.transport.recv_frame()
            if state.heartbeat_outstanding:
                rnd.wake.set()  # the reply moves the timer's next deadline earlier
            if self._typed_count and type(text) is bytes and self._typed_fast_path(text):
                ahead += 1
                if ahead >= _YIELD_EVERY:
                    ahead = 0
                    await asyncio.sleep(0)
            else:
                events = state.receive(text, clock())
                if events:
                    first = events[0]
                    if len(events) == 1 and type(first) is NotificationReceived:
                        self._on_notification(first.data)  # the hot path, without a coroutine
                    else:
                        await self._handle(rnd, events)
            if self._blocking:
                await self._wait_for_room()  # back-pressure: read on once consumers catch up
            elif self._writer is not None and not self._consumers and self._leftover_full():
                # nobody takes events and the pending buffer is full: stop reading (the
                # gateway and the kernel hold the rest) until a consumer comes or we close
                self._taker.clear()
                if not self._closing and not self._consumers:
                    await self._taker.wait()

    async def _timer_loop(self, rnd: _Round) -> None:
        state = self._state
        opts = self.options
        opened = opts.clock()
        while True:
            now = opts.clock()
            deadline = state.next_deadline()
            if not state.ready:
                connect_deadline = opened + opts.connect_timeout
                if now >= connect_deadline:
                    raise ConnectionFailedError(
                        f"The gateway sent no ConnectionDetails within {opts.connect_timeout:g} "
                        "s; reconnecting."
                    )
                deadline = connect_deadline if deadline is None else min(deadline, connect_deadline)
            if rnd.pending_error is not None and rnd.error_deadline is not None:
                if now >= rnd.error_deadline:
                    raise rnd.pending_error  # the server did not close: we do, cleanly
                deadline = (
                    rnd.error_deadline if deadline is None else min(deadline, rnd.error_deadline)
                )
            if deadline is None or deadline > now:
                wait = None if deadline is None else deadline - now
                with anyio.move_on_after(wait):
                    await rnd.wake.wait()
                rnd.wake.clear()
            events = state.poll(opts.clock())
            if events:
                await self._handle(rnd, events)

    async def _sync_loop(self, rnd: _Round) -> None:
        """Keep the server subscription equal to the consumers' filters (POST/PUT/DELETE)."""
        assert self._sync_wanted is not None
        state = self._state
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            fruitless = 0
            while state.ready and state.subscription_outdated:
                fruitless += 1
                if fruitless > 5:  # each reply must change something; never spin
                    raise ProtocolError(
                        "The gateway keeps accepting subscription requests without applying "
                        "them; reconnecting."
                    )
                deleting = not state.wanted_filters
                if not deleting and state.subscription_id is None:
                    # a new subscription takes a slot: let the DELETE of the one it replaces
                    # (orphaned by a failed recovery) finish first, or it may hit SUB-505
                    await self._await_orphan_deletes(self.options.request_timeout)
                deleted_id = state.subscription_id if deleting else None
                base = set(state.subscribed_filters)
                sent = tuple(state.wanted_filters)
                pending = self._new_pending("Subscribing to events", subscription=True)
                token = self._token_issued_at()
                req = state.subscription_request(self.options.clock())
                if req is None:
                    break
                mid, text = req
                self._waiting[mid] = pending
                if deleted_id is not None:
                    self._unconfirmed[deleted_id] = None
                rnd.wake.set()
                await rnd.transport.send(text)
                reply = await pending.future  # timeouts/drops raise: the round ends
                reading = pending.reading  # the core's reading of the reply (the only one)
                outcome = reading.outcome if reading is not None else "failed"
                if deleted_id is not None and outcome == "deleted":
                    self._unconfirmed.pop(deleted_id, None)
                    self.created_subscription_ids.discard(deleted_id)
                if outcome in ("applied", "deleted") and reply.ok:
                    if not deleting and state.subscription_id is None:
                        raise ProtocolError(
                            "The gateway confirmed the subscription without an id; reconnecting."
                        )
                    fruitless = 0
                    self._track_subscription(state.subscription_id)
                    if state.subscription_id is None:
                        logger.info("Deleted subscription %s", deleted_id or "(unknown)")
                    else:
                        n = len(state.subscribed_filters)
                        logger.info(
                            "Subscription %s now has %d filter%s",
                            state.subscription_id,
                            n,
                            "" if n == 1 else "s",
                        )
                    if reading is not None and reading.refused:
                        self._refuse_disabled(reading.refused)
                elif outcome in ("gone", "deleted"):
                    # the server lost the subscription (expired, or deleted elsewhere):
                    # what it matched meanwhile is gone; the state now asks for a POST
                    if not deleting and self._table.any_confirmed():
                        self._hold(
                            self._gap_item(
                                "subscription_recreated",
                                "The server no longer knew the subscription (404); it was "
                                "created again and events in between may be missing.",
                            )
                        )
                    continue
                else:
                    error = error_from_reply(
                        "Subscribing to events", reply.status, reply.headers, reply.body
                    )
                    if await self._token_rejected(error, token):
                        if rnd.reason is not None:
                            return  # the connection is being renewed: not on this socket
                        continue  # refreshed inside the same OAuth session: send it again
                    decision = classify(
                        error, subscription_limit_wait=self.options.subscription_limit_wait
                    )
                    if is_subscription_limit(error):
                        fruitless = 0  # waiting for a free slot is not spinning
                        _warn_subscription_limit(decision.min_delay)
                        if not await self._await_orphan_deletes(decision.min_delay):
                            await self.options.sleep(decision.min_delay)
                        continue
                    if decision.retry:
                        # not a refusal (429, 5xx): wait and send it again (the fruitless
                        # guard bounds this, then the connection is renewed with backoff)
                        logger.info("Subscribing was deferred (HTTP %d); retrying", reply.status)
                        await self.options.sleep(decision.min_delay or 1.0)
                        continue
                    self._reject(error, sent, base)
                    fruitless = 0  # a refusal always fails or parks a consumer: progress
                self._settled(rnd)
                await self._notify()
            self._settled(rnd)
            await self._notify()

    def _settled(self, rnd: _Round) -> None:
        """After a subscription change: confirm consumers, announce held lifecycle items."""
        if not self._state.ready or self._state.subscription_outdated:
            return
        self._mark_confirmed()
        self._flush_held()
        rnd.healthy = True
        self._checkpoint_session(new_session=False)
        check_now = self._check_now
        waiting = self._recreate_next_check and not self._recreate_failures
        if waiting and not self._state.replaying and check_now is not None:
            check_now.set()  # a recreate that had to wait for this change (not a failed one:
            # that one waits for the upkeep's retry)

    def _refuse_disabled(self, refused: Mapping[str, str]) -> None:
        """The server accepted the subscription but did not grant some filters
        (``disabledFilters``): the consumers that asked for them get a clear error."""
        for refusal in self._table.refuse_disabled(refused):
            consumer = self._by_key.get(refusal.key)
            error = PermissionDeniedError(
                f"The platform did not grant the event filter {refusal.filter!r} "
                f"({refusal.reason}); check the app's permissions and the user's role.",
                error_code="disabledFilters",
            )
            if refusal.confirmed or consumer is None:
                logger.warning("%s", error)  # already streaming its other filters
                continue
            consumer.error = error
            self._drop_consumer(consumer)
        self._state.want_filters(self._table.wanted())

    def _reject(
        self, error: Exception, sent: tuple[str, ...] = (), base: set[str] | None = None
    ) -> None:
        """A subscription request was refused: fail the consumer(s) that asked for it
        (:meth:`ConsumerTable.reject` decides which). When no new consumer was waiting
        (re-creating after a reconnect), the error ends the round."""
        failed, fatal = self._table.reject(sent, base or set())
        if fatal:
            raise error
        if failed is not None:
            consumer = self._by_key.get(failed)
            if consumer is not None:
                consumer.error = error
                self._drop_consumer(consumer)
        self._state.want_filters(self._table.wanted())
        self._mark_confirmed()  # may unpark the next consumer to try

    async def _handle(self, rnd: _Round, events: list[SessionEvent]) -> None:
        for ev in events:
            if isinstance(ev, NotificationReceived):
                self._on_notification(ev.data)
            elif isinstance(ev, ResponseReceived):
                if ev.response.status != 401:
                    self._renewed_for_401 = False  # the socket takes the token: no 401 loop
                waiting = self._waiting.pop(ev.response.message_id, None)
                if waiting is not None and not waiting.future.done():
                    waiting.reading = ev.subscription
                    waiting.future.set_result(ev.response)
                    if waiting.subscription and ev.response.ok:
                        # announce held Connected/Gap items before any event that follows
                        self._settled(rnd)
            elif isinstance(ev, HeartbeatDue):
                self._stats.heartbeats += 1
                await rnd.transport.send(self._state.heartbeat(self.options.clock()))
            elif isinstance(ev, Connected):
                await self._on_connected(rnd, ev)
            elif isinstance(ev, RecoveryReplayed):
                logger.debug("The recovery replayed %d events", ev.replayed)
                if self._recreate_next_check and self._check_now is not None:
                    self._check_now.set()  # replace it once the replay is in
                if ev.timed_out:
                    logger.warning(
                        "The gateway did not echo the replay probe within %g s; whether its "
                        "recovery buffer overflowed during the outage cannot be told.",
                        self.options.request_timeout,
                    )
                if ev.buffer_was_full:
                    self._broadcast(
                        self._gap_item(
                            "recovery_buffer_full",
                            f"The gateway replayed {ev.replayed} events, all its recovery "
                            "buffer holds: older events from the outage may have been dropped "
                            "before the replayed ones. Re-read any state you cache.",
                        )
                    )
            elif isinstance(ev, RequestFailed):
                waiting = self._waiting.pop(ev.message_id, None)
                if waiting is not None:
                    err = ev.error
                    self._resolve_error(
                        waiting,
                        error_from_frame(
                            waiting.what, status=err.status, headers=err.headers, body=err.body
                        ),
                    )
            elif isinstance(ev, RequestTimedOut):
                waiting = self._waiting.pop(ev.message_id, None)
                if waiting is not None:
                    self._resolve_error(
                        waiting,
                        RequestTimeoutError(
                            f"'{waiting.what}' got no reply in time; the gateway may be "
                            "overloaded, try again."
                        ),
                    )
                    if waiting.subscription:
                        raise ConnectionFailedError(
                            "The subscription request got no reply; reconnecting."
                        )
            elif isinstance(ev, GatewayErrorReceived):
                await self._on_gateway_error(rnd, ev.error)
            elif isinstance(ev, LinkDead):
                raise ConnectionFailedError(
                    f"Nothing arrived for {ev.silent_for:.1f} s, not even a heartbeat reply; "
                    "the link is dead, reconnecting."
                )
            elif isinstance(ev, BadFrame):
                self._stats.bad_frames += 1
                logger.warning("%s Excerpt: %s", ev.error, ev.error.raw)

    def _typed_fast_path(self, frame: bytes) -> bool:
        """The one-parse path: a notification whose consumers are all typed is validated
        straight from the frame's bytes into its model (one ``validate_json`` of the whole
        frame, no intermediate dict), then deduped, counted and handed over exactly as
        :meth:`_on_notification` would. Returns False, having changed nothing, whenever
        the general path is needed: a frame that is not a plain notification, an event
        whose route is not known yet or has a raw consumer, a checkpoint to keep, or any
        validation failure (the general path then decodes, degrades or reports it)."""
        if not self._typed_count or self._writer is not None or self._held:
            return False
        router = self._router
        if router.owner_extension is None:
            return False
        event = sniff_event(frame)
        if event is None:
            return False
        route = router.cached_route(event)
        if route is None:
            return False
        by_key = self._by_key
        for key in route.keys:
            consumer = by_key.get(key)
            if consumer is None or consumer.raw:
                return False
        validated = validate_frame(frame, event)
        if validated is None:
            return False
        model, message_id, wsc = validated
        if not self._state.receive_notification(model.uuid, message_id, wsc, self.options.clock()):
            return True  # a duplicate (a replay after recovery)
        self._stats.notifications += 1
        typed = _Typed.validated(model)
        for key in route.keys:
            if not by_key[key]._inbox.put(typed):
                self._stats.dropped += 1
        return True

    def _on_notification(self, data: dict[str, Any]) -> None:
        event = data.get("event")
        if type(event) is not str:
            self._stats.bad_frames += 1
            logger.warning("Skipped a notification without a string 'event' field.")
            return
        self._stats.notifications += 1
        if self._writer is not None:
            self._note_arrival(data)  # the wsc it came with, for the checkpoint
        if self._held:
            self._flush_held()  # a notification proves the subscription is in place
        router = self._router
        if router.owner_extension is None:
            owner = data.get("ownerId")  # the subscription owner: the token's extension
            if isinstance(owner, str | int) and not isinstance(owner, bool):
                router.set_owner(str(owner))
        # always route: the server subscription only eventually equals the filters wanted
        # (a PUT in flight, replays after a consumer left while disconnected)
        if not self._consumers:
            if self._writer is None:
                # the last consumer has left (the client is closing, or the filters'
                # removal is still on its way to the server): no filter to have missed
                self._stats.unmatched += 1
                logger.debug("An event arrived after the last consumer left; not delivered.")
            return  # (with a checkpoint the event was kept as pending above)
        route = router.route(event)
        if not route.matched:
            self._stats.unmatched += 1
            if route.first_of_shape:
                logger.warning(
                    "An event matched no consumer's filter (%s); delivered to %d consumer(s) "
                    "of the same resource. Counted in stats.unmatched; logged once per shape.",
                    redact(event.partition("?")[0]),
                    len(route.keys),
                )
        by_key = self._by_key
        typed: _Typed | None = None
        for key in route.keys:
            consumer = by_key.get(key)
            if consumer is None:
                continue
            if consumer.raw:
                fits = consumer._inbox.put(data)
            else:
                if typed is None:
                    typed = _Typed(data)  # one per event, shared by its typed consumers
                fits = consumer._inbox.put(typed)
            if not fits:
                self._stats.dropped += 1

    async def _on_connected(self, rnd: _Round, ev: Connected) -> None:
        rnd.ready = True
        self._ever_connected = True
        if self._first_connect_scope is not None:
            self._first_connect_scope.deadline = math.inf  # connected: no deadline any more
        rnd.wake.set()  # the timer now tracks heartbeats instead of the connect deadline
        self._slots = None
        outcome = ev.outcome
        # (a fresh or failed session gets a new subscription anyway)
        self._recreate_next_check = (
            outcome is RecoveryOutcome.RECOVERED and self.options.recreate_after_recovery
        )
        self._recreate_failures = 0
        if outcome is RecoveryOutcome.RECOVERED:
            self._stats.recoveries += 1
            logger.info("Recovered the session; missed events are being replayed")
            if self._check_now is not None and not self._recreate_next_check:
                self._check_now.set()  # a recovered subscription may still be stale
            # the gateway replays its buffer first: the echo of this probe ends the replay
            # and tells how many came back (a full buffer means older events were dropped)
            await rnd.transport.send(self._state.replay_probe(self.options.clock()))
        elif outcome is RecoveryOutcome.FAILED:
            self._stats.recovery_failures += 1
            logger.info(
                "Session recovery failed (%s); re-creating the subscription",
                ev.recovery_error_code or "no code",
            )
        else:
            logger.info("Connected (new session)")
        self._checkpoint_session(new_session=outcome is not RecoveryOutcome.RECOVERED)
        if outcome is not RecoveryOutcome.RECOVERED:
            # the previous subscription outlives its gateway session on the platform (24 h)
            # and counts toward SUB-505: delete it now, before a new one is asked for
            old, self._last_subscription_id = self._last_subscription_id, None
            if old is not None and old in self.created_subscription_ids:
                self._delete_orphan(old)
        # Announced once the subscription is in place again (events flow from then on).
        self._hold(ConnectedItem(outcome=outcome.value, attempt=self._stats.connects))
        if ev.had_subscription and outcome is not RecoveryOutcome.RECOVERED:
            if outcome is RecoveryOutcome.FAILED:
                gap = self._gap_item(
                    "recovery_failed",
                    f"The gateway could not recover the session "
                    f"({ev.recovery_error_code or 'no code'}); events sent while disconnected "
                    "are lost. Re-read any state you cache.",
                    recovery_error_code=ev.recovery_error_code,
                )
            else:
                gap = self._gap_item(
                    "recovery_window_expired",
                    "The connection was down longer than the recovery window; events sent "
                    "while disconnected are lost. Re-read any state you cache.",
                )
            self._hold(gap)
        if ev.needs_subscription or self._state.subscription_outdated:
            self._kick_sync()
        else:
            self._settled(rnd)
        await self._notify()

    def _hold(self, item: Lifecycle) -> None:
        """Keep ``item`` until the subscription is back. Bounded: one Connected (the
        latest) and one Gap (the first: it already says events may be missing; but a lost
        session after a ``token_expired`` renewal replaces that one, which says less)."""
        if isinstance(item, Gap):
            held = next((h for h in self._held if isinstance(h, Gap)), None)
            if held is not None:
                if held.reason == "token_expired" and item.reason != "token_expired":
                    # the renewal then lost the session too: say so, with the gateway's code
                    self._held[self._held.index(held)] = item
                return
        else:
            self._held = [h for h in self._held if isinstance(h, Gap)]
        self._held.append(item)

    def _flush_held(self) -> None:
        held, self._held = self._held, []
        for item in held:
            self._broadcast(item)

    async def _on_gateway_error(self, rnd: _Round, error: ErrorFrame) -> None:
        """An Error frame not tied to a request. Permission errors and 429 are fatal or wait
        (``classify``); the documented connection-ending codes (``WSG-400``, ``WSG-902``,
        ``WSG-903``) end the connection at once with a close
        handshake; for any other code the client keeps reading, as the official SDKs do,
        until the server closes or ``close_timeout`` passes, then closes cleanly."""
        self._stats.gateway_errors += 1
        if rnd.pending_error is not None:
            return  # already ending (a flood of Errors costs one reconnect, no log spam)
        code = error.error_code or "unknown"
        message = redact(error.message or "")
        logger.info("Gateway error %s: %s", code, message or "(no message)")
        typed = error_from_frame(
            "The gateway", status=error.status, headers=error.headers, body=error.body
        )
        rnd.graceful = True
        if not code.startswith("WSG-") and isinstance(
            typed, PermissionDeniedError | RateLimitedError
        ):
            raise typed
        if (code.startswith("OAU-") or error.status == 401) and self._tokens is not None:
            tokens = self._tokens.tokens
            if tokens is not None:
                await self._tokens.invalidate(tokens.access_token.get())
        if code in _ENDING_CODES:
            raise GatewayError(
                f"The gateway sent error {code} ({message or 'no message'}); reconnecting.",
                error_code=error.error_code,
                status=error.status,
                body=error.body,
            )
        if rnd.pending_error is None:
            rnd.pending_error = ConnectionFailedError(
                f"The gateway sent error {code} ({message or 'no message'}); reconnecting."
            )
            rnd.error_deadline = self.options.clock() + self.options.close_timeout
            rnd.wake.set()

    # ---- session upkeep: token refresh, subscription checks, orphans -------------------

    def _refresh_at(self) -> float | None:
        """When to renew the access token proactively (monotonic), or None (never/unknown).
        For a caller-supplied token with a known expiry this is its expiry: the renewal
        then raises one clear :class:`~rcstream.AuthenticationError` instead of stalling."""
        return self._tokens.next_refresh_at() if self._tokens is not None else None

    async def _refresh_token(self, why: str) -> None:
        """Renew the access token inside the same OAuth session (refresh grant)."""
        assert self._tokens is not None
        await self._tokens.refresh_now()
        self._stats.token_refreshes += 1
        logger.info("Refreshed the access token (%s)", why)

    async def _token_accepted(self, timeout: float | None) -> bool | None:  # noqa: ASYNC109
        """Whether the socket takes the access token: a request any accepted token may make
        (the list of subscriptions) gets an answer other than a 401. ``None``: no answer
        (a timeout, a drop, an error frame), so it cannot be told."""
        try:
            reply = await self._request_once(
                "GET", "/restapi/v1.0/subscription", None, None, None, timeout, [None]
            )
        except AuthenticationError as exc:
            return not _token_refusal(exc)
        except RCStreamError as exc:
            logger.debug("Could not tell whether the connection takes the token: %s", exc)
            return None
        return reply.status != 401

    def _token_issued_at(self) -> float | None:
        """When the current access token was issued (the client's clock), if known."""
        tokens = self._tokens.tokens if self._tokens is not None else None
        return tokens.issued_at if tokens is not None else None

    async def _token_rejected(self, error: BaseException, sent_with: float | None) -> bool:
        """A 401/``OAU-*`` answer over the socket to a request sent while the access token
        issued at ``sent_with`` was current. True: the caller asks again. False: not a token
        problem. A caller-supplied token that cannot be refreshed raises one clear
        :class:`~rcstream.AuthenticationError` instead.

        * The token was renewed since the request was sent (a concurrent 401, a fork, the
          proactive refresh): ask again.
        * The token was issued before this socket opened: refresh it, ask again.
        * It was issued after: the socket itself outlived its token. Nothing tells a live
          socket about a refresh (it goes to ``/restapi/oauth/token``;
          ringcentral-websocket-java's README says to refresh *and then re-subscribe* once
          the token has expired), so the connection is renewed, which recovers the session
          with its ``wsc``, with a ``Gap(reason="token_expired")`` (a stopped socket may have
          dropped events). The caller asks again on the new connection (a task of the
          ending round is cancelled). A second renewal with nothing but 401s answered in
          between would only loop: the 401 is raised instead.
        """
        if not _token_refusal(error):
            return False
        assert isinstance(error, AuthenticationError)
        if self._tokens is None or not self._tokens.can_refresh:
            raise AuthenticationError(
                "The platform refused the access token (it has probably expired) and a "
                "caller-supplied token cannot be refreshed; pass a fresh token, or use JWT "
                "credentials for long-running streams.",
                error_code=error.error_code,
                status=error.status,
            ) from error
        async with self._token_lock:
            issued = self._token_issued_at()
            rnd = self._round
            if issued != sent_with or (rnd is not None and rnd.reason is not None):
                return True  # renewed since it was sent, or the connection is being renewed
            if rnd is None or issued is None or issued < rnd.opened_at:
                await self._refresh_token(
                    f"the gateway answered {error.error_code or error.status}"
                )
                return True
            if self._renewed_for_401:
                raise error
            self._renewed_for_401 = True
            logger.info(
                "The gateway refused an access token newer than this connection (%s); "
                "renewing the connection",
                error.error_code or error.status,
            )
            self._hold(
                self._gap_item(
                    "token_expired",
                    "The connection outlived its access token; events the gateway sent to it "
                    "meanwhile may be missing. Re-read any state you cache.",
                )
            )
            rnd.graceful = True  # a close handshake: the gateway keeps the session to recover
            rnd.renewed_for_token = True
            self._end_round(
                rnd,
                ConnectionFailedError(
                    "The connection outlived its access token (a newer one was refused on "
                    "it); reconnecting."
                ),
            )
            return True

    async def _upkeep_loop(self, rnd: _Round) -> None:
        """Per connection: refresh the access token before it expires, and check now and
        then (and after every recovery) that the server subscription still exists."""
        opts = self.options
        state = self._state
        check_now = self._check_now
        assert check_now is not None
        interval = opts.subscription_check_interval
        next_check = None if interval is None else opts.clock() + interval
        retry_refresh_at: float | None = None  # after a refresh failed in a way that may pass
        while True:
            refresh_at = self._refresh_at() if opts.refresh_while_connected else None
            if refresh_at is not None and retry_refresh_at is not None:
                refresh_at = max(refresh_at, retry_refresh_at)
            deadlines = [d for d in (refresh_at, next_check) if d is not None]
            now = opts.clock()
            wait = max(0.0, min(deadlines) - now) if deadlines else None
            if not check_now.is_set() and (wait is None or wait > 0):
                with anyio.move_on_after(wait):
                    await check_now.wait()
            now = opts.clock()
            if refresh_at is not None and now >= refresh_at:
                try:
                    await self._refresh_token("proactively, before it expires")
                    retry_refresh_at = None
                except RCStreamError as exc:
                    # a 429, 5xx or timeout may pass: the token is still valid for a while,
                    # so keep the healthy connection and try again (fatal errors end it)
                    retry_refresh_at = now + self._upkeep_retry_wait(exc, "Refreshing the token")
            due = next_check is not None and now >= next_check
            if check_now.is_set() or due:
                check_now.clear()
                next_check = now + interval if interval is not None else None
                if state.ready and not state.subscription_outdated and state.subscription_id:
                    recreate = self._recreate_next_check and not state.replaying
                    self._recreate_next_check &= not recreate
                    try:
                        await self._check_subscription(rnd, state.subscription_id, recreate)
                    except RCStreamError as exc:
                        # tried again after the wait (and never sooner than the interval),
                        # also when periodic checks are off: this one was asked for
                        wait = self._upkeep_retry_wait(exc, "Checking the subscription")
                        next_check = now + max(wait, interval or 0.0)

    def _upkeep_retry_wait(self, error: RCStreamError, what: str) -> float:
        """How long to wait before retrying an upkeep step that failed with ``error``;
        raises ``error`` when :func:`~rcstream.retry.classify` says it is fatal. The wait is
        the server's ``Retry-After`` (or ``classify``'s minimum), else 5 s, shortened to a
        quarter of the access token's remaining lifetime so a retry still comes in time."""
        decision = classify(error, subscription_limit_wait=self.options.subscription_limit_wait)
        if not decision.retry:
            raise error
        wait = _UPKEEP_RETRY_WAIT
        tokens = self._tokens.tokens if self._tokens is not None else None
        if tokens is not None and tokens.expires_at is not None:
            wait = min(wait, max(0.05, (tokens.expires_at - self.options.clock()) / 4))
        wait = max(wait, decision.min_delay)
        logger.warning("%s failed (%s); retrying in %.2f s", what, error, wait)
        return wait

    async def _check_subscription(self, rnd: _Round, sid: str, recreate: bool = False) -> None:
        """GET the subscription over the socket; if the server lost it (404), or it is no
        longer ``Active`` (suspended, expired), create it again and report a Gap.
        ``recreate`` (``recreate_after_recovery``): delete it first, then create it again
        with a Gap, without asking; the old and the new one never deliver side by side (a
        failed delete is tried again at the next check instead)."""
        if recreate and not await self._rest_delete_subscription(sid):  # (or gone already)
            self._recreate_failures += 1
            if self._recreate_failures < _RECREATE_TRIES:
                self._recreate_next_check = True
                raise ConnectionFailedError(
                    f"Deleting the recovered subscription {sid} failed"
                )  # the upkeep tries again after its wait
            logger.warning(
                "Could not delete the recovered subscription %s %d times; keeping it",
                sid,
                self._recreate_failures,
            )
            recreate = False
        if recreate:
            gone, why, exists = True, "recovered: replaced, as recreate_after_recovery asks", False
        else:
            gone, why, exists = await self._subscription_gone(sid)
        if not gone or self._state.subscription_id != sid:
            return
        logger.warning("The subscription %s is gone (%s); creating it again", sid, why)
        # (recreate_after_recovery: "gone" because it was just deleted on purpose)
        self._stats.subscriptions_recreated += 1
        old = self._state.forget_subscription()
        self._last_subscription_id = None
        if old is not None and old in self.created_subscription_ids:
            if exists:
                self._delete_orphan(old)  # suspended or expired: it still takes a slot
            else:
                self.created_subscription_ids.discard(old)
        self._hold(
            self._gap_item(
                "subscription_recreated",
                f"The server subscription was gone ({why}); it was created again and events "
                "in between are lost. Re-read any state you cache.",
            )
        )
        self._kick_sync()

    async def _subscription_gone(self, sid: str) -> tuple[bool, str, bool]:
        """GET subscription ``sid`` over the socket: (gone, why, still exists)."""
        try:
            reply = await self.request("GET", f"/restapi/v1.0/subscription/{sid}")
            body = reply.body if isinstance(reply.body, dict) else {}
            status = body.get("status")
            gone = isinstance(status, str) and status != "Active"
            return gone, f"its status is {status}", True
        except GatewayError as exc:
            if not subscription_lost(exc.status, exc.error_code):
                raise
            return True, "the server no longer knows it", False

    def _track_subscription(self, sid: str | None) -> None:
        """A subscription request succeeded with ``sid``: remember that this client created
        it, and delete the one it replaced (orphaned by a failed recovery or a fresh
        session) in the background."""
        if sid is None:
            return
        self.created_subscription_ids.add(sid)
        old, self._last_subscription_id = self._last_subscription_id, sid
        if old is not None and old != sid and old in self.created_subscription_ids:
            self._delete_orphan(old)

    def _delete_orphan(self, sid: str) -> None:
        if self._phase is not _Phase.OPEN:
            return
        task = asyncio.get_running_loop().create_task(
            self._delete_orphan_now(sid), name="rcstream-delete-orphan"
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        self._orphan_deletes.add(task)
        task.add_done_callback(self._orphan_deletes.discard)

    async def _await_orphan_deletes(self, limit: float) -> bool:
        """Wait up to ``limit`` s for the orphan DELETEs in flight; True if there were any
        and they all finished (a slot may have freed)."""
        tasks = list(self._orphan_deletes)
        if not tasks:
            return False
        _done, pending = await asyncio.wait(tasks, timeout=limit)
        return not pending

    async def _delete_orphan_now(self, sid: str) -> None:
        """DELETE a subscription this client created and no longer uses (best effort)."""
        if not await self._rest_delete_subscription(sid):
            return
        self._stats.orphans_deleted += 1
        logger.info("Deleted the old subscription %s", sid)

    # ---- pending requests ---------------------------------------------------------------

    def _new_pending(self, what: str, *, subscription: bool = False) -> _Pending:
        future = asyncio.get_running_loop().create_future()
        return _Pending(future=future, what=what, subscription=subscription)

    @staticmethod
    def _resolve_error(pending: _Pending, error: BaseException) -> None:
        if not pending.future.done():
            pending.future.set_exception(error)
            pending.future.exception()  # mark retrieved: nobody may be waiting any more


def _token_refusal(error: BaseException) -> bool:
    """Whether ``error`` is the gateway refusing the access token (401 or ``OAU-*``)."""
    if not isinstance(error, AuthenticationError) or isinstance(error, PermissionDeniedError):
        return False
    return error.status == 401 or (error.error_code or "").startswith("OAU-")


#: Attempts to delete a recovered subscription (``recreate_after_recovery``) before it is
#: kept and only checked, as without the option.
_RECREATE_TRIES: Final = 3

#: Methods a request may be sent again with (RFC 9110 section 9.2.2) when the connection it was
#: in flight on was renewed under it.
_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

#: Seconds before an upkeep step (token refresh, subscription check) that failed in a way
#: that may pass is tried again, at most (see ``Client._upkeep_retry_wait``).
_UPKEEP_RETRY_WAIT: Final = 5.0

#: Error codes after which the gateway closes the connection (docs heart-beats.md:
#: WSG-902/903; maintainer experiment rc-ws-recover-test exp. 6: WSG-400 then a close).
#: WSG-1003/1005 are not among them: the sources show them only as ``recoveryErrorCode``
#: of a ConnectionDetails, on a connection that stays open (maintainer experiment
#: rc-ws-recover-test exp. 1 and 3).
_ENDING_CODES: Final = frozenset({"WSG-400", "WSG-902", "WSG-903"})

#: Validated notifications the reader hands over before it lets the consumers run: models
#: that wait in a buffer outlive the cyclic collector's youngest generation and make its
#: collections expensive (measured in docs/performance.md).
_YIELD_EVERY: Final = 16


def _warn_subscription_limit(delay: float) -> None:
    logger.warning(
        "The user has as many subscriptions for this app as the platform allows (SUB-505); "
        "retrying in %.0f s. Free one with `rcstream subscriptions list` and `rcstream "
        "subscriptions delete ID`.",
        delay,
    )
