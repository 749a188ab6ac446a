"""One account's event stream into JetStream: the engine of ``rcstream bridge`` and of each
stream a fleet worker runs.

:class:`AccountBridge` opens a :class:`rcstream.Client` (with ``checkpoint=`` when a store
is given), subscribes with ``raw=True``, ``lifecycle=True``, ``ack="manual"`` and
``backpressure=True``, and publishes through a
:class:`~rcstream.fleet.publisher.Publisher`:

* each notification body, re-serialised compactly with its keys and values as received,
  to ``rcstream.<accountId>.<family>`` with ``Nats-Msg-Id: <uuid>``;
* each lifecycle item (``connected``, ``disconnected``, ``gap``, and the bridge's own
  ``owner`` item when a stream starts) to ``rcstream.<accountId>.lifecycle``.

**Progress only after acks.** Each event is acked to the subscription (``sub.ack``) when
JetStream acknowledges it, in order, so the client's checkpoint (any
:class:`~rcstream.checkpoint.CheckpointStore`: a file for ``bridge --checkpoint``, the
fenced :class:`~rcstream.fleet.kvstore.KVCheckpoint` in the fleet) never covers an event
that is not stored. Whoever starts from it (a restarted bridge, the next owner in the
fleet) refreshes the stored token pair (logging in with the JWT only if the platform
refuses it), publishes the stored pending events again and recovers the gateway session
with ``wsc``: the gateway replays what it buffered since the old socket went (up to 100
events within 180 s), the duplicate window drops what had been stored already. A session
that cannot be recovered is a ``gap`` on the lifecycle subject, never a silent hole.

**Back-pressure.** ``publish`` blocks while ``max_in_flight`` messages await acks; the
subscription is in back-pressure mode, so the client's reader then stops reading and the
events wait in the socket and the platform's buffer instead of being dropped. What the
gateway cannot hold (past 100 events or 180 s) is reported as a gap by the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from rcstream.auth import Auth, RefreshTokenAuth
from rcstream.checkpoint import Checkpoint
from rcstream.exceptions import AuthenticationError, UsageError
from rcstream.fleet.publisher import Ack, Publisher
from rcstream.fleet.subjects import lifecycle_record
from rcstream.redact import Secret

if TYPE_CHECKING:
    from rcstream.checkpoint import CheckpointStore
    from rcstream.client import Client, ClientOptions, Subscription
    from rcstream.fleet.worker import AccountContext, AccountStats, Runner

__all__ = [
    "AccountBridge",
    "BridgeSettings",
    "fleet_runner",
    "retire_account",
]

logger = logging.getLogger(__name__)

_ACCOUNT_PATH = "/restapi/v1.0/account/~/extension/~"


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """How one account is bridged. Durations are seconds."""

    filters: tuple[str, ...]
    #: The JetStream stream that must store the messages (``None``: whichever binds).
    stream: str | None = None
    max_in_flight: int = 256
    #: Seconds a publish waits for its ack before it is sent again (same ``Nats-Msg-Id``).
    ack_timeout: float = 2.0
    #: At most one checkpoint write per this many seconds (only after new acks).
    save_interval: float = 1.0
    #: Events the client buffers ahead of the publisher. When publishing blocks (a NATS
    #: outage) and these are full, the client's reader stops reading, so the events wait
    #: on the socket and in the gateway's buffer rather than in this process's memory.
    buffer_size: int = 100
    #: Acked uuids kept in the checkpoint.
    recent: int = 200
    #: Bounded wait, on a graceful stop, for the last acks and checkpoint write.
    drain_timeout: float = 5.0


def _is_notification(context: Any) -> bool:
    """A publish's context is the notification itself (a dict); lifecycle items have none."""
    return isinstance(context, dict)


def _notification_bytes(item: dict[str, Any]) -> bytes:
    """The notification as compact UTF-8 JSON: the keys, their order and the values as
    received; only the whitespace and the spelling of string escapes can differ from the
    frame. A string the gateway sent with a lone surrogate escape (``"\\ud83d"``, which
    the client accepts on purpose) has no UTF-8 form: then every non-ASCII character is
    written as a ``\\u`` escape, so the message is still valid JSON that decodes to the
    same values."""
    try:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(item, separators=(",", ":"), ensure_ascii=True).encode()


class AccountBridge:
    """Stream one account into JetStream until cancelled (see the module docstring).

    ``login`` is the credential used when there is no stored session or the stored token
    pair is refused (a :class:`~rcstream.auth.JWTAuth`, usually). ``store`` is optional:
    without it nothing is resumed or saved. ``stats`` (a fleet
    :class:`~rcstream.fleet.worker.AccountStats`) is updated as acks arrive.
    ``worker`` names the owner in the ``owner`` lifecycle item.

    ``fenced`` is asked when the stream stops: ``True`` when its checkpoint can no longer
    be written (a fleet stream whose lease ran out or was lost: the fence refuses every
    save). Such a stream closes the client, and so the gateway socket, *before* it waits
    for its last acks: whatever it read during that wait could only be lost (no checkpoint
    records it, and the gateway counts it as delivered), while what the gateway sends once
    the socket is closed waits in the gateway's buffer for the next owner's recovery.
    """

    def __init__(
        self,
        js: Any,
        *,
        server_url: str,
        login: Auth,
        settings: BridgeSettings,
        store: CheckpointStore | None = None,
        stats: AccountStats | None = None,
        options: ClientOptions | None = None,
        worker: str | None = None,
        wall: Callable[[], float] = time.time,
        drain_budget: Callable[[], float | None] | None = None,
        fenced: Callable[[], bool] | None = None,
    ) -> None:
        self.js = js
        self.server_url = server_url.rstrip("/")
        self.login = login
        self.settings = settings
        self.store = store
        self.stats = stats
        self.options = options
        self.worker = worker
        self._wall = wall
        self._drain_budget = drain_budget
        self._fenced = fenced
        self.account_id: str | None = None
        #: Notifications JetStream acknowledged (stored, or recognised as duplicates).
        self.published = 0
        #: Set when the stream ended: notifications read off the socket that JetStream had
        #: not acknowledged (in flight or still buffered). The checkpoint does not cover
        #: them, and the gateway counts them as delivered, so a fenced owner that cannot
        #: save them as pending must report them (see ``FleetWorker``).
        self.unstored = 0
        #: True once a fenced stream closed its client before the drain: ``unstored`` then
        #: counts everything the client read, up to the gateway's close frame.
        self.hung_up = False
        #: 1 while a notification the client handed out waits to be submitted (the
        #: publisher's window is full): cancelled there, it is read and not stored.
        self._submitting = 0
        #: Set once the subscription is in place and the account id known.
        self.ready = asyncio.Event()
        self._sub: Subscription[Any] | None = None
        self._publisher: Publisher | None = None

    def _client_options(self) -> ClientOptions:
        from rcstream.client import ClientOptions

        opts = self.options or ClientOptions()
        return dataclasses.replace(
            opts,
            buffer_size=self.settings.buffer_size,
            checkpoint_interval=self.settings.save_interval,
        )

    async def _account_id(self, client: Client) -> str:
        resp = await client.rest("GET", _ACCOUNT_PATH)
        body = resp.body if isinstance(resp.body, dict) else {}
        account = body.get("account")
        value = str(account.get("id") or "") if isinstance(account, dict) else ""
        if not (value.isascii() and value.isdigit()):
            raise AuthenticationError(
                "The platform did not say which account the token belongs to; check the "
                "credentials (GET /restapi/v1.0/account/~/extension/~ gave no account id)."
            )
        return value

    async def run(self) -> None:
        """Stream until cancelled. On cancellation the publishes in flight get up to
        ``drain_timeout`` to be acked; what is not acked stays in the checkpoint's pending
        events and the next run publishes it again (the duplicate window keeps one). A
        fenced stream (``fenced``) closes its socket first."""
        from rcstream.client import Client

        client = Client(
            self.server_url, auth=self.login, options=self._client_options(), checkpoint=self.store
        )
        publisher = Publisher(
            self.js,
            stream=self.settings.stream,
            max_in_flight=self.settings.max_in_flight,
            ack_timeout=self.settings.ack_timeout,
            on_ack=self._on_ack,
        )
        self._publisher = publisher
        async with client:
            sub = client.subscribe(
                self.settings.filters,
                lifecycle=True,
                raw=True,
                ack="manual",
                backpressure=True,
                buffer_size=self.settings.buffer_size,  # also with a checkpoint
            )
            self._sub = sub
            async with sub:
                try:
                    self.account_id = await self._account_id(client)
                    if self.stats is not None:
                        self.stats.account_id = self.account_id
                    resumed = (
                        client.resume_plan is not None
                        and client.resume_plan.action.value != "fresh"
                    )
                    await publisher.publish_lifecycle(
                        self.account_id,
                        lifecycle_record(
                            self.account_id,
                            "owner",
                            at=self._wall(),
                            worker=self.worker,
                            resumed=resumed,
                        ),
                    )
                    self.ready.set()
                    async for item in sub:
                        await self._publish(publisher, item)
                finally:
                    await self._wind_down(client, publisher, sub)

    async def _wind_down(
        self, client: Client, publisher: Publisher, sub: Subscription[Any]
    ) -> None:
        """The stream stops: give the publishes in flight up to the drain timeout to be
        acked, then count what was read and not stored (``unstored``). A fenced stream
        closes the client first (see the class docstring); the drain keeps its deadline."""
        until = asyncio.get_running_loop().time() + self._drain_timeout()
        if self._fenced is not None and self._fenced():
            # the client reads what was already on its way until the gateway's close
            # frame (into the subscription's buffer, counted below), then stops
            self.hung_up = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await client.aclose()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout_at(until):
                await publisher.flush()
        self.unstored = publisher.unacked(_is_notification) + self._submitting + sub.buffered
        if self.stats is not None:
            self.stats.unstored = self.unstored
        publisher.abort()

    @property
    def in_flight(self) -> int:
        """Notifications handed to the publisher that JetStream has not acknowledged yet."""
        publisher = self._publisher
        return publisher.unacked(_is_notification) if publisher is not None else 0

    @property
    def buffered(self) -> int:
        """Items the client read and buffered that the bridge has not published yet; with
        the publisher blocked this stops at ``settings.buffer_size`` (the reader pauses)."""
        return self._sub.buffered if self._sub is not None else 0

    @property
    def dropped(self) -> int:
        """Events the client's buffer dropped (0: back-pressure held, nothing was lost)."""
        return self._sub.dropped if self._sub is not None else 0

    def _drain_timeout(self) -> float:
        """``settings.drain_timeout``, capped by the owner's budget (a fenced fleet stream
        must be gone before its lease expires on the server)."""
        budget = self._drain_budget() if self._drain_budget is not None else None
        if budget is None:
            return self.settings.drain_timeout
        return max(0.0, min(self.settings.drain_timeout, budget))

    async def _publish(self, publisher: Publisher, item: Any) -> None:
        assert self.account_id is not None
        if isinstance(item, dict):
            uid = item.get("uuid")
            if not isinstance(uid, str) or not uid:
                uid = str(uuid4())
            raw = _notification_bytes(item)
            event = item.get("event")
            self._submitting = 1
            await publisher.publish_notification(
                self.account_id,
                raw,
                event=event if isinstance(event, str) else None,
                uuid=uid,
                context=item,
            )
            self._submitting = 0
            return
        fields = item.model_dump(mode="json")  # a client lifecycle item (type, at, ...)
        record = lifecycle_record(
            self.account_id, fields.pop("type"), at=fields.pop("at"), **fields
        )
        if self.stats is not None:
            if record.get("type") == "disconnected":
                self.stats.reconnects += 1
            elif record.get("type") == "gap":
                self.stats.last_gap_at = self._wall()
                self.stats.last_gap_reason = str(record.get("reason"))
        await publisher.publish_lifecycle(self.account_id, record)

    def _on_ack(self, ack: Ack) -> None:
        if not isinstance(ack.context, dict):
            return  # a lifecycle item: not an event of the subscription
        self.published += 1
        if self.stats is not None:
            self.stats.events += 1
            self.stats.last_event_at = self._wall()
            self.stats.in_flight = self._publisher.in_flight if self._publisher else 0
        if self._sub is not None:
            # acks arrive in the order the events were handed out: the checkpoint's
            # progress now covers this event and every one before it
            try:
                self._sub.ack(ack.context)
            except UsageError:  # already covered by a later ack: nothing to advance
                logger.debug("event %s was acked already", ack.msg_id)


def fleet_runner(
    js: Any,
    *,
    stream: str | None = None,
    max_in_flight: int = 256,
    options: ClientOptions | None = None,
    save_interval: float = 1.0,
) -> Runner:
    """The fleet's runner: an :class:`AccountBridge` per leased account, resumed from and
    saving to the account's fenced KV checkpoint (``ctx.checkpoint``)."""
    from rcstream.auth import JWTAuth

    async def runner(ctx: AccountContext) -> None:
        account = ctx.account
        if account.retired:
            await retire_account(ctx, options=options)
            await ctx.stopping.wait()  # hold the lease: nobody streams a retired account
            return
        bridge = AccountBridge(
            js,
            server_url=account.server_url,
            login=JWTAuth(account.client_id, account.client_secret, account.jwt),
            settings=BridgeSettings(
                filters=account.filters,
                stream=stream,
                max_in_flight=max_in_flight,
                save_interval=save_interval,
            ),
            store=ctx.checkpoint,
            stats=ctx.stats,
            options=options,
            worker=ctx.worker,
            drain_budget=lambda: ctx.drain_timeout,
            fenced=lambda: ctx.fenced,
        )
        try:
            await bridge.run()
        finally:
            # the client's final save carries every event read and not acked (in flight,
            # buffered, read while closing) as pending; refused by the fence, it is the
            # count of what may be missing. A bridge that hung up before its drain counted
            # that itself, without the events JetStream acknowledged during the drain.
            unsaved = ctx.checkpoint.unsaved
            if unsaved is not None and not bridge.hung_up:
                ctx.stats.unstored = max(ctx.stats.unstored, len(unsaved.pending))

    return runner


async def retire_account(ctx: AccountContext, *, options: ClientOptions | None = None) -> bool:
    """The account left the fleet (``retired = true``): delete its server subscription,
    revoke the stored OAuth session and clear the checkpoint (a fenced write). Returns
    True when there was a stored session to end. A rebalance never calls this: only an
    account that leaves the fleet loses its session."""
    from rcstream.client import Client, ClientOptions

    account = ctx.account
    stored = await ctx.checkpoint.load()
    if stored is None or (stored.refresh_token is None and stored.access_token is None):
        logger.info("account %s is retired and holds no session", account.label)
        return False
    auth = RefreshTokenAuth(
        account.client_id,
        account.client_secret,
        stored.refresh_token or Secret(""),
        access_token=stored.access_token,
        access_expires_at=stored.access_expires_at,
        refresh_expires_at=stored.refresh_expires_at,
        owner_id=stored.owner_id,
        owned=True,  # a session a fleet worker created: rcstream owns it and may revoke it
    )
    opts = dataclasses.replace(options or ClientOptions(), keep_session_on_close=False)
    async with Client(account.server_url, auth=auth, options=opts) as client:
        if stored.subscription_id:
            with contextlib.suppress(Exception):
                await client.rest("DELETE", f"/restapi/v1.0/subscription/{stored.subscription_id}")
        # leaving the block revokes the session (rcstream resumed it, so it owns it)
    await ctx.checkpoint.save(Checkpoint(client_id=stored.client_id, server_url=stored.server_url))
    logger.info(
        "account %s is retired: its subscription was deleted and its OAuth session revoked",
        account.label,
    )
    return True
