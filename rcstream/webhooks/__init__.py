"""Events delivered by HTTP POST: RingCentral WebHook subscriptions and Vonage Contact Center.

* :mod:`rcstream.webhooks.ringcentral` — :class:`WebhookReceiver` (validation handshake,
  verification token, de-duplication, bounded queue), :class:`WebhookSubscription`
  (create, renew, re-create when blacklisted, delete) and :func:`listen`, which combines
  them into one async iterator of the same typed notifications as the WebSocket stream.
* :mod:`rcstream.webhooks.vcc` — :class:`VccReceiver` (``Vonage-Signature`` JWT check,
  503 when full so VCC retries, de-duplication by CloudEvents ``source`` + ``id``) and
  :class:`VccClient` (the Webhooks subscriptions API).
* :mod:`rcstream.webhooks.cloudevents` — typed CloudEvents models for VCC events.

See ``docs/webhooks.md`` for exposing a receiver and for the security model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rcstream.webhooks._receiver import ReceiverStats
    from rcstream.webhooks.cloudevents import (
        AgentPresenceChanged,
        ChannelEvent,
        CloudEvent,
        parse_cloudevent,
    )
    from rcstream.webhooks.ringcentral import (
        WebhookItem,
        WebhookReceiver,
        WebhookStream,
        WebhookSubscription,
        listen,
    )
    from rcstream.webhooks.vcc import (
        SignatureError,
        VccClient,
        VccReceiver,
        VccSubscription,
        verify_signature,
    )

# Names are imported on first use (PEP 562), so that ``import rcstream.webhooks`` (or of
# one submodule, e.g. ``cloudevents``) does not pull in aiohttp, pydantic and PyJWT.
_WHERE = {
    "ReceiverStats": "_receiver",
    "AgentPresenceChanged": "cloudevents",
    "ChannelEvent": "cloudevents",
    "CloudEvent": "cloudevents",
    "parse_cloudevent": "cloudevents",
    "WebhookItem": "ringcentral",
    "WebhookReceiver": "ringcentral",
    "WebhookStream": "ringcentral",
    "WebhookSubscription": "ringcentral",
    "listen": "ringcentral",
    "SignatureError": "vcc",
    "VccClient": "vcc",
    "VccReceiver": "vcc",
    "VccSubscription": "vcc",
    "verify_signature": "vcc",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rcstream.webhooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rcstream.webhooks.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AgentPresenceChanged",
    "ChannelEvent",
    "CloudEvent",
    "ReceiverStats",
    "SignatureError",
    "VccClient",
    "VccReceiver",
    "VccSubscription",
    "WebhookItem",
    "WebhookReceiver",
    "WebhookStream",
    "WebhookSubscription",
    "listen",
    "parse_cloudevent",
    "verify_signature",
]
