"""One account's event stream into JetStream: the engine of ``rcstream bridge`` and of each
stream a fleet worker runs.

:class:`AccountBridge` opens a :class:`rcstream.Client`, subscribes with ``raw=True`` and
``lifecycle=True``, and publishes through a :class:`~rcstream.fleet.publisher.Publisher`:

* each notification body, re-serialised compactly with its keys and values as received,
  to ``rcstream.<accountId>.<family>`` with ``Nats-Msg-Id: <uuid>``;
* each lifecycle item (``connected``, ``disconnected``, ``gap``, and the bridge's own
  ``owner`` item when a stream starts) to ``rcstream.<accountId>.lifecycle``.

**Progress only after acks.** The checkpoint (any
:class:`~rcstream.checkpoint.CheckpointStore`: a file for ``bridge --checkpoint``, the
fenced :class:`~rcstream.fleet.kvstore.KVCheckpoint` in the fleet) is written by a saver
task at most every ``save_interval`` seconds, and only with what JetStream acknowledged:
the token pair, the gateway's ``wsc``, the subscription id, the account id and the uuids of
the last acked events. Whoever starts from it (a restarted bridge, the next owner in the
fleet) refreshes the stored token pair (it logs in with the JWT only if the platform
refuses it) and recovers the gateway session with ``wsc``: the gateway replays what it
buffered since the old socket went (up to 100 events within 180 s), the duplicate window
drops what had been stored already. If the session cannot be recovered (the recovery window
passed, the gateway refused it) the client reports a ``gap``; when the stored token pair is
refused and the bridge has to log in again it publishes one itself (``reason:
session_not_recovered``): never a silent hole.

**Back-pressure.** ``publish`` blocks while ``max_in_flight`` messages await acks, so during
a NATS outage the consumer stops; the client's inbox (``buffer_size``, 100 000 by default)
holds what keeps arriving and the events past that are reported as a ``buffer_overflow``
gap on the lifecycle subject. The client's reader never blocks in this build; a
back-pressure inbox mode on the client (the reader waits, so events wait in the platform's
buffer instead) is the durable-resume work and plugs in here without other changes.

**Session seeding.** Until ``Client(checkpoint=...)`` exists, :func:`seed_session` puts the
stored ``wsc`` and subscription into a new client's session state before it connects: the
one place this module touches client internals.
"""

from __future__ import annotations

import asyncio
import collections
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
from rcstream.checkpoint import Checkpoint, CheckpointError
from rcstream.exceptions import AuthenticationError
from rcstream.fleet.errors import LeaseLost
from rcstream.fleet.publisher import Ack, Publisher
from rcstream.redact import Secret

if TYPE_CHECKING:
    from rcstream.checkpoint import CheckpointStore
    from rcstream.client import Client, ClientOptions
    from rcstream.fleet.worker import AccountContext, AccountStats, Runner

__all__ = [
    "AccountBridge",
    "BridgeSettings",
    "checkpoint_of",
    "fleet_runner",
    "retire_account",
    "seed_session",
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
    #: Events the client's inbox holds while publishing is blocked (NATS outage).
    buffer_size: int = 100_000
    #: Acked uuids kept in the checkpoint.
    recent: int = 200
    #: Bounded wait, on a graceful stop, for the last acks and checkpoint write.
    drain_timeout: float = 5.0


def seed_session(client: Client, checkpoint: Checkpoint, *, wall: float | None = None) -> bool:
    """Make ``client`` (not yet entered) recover the checkpoint's gateway session on its
    first connect. Returns False when the checkpoint has no session to recover. The time
    since the checkpoint's last frame counts against the gateway's recovery window, so a
    session that is certainly gone is not tried."""
    if checkpoint.wsc is None or checkpoint.subscription_id is None:
        return False
    from rcstream.protocol.frames import Wsc

    state = client._state
    state.wsc = Wsc(checkpoint.wsc.get(), checkpoint.wsc_sequence or 0)
    state.subscription_id = checkpoint.subscription_id
    state.subscribed_filters = tuple(checkpoint.filters)
    now_wall = time.time() if wall is None else wall
    since = max(0.0, now_wall - (checkpoint.disconnected_at or checkpoint.last_frame_at or 0.0))
    state.disconnected_at = client.options.clock() - since
    client.created_subscription_ids.add(checkpoint.subscription_id)
    return True


def checkpoint_of(
    client: Client,
    *,
    base: Checkpoint,
    account_id: str | None,
    recent: tuple[str, ...],
    wall: float,
) -> Checkpoint:
    """The resumable state of an entered ``client``: its token pair, ``wsc``, subscription
    and the given acked uuids, on top of ``base`` (client id and server URL)."""
    tokens = client._tokens.tokens if client._tokens is not None else None
    state = client._state
    changes: dict[str, Any] = {
        "account_id": account_id,
        "recent_uuids": recent,
        "last_frame_at": wall,
        "disconnected_at": None,
        "filters": tuple(state.subscribed_filters),
        "subscription_id": state.subscription_id,
    }
    if state.wsc is not None:
        changes["wsc"] = Secret(state.wsc.token)
        changes["wsc_sequence"] = state.wsc.sequence
    if state.details is not None:
        changes["recovery_timeout"] = getattr(state.details, "recovery_timeout", None)
    if tokens is not None:
        changes.update(
            access_token=tokens.access_token,
            access_expires_at=tokens.expires_at_wall,
            refresh_token=tokens.refresh_token,
            refresh_expires_at=tokens.refresh_expires_at_wall,
            owner_id=tokens.owner_id,
        )
        extra = dict(base.extra)
        if tokens.session_id:
            extra["session_id"] = tokens.session_id
        changes["extra"] = extra
    return base.evolve(**changes)


class AccountBridge:
    """Stream one account into JetStream until cancelled (see the module docstring).

    ``login`` is the credential used when there is no stored session or the stored token
    pair is refused (a :class:`~rcstream.auth.JWTAuth`, usually). ``store`` is optional:
    without it nothing is resumed or saved. ``stats`` (a fleet
    :class:`~rcstream.fleet.worker.AccountStats`) is updated as acks arrive.
    ``worker`` names the owner in the ``owner`` lifecycle item.
    """

    def __init__(
        self,
        js: Any,
        *,
        server_url: str,
        client_id: str,
        client_secret: Secret | str,
        login: Auth,
        settings: BridgeSettings,
        store: CheckpointStore | None = None,
        stats: AccountStats | None = None,
        options: ClientOptions | None = None,
        worker: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.js = js
        self.server_url = server_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = (
            client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        )
        self.login = login
        self.settings = settings
        self.store = store
        self.stats = stats
        self.options = options
        self.worker = worker
        self._wall = wall
        self.account_id: str | None = None
        self.published = 0
        #: True once the first connection is ready (for tests and the CLI).
        self.ready = asyncio.Event()
        self._recent: collections.deque[str] = collections.deque(maxlen=settings.recent)
        self._dirty = asyncio.Event()
        self._client: Client | None = None
        self._base: Checkpoint | None = None
        self._acked_lifecycle = 0

    # ------------------------------------------------------------------ setup

    def _client_options(self) -> ClientOptions:
        from rcstream.client import ClientOptions

        opts = self.options or ClientOptions()
        # a stored session outlives this process: never revoke it on the way out
        keep = self.store is not None or opts.keep_session_on_close
        return dataclasses.replace(
            opts, keep_session_on_close=keep, buffer_size=self.settings.buffer_size
        )

    def _resumable(self, ckpt: Checkpoint | None) -> Checkpoint | None:
        if ckpt is None:
            return None
        if ckpt.client_id != self.client_id or ckpt.server_url.rstrip("/") != self.server_url:
            logger.warning(
                "The stored checkpoint belongs to another app or server; starting a new session."
            )
            return None
        return ckpt if ckpt.refresh_token is not None or ckpt.access_token is not None else None

    def _make_client(self, ckpt: Checkpoint | None) -> Client:
        from rcstream.client import Client

        auth: Auth = self.login
        if ckpt is not None:
            auth = RefreshTokenAuth(
                self.client_id,
                self.client_secret,
                ckpt.refresh_token or Secret(""),
                access_token=ckpt.access_token,
                access_expires_at=ckpt.access_expires_at,
                refresh_expires_at=ckpt.refresh_expires_at,
                owner_id=ckpt.owner_id,
                session_id=ckpt.extra.get("session_id") if ckpt.extra else None,
            )
        client = Client(self.server_url, auth=auth, options=self._client_options())
        if ckpt is not None:
            seed_session(client, ckpt, wall=self._wall())
        return client

    async def _account_id(self, client: Client, ckpt: Checkpoint | None) -> str:
        if ckpt is not None and ckpt.account_id:
            return ckpt.account_id
        resp = await client.rest("GET", _ACCOUNT_PATH)
        body = resp.body if isinstance(resp.body, dict) else {}
        account = body.get("account") if isinstance(body.get("account"), dict) else {}
        value = str((account or {}).get("id") or "")
        if not value.isdigit():
            raise AuthenticationError(
                "The platform did not say which account the token belongs to; check the "
                "credentials (GET /restapi/v1.0/account/~/extension/~ gave no account id)."
            )
        return value

    # ------------------------------------------------------------------ run

    async def run(self) -> None:
        """Stream until cancelled; a graceful stop drains and saves before it returns."""
        stored = None
        if self.store is not None:
            stored = self._resumable(await self.store.load())
        self._base = stored or Checkpoint(client_id=self.client_id, server_url=self.server_url)
        try:
            await self._run_with(stored)
        except AuthenticationError as exc:
            if stored is None:
                raise
            logger.warning(
                "The stored session was refused (%s); logging in again, events of the old "
                "session may be missing.",
                type(exc).__name__,
            )
            self._base = Checkpoint(client_id=self.client_id, server_url=self.server_url)
            await self._run_with(None, lost_session=True, account_id=stored.account_id)

    async def _run_with(
        self, ckpt: Checkpoint | None, *, lost_session: bool = False, account_id: str | None = None
    ) -> None:
        client = self._make_client(ckpt)
        self._client = client
        publisher = Publisher(
            self.js,
            stream=self.settings.stream,
            max_in_flight=self.settings.max_in_flight,
            ack_timeout=self.settings.ack_timeout,
            on_ack=self._on_ack,
        )
        saver: asyncio.Task[None] | None = None
        async with client:
            sub = client.subscribe(self.settings.filters, lifecycle=True, raw=True)
            async with sub:
                self.account_id = account_id or await self._account_id(client, ckpt)
                if self.stats is not None:
                    self.stats.account_id = self.account_id
                await publisher.publish_lifecycle(
                    self.account_id,
                    {
                        "type": "owner",
                        "worker": self.worker,
                        "resumed": ckpt is not None,
                        "at": self._wall(),
                    },
                )
                if lost_session:
                    await self._gap(
                        publisher, "session_not_recovered", "the stored session was refused"
                    )
                if self.store is not None:
                    saver = asyncio.create_task(self._saver(client), name="rcstream-bridge-saver")
                self.ready.set()
                item: Any = None
                try:
                    async for item in sub:
                        await self._publish(publisher, item)
                        item = None
                        if saver is not None and saver.done():
                            saver.result()  # a refused checkpoint write ends the stream
                except asyncio.CancelledError:
                    await self._drain(client, sub, publisher, item)
                    raise
                finally:
                    if saver is not None:
                        saver.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await saver
                    with contextlib.suppress(Exception):
                        await publisher.aclose()

    async def _drain(self, client: Client, sub: Any, publisher: Publisher, item: Any) -> None:
        """Graceful stop: close the socket (keeping the session), publish what was
        received, wait for the acks and write the checkpoint, all within
        ``drain_timeout``."""
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(self.settings.drain_timeout):
                await client.aclose()
                if item is not None:
                    await self._publish(publisher, item)
                async for rest in sub:
                    await self._publish(publisher, rest)
                await publisher.flush()
                await self._save(client, disconnected=True)

    async def _publish(self, publisher: Publisher, item: Any) -> None:
        assert self.account_id is not None
        if isinstance(item, dict):
            uid = item.get("uuid")
            if not isinstance(uid, str) or not uid:
                uid = str(uuid4())
            raw = json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()
            event = item.get("event")
            await publisher.publish_notification(
                self.account_id,
                raw,
                event=event if isinstance(event, str) else None,
                uuid=uid,
                context=uid,
            )
            return
        record = item.model_dump(mode="json") if hasattr(item, "model_dump") else dict(item)
        record.setdefault("account", self.account_id)
        if self.stats is not None:
            if record.get("type") == "disconnected":
                self.stats.reconnects += 1
            elif record.get("type") == "gap":
                self.stats.last_gap_at = self._wall()
                self.stats.last_gap_reason = str(record.get("reason"))
        await publisher.publish_lifecycle(self.account_id, record)

    async def _gap(self, publisher: Publisher, reason: str, message: str) -> None:
        assert self.account_id is not None
        logger.warning("gap on account %s: %s", self.account_id, message)
        if self.stats is not None:
            self.stats.last_gap_at = self._wall()
            self.stats.last_gap_reason = reason
        await publisher.publish_lifecycle(
            self.account_id,
            {"type": "gap", "reason": reason, "message": message, "account": self.account_id},
        )

    def _on_ack(self, ack: Ack) -> None:
        if isinstance(ack.context, str):
            self._recent.append(ack.context)
            self.published += 1
            if self.stats is not None:
                self.stats.events += 1
                self.stats.last_event_at = self._wall()
        self._dirty.set()

    async def _saver(self, client: Client) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._save(client)
            await asyncio.sleep(self.settings.save_interval)

    async def _save(self, client: Client, *, disconnected: bool = False) -> None:
        if self.store is None or self._base is None:
            return
        ckpt = checkpoint_of(
            client,
            base=self._base,
            account_id=self.account_id,
            recent=tuple(self._recent),
            wall=self._wall(),
        )
        if disconnected:
            ckpt = ckpt.evolve(disconnected_at=self._wall())
        try:
            await self.store.save(ckpt)
        except (LeaseLost, CheckpointError):
            raise
        self._base = ckpt


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
            client_id=account.client_id,
            client_secret=account.client_secret,
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
        )
        await bridge.run()

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
