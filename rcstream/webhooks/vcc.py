"""Vonage Contact Center (VCC) webhooks: signature check, receiver, subscriptions API client.

Facts (Vonage Contact Center's public webhook docs and code samples, cited per item):

* Signing [official consumer example ``newvoicemedia/vcc-node-code-snippets@31d2b7ad
  webhook-consumer/app.js``; VCC docs "Webhooks subscriptions"]: the header
  ``Vonage-Signature: Bearer <JWT>`` holds an HS256 JWT keyed with the **base64-decoded**
  subscription secret; its ``payload_hash`` claim is the hex SHA-256 of the raw body. The
  signature "expires 5 minutes after it is issued". :func:`verify_signature` checks the
  JWT with PyJWT, then the hash in constant time, then ``exp`` (and ``iat`` when present)
  against an injectable clock with a small skew allowance. Which time claims VCC sets is not
  documented beyond the 5-minute expiry, so a token needs ``exp`` or ``iat``; one with
  neither cannot be limited in time and is refused.
* Delivery [VCC docs "Webhook consumer best practice"]: any 200-205 is success; anything
  else is redelivered for up to 24 h; duplicates and out-of-order deliveries happen. So
  :class:`VccReceiver` answers **503** when its queue is full (no loss: VCC retries) and
  drops repeats of (``source``, ``id``) with a 200.
* Subscriptions API [VCC docs "Requests (Webhooks API)", "Subscriptions"]: base
  ``https://<region>.api.newvoicemedia.com/webhooks``, ``Authorization: bearer <token>``,
  ``Accept: application/vnd.newvoicemedia.v1+json``; list, create, read, ``PATCH``,
  delete. The secret is returned only on create; changes take up to 30 s to apply. How the
  bearer token is obtained is **not pinned down** by the facts we have: :class:`VccClient`
  assumes an OAuth 2 client-credentials grant at a configurable ``token_url``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiohttp
import jwt
from aiohttp import web

from rcstream.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    GatewayError,
    RCStreamError,
    UsageError,
)
from rcstream.redact import Secret, as_secret, redact
from rcstream.webhooks._receiver import DEFAULT_MAX_BODY, _HttpReceiver, _json_status
from rcstream.webhooks.cloudevents import CloudEvent, CloudEventError, parse_cloudevent

__all__ = [
    "SIGNATURE_HEADER",
    "VCC_ACCEPT",
    "SignatureError",
    "VccClient",
    "VccReceiver",
    "VccSubscription",
    "decode_secret",
    "new_secret",
    "sign",
    "verify_signature",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Vonage-Signature"
VCC_ACCEPT = "application/vnd.newvoicemedia.v1+json"
#: How long a VCC signature lives when only ``iat`` is present (the docs' 5 minutes).
SIGNATURE_LIFETIME = 300.0


class SignatureError(RCStreamError):
    """A VCC notification's signature is missing, malformed, wrong or expired.

    ``reason`` is one of ``missing``, ``malformed``, ``bad_signature``, ``bad_hash``,
    ``expired``, ``no_expiry``, ``not_yet_valid``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def decode_secret(secret_b64: str | Secret) -> bytes:
    """The HMAC key: the base64-decoded subscription secret.

    Raises :class:`ConfigurationError` when the value is not base64 or decodes to nothing.
    """
    text = secret_b64.get() if isinstance(secret_b64, Secret) else secret_b64
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            "The VCC webhook secret is not valid base64; copy it as VCC returned it."
        ) from None
    if not key:
        raise ConfigurationError("The VCC webhook secret is empty; set VCC_WEBHOOK_SECRET.")
    return key


def new_secret(size: int = 32) -> str:
    """A fresh random subscription secret of ``size`` bytes (≥ 32), base64-encoded."""
    return base64.b64encode(secrets.token_bytes(max(32, size))).decode("ascii")


def sign(body: bytes, key: bytes, *, now: float, lifetime: float = SIGNATURE_LIFETIME) -> str:
    """The ``Vonage-Signature`` header value VCC would send for ``body`` (for emulators
    and tests): ``Bearer`` + an HS256 JWT with ``payload_hash``, ``iat`` and ``exp``."""
    token = jwt.encode(
        {
            "payload_hash": hashlib.sha256(body).hexdigest(),
            "iat": int(now),
            "exp": int(now + lifetime),
        },
        key,
        algorithm="HS256",
    )
    return f"Bearer {token}"


def verify_signature(
    header: str | None,
    body: bytes,
    key: bytes,
    *,
    now: float,
    leeway: float = 30.0,
) -> dict[str, Any]:
    """Check a ``Vonage-Signature`` header against the raw ``body``; return the claims.

    ``key`` is the decoded secret (:func:`decode_secret`); ``now`` the current Unix time.
    Raises :class:`SignatureError` (with a ``reason``) on any failure.
    """
    if not header:
        raise SignatureError("The Vonage-Signature header is missing.", reason="missing")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SignatureError(
            "The Vonage-Signature header is not 'Bearer <JWT>'.", reason="malformed"
        )
    try:
        claims: dict[str, Any] = jwt.decode(
            token.strip(),
            key,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError:
        raise SignatureError(
            "The signature does not match the secret.", reason="bad_signature"
        ) from None
    except jwt.PyJWTError:
        raise SignatureError(
            "The signature is not a valid HS256 JWT.", reason="malformed"
        ) from None
    claimed = claims.get("payload_hash")
    try:
        digest = bytes.fromhex(claimed) if isinstance(claimed, str) else b""
    except ValueError:
        digest = b""
    if not hmac.compare_digest(digest, hashlib.sha256(body).digest()):
        raise SignatureError("The body does not match the signed payload_hash.", reason="bad_hash")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) and not isinstance(iat, int | float):
        raise SignatureError("The signature carries no exp or iat claim.", reason="no_expiry")
    if isinstance(exp, int | float) and now > exp + leeway:
        raise SignatureError("The signature has expired.", reason="expired")
    if isinstance(iat, int | float):
        if iat > now + leeway:
            raise SignatureError("The signature is issued in the future.", reason="not_yet_valid")
        if not isinstance(exp, int | float) and now > iat + SIGNATURE_LIFETIME + leeway:
            raise SignatureError("The signature has expired.", reason="expired")
    return claims


class VccReceiver(_HttpReceiver[CloudEvent]):
    """An HTTP server that receives signed VCC webhook notifications.

    ``secret`` is the subscription secret as VCC shows it (base64). Every request's
    signature is checked (:func:`verify_signature`, clock ``now``, skew ``leeway`` s);
    a failure is answered 401, counted in ``stats.rejected`` and logged (the first ten,
    then every 100th: a flood must not flood the log). Verified CloudEvents are queued
    (typed, :func:`~rcstream.webhooks.cloudevents.parse_cloudevent`; ``event.raw`` keeps
    the body); when ``queue_size`` are waiting the answer is 503 and VCC redelivers later.
    Repeats of (``source``, ``id``) among the last ``dedupe_window`` are answered 200 and
    dropped. Bodies over ``max_body`` get 413, non-CloudEvents 400.
    """

    def __init__(
        self,
        *,
        secret: str | Secret,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/",
        queue_size: int = 1000,
        max_body: int = DEFAULT_MAX_BODY,
        dedupe_window: int = 100_000,
        leeway: float = 30.0,
        now: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            host=host,
            port=port,
            path=path,
            queue_size=queue_size,
            max_body=max_body,
            dedupe_window=dedupe_window,
        )
        self._key = decode_secret(secret)
        self._now = now
        self.leeway = leeway
        self.rejections: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<VccReceiver {self._where} secret=[secure]>"

    def set_secret(self, secret: str | Secret) -> None:
        """Change the signing secret (e.g. after rotating it with ``PATCH``)."""
        self._key = decode_secret(secret)

    async def _handle(self, request: web.Request, body: bytes) -> web.StreamResponse:
        try:
            verify_signature(
                request.headers.get(SIGNATURE_HEADER),
                body,
                self._key,
                now=self._now(),
                leeway=self.leeway,
            )
        except SignatureError as exc:
            self.rejections[exc.reason] = self.rejections.get(exc.reason, 0) + 1
            count = self._count_rejection()
            if count == 1:
                logger.warning(
                    "Refused a VCC notification from %s (HTTP 401): %s Check that "
                    "VCC_WEBHOOK_SECRET is the subscription's secret and the clock is in sync.",
                    request.remote or "?",
                    exc,
                )
            elif count is not None:
                logger.warning(
                    "Refused a VCC notification (HTTP 401): %s (%d refused so far)", exc, count
                )
            return _json_status(401)
        try:
            event = parse_cloudevent(body)
        except CloudEventError as exc:
            self.stats.malformed += 1
            logger.warning("Refused a signed VCC body (HTTP 400): %s", exc)
            return _json_status(400)
        if event.key in self._dedupe:
            self.stats.duplicates += 1
            logger.debug("Dropped a repeated VCC notification %s", event.id)
            return _json_status(200)
        if len(self._items) >= self.queue_size:
            self.stats.busy += 1
            if self.stats.busy == 1:
                logger.warning(
                    "The VCC queue is full (%d); answering 503 so VCC redelivers later",
                    self.queue_size,
                )
            return _json_status(503, {"Retry-After": "5"})
        self._dedupe.add(event.key)
        self._push(event)
        return _json_status(200)


# ----------------------------------------------------------------------------- REST client


@dataclass(frozen=True, slots=True)
class VccSubscription:
    """A VCC webhook subscription. ``secret`` is set only on the answer to a create."""

    id: str
    name: str
    url: str
    events: tuple[str, ...]
    enabled: bool
    secret: Secret | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> VccSubscription:
        """Build from the API's JSON (``subscriptionId`` or ``id``)."""
        secret = data.get("secret")
        return cls(
            id=str(data.get("subscriptionId") or data.get("id") or ""),
            name=str(data.get("name", "")),
            url=str(data.get("url", "")),
            events=tuple(str(e) for e in data.get("events") or ()),
            enabled=bool(data.get("enabled", True)),
            secret=Secret(secret) if isinstance(secret, str) else None,
        )

    def to_wire(self) -> dict[str, Any]:
        """The JSON form, without the secret."""
        return {
            "subscriptionId": self.id,
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "enabled": self.enabled,
        }


class VccClient:
    """The VCC Webhooks subscriptions API over HTTPS.

    ``base_url`` is the region's API root, e.g. ``https://emea.api.newvoicemedia.com``
    (``/webhooks/subscriptions`` is appended). Authentication: an OAuth 2 client-credentials
    grant at ``token_url`` with ``client_id``/``client_secret`` (an assumption: the VCC docs
    we have do not pin the flow down), or a ready ``access_token``. Errors are rcstream
    exceptions: 401/403 → :class:`AuthenticationError`, other non-2xx →
    :class:`GatewayError`, network failures → :class:`ConnectionFailedError`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        access_token: str | Secret | None = None,
        scope: str | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"The VCC API base URL {base_url!r} must start with https://, e.g. "
                "https://emea.api.newvoicemedia.com."
            )
        if access_token is None and not (token_url and client_id and client_secret):
            raise ConfigurationError(
                "Give the VCC client either an access token or a token URL, client id and "
                "client secret (VCC_ACCESS_TOKEN, or VCC_TOKEN_URL, VCC_CLIENT_ID and "
                "VCC_CLIENT_SECRET)."
            )
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = as_secret(client_secret)
        self._static = as_secret(access_token)
        self.scope = scope
        self._timeout = timeout
        self._clock = clock
        self._token: Secret | None = None
        self._token_expires = 0.0
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<VccClient {self.base_url} client_id={self.client_id!r}>"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RCStreamError("Use the VCC client as 'async with VccClient(...)'.")
        return self._session

    async def _access_token(self) -> str:
        if self._static is not None:
            return self._static.get()
        if self._token is not None and self._clock() < self._token_expires:
            return self._token.get()
        assert self.token_url
        assert self.client_id
        assert self._client_secret
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        try:
            async with self._http().post(
                self.token_url,
                data=form,
                headers={
                    "Accept": "application/json",
                    "Authorization": _basic(self.client_id, self._client_secret.get()),
                },
            ) as resp:
                status = resp.status
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ConnectionFailedError(
                f"Could not reach the VCC token URL ({type(exc).__name__}); check VCC_TOKEN_URL."
            ) from exc
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {}
        token = data.get("access_token") if isinstance(data, dict) else None
        if status != 200 or not isinstance(token, str):
            raise AuthenticationError(
                f"The VCC token request failed with HTTP {status}; check the client id, secret "
                "and token URL.",
                status=status,
            )
        expires = data.get("expires_in")
        ttl = float(expires) if isinstance(expires, int | float) else 300.0
        self._token = Secret(token)
        self._token_expires = self._clock() + max(0.0, ttl - 30.0)
        return token

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.base_url}/webhooks{path}"
        what = f"{method} /webhooks{path}"
        for attempt in (1, 2):
            token = await self._access_token()
            headers = {"Authorization": f"Bearer {token}", "Accept": VCC_ACCEPT}
            try:
                async with self._http().request(method, url, json=body, headers=headers) as resp:
                    status = resp.status
                    text = await resp.text()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise ConnectionFailedError(
                    f"{what} could not reach {self.base_url} ({type(exc).__name__}); check the "
                    "region base URL and the network."
                ) from exc
            if status == 401 and attempt == 1 and self._static is None:
                self._token = None
                continue
            data: Any = None
            if text:
                try:
                    data = json.loads(text)
                except ValueError:
                    data = text
            if status in (401, 403):
                raise AuthenticationError(
                    f"{what} was refused (HTTP {status}); check the credentials and that the "
                    "client has the admin:read/admin:write scopes.",
                    status=status,
                )
            if not 200 <= status < 300:
                # JSON text, so redact()'s "key": "value" pattern sees the secrets;
                # cut first, then redact (redact masks a value cut off mid-way)
                text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
                detail = redact(text[:200]) if data else ""
                raise GatewayError(
                    f"{what} failed with HTTP {status}{': ' + detail if detail else ''}.",
                    status=status,
                    body=data,
                )
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_subscriptions(self) -> list[VccSubscription]:
        """Every webhook subscription (secrets are never listed)."""
        data = await self._call("GET", "/subscriptions")
        items = data.get("subscriptions", []) if isinstance(data, dict) else data or []
        return [VccSubscription.from_wire(d) for d in items if isinstance(d, dict)]

    async def get_subscription(self, subscription_id: str) -> VccSubscription:
        """One subscription by id."""
        return VccSubscription.from_wire(
            await self._call("GET", f"/subscriptions/{_quote(subscription_id)}")
        )

    async def create_subscription(
        self,
        *,
        name: str,
        url: str,
        events: list[str],
        secret: str | Secret | None = None,
        enabled: bool = True,
    ) -> VccSubscription:
        """Create a subscription; ``secret`` (base64, ≥ 32 bytes) defaults to a fresh one.
        The answer carries the secret (VCC shows it only once)."""
        value = secret.get() if isinstance(secret, Secret) else secret or new_secret()
        data = await self._call(
            "POST",
            "/subscriptions",
            {"name": name, "url": url, "events": events, "enabled": enabled, "secret": value},
        )
        sub = VccSubscription.from_wire(data)
        return sub if sub.secret is not None else _with_secret(sub, value)

    async def update_subscription(self, subscription_id: str, **changes: Any) -> VccSubscription:
        """``PATCH`` any of ``name``, ``url``, ``events``, ``enabled``, ``secret``."""
        allowed = {"name", "url", "events", "enabled", "secret"}
        unknown = set(changes) - allowed
        if unknown:
            raise ConfigurationError(
                f"Unknown subscription fields {sorted(unknown)}; use {sorted(allowed)}."
            )
        body = {k: (v.get() if isinstance(v, Secret) else v) for k, v in changes.items()}
        return VccSubscription.from_wire(
            await self._call("PATCH", f"/subscriptions/{_quote(subscription_id)}", body)
        )

    async def delete_subscription(self, subscription_id: str) -> None:
        """Delete a subscription."""
        await self._call("DELETE", f"/subscriptions/{_quote(subscription_id)}")


def _quote(subscription_id: str) -> str:
    """A subscription id as one path segment: ``/``, ``?`` or ``#`` in it cannot change
    which URL is called. Raises UsageError for an id that no quoting keeps in its segment
    (empty, ``.``, ``..``: URL normalisation removes them)."""
    from urllib.parse import quote

    if subscription_id.strip(".") == "":
        raise UsageError(
            f"{subscription_id!r} is not a VCC subscription id; "
            "list them with 'rcstream vcc subscriptions list'."
        )
    return quote(subscription_id, safe="")


def _with_secret(sub: VccSubscription, secret: str) -> VccSubscription:
    return dataclasses.replace(sub, secret=Secret(secret))


def _basic(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")
