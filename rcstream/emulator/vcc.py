"""A local Vonage Contact Center (VCC) Webhooks emulator: token, subscriptions, signed deliveries.

A separate aiohttp app (``async with VccEmulator() as vcc``) on 127.0.0.1, port 0 by default.
Each behaviour traces to Vonage Contact Center's public docs and code samples (cited per
item):

* ``POST /oauth2/token`` — OAuth 2 client credentials (HTTP Basic client id/secret) →
  ``{access_token, token_type, expires_in}``. The real VCC flow is *not* pinned down by our
  sources; this is the plausible reading the client assumes (configurable token URL).
* ``/webhooks/subscriptions`` — list (``{subscriptions:[…]}`` without secrets), create
  (``name``, ``url``, ``events`` required; ``enabled`` default true; ``secret`` generated
  and returned when omitted; the secret is returned only on create), read, ``PATCH``
  (named fields only), delete [VCC docs "Subscriptions", "Requests (Webhooks API)"].
  Requests need ``Authorization: Bearer`` and ``Accept: application/vnd.newvoicemedia.v1+json``
  (else 401 / 406). Ids look like KSUIDs (27 base62 characters).
* Deliveries — :meth:`VccEmulator.publish` posts a structured CloudEvents 1.0 body
  (``application/cloudevents+json``) to every enabled subscription whose ``events`` match
  (``*`` wildcards allowed) with ``Vonage-Signature: Bearer <JWT>``: HS256 keyed with the
  base64-decoded secret, claims ``payload_hash`` (hex SHA-256 of the body), ``iat`` and
  ``exp`` = iat + 5 min [``newvoicemedia/vcc-node-code-snippets@31d2b7ad
  webhook-consumer/app.js``; docs "expires 5 minutes after it is issued"]. Status 200-205
  is success; anything else, or no answer within ``request_timeout`` (10 s), is retried
  after ``retry_delays`` until ``retry_window`` (24 h) has passed [docs "Webhook consumer
  best practice"]. Duplicates and out-of-order delivery can be asked for
  (``duplicates=``, :meth:`publish_batch` with ``order="reverse"``), since VCC says both
  happen.

The emulator signs with PyJWT directly and does not import rcstream's receiver code.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import itertools
import json
import logging
import secrets
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
import jwt
from aiohttp import web

from rcstream.emulator._serve import start_app

__all__ = ["VccDelivery", "VccEmulator", "VccSubscriptionState"]

logger = logging.getLogger(__name__)

ACCEPT = "application/vnd.newvoicemedia.v1+json"
_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def ksuid_like() -> str:
    """A random 27-character base62 id, shaped like VCC's KSUIDs."""
    return "".join(secrets.choice(_B62) for _ in range(27))


@dataclass
class VccSubscriptionState:
    """One emulated subscription."""

    id: str
    name: str
    url: str
    events: list[str]
    enabled: bool
    secret: str

    def public(self) -> dict[str, Any]:
        return {
            "subscriptionId": self.id,
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "enabled": self.enabled,
        }

    def matches(self, event_type: str) -> bool:
        return self.enabled and any(fnmatch.fnmatchcase(event_type, p) for p in self.events)


@dataclass
class VccDelivery:
    """One notification on its way to one subscription: every attempt's status (``0``:
    no answer) and whether it finally succeeded."""

    subscription_id: str
    event_id: str
    body: bytes
    attempts: list[int] = field(default_factory=list)
    delivered: bool = False


class VccEmulator:
    """The VCC emulator; see the module docstring. ``client_id``/``client_secret`` are the
    credentials its token endpoint accepts; ``now`` is the signing clock (Unix seconds)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "vcc-emulator-client",
        client_secret: str | None = None,
        retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
        retry_window: float = 24 * 3600.0,
        request_timeout: float = 10.0,
        pretty: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.retry_delays = tuple(retry_delays)
        self.retry_window = retry_window
        self.request_timeout = request_timeout
        self.pretty = pretty
        self._now = now
        self.subscriptions: dict[str, VccSubscriptionState] = {}
        self.deliveries: list[VccDelivery] = []
        self._tokens: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # ---- lifecycle ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root (``/webhooks/subscriptions`` hangs below it)."""
        return f"http://{self.host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The token endpoint."""
        return f"{self.base_url}/oauth2/token"

    def env(self) -> dict[str, str]:
        """``VCC_*`` variables for the CLI to reach this emulator."""
        return {
            "VCC_API_URL": self.base_url,
            "VCC_TOKEN_URL": self.token_url,
            "VCC_CLIENT_ID": self.client_id,
            "VCC_CLIENT_SECRET": self.client_secret,
        }

    async def __aenter__(self) -> VccEmulator:
        app = web.Application()
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_route("*", "/webhooks/subscriptions", self._collection)
        app.router.add_route("*", "/webhooks/subscriptions/{id}", self._item)
        self._runner, self.port = await start_app(app, self.host, self._requested_port)
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- HTTP API -----------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(
            f"{self.client_id}:{self.client_secret}".encode()
        ).decode("ascii")
        form = await request.post()
        if not secrets.compare_digest(auth, expected) or form.get("grant_type") != (
            "client_credentials"
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        token = secrets.token_urlsafe(24)
        self._tokens.add(token)
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        )

    def _check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token not in self._tokens:
            return web.json_response({"message": "Unauthorized"}, status=401)
        if ACCEPT not in request.headers.get("Accept", ""):
            return web.json_response({"message": f"Accept must be {ACCEPT}"}, status=406)
        return None

    async def _collection(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            subs = [s.public() for s in self.subscriptions.values()]
            return web.json_response({"subscriptions": subs})
        if request.method != "POST":
            return web.json_response({"message": "Method not allowed"}, status=405)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"message": "Body is not JSON"}, status=400)
        problem = _check_fields(body, required=True)
        if problem:
            return web.json_response({"message": problem}, status=400)
        if any(s.name == body["name"] for s in self.subscriptions.values()):
            return web.json_response({"message": "name must be unique"}, status=409)
        secret = body.get("secret") or base64.b64encode(secrets.token_bytes(32)).decode()
        sub = VccSubscriptionState(
            id=ksuid_like(),
            name=body["name"],
            url=body["url"],
            events=list(body["events"]),
            enabled=bool(body.get("enabled", True)),
            secret=secret,
        )
        self.subscriptions[sub.id] = sub
        return web.json_response({**sub.public(), "secret": secret}, status=201)

    async def _item(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        sub = self.subscriptions.get(request.match_info["id"])
        if sub is None:
            return web.json_response({"message": "Subscription not found"}, status=404)
        if request.method == "GET":
            return web.json_response(sub.public())
        if request.method == "DELETE":
            del self.subscriptions[sub.id]
            return web.Response(status=204)
        if request.method != "PATCH":
            return web.json_response({"message": "Method not allowed"}, status=405)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"message": "Body is not JSON"}, status=400)
        problem = _check_fields(body, required=False)
        if problem:
            return web.json_response({"message": problem}, status=400)
        for key in ("name", "url", "events", "enabled", "secret"):
            if key in body:
                setattr(sub, key, list(body[key]) if key == "events" else body[key])
        return web.json_response(sub.public())

    # ---- deliveries ---------------------------------------------------------------------

    def envelope(
        self, event_type: str, data: dict[str, Any], *, subject: str | None = None
    ) -> dict[str, Any]:
        """A CloudEvents 1.0 envelope in the field order of the VCC docs' sample."""
        source = "/" + event_type.split(".", 1)[0]
        when = datetime.fromtimestamp(self._now(), UTC)
        return {
            "specversion": "1.0",
            "type": event_type,
            "id": ksuid_like(),
            "source": source,
            "subject": subject or ksuid_like(),
            "time": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": data,
        }

    def encode(self, envelope: dict[str, Any]) -> bytes:
        """The body bytes (compact, or indented with ``pretty=True``)."""
        if self.pretty:
            return json.dumps(envelope, indent=2).encode()
        return json.dumps(envelope, separators=(",", ":")).encode()

    def sign(self, body: bytes, secret_b64: str) -> str:
        """The ``Vonage-Signature`` value for ``body`` under a subscription secret."""
        now = int(self._now())
        claims = {
            "payload_hash": hashlib.sha256(body).hexdigest(),
            "iat": now,
            "exp": now + 300,
        }
        token = jwt.encode(claims, base64.b64decode(secret_b64), algorithm="HS256")
        return f"Bearer {token}"

    async def publish(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        subject: str | None = None,
        duplicates: int = 0,
    ) -> dict[str, Any]:
        """Send one event to every matching subscription (plus ``duplicates`` extra copies
        of the same body). Deliveries and their retries run in the background; await
        :meth:`drain` to wait for them. Returns the envelope."""
        envelope = self.envelope(event_type, data, subject=subject)
        await self.publish_batch([envelope], copies=1 + duplicates)
        return envelope

    async def publish_batch(
        self,
        envelopes: Sequence[dict[str, Any]],
        *,
        order: Literal["in-order", "reverse"] = "in-order",
        copies: int = 1,
    ) -> None:
        """Send prepared envelopes, in order or reversed (VCC does not guarantee order)."""
        sequence = list(envelopes) if order == "in-order" else list(reversed(envelopes))
        for envelope in sequence:
            body = self.encode(envelope)
            for sub in list(self.subscriptions.values()):
                if not sub.matches(str(envelope["type"])):
                    continue
                for _ in range(copies):
                    delivery = VccDelivery(sub.id, str(envelope["id"]), body)
                    self.deliveries.append(delivery)
                    # one at a time per call keeps "in-order" meaningful for the first try
                    await self._attempt(sub, delivery)
                    if not delivery.delivered:
                        self._spawn(self._retry(sub, delivery))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, sub: VccSubscriptionState, delivery: VccDelivery) -> None:
        assert self._session is not None
        headers = {
            "Content-Type": "application/cloudevents+json",
            "Vonage-Signature": self.sign(delivery.body, sub.secret),
        }
        status = 0
        try:
            async with asyncio.timeout(self.request_timeout):
                async with self._session.post(sub.url, data=delivery.body, headers=headers) as r:
                    await r.read()
                    status = r.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            logger.debug("VCC emulator: delivery to %s failed: %s", sub.url, type(exc).__name__)
        delivery.attempts.append(status)
        delivery.delivered = 200 <= status <= 205

    async def _retry(self, sub: VccSubscriptionState, delivery: VccDelivery) -> None:
        started = time.monotonic()
        # the listed delays, then the last one again until the window has passed
        last = self.retry_delays[-1] if self.retry_delays else None
        tail = itertools.repeat(last) if last is not None and last > 0 else ()
        for delay in itertools.chain(self.retry_delays, tail):
            if time.monotonic() - started + delay > self.retry_window:
                break
            await asyncio.sleep(delay)
            if sub.id not in self.subscriptions:
                return
            await self._attempt(sub, delivery)
            if delivery.delivered:
                return
        logger.info("VCC emulator: gave up on event %s for %s", delivery.event_id, sub.url)

    async def drain(self) -> None:
        """Wait until every pending retry has finished (delivered or given up)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _check_fields(body: Any, *, required: bool) -> str | None:
    if not isinstance(body, dict):
        return "Body must be a JSON object"
    if required:
        for key in ("name", "url", "events"):
            if key not in body:
                return f"{key} is required"
    if "name" in body and not (isinstance(body["name"], str) and 3 <= len(body["name"]) <= 128):
        return "name must be 3-128 characters"
    if "url" in body and not (
        isinstance(body["url"], str) and body["url"].startswith(("http://", "https://"))
    ):
        return "url must be an http(s) URL"
    if "events" in body and not (
        isinstance(body["events"], list)
        and body["events"]
        and all(isinstance(e, str) for e in body["events"])
    ):
        return "events must be a non-empty list of event types"
    if "enabled" in body and not isinstance(body["enabled"], bool):
        return "enabled must be true or false"
    if "secret" in body:
        try:
            if len(base64.b64decode(body["secret"], validate=True)) < 32:
                return "secret must be base64 of at least 32 bytes"
        except (ValueError, TypeError):
            return "secret must be base64"
    return None
