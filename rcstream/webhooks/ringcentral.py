"""RingCentral WebHook delivery: a receiver, a subscription manager, and :func:`listen`.

RingCentral POSTs each notification to a public URL. The facts this module rests on
(the RingCentral developer guide's webhook pages and the API spec):

* At creation the platform sends a *validation request* carrying a ``Validation-Token``
  header; the receiver must answer 200 within 3 s, echo the header, send
  ``Content-Type: application/json`` and keep the whole response at most 1,024 bytes
  (else ``SUB-525``) [DOCS ``docs/notifications/webhooks/creating-webhooks.md``].
* Notifications carry the subscription's static ``verificationToken`` in a
  ``Verification-Token`` header [API spec ``WebhookDeliveryModeRequest``]; the current
  receiving page calls the same header ``Validation-Token``. So the handshake is a POST
  with ``Validation-Token`` and *no notification body*, and a notification is accepted when
  either header equals the configured token (compared with :func:`hmac.compare_digest`).
* No source documents redelivery: a failing URL is blacklisted, permanently [DOCS
  ``troubleshooting.md``]. So every authenticated delivery is answered 200 at once and
  queued; when the bounded queue overflows the oldest items are dropped and a
  :class:`~rcstream.models.Gap` is reported.
* The body is the WebSocket ``ServerNotification`` envelope (``uuid``, ``event``,
  ``timestamp``, ``subscriptionId``, ``ownerId``, ``body``), parsed by
  :func:`rcstream.models.parse_notification` into the same typed models as the socket.

:func:`listen` combines the receiver with :class:`WebhookSubscription`, which creates the
subscription with a random verification token and a short ``expiresIn``, renews it, watches
for ``status: Blacklisted`` (re-creates it and reports a gap saying why) and deletes it on
exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Self

import orjson
from aiohttp import web
from pydantic import ValidationError

from rcstream.exceptions import (
    ConfigurationError,
    ConnectionFailedError,
    GatewayError,
    RateLimitedError,
    RCStreamError,
)
from rcstream.models import Notification, parse_notification
from rcstream.models.lifecycle import Gap, Lifecycle
from rcstream.redact import Secret, as_secret
from rcstream.webhooks._receiver import DEFAULT_MAX_BODY, _HttpReceiver, _json_status

if TYPE_CHECKING:
    from rcstream.client import Client

__all__ = [
    "WebhookItem",
    "WebhookReceiver",
    "WebhookStream",
    "WebhookSubscription",
    "listen",
]

logger = logging.getLogger(__name__)

#: What iterating a RingCentral receiver yields: a typed notification, the raw wire dict
#: (``raw=True``), or a lifecycle item (``lifecycle=True``).
WebhookItem = Notification | dict[str, Any] | Lifecycle

SUBSCRIPTION_PATH = "/restapi/v1.0/subscription"
#: The longest echoed validation token: keeps the handshake answer under 1,024 bytes.
MAX_VALIDATION_TOKEN = 512


def _tokens_equal(given: str, expected: bytes) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected)


class WebhookReceiver(_HttpReceiver[WebhookItem]):
    """An HTTP server that receives RingCentral WebHook notifications.

    ``token`` is the subscription's ``verificationToken`` (a :class:`~rcstream.redact.Secret`
    or a string); ``None`` accepts unauthenticated notifications and logs a WARNING at
    start (use it only behind a proxy that authenticates). ``raw=True`` yields the wire
    dicts instead of typed :class:`~rcstream.models.Notification` values;
    ``lifecycle=True`` also yields a :class:`~rcstream.models.Gap` when the bounded queue of
    ``queue_size`` items overflowed (the oldest items are dropped: RingCentral does not
    redeliver, and a non-200 answer would get the subscription blacklisted). Bodies over
    ``max_body`` bytes get 413, bodies that are not a JSON notification 400. Repeats of a
    ``uuid`` among the last ``dedupe_window`` are answered 200 and dropped.

    Use it as ``async with WebhookReceiver(token=...) as rx: async for item in rx: ...``.
    Iteration ends after :meth:`aclose` once the queue is drained.
    """

    def __init__(
        self,
        *,
        token: str | Secret | None,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/",
        raw: bool = False,
        lifecycle: bool = False,
        queue_size: int = 10_000,
        max_body: int = DEFAULT_MAX_BODY,
        dedupe_window: int = 10_000,
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            path=path,
            queue_size=queue_size,
            max_body=max_body,
            dedupe_window=dedupe_window,
        )
        self._token = as_secret(token)
        self.raw = raw
        self.lifecycle = lifecycle
        self._pending_drops = 0
        self._pending_lifecycle: list[Lifecycle] = []

    def __repr__(self) -> str:
        return f"<WebhookReceiver {self._where} token={'[secure]' if self._token else None}>"

    def set_token(self, token: str | Secret | None) -> None:
        """Change the accepted verification token (e.g. after a subscription is re-created)."""
        self._token = as_secret(token)

    async def start(self) -> None:
        """Bind and serve (see :class:`WebhookReceiver`)."""
        await super().start()
        if self._token is None:
            logger.warning(
                "The webhook receiver on %s accepts notifications without a verification "
                "token; anyone who can reach it can inject events. Set a token.",
                self.url,
            )

    def report(self, item: Lifecycle) -> None:
        """Queue a lifecycle item (shown only with ``lifecycle=True``; always logged)."""
        if self.lifecycle:
            self._pending_lifecycle.append(item)
            self._ready.set()

    # ---- iteration ----------------------------------------------------------------------

    def _next_ready(self) -> WebhookItem | None:
        if self._pending_lifecycle:
            return self._pending_lifecycle.pop(0)
        if self._pending_drops:
            dropped, self._pending_drops = self._pending_drops, 0
            if self.lifecycle:
                return Gap(
                    reason="buffer_overflow",
                    message=f"The webhook queue was full: {dropped} notification(s) were "
                    "dropped (RingCentral does not redeliver). Read faster or raise "
                    "queue_size, and re-read any state you cache.",
                    dropped=dropped,
                )
        if not self._items:
            return None
        item = self._items.popleft()
        if self.raw:
            return item
        # only _handle queues, and only wire dicts whose envelope passed _envelope_ok, the
        # models' own check: parsing cannot fail (lifecycle items wait in _pending_lifecycle)
        assert isinstance(item, dict)
        return parse_notification(item)

    # ---- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request, body: bytes) -> web.StreamResponse:
        validation = request.headers.get("Validation-Token")
        verification = request.headers.get("Verification-Token")
        data: Any = None
        if body.strip():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                data = _NOT_JSON
        is_notification = isinstance(data, dict) and "event" in data and "uuid" in data
        if validation is not None and not is_notification:
            return self._handshake(validation)
        given = verification if verification is not None else validation
        if self._token is not None and (
            given is None or not _tokens_equal(given, self._token.get().encode())
        ):
            self._reject(request, "missing" if given is None else "wrong")
            return _json_status(401)
        if data is _NOT_JSON or data is None:
            self.stats.malformed += 1
            logger.warning("Refused a webhook body that is not JSON (HTTP 400)")
            return _json_status(400)
        if not (is_notification and _envelope_ok(data)):
            self.stats.malformed += 1
            logger.warning("Refused a webhook body that is not a notification (HTTP 400)")
            return _json_status(400)
        if self._dedupe.seen(data["uuid"]):
            self.stats.duplicates += 1
            logger.debug("Dropped a repeated notification %s", data["uuid"])
            return _json_status(200)
        if len(self._items) >= self.queue_size:
            self._items.popleft()
            self.stats.dropped += 1
            self._pending_drops += 1
            if self._pending_drops == 1:
                logger.warning(
                    "The webhook queue is full (%d items); dropping the oldest notifications. "
                    "RingCentral does not redeliver them.",
                    self.queue_size,
                )
        self._push(data)
        return _json_status(200)

    def _handshake(self, token: str) -> web.StreamResponse:
        # the cap is on bytes on the wire (the answer must fit in 1,024 bytes), not characters
        size = len(token.encode("utf-8", "surrogateescape"))
        if size > MAX_VALIDATION_TOKEN or not token.isprintable():
            self.stats.malformed += 1
            logger.warning("Refused a validation request with an unusable Validation-Token")
            return _json_status(400)
        self.stats.handshakes += 1
        logger.info("Answered a RingCentral webhook validation request")
        return _json_status(200, {"Validation-Token": token})

    def _reject(self, request: web.Request, why: str) -> None:
        count = self._count_rejection()
        peer = request.remote or "?"
        if count == 1:
            logger.warning(
                "Refused a webhook notification from %s with a %s verification token (HTTP "
                "401). If this is your subscription, its verificationToken differs from the "
                "one configured here: every refusal pushes RingCentral toward blacklisting "
                "the subscription permanently.",
                peer,
                why,
            )
        elif count is not None:
            logger.warning(
                "Refused a webhook notification from %s with a %s verification token "
                "(%d refused so far)",
                peer,
                why,
                count,
            )


_NOT_JSON: Any = object()


def _envelope_ok(data: dict[str, Any]) -> bool:
    """The envelope is one the models accept: :class:`~rcstream.models.Notification`
    validates everything but the body, the same check :func:`parse_notification` falls back
    to when a body does not fit its family's model. So a queued notification always parses.

    Asking the model, not listing wire names: it also reads ``subscription_id`` and
    ``owner_id`` (its field names), which a check of ``subscriptionId``/``ownerId`` missed.
    """
    try:
        Notification.model_validate({k: v for k, v in data.items() if k != "body"})
    except ValidationError:
        return False
    return True


# ----------------------------------------------------------------------------- subscription


class WebhookSubscription:
    """One RingCentral WebHook subscription kept alive over REST through a :class:`Client`.

    ``client`` is an entered :class:`rcstream.Client` (its :meth:`~rcstream.Client.rest`
    supplies tokens and error translation). ``address`` is the public URL RingCentral
    POSTs to. The subscription is created with a random ``verification_token`` (32 random
    bytes, URL-safe) and a short top-level ``expiresIn`` of ``expires_in`` seconds, so that
    a crashed process leaves nothing long-lived behind; :meth:`run` renews it when a third
    of the lifetime is left and checks its status every ``check_interval`` seconds.
    ``on_gap`` receives a :class:`~rcstream.models.Gap` when the subscription had to be
    re-created (blacklisted, or gone). ``sleep``/``clock`` are injectable for tests.
    """

    def __init__(
        self,
        client: Client,
        filters: Sequence[str],
        *,
        address: str,
        expires_in: int = 900,
        check_interval: float = 60.0,
        verification_token: str | Secret | None = None,
        on_gap: Callable[[Gap], None] | None = None,
        on_token: Callable[[Secret], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not address.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"The webhook address {address!r} must be a public http(s) URL; RingCentral "
                "requires https in production."
            )
        if not filters:
            raise ConfigurationError("Give at least one event filter for the webhook.")
        if expires_in < 60:
            raise ConfigurationError("expires_in must be at least 60 seconds.")
        self._client = client
        self.filters = list(dict.fromkeys(filters))
        self.address = address
        self.expires_in = expires_in
        self.check_interval = check_interval
        self.verification_token: Secret = (
            verification_token
            if isinstance(verification_token, Secret)
            else Secret(verification_token or secrets.token_urlsafe(32))
        )
        self._on_gap = on_gap
        self._on_token = on_token
        self._sleep = sleep
        self._clock = clock
        self.id: str | None = None
        self.status: str | None = None
        self._expires_at = 0.0
        self.recreated = 0
        self._blacklist_reason: str | None = None

    def __repr__(self) -> str:
        return f"<WebhookSubscription id={self.id} address={self.address!r} status={self.status}>"

    def _absorb(self, body: Any) -> None:
        if not isinstance(body, dict):
            return
        self.id = str(body.get("id", self.id))
        self.status = body.get("status") if isinstance(body.get("status"), str) else None
        expires = body.get("expiresIn")
        ttl = float(expires) if isinstance(expires, int | float) else float(self.expires_in)
        self._expires_at = self._clock() + ttl

    async def create(self) -> None:
        """Create the subscription (RingCentral validates ``address`` during this call)."""
        resp = await self._client.rest(
            "POST",
            SUBSCRIPTION_PATH,
            json={
                "eventFilters": self.filters,
                "deliveryMode": {
                    "transportType": "WebHook",
                    "address": self.address,
                    "verificationToken": self.verification_token.get(),
                },
                "expiresIn": self.expires_in,
            },
        )
        self._absorb(resp.body)
        logger.info("Created webhook subscription %s for %s", self.id, self.address)

    async def renew(self) -> None:
        """Extend the subscription's lifetime: ``PUT /subscription/{id}`` with the short
        top-level ``expiresIn`` again.

        Not ``POST …/renew`` or an empty ``PUT``: those renew with the platform's default
        lifetime (no source gives the number; 7 days was observed,
        PipedreamHQ/pipedream#5710), which would turn the short lifetime that protects
        against a crashed listener into a week of deliveries to a dead address.
        """
        resp = await self._client.rest(
            "PUT", f"{SUBSCRIPTION_PATH}/{self.id}", json={"expiresIn": self.expires_in}
        )
        self._absorb(resp.body)
        logger.debug("Renewed webhook subscription %s", self.id)

    async def update_filters(self, filters: Sequence[str]) -> None:
        """Replace the event filters (``PUT /subscription/{id}``), keeping the lifetime short."""
        self.filters = list(dict.fromkeys(filters))
        resp = await self._client.rest(
            "PUT",
            f"{SUBSCRIPTION_PATH}/{self.id}",
            json={"eventFilters": self.filters, "expiresIn": self.expires_in},
        )
        self._absorb(resp.body)

    async def refresh(self) -> None:
        """Read the subscription back (``GET``) to learn its status (``Active`` or
        ``Blacklisted``). The renewal schedule stays on the local clock."""
        resp = await self._client.rest("GET", f"{SUBSCRIPTION_PATH}/{self.id}")
        body = resp.body if isinstance(resp.body, dict) else {}
        status = body.get("status")
        self.status = status if isinstance(status, str) else None
        data = body.get("blacklistedData")
        self._blacklist_reason = (
            str(data["reason"]) if isinstance(data, dict) and data.get("reason") else None
        )

    async def delete(self) -> None:
        """Delete the subscription; a subscription already gone is not an error."""
        if self.id is None:
            return
        sub_id, self.id = self.id, None
        try:
            await self._client.rest("DELETE", f"{SUBSCRIPTION_PATH}/{sub_id}")
            logger.info("Deleted webhook subscription %s", sub_id)
        except GatewayError as exc:
            if exc.status != 404:
                raise

    async def recreate(self, why: str) -> None:
        """Delete (best effort) and create a fresh subscription with a new token; report a gap."""
        old = self.id
        with contextlib.suppress(RCStreamError):
            await self.delete()
        self.verification_token = Secret(secrets.token_urlsafe(32))
        if self._on_token is not None:
            self._on_token(self.verification_token)
        await self.create()
        self.recreated += 1
        message = (
            f"The webhook subscription {old} was re-created as {self.id}: {why}. "
            "Notifications sent in between are lost; re-read any state you cache."
        )
        logger.warning("%s", message)
        if self._on_gap is not None:
            self._on_gap(Gap(reason="subscription_recreated", message=message))

    async def run(self) -> None:
        """Renew and watch the subscription until cancelled.

        Network failures, rate limits and 5xx answers are logged and retried at the next
        check (the subscription outlives several checks); a subscription that is gone (404)
        or ``Blacklisted`` is re-created. Other errors (permissions, credentials) end the
        task with that error.
        """
        while True:
            left = self._expires_at - self._clock()
            renew_in = max(0.0, left - self.expires_in / 3)
            await self._sleep(min(renew_in, self.check_interval))
            try:
                await self._step()
            except GatewayError as exc:
                if exc.status is None or exc.status < 500:
                    raise
                logger.warning("Keeping the webhook subscription failed (%s); retrying", exc)
            except (ConnectionFailedError, RateLimitedError) as exc:
                logger.warning("Keeping the webhook subscription failed (%s); retrying", exc)

    async def _step(self) -> None:
        try:
            await self.refresh()
        except GatewayError as exc:
            if exc.status != 404:
                raise
            await self.recreate("the platform no longer knows it (expired or deleted)")
            return
        if self.status == "Blacklisted":
            reason = self._blacklist_reason or "no reason given"
            await self.recreate(
                f"RingCentral blacklisted it ({reason}); blacklisting is permanent and "
                "follows failed or slow answers from the webhook address"
            )
            return
        if self._expires_at - self._clock() <= self.expires_in / 3:
            await self.renew()


class WebhookStream:
    """What :func:`listen` yields: iterate it for items; :attr:`subscription` and
    :attr:`receiver` expose the parts. If keeping the subscription alive fails (REST
    errors that are not retried), the next iteration raises that error."""

    def __init__(
        self,
        receiver: WebhookReceiver,
        subscription: WebhookSubscription,
        keeper: asyncio.Task[None],
    ) -> None:
        self.receiver = receiver
        self.subscription = subscription
        self._keeper = keeper

    def __aiter__(self) -> Self:
        return self

    def _raise_if_failed(self) -> None:
        if self._keeper.done() and not self._keeper.cancelled():
            exc = self._keeper.exception()
            if exc is not None:
                raise exc

    async def __anext__(self) -> WebhookItem:
        self._raise_if_failed()
        nxt = asyncio.ensure_future(self.receiver.__anext__())
        try:
            await asyncio.wait({nxt, self._keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not nxt.done():
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await nxt
        if nxt.done() and not nxt.cancelled():
            return nxt.result()
        self._raise_if_failed()
        raise StopAsyncIteration


@contextlib.asynccontextmanager
async def listen(
    client: Client,
    filters: Sequence[str],
    *,
    address: str | None,
    host: str = "127.0.0.1",
    port: int = 0,
    path: str = "/",
    raw: bool = False,
    lifecycle: bool = False,
    expires_in: int = 900,
    check_interval: float = 60.0,
    queue_size: int = 10_000,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[WebhookStream]:
    """Receive RingCentral events by WebHook: serve, subscribe, renew, and delete on exit.

    ``client`` is an entered :class:`rcstream.Client`; ``address`` is the public URL that
    reaches ``host:port`` + ``path`` (a reverse proxy or tunnel; see ``docs/webhooks.md``),
    or ``None`` for the receiver's own URL, when the platform reaches this host directly
    (the emulator on 127.0.0.1, with ``port=0``).
    The receiver starts first, so it can answer the validation request RingCentral sends
    while the subscription is created. A failure of the renewal task is raised from the
    next iteration. Usage::

        async with rcstream.Client.from_env() as client:
            presence = "/restapi/v1.0/account/~/extension/~/presence"
            hook = "https://hooks.example.com/rc"
            async with rcstream.webhooks.listen(client, [presence], address=hook) as stream:
                async for event in stream:
                    print(event.event)
    """
    token = Secret(secrets.token_urlsafe(32))
    receiver = WebhookReceiver(
        token=token,
        host=host,
        port=port,
        path=path,
        raw=raw,
        lifecycle=lifecycle,
        queue_size=queue_size,
    )
    async with receiver:
        address = address if address is not None else receiver.url
        subscription = WebhookSubscription(
            client,
            filters,
            address=address,
            expires_in=expires_in,
            check_interval=check_interval,
            verification_token=token,
            on_gap=receiver.report,
            on_token=receiver.set_token,
            sleep=sleep,
            clock=clock,
        )
        try:
            await subscription.create()
        except GatewayError as exc:
            if exc.error_code != "SUB-525":
                raise
            raise ConfigurationError(
                f"RingCentral could not validate {address} (SUB-525); check that this URL "
                f"reaches {receiver.url} over HTTPS through your proxy or tunnel and passes "
                "the Validation-Token header through."
            ) from exc
        keeper = asyncio.create_task(subscription.run(), name="rcstream-webhook-keeper")
        try:
            yield WebhookStream(receiver, subscription, keeper)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper
            sub_id = subscription.id
            try:
                await subscription.delete()
            except RCStreamError as exc:
                logger.warning(
                    "Could not delete webhook subscription %s on exit (%s); it expires by "
                    "itself within %d s, or delete it now with: rcstream subscriptions delete %s",
                    sub_id,
                    exc,
                    expires_in,
                    sub_id,
                )
