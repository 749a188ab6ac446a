"""The emulator's REST API: account, extensions, SMS and subscription CRUD (HTTP and WebSocket)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlencode

from aiohttp import web

from rcstream.emulator import _wire as wire
from rcstream.emulator._base import (
    _WEBHOOK_EXPIRES_IN,
    _AuthContext,
    _json,
    _not_found,
    _Reply,
)
from rcstream.emulator._filters import EventFilter, FilterError, parse_filter
from rcstream.emulator._state import (
    ExtensionRecord,
    _Account,
    _GatewaySession,
    _Subscription,
)
from rcstream.emulator.oauth import _OAuthLayer
from rcstream.emulator.webhooks import WebhookDeliverer, WebhookValidationError

__all__: list[str] = []

logger = logging.getLogger(__name__)

#: How a subscription ended (each has its counter: ``subscriptions_deleted``/``_expired``).
Gone = Literal["deleted", "expired"]


class _RestLayer(_OAuthLayer):
    """The REST API served over HTTP and over ``ClientRequest`` frames (one implementation)."""

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        path, method = request.path, request.method
        if path == "/restapi/oauth/token":
            return await self._oauth_token(request) if method == "POST" else _not_found()
        if path == "/restapi/oauth/revoke":
            return await self._oauth_revoke(request) if method == "POST" else _not_found()
        if path == "/restapi/oauth/wstoken":
            return await self._oauth_wstoken(request) if method == "POST" else _not_found()
        ctx_or_error = self._bearer(request)
        if isinstance(ctx_or_error, web.Response):
            return ctx_or_error
        ctx = ctx_or_error
        forced = self._forced_rate_limit("request")
        if forced is not None:
            return _json(429, forced.body, forced.headers)
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _json(400, wire.rc_error("CMN-103", "JSON can't be parsed."))
        query = {k: request.query.getall(k) for k in request.query}
        refused = await self._webhook_handshake(method, path, body, ctx)
        if refused is not None:
            return _json(refused.status, refused.body, refused.headers)
        reply = self._api(method, path, query, body, ctx, gateway=None)
        return _json(reply.status, reply.body, reply.headers)

    def _api(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        body: Any,
        ctx: _AuthContext,
        *,
        gateway: _GatewaySession | None,
    ) -> _Reply:
        parts = path.rstrip("/").split("/") if path != "/" else [""]
        # parts[0] == "" for absolute paths
        p = parts[1:]
        if p[:3] == ["restapi", "v1.0", "subscription"]:
            rest = p[3:]
            if not rest:
                if method == "GET":
                    return self._list_subscriptions(ctx)
                if method == "POST":
                    return self._create_subscription(body, ctx, gateway)
            elif len(rest) == 1:
                if method == "GET":
                    return self._read_subscription(rest[0], ctx)
                if method == "PUT":
                    return self._update_subscription(rest[0], body, ctx, gateway)
                if method == "DELETE":
                    return self._delete_subscription(rest[0], ctx)
            elif len(rest) == 2 and rest[1] == "renew" and method == "POST":
                return self._renew_subscription(rest[0], ctx)
        elif (
            p[:3] == ["restapi", "v1.0", "account"]
            and len(p) == 7
            and p[4] == "extension"
            and p[6] == "sms"
            and method == "POST"
        ):
            return self._send_sms(p[3], p[5], body, ctx)
        elif p[:3] == ["restapi", "v1.0", "account"] and len(p) >= 4 and method == "GET":
            account = self._account_of(ctx.extension_id)
            if p[3] not in ("~", account.id):
                return _Reply(
                    404,
                    wire.rc_error(
                        "CMN-102",
                        "Resource for parameter [accountId] is not found",
                        parameterName="accountId",
                    ),
                )
            if len(p) == 4:
                return _Reply(200, self._account_body(account))
            if p[4] == "extension" and len(p) == 5:
                return self._extension_list(query, account)
            if p[4] == "extension" and len(p) == 6:
                ext_id = ctx.extension_id if p[5] == "~" else p[5]
                ext = self._find_extension(ext_id, account)
                if ext is None:
                    return _Reply(
                        404,
                        wire.rc_error(
                            "CMN-102",
                            "Resource for parameter [extensionId] is not found",
                            parameterName="extensionId",
                        ),
                    )
                return _Reply(200, self._extension_body(ext, full=True))
        return _Reply(
            404,
            wire.rc_error(
                "CMN-102",
                f"Resource for parameter [path] is not found: {method} {path}",
                parameterName="path",
            ),
        )

    def _send_sms(self, account: str, extension: str, body: Any, ctx: _AuthContext) -> _Reply:
        """``POST .../extension/~/sms``: accept an outbound SMS and return its message record.

        The message is not delivered anywhere; it is kept in :attr:`Emulator.sent_sms`.
        """
        if account not in ("~", ctx.account_id) or extension not in ("~", ctx.extension_id):
            return _Reply(
                404,
                wire.rc_error(
                    "CMN-102",
                    "Resource for parameter [extensionId] is not found",
                    parameterName="extensionId",
                ),
            )
        problems = []
        if not isinstance(body, dict):
            body = {}
            problems.append("body")
        to = body.get("to")
        if not (isinstance(to, list) and to and all(isinstance(t, dict) for t in to)):
            problems.append("to")
        if not isinstance(body.get("text"), str) or not body.get("text"):
            problems.append("text")
        if problems:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    f"Parameter [{problems[0]}] value is invalid",
                    parameterName=problems[0],
                ),
            )
        msg_id = str(self._rng.randrange(10**11, 10**12))
        now = wire.iso_z(wire.utcnow())
        base = f"{self.server_url}/restapi/v1.0/account/{ctx.account_id}"
        record = {
            "uri": f"{base}/extension/{ctx.extension_id}/message-store/{msg_id}",
            "id": int(msg_id),
            "to": to,
            "from": body.get("from")
            or {"phoneNumber": self._account_of(ctx.extension_id).username},
            "type": "SMS",
            "creationTime": now,
            "readStatus": "Read",
            "priority": "Normal",
            "attachments": [],
            "direction": "Outbound",
            "availability": "Alive",
            "subject": body["text"],
            "messageStatus": "Queued",
            "conversationId": msg_id,
            "lastModifiedTime": now,
        }
        self.sent_sms.append(record)
        self._inc("sms_sent")
        return _Reply(200, record)

    def _find_extension(self, ext_id: str, account: _Account) -> ExtensionRecord | None:
        for e in account.extensions:
            if e.id == ext_id:
                return e
        return None

    def _account_body(self, account: _Account) -> dict[str, Any]:
        return {
            "uri": f"{self.server_url}/restapi/v1.0/account/{account.id}",
            "id": int(account.id),
            "mainNumber": account.username,
            "status": "Confirmed",
            "serviceInfo": {
                "uri": f"{self.server_url}/restapi/v1.0/account/{account.id}/service-info",
                "brand": {"id": "1210", "name": "RingCentral"},
            },
            "operator": self._extension_body(account.extensions[0], full=False),
        }

    def _extension_body(self, ext: ExtensionRecord, *, full: bool) -> dict[str, Any]:
        account = self._account_of(ext.id)
        base = f"{self.server_url}/restapi/v1.0/account/{account.id}"
        body: dict[str, Any] = {
            "uri": f"{base}/extension/{ext.id}",
            "id": int(ext.id),
            "extensionNumber": ext.extension_number,
            "name": ext.name,
            "type": "User",
            "status": "Enabled",
            "contact": {
                "firstName": ext.first_name,
                "lastName": ext.last_name,
                "email": f"{ext.first_name}.{ext.last_name}@example.com".lower(),
            },
        }
        if full:
            body["account"] = {"uri": base, "id": account.id}
            body["permissions"] = {
                "admin": {"enabled": ext.id == account.extensions[0].id},
                "internationalCalling": {"enabled": False},
            }
            body["setupWizardState"] = "Completed"
            body["hidden"] = False
        return body

    def _extension_list(self, query: Mapping[str, list[str]], account: _Account) -> _Reply:
        def int_param(name: str, default: int, maximum: int) -> int | None:
            values = query.get(name)
            if not values:
                return default
            try:
                v = int(values[0])
            except ValueError:
                return None
            return v if 1 <= v <= maximum else None

        page = int_param("page", 1, 10**9)
        per_page = int_param("perPage", 100, 1000)
        if page is None:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101", "Parameter [page] value is invalid.", parameterName="page"
                ),
            )
        if per_page is None:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101", "Parameter [perPage] value is invalid.", parameterName="perPage"
                ),
            )
        total = len(account.extensions)
        total_pages = max(1, math.ceil(total / per_page))
        start = (page - 1) * per_page
        records = [
            self._extension_body(e, full=False)
            for e in account.extensions[start : start + per_page]
        ]
        base = f"{self.server_url}/restapi/v1.0/account/{account.id}/extension"

        def page_uri(n: int) -> dict[str, str]:
            return {"uri": f"{base}?{urlencode({'page': n, 'perPage': per_page})}"}

        navigation = {"firstPage": page_uri(1), "lastPage": page_uri(total_pages)}
        if page < total_pages:
            navigation["nextPage"] = page_uri(page + 1)
        if 1 < page <= total_pages + 1:
            navigation["previousPage"] = page_uri(page - 1)
        paging: dict[str, Any] = {
            "page": page,
            "totalPages": total_pages,
            "perPage": per_page,
            "totalElements": total,
        }
        if records:
            paging["pageStart"] = start
            paging["pageEnd"] = start + len(records) - 1
        return _Reply(
            200,
            {
                "uri": f"{base}?{urlencode({'page': page, 'perPage': per_page})}",
                "records": records,
                "navigation": navigation,
                "paging": paging,
            },
        )

    # --- subscriptions

    def _subscription_body(self, sub: _Subscription) -> dict[str, Any]:
        now = wire.utcnow()
        expires = sub.expires_at_wall or (sub.created + timedelta(seconds=sub.expires_in))
        remaining = int((expires - now).total_seconds())
        delivery: dict[str, Any] = {"transportType": sub.transport}
        if sub.address is not None:
            delivery["address"] = sub.address
        delivery["encryption"] = False
        target = self._webhooks.targets.get(sub.id) if self._webhooks is not None else None
        blacklisted = (
            {"blacklistedData": dict(target.blacklisted_data)}
            if target is not None and target.blacklisted_data and sub.status == "Blacklisted"
            else {}
        )
        return {
            "uri": f"{self.server_url}/restapi/v1.0/subscription/{sub.id}",
            "id": sub.id,
            "creationTime": wire.iso_z(sub.created),
            "status": sub.status,
            "eventFilters": [f.text for f in sub.filters],
            **(
                {
                    "disabledFilters": [
                        {"filter": t, "reason": "Permission", "message": "Insufficient permissions"}
                        for t in sub.disabled
                    ]
                }
                if sub.disabled
                else {}
            ),
            "expirationTime": wire.iso_z(expires),
            "expiresIn": max(0, int(min(sub.expires_in - 1, remaining))),
            "deliveryMode": delivery,
            **blacklisted,
        }

    def _owned(self, sub_id: str, ctx: _AuthContext) -> _Subscription | None:
        sub = self._subs.get(sub_id)
        if (
            sub is None
            or sub.client_id != ctx.oauth.client_id
            or sub.extension_id != ctx.extension_id
        ):
            return None
        return sub

    def _sub_not_found(self, sub_id: str) -> _Reply:
        return _Reply(
            404,
            wire.rc_error(
                "SUB-507", f"Subscription with key [{sub_id}] was not found or has expired"
            ),
        )

    def _parse_filters(self, body: Any, ctx: _AuthContext) -> list[EventFilter] | _Reply:
        self._disabled_now = []
        raw = body.get("eventFilters") if isinstance(body, dict) else None
        if not isinstance(raw, list) or not raw:
            return _Reply(
                400, wire.rc_error("SUB-508", "Invalid event filters: [eventFilters is required]")
            )
        if self.deny_websocket_permission:
            return _permission_denied()
        parsed: list[EventFilter] = []
        for item in raw:
            try:
                f = parse_filter(item, account_id=ctx.account_id, extension_id=ctx.extension_id)
            except FilterError as exc:
                return _Reply(exc.status, wire.rc_error(exc.code, exc.message))
            if item in self.forbidden_filters or f.text in self.forbidden_filters:
                return _permission_denied(str(item))
            if item in self.disabled_filters or f.text in self.disabled_filters:
                # accepted but not granted: listed in disabledFilters, never delivered
                self._disabled_now.append(f.text)
                continue
            if f not in parsed:
                parsed.append(f)
        return parsed

    def _count_user_subs(self, ctx: _AuthContext) -> int:
        return sum(
            1
            for s in self._subs.values()
            if s.client_id == ctx.oauth.client_id and s.extension_id == ctx.extension_id
        )

    def _create_subscription(
        self, body: Any, ctx: _AuthContext, gateway: _GatewaySession | None
    ) -> _Reply:
        if not isinstance(body, dict):
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101", "Parameter [body] value is invalid.", parameterName="body"
                ),
            )
        delivery = body.get("deliveryMode")
        transport = delivery.get("transportType") if isinstance(delivery, dict) else None
        if not isinstance(transport, str):
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    "Parameter [deliveryMode.transportType] value is invalid.",
                    parameterName="deliveryMode.transportType",
                ),
            )
        address = None
        if gateway is not None:
            if transport != "WebSocket":
                return _Reply(
                    400,
                    wire.rc_error(
                        "CMN-101",
                        f"Parameter [deliveryMode.transportType] value is invalid: only WebSocket "
                        f"subscriptions can be created over the gateway, not {transport}",
                        parameterName="deliveryMode.transportType",
                    ),
                )
        elif transport == "WebSocket":
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    "Parameter [deliveryMode.transportType] value is invalid: WebSocket "
                    "subscriptions are created over the WebSocket gateway",
                    parameterName="deliveryMode.transportType",
                ),
            )
        elif transport == "WebHook":
            address = delivery.get("address") if isinstance(delivery, dict) else None
            if not isinstance(address, str) or not address.startswith(("http://", "https://")):
                return _Reply(
                    400,
                    wire.rc_error(
                        "CMN-101",
                        "Parameter [deliveryMode.address] value is invalid.",
                        parameterName="deliveryMode.address",
                    ),
                )
        else:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    f"Parameter [deliveryMode.transportType] value is invalid: {transport}",
                    parameterName="deliveryMode.transportType",
                ),
            )
        filters = self._parse_filters(body, ctx)
        if isinstance(filters, _Reply):
            return filters
        replaced = None
        if gateway is not None and gateway.subscription_id in self._subs:
            replaced = gateway.subscription_id
        count = self._count_user_subs(ctx) - (1 if replaced else 0)
        if count >= self.subscription_limit:
            return _Reply(403, wire.rc_error("SUB-505", "Subscriptions limit exceeded"))
        if replaced is not None:
            del self._subs[replaced]
            self._inc("subscriptions_replaced")
        created = wire.utcnow()
        expires_in: float = self.options.subscription_ttl
        if transport == "WebHook":
            asked = _webhook_expires_in(body)
            if isinstance(asked, _Reply):
                return asked
            expires_in = asked
        sub = _Subscription(
            id=wire.new_id(),
            client_id=ctx.oauth.client_id,
            account_id=ctx.account_id,
            extension_id=ctx.extension_id,
            filters=filters,
            disabled=list(self._disabled_now),
            transport=transport,
            created=created,
            expires_in=expires_in,
            address=address,
            gateway_session_id=gateway.id if gateway else None,
            expires_at_wall=created + timedelta(seconds=expires_in),
        )
        self._subs[sub.id] = sub
        self._janitor_wake.set()  # it may expire before the janitor's next sweep
        if gateway is not None:
            gateway.subscription_id = sub.id
        if transport == "WebHook" and self._webhooks is not None:
            token = delivery.get("verificationToken") if isinstance(delivery, dict) else None
            token = token if isinstance(token, str) else None
            self._webhooks.register(sub.id, address or "", token)
        self._inc("subscriptions_created")
        logger.debug("Emulator: subscription %s created (%s)", sub.id, transport)
        return _Reply(200, self._subscription_body(sub))

    def _list_subscriptions(self, ctx: _AuthContext) -> _Reply:
        records = [
            self._subscription_body(s)
            for s in self._subs.values()
            if s.client_id == ctx.oauth.client_id and s.extension_id == ctx.extension_id
        ]
        return _Reply(
            200, {"uri": f"{self.server_url}/restapi/v1.0/subscription", "records": records}
        )

    def _read_subscription(self, sub_id: str, ctx: _AuthContext) -> _Reply:
        sub = self._owned(sub_id, ctx)
        return (
            self._sub_not_found(sub_id)
            if sub is None
            else _Reply(200, self._subscription_body(sub))
        )

    def _update_subscription(
        self, sub_id: str, body: Any, ctx: _AuthContext, gateway: _GatewaySession | None
    ) -> _Reply:
        sub = self._owned(sub_id, ctx)
        if sub is None:
            return self._sub_not_found(sub_id)
        if sub.transport == "WebSocket" and gateway is None:
            return _Reply(
                400,
                wire.rc_error(
                    "CMN-101",
                    "WebSocket subscriptions cannot be updated over HTTP; "
                    "use the WebSocket gateway",
                    parameterName="deliveryMode",
                ),
            )
        if isinstance(body, dict) and "eventFilters" in body:
            filters = self._parse_filters(body, ctx)
            if isinstance(filters, _Reply):
                return filters
            sub.filters = filters
            sub.disabled = list(self._disabled_now)
        elif self.deny_websocket_permission and sub.transport == "WebSocket":
            return _permission_denied()
        if sub.transport == "WebHook":
            changed = self._update_webhook(sub, body)
            if changed is not None:
                return changed
        sub.expires_at_wall = wire.utcnow() + timedelta(seconds=sub.expires_in)
        if gateway is not None and sub.gateway_session_id != gateway.id:
            # A PUT from another session (e.g. after a process restart) moves the
            # subscription here; the session's previous subscription is replaced.
            old_session = self._gw.get(sub.gateway_session_id or "")
            if old_session is not None and old_session.subscription_id == sub.id:
                old_session.subscription_id = None
            if gateway.subscription_id and gateway.subscription_id in self._subs:
                del self._subs[gateway.subscription_id]
                self._inc("subscriptions_replaced")
            sub.gateway_session_id = gateway.id
            gateway.subscription_id = sub.id
        self._inc("subscriptions_updated")
        return _Reply(200, self._subscription_body(sub))

    def _delete_subscription(self, sub_id: str, ctx: _AuthContext) -> _Reply:
        sub = self._owned(sub_id, ctx)
        if sub is None:
            return self._sub_not_found(sub_id)
        self._drop_subscription(sub, "deleted")
        return _Reply(204, None)

    def _drop_subscription(self, sub: _Subscription, why: Gone) -> None:
        """The subscription is gone, deleted or expired: the platform answers 404 ``SUB-507``
        "not found or has expired" either way; only the counter tells them apart."""
        self._subs.pop(sub.id, None)
        if self._webhooks is not None:
            self._webhooks.forget(sub.id)
        session = self._gw.get(sub.gateway_session_id or "")
        if session is not None and session.subscription_id == sub.id:
            session.subscription_id = None
        self._inc(f"subscriptions_{why}")

    def _renew_subscription(self, sub_id: str, ctx: _AuthContext) -> _Reply:
        sub = self._owned(sub_id, ctx)
        if sub is None:
            return self._sub_not_found(sub_id)
        if sub.transport == "WebHook":
            # A renew carries no expiresIn, so it renews with the platform's default
            # lifetime, not the one asked for at creation (RCEX ``Subscription/index.ts``:
            # an empty PUT renews with the default TTL; the default is undocumented,
            # 7 days = 604800 s was observed: PipedreamHQ/pipedream#5710). The emulator
            # takes that reading because it is the one that punishes a client relying on
            # renew.
            sub.expires_in = _WEBHOOK_EXPIRES_IN
        sub.expires_at_wall = wire.utcnow() + timedelta(seconds=sub.expires_in)
        self._inc("subscriptions_updated")
        return _Reply(200, self._subscription_body(sub))

    # --- WebHook delivery (issue 15; sources: the developer guide's webhook pages)

    async def _webhook_deliverer(self) -> WebhookDeliverer:
        """The one :class:`WebhookDeliverer` (and its HTTP session), made on first use."""
        if self._webhooks is None:
            deliverer = WebhookDeliverer(blacklist_after=self.options.webhook_blacklist_after)
            self._webhooks = deliverer  # before the await: one deliverer, whoever asks first
            await deliverer.__aenter__()
        return self._webhooks

    async def _close_webhooks(self) -> None:
        """Close the WebHook HTTP session (from :meth:`close`)."""
        if self._webhooks is not None:
            deliverer, self._webhooks = self._webhooks, None
            await deliverer.__aexit__(None, None, None)

    async def _webhook_handshake(
        self, method: str, path: str, body: Any, ctx: _AuthContext
    ) -> _Reply | None:
        """Run the validation request before a WebHook subscription is created (``POST``)
        or moved to a new address (``PUT`` with ``deliveryMode.address``); ``SUB-525`` when
        the address fails it [DOCS ``creating-webhooks.md``]. The HTTP status of
        that error is not documented: 400 is an assumption. Requests that the synchronous
        checks will refuse anyway (bad address, bad filters) are not validated first.
        """
        delivery = body.get("deliveryMode") if isinstance(body, dict) else None
        if not isinstance(delivery, dict):
            return None
        address = delivery.get("address")
        parts = path.rstrip("/").split("/")
        if not isinstance(address, str) or not address.startswith(("http://", "https://")):
            return None
        if method == "POST" and parts[1:] == ["restapi", "v1.0", "subscription"]:
            if delivery.get("transportType") != "WebHook":
                return None
        elif method == "PUT" and parts[1:4] == ["restapi", "v1.0", "subscription"]:
            sub = self._owned(parts[-1], ctx) if len(parts) == 5 else None
            if sub is None or sub.transport != "WebHook" or sub.address == address:
                return None
        else:
            return None
        refused = isinstance(self._parse_filters(body, ctx), _Reply)
        if refused and (method == "POST" or "eventFilters" in body):
            return None
        deliverer = await self._webhook_deliverer()
        try:
            await deliverer.handshake(address)
        except WebhookValidationError as exc:
            logger.info("Emulator: WebHook address %s failed validation: %s", address, exc)
            return _Reply(400, wire.rc_error("SUB-525", "WebHook server response is invalid"))
        return None

    def _update_webhook(self, sub: _Subscription, body: Any) -> _Reply | None:
        """``PUT`` of a WebHook subscription: ``expiresIn`` (top level) sets the new lifetime;
        without it the lifetime becomes the platform default (7 days observed, 604800 s:
        an empty PUT renews with the default TTL, RCEX ``Subscription/index.ts``; that a
        PUT carrying only
        ``eventFilters`` does the same is the emulator's reading, the stricter one);
        ``deliveryMode`` may change the address (validated before) and the verification
        token [RCEX ``Subscription/index.ts``]."""
        asked = _webhook_expires_in(body)
        if isinstance(asked, _Reply):
            return asked
        sub.expires_in = asked
        if not isinstance(body, dict):
            return None
        delivery = body.get("deliveryMode")
        if isinstance(delivery, dict) and self._webhooks is not None:
            target = self._webhooks.targets.get(sub.id)
            address = delivery.get("address")
            if isinstance(address, str) and address.startswith(("http://", "https://")):
                sub.address = address
                if target is not None:
                    target.address = address
            token = delivery.get("verificationToken")
            if isinstance(token, str) and target is not None:
                target.verification_token = token
        return None

    async def _deliver_webhook(self, sub: _Subscription, envelope: dict[str, Any]) -> None:
        """POST one notification to a WebHook subscription; blacklist it after
        ``webhook_blacklist_after`` failures in a row (see :mod:`rcstream.emulator.webhooks`)."""
        deliverer = await self._webhook_deliverer()
        target = deliverer.targets.get(sub.id)
        if target is None:  # deleted meanwhile
            return
        if target.status != "Active":  # made Active again by set_subscription_status()
            target.status, target.failures, target.blacklisted_data = "Active", 0, None
        if await deliverer.deliver(sub.id, envelope):
            self._inc("notifications_sent")
        elif target.status == "Blacklisted" and sub.id in self._subs:
            sub.status = "Blacklisted"
            self._bump()


def _webhook_expires_in(body: Any) -> int | _Reply:
    """A WebHook subscription's lifetime from a POST or PUT body: its top-level
    ``expiresIn``, the platform default (604800 s) without one, or 400 ``CMN-101`` when it
    is not an integer."""
    if not isinstance(body, dict) or "expiresIn" not in body:
        return _WEBHOOK_EXPIRES_IN
    try:
        return int(body["expiresIn"])
    except (TypeError, ValueError):
        return _Reply(
            400,
            wire.rc_error(
                "CMN-101", "Parameter [expiresIn] value is invalid.", parameterName="expiresIn"
            ),
        )


def _permission_denied(filter_text: str | None = None) -> _Reply:
    what = f" to subscribe to [{filter_text}]" if filter_text else ""
    return _Reply(
        403,
        wire.rc_error(
            "SUB-528",
            f"In order to call this API endpoint{what}, application needs to have "
            "[WebSocketsSubscription] permission",
        ),
    )
