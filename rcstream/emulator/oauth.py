"""The emulator's OAuth half: ``token``, ``revoke`` and ``wstoken`` endpoints and the Auth group."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from rcstream.emulator import _wire as wire
from rcstream.emulator._base import (
    _SCOPES,
    JWT_GRANT,
    _AuthContext,
    _EmulatorCore,
    _json,
    _Reply,
)
from rcstream.emulator._state import (
    _AccessToken,
    _OAuthSession,
    _WsToken,
)

__all__: list[str] = []

logger = logging.getLogger(__name__)


class _OAuthLayer(_EmulatorCore):
    """OAuth endpoints (token, revoke, wstoken), the Auth rate-limit group and bearer checks."""

    def _bearer(self, request: web.Request) -> _AuthContext | web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _json(401, wire.rc_error("OAU-134", "Invalid Authorization header."))
        return self._access_context(token.strip())

    def _access_context(self, token: str) -> _AuthContext | web.Response:
        rec = self._access.get(token)
        if rec is None:
            return _json(401, wire.rc_error("OAU-129", "Access token corrupted."))
        if rec.expires_at <= time.monotonic():
            return _json(401, wire.rc_error("OAU-128", "Access token expired."))
        oauth = self._oauth[rec.oauth_session_id]
        return _AuthContext(
            oauth=oauth,
            account_id=self._account_of(oauth.extension_id).id,
            extension_id=oauth.extension_id,
        )

    # --- OAuth

    def _basic_client(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        cid, sep, secret = decoded.partition(":")
        return (cid, secret) if sep else None

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        assert self.auth_rate_limit is not None
        return {
            "X-Rate-Limit-Group": "Auth",
            "X-Rate-Limit-Limit": str(self.auth_rate_limit),
            "X-Rate-Limit-Remaining": str(max(0, remaining)),
            "X-Rate-Limit-Window": wire.seconds_header(self.auth_rate_window),
        }

    def _forced_rate_limit(self, endpoint: str) -> _Reply | None:
        queue = self._forced_429[endpoint]
        if not queue:
            return None
        retry_after = queue.popleft()
        self._inc("rate_limited")
        headers = {"Retry-After": wire.seconds_header(retry_after)}
        if endpoint != "request":
            headers["X-Rate-Limit-Group"] = "Auth"
        logger.debug("Emulator: forced 429 on %s", endpoint)
        return _Reply(429, wire.rc_error("CMN-301", "Request rate exceeded"), headers)

    def _auth_rate(self, endpoint: str, key: str) -> tuple[web.Response | None, dict[str, str]]:
        """Apply the Auth rate-limit group; return (429 response or None, headers to add)."""
        forced = self._forced_rate_limit(endpoint)
        if forced is not None:
            headers = dict(forced.headers or {})
            if self.auth_rate_limit is not None:
                headers.update(self._rate_headers(0))
            return _json(429, forced.body, headers), {}
        limit = self.auth_rate_limit
        if limit is None:
            return None, {}
        now = self._rate_clock()
        hits = self._auth_hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.auth_rate_window:
            hits.popleft()
        penalty = self._auth_penalty.get(key)
        if penalty is not None and now >= penalty:
            del self._auth_penalty[key]
            hits.clear()
            penalty = None
        if penalty is not None or len(hits) >= limit:
            # over the limit: a penalty of one window, restarted by every request made
            # during it (the platform's documented rule), so Retry-After must be honoured
            self._auth_penalty[key] = now + self.auth_rate_window
            wait = self.auth_rate_window
            if float(self.auth_rate_window).is_integer():
                retry = str(max(1, math.ceil(wait)))
            else:
                retry = f"{max(1, math.ceil(wait * 1000)) / 1000:.3f}"  # rounded up
            self._inc("rate_limited")
            headers = {"Retry-After": retry, **self._rate_headers(0)}
            return _json(429, wire.rc_error("CMN-301", "Request rate exceeded"), headers), {}
        hits.append(now)
        return None, self._rate_headers(limit - len(hits))

    @staticmethod
    def _auth_key(client_id: str, extension_id: str | None) -> str:
        """The Auth rate-limit bucket: per user and app, as on the platform (DOCS
        ``rate-limits.md``: limits apply per user per app); the app alone when the request
        names no known user."""
        return f"{client_id}/{extension_id}" if extension_id else client_id

    def _grant_user(self, form: Mapping[str, str]) -> str | None:
        """The extension a ``/restapi/oauth/token`` request names, if it names a known one."""
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            return self._jwts.get(form.get("assertion", ""))
        if grant == "password":
            # the account whose main number is ``username``, and its extension numbered
            # ``extension`` (its first extension when none is given)
            account = next((a for a in self._accounts if a.username == form.get("username")), None)
            number = form.get("extension", "")
            exts = account.extensions if account is not None else []
            return next((e.id for e in exts if not number or e.extension_number == number), None)
        if grant == "refresh_token":
            oauth = self._refresh_session(form)
            return oauth.extension_id if oauth else None
        return None

    def _refresh_session(self, form: Mapping[str, str]) -> _OAuthSession | None:
        """The OAuth session a refresh grant's ``refresh_token`` belongs to, if any."""
        sid = self._refresh.get(form.get("refresh_token", ""))
        return self._oauth.get(sid) if sid else None

    async def _oauth_token(self, request: web.Request) -> web.Response:
        client = self._basic_client(request)
        if client is None:
            self._inc("grant_failures")
            return _json(
                401,
                wire.oauth_error("invalid_client", "OAU-123", "Invalid Authorization header value"),
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        user = self._grant_user(form)
        limited, headers = self._auth_rate("token", self._auth_key(client[0], user))
        if limited is not None:
            return limited
        if client != (self._client_id, self._client_secret):
            self._inc("grant_failures")
            return _json(
                401,
                wire.oauth_error("invalid_client", "OAU-146", "Invalid client credentials"),
                headers,
            )
        if request.content_type != "application/x-www-form-urlencoded":
            self._inc("grant_failures")
            return _json(
                400,
                wire.oauth_error(
                    "invalid_request",
                    "OAU-101",
                    "Content type must be application/x-www-form-urlencoded",
                ),
                headers,
            )
        grant = form.get("grant_type", "")

        def invalid_grant(code: str, message: str) -> web.Response:
            self._inc("grant_failures")
            return _json(400, wire.oauth_error("invalid_grant", code, message), headers)

        if grant == JWT_GRANT:
            if user is None:
                return invalid_grant(
                    "OAU-140", "Invalid resource owner credentials (JWT assertion)"
                )
            oauth = self._new_oauth_session(user)
            key = "jwt"
        elif grant == "password":
            if user is None or form.get("password") != self._password:
                return invalid_grant("OAU-140", "Invalid resource owner credentials")
            oauth = self._new_oauth_session(user)
            key = "password"
        elif grant == "refresh_token":
            found = self._refresh_session(form)
            if found is None or found.revoked or found.client_id != client[0]:
                return invalid_grant("OAU-211", "Token not found")
            if found.refresh_expires_at <= time.monotonic():
                return invalid_grant("OAU-211", "Refresh token has expired")
            oauth = found
            self._refresh.pop(form.get("refresh_token", ""), None)
            if oauth.access_token is not None:
                self._access.pop(oauth.access_token, None)
            oauth.refreshes += 1
            key = "refresh_token"
            self._inc("token_refreshes")
        elif not grant:
            return invalid_grant("OAU-101", "Parameter [grant_type] is invalid")
        else:
            self._inc("grant_failures")
            return _json(
                400,
                wire.oauth_error(
                    "unsupported_grant_type",
                    "OAU-112",
                    f"The client is unauthorized for the required grant type: [{grant}]",
                ),
                headers,
            )
        if key != "refresh_token":
            await self._enforce_session_limit(oauth)
        body = self._issue_tokens(oauth, form)
        self._inc_map(self._stats.grants, key)
        logger.debug("Emulator: %s grant for extension %s", key, oauth.extension_id)
        return _json(200, body, headers)

    def _new_oauth_session(self, extension_id: str) -> _OAuthSession:
        oauth = _OAuthSession(
            id=secrets.token_hex(12),
            client_id=self._client_id,
            extension_id=extension_id,
            endpoint_id=secrets.token_urlsafe(16),
        )
        self._oauth[oauth.id] = oauth
        return oauth

    async def _enforce_session_limit(self, newest: _OAuthSession) -> None:
        """A login beyond ``oauth_session_limit`` parallel sessions of one user and app revokes
        the oldest: DOCS ``docs/authentication/tokens.md:24`` (tokens are invalidated when
        "the application reached the limit (usually five) of parallel active sessions for
        the same user"); NET ``README.md:34-36`` (then "your WebSocket connection will not
        function"). Its sockets follow ``revoke_closes_sockets``."""
        active = [
            o
            for o in self._oauth.values()
            if not o.revoked
            and o.client_id == newest.client_id
            and o.extension_id == newest.extension_id
        ]
        for oldest in active[: max(0, len(active) - self.options.oauth_session_limit)]:
            self._inc("oauth_sessions_evicted")
            await self._revoke(
                oldest,
                error_code="OAU-129",
                message="OAuth session was revoked",
                close_sockets=self.revoke_closes_sockets,
            )

    def _issue_tokens(self, oauth: _OAuthSession, form: Mapping[str, str]) -> dict[str, Any]:
        def ttl(name: str, configured: float) -> float:
            try:
                requested = float(form[name])
            except (KeyError, ValueError):
                return configured
            return min(configured, requested) if requested > 0 else configured

        access_ttl = ttl("access_token_ttl", self.access_token_ttl)
        refresh_ttl = ttl("refresh_token_ttl", self.refresh_token_ttl)
        now = time.monotonic()
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_urlsafe(48)
        oauth.access_token = access
        oauth.refresh_token = refresh
        oauth.refresh_expires_at = now + refresh_ttl
        self._access[access] = _AccessToken(oauth_session_id=oauth.id, expires_at=now + access_ttl)
        self._watch_token_expiry(oauth.id, now + access_ttl)
        self._refresh[refresh] = oauth.id
        scope = list(_SCOPES)
        if not self.deny_websocket_permission:
            scope.append("WebSocketsSubscription")
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": wire.number(access_ttl),
            "refresh_token": refresh,
            "refresh_token_expires_in": wire.number(refresh_ttl),
            "scope": " ".join(scope),
            "owner_id": oauth.extension_id,
            "endpoint_id": oauth.endpoint_id,
            "session_id": oauth.id,
        }

    async def _oauth_revoke(self, request: web.Request) -> web.Response:
        client = self._basic_client(request)
        if client != (self._client_id, self._client_secret):
            return _json(
                401, wire.oauth_error("invalid_client", "OAU-123", "Invalid client credentials")
            )
        form = {k: str(v) for k, v in (await request.post()).items()}
        token = form.get("token") or request.query.get("token", "")
        sid = None
        if token in self._access:
            sid = self._access[token].oauth_session_id
        elif token in self._refresh:
            sid = self._refresh[token]
        oauth = self._oauth.get(sid) if sid else None
        if oauth is not None and not oauth.revoked:
            await self._revoke(
                oauth,
                error_code="OAU-129",
                message="OAuth session was revoked",
                close_sockets=self.revoke_closes_sockets,
            )
        return web.Response(status=200)

    async def _revoke(
        self, oauth: _OAuthSession, *, error_code: str, message: str, close_sockets: bool
    ) -> None:
        oauth.revoked = True
        for token in [t for t, rec in self._access.items() if rec.oauth_session_id == oauth.id]:
            del self._access[token]
        for token in [t for t, sid in self._refresh.items() if sid == oauth.id]:
            del self._refresh[token]
        for token in [t for t, rec in self._ws_tokens.items() if rec.oauth_session_id == oauth.id]:
            del self._ws_tokens[token]
        self._inc("revocations")
        if close_sockets:
            conns = [
                c
                for c in self._conns.values()
                if c.session is not None
                and c.session.oauth_session_id == oauth.id
                and not c.closing
            ]
            await asyncio.gather(
                *(
                    self._terminate(
                        c,
                        (error_code, message),
                        close_code=1008,
                        reason_text=message,
                        reason="revoked",
                    )
                    for c in conns
                )
            )

    async def _oauth_wstoken(self, request: web.Request) -> web.Response:
        ctx = self._bearer(request)
        if isinstance(ctx, web.Response):
            return ctx
        limited, headers = self._auth_rate(
            "wstoken", self._auth_key(ctx.oauth.client_id, ctx.oauth.extension_id)
        )
        if limited is not None:
            return limited
        token = secrets.token_urlsafe(40)
        self._ws_tokens[token] = _WsToken(
            oauth_session_id=ctx.oauth.id, expires_at=time.monotonic() + self.ws_token_ttl
        )
        self._inc("wstokens")
        body = {
            "uri": self.ws_url,
            "ws_access_token": token,
            "expires_in": wire.number(self.ws_token_ttl),
        }
        return _json(200, body, headers)

    # --- REST API (HTTP and ClientRequest share it)
