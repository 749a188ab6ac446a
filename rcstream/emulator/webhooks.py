"""WebHook delivery as RingCentral does it, for the emulator (self-contained helper).

:class:`WebhookDeliverer` holds the WebHook-mode state of subscriptions: it runs the
validation handshake when a subscription is created, POSTs notifications with the
verification token, and blacklists a subscription after failures. It does not know the
emulator's internals, so the subscription code can call it:

* :meth:`WebhookDeliverer.validate` — at creation: POST with a random ``Validation-Token``
  and no body; the address must answer 200 within ``validation_timeout`` (3 s), echo the
  header, and keep the whole response at most 1,024 bytes; else
  :class:`WebhookValidationError` carries ``SUB-525`` "WebHook server response is invalid"
  [DOCS ``docs/notifications/webhooks/creating-webhooks.md``].
* :meth:`WebhookDeliverer.deliver` — one notification: POST the JSON envelope with
  ``Verification-Token`` (the API spec's name; the current receiving page calls the header
  ``Validation-Token``, a reading rcstream's receiver accepts too and is tested on directly
  in ``tests/webhooks/test_rc_receiver.py``) and
  ``User-Agent: RingCentral-Webhook/8.3`` [DOCS ``receiving.md`` sample headers].
  No redelivery: no RingCentral source documents one.
* Blacklisting: any non-200 answer, timeout or connection failure counts as a failure;
  after ``blacklist_after`` consecutive failures the subscription's status becomes
  ``Blacklisted`` with ``blacklistedData {reason, blacklistedAt}`` in the forms of the
  docs' ``blacklist.json`` sample ("Webhook responses with code: [404]", "I/O operation
  is failed. Details: [Read timed out]"). The count is an emulator choice (sources say
  "too many errors", or 10 minutes of failures); it is configurable. Blacklisting is
  permanent, as the current docs say: a blacklisted subscription gets nothing more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

__all__ = [
    "DeliveryTarget",
    "WebhookDeliverer",
    "WebhookValidationError",
]

logger = logging.getLogger(__name__)

USER_AGENT = "RingCentral-Webhook/8.3"
MAX_VALIDATION_RESPONSE = 1024


class WebhookValidationError(Exception):
    """The address failed the validation request; ``error_code`` is ``SUB-525``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.error_code = "SUB-525"
        self.message = message


@dataclass
class DeliveryTarget:
    """The WebHook state of one subscription: where to POST and how it went."""

    subscription_id: str
    address: str
    verification_token: str | None = None
    status: str = "Active"
    failures: int = 0
    delivered: int = 0
    blacklisted_data: dict[str, str] | None = None


def _iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookDeliverer:
    """POSTs notifications to WebHook subscriptions; see the module docstring.

    Use as ``async with WebhookDeliverer() as d`` (it owns one aiohttp session).
    ``timeout`` bounds a notification POST, ``validation_timeout`` the handshake (3 s).
    """

    def __init__(
        self,
        *,
        timeout: float = 3.0,
        validation_timeout: float = 3.0,
        blacklist_after: int = 3,
    ) -> None:
        self.timeout = timeout
        self.validation_timeout = validation_timeout
        self.blacklist_after = blacklist_after
        self.targets: dict[str, DeliveryTarget] = {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> WebhookDeliverer:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use 'async with WebhookDeliverer()'")
        return self._session

    async def validate(
        self, subscription_id: str, address: str, verification_token: str | None
    ) -> DeliveryTarget:
        """Run the validation handshake and register the target; raise on failure."""
        await self.handshake(address)
        return self.register(subscription_id, address, verification_token)

    async def handshake(self, address: str) -> None:
        """Send the validation request to ``address``; raise
        :class:`WebhookValidationError` (``SUB-525``) unless it passes."""
        token = secrets.token_hex(16)
        try:
            async with asyncio.timeout(self.validation_timeout):
                async with self._http().post(
                    address,
                    headers={"Validation-Token": token, "User-Agent": USER_AGENT},
                ) as resp:
                    status = resp.status
                    echoed = resp.headers.get("Validation-Token")
                    content_type = resp.headers.get("Content-Type", "")
                    body = await resp.read()
                    size = _response_size(resp, body)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise WebhookValidationError(
                f"WebHook server response is invalid: {type(exc).__name__}"
            ) from exc
        # the answer must say Content-Type: application/json even with an empty body
        # (DOCS creating-webhooks.md); parameters such as
        # "; charset=utf-8" are allowed
        json_type = content_type.split(";", 1)[0].strip().lower() == "application/json"
        if status != 200 or echoed != token or size > MAX_VALIDATION_RESPONSE or not json_type:
            raise WebhookValidationError(
                f"WebHook server response is invalid (status {status}, token echoed: "
                f"{echoed == token}, {size} bytes, Content-Type {content_type[:60]!r})"
            )

    def register(
        self, subscription_id: str, address: str, verification_token: str | None
    ) -> DeliveryTarget:
        """Register a target without a handshake (for tests of the delivery alone)."""
        target = DeliveryTarget(subscription_id, address, verification_token)
        self.targets[subscription_id] = target
        return target

    def forget(self, subscription_id: str) -> None:
        """Drop a deleted subscription's state."""
        self.targets.pop(subscription_id, None)

    async def deliver(self, subscription_id: str, notification: dict[str, Any]) -> bool:
        """POST one notification envelope; True when answered 200. Blacklisted or unknown
        targets get nothing (False)."""
        target = self.targets.get(subscription_id)
        if target is None or target.status != "Active":
            return False
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if target.verification_token is not None:
            headers["Verification-Token"] = target.verification_token
        data = json.dumps(notification, separators=(",", ":")).encode()
        reason: str | None = None
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().post(target.address, data=data, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        reason = f"Webhook responses with code: [{resp.status}]"
        except TimeoutError:
            reason = "I/O operation is failed. Details: [Read timed out]"
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"I/O operation is failed. Details: [{type(exc).__name__}]"
        if reason is None:
            target.failures = 0
            target.delivered += 1
            return True
        target.failures += 1
        logger.debug("Emulator: webhook delivery to %s failed: %s", target.address, reason)
        if target.failures >= self.blacklist_after:
            target.status = "Blacklisted"
            target.blacklisted_data = {"reason": reason, "blacklistedAt": _iso_now()}
            logger.info("Emulator: subscription %s blacklisted", subscription_id)
        return False


def _response_size(resp: aiohttp.ClientResponse, body: bytes) -> int:
    """Status line + headers + body, as the platform would count them."""
    status_line = len(f"HTTP/1.1 {resp.status} {resp.reason or ''}\r\n".encode())
    headers = sum(len(k) + len(v) + 4 for k, v in resp.raw_headers)
    return status_line + headers + 2 + len(body)
