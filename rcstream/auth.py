"""OAuth for rcstream: grants, token refresh, and the WebSocket token.

Pick one credential type and hand it to :class:`rcstream.Client`:

* :class:`JWTAuth` — the JWT bearer grant (recommended for servers and bots);
* :class:`PasswordAuth` — the deprecated password grant;
* :class:`RefreshTokenAuth` — start from a refresh token you already hold;
* :class:`StaticTokenAuth` — a ready access token (no refresh possible);
* :class:`TokenProviderAuth` — an async callable that returns a fresh access token.

:class:`TokenManager` (internal to the client) keeps one token set, refreshes it before it
expires and once after a 401, and falls back to a new grant when a refresh fails and the
credentials allow one. Tokens live in :class:`~rcstream.redact.Secret` values and never
appear in a repr, a log line or an exception.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from rcstream._http import AuthBudget, Response, RestClient, error_from_response
from rcstream.exceptions import AuthenticationError, ConfigurationError, RateLimitedError
from rcstream.redact import Secret

__all__ = [
    "Auth",
    "JWTAuth",
    "PasswordAuth",
    "RefreshTokenAuth",
    "StaticTokenAuth",
    "TokenManager",
    "TokenProviderAuth",
    "TokenSet",
    "WsToken",
]

logger = logging.getLogger(__name__)

TOKEN_PATH = "/restapi/oauth/token"
WSTOKEN_PATH = "/restapi/oauth/wstoken"
REVOKE_PATH = "/restapi/oauth/revoke"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


class Auth:
    """Base of the credential types. Subclasses say how to obtain a first token."""

    client_id: str | None = None
    client_secret: Secret | None = None

    def grant_form(self) -> dict[str, str] | None:
        """The form body of the grant, or ``None`` if this credential cannot make one."""
        return None

    async def provide(self) -> str | None:
        """An access token from outside (provider/static credentials), else ``None``."""
        return None

    def basic(self) -> tuple[str, str] | None:
        """HTTP Basic client credentials, or ``None`` for public apps."""
        if self.client_id is None:
            return None
        secret = self.client_secret.get() if self.client_secret is not None else ""
        return (self.client_id, secret)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r}, secrets=[secure])"


class JWTAuth(Auth):
    """The JWT bearer grant: ``client_id``/``client_secret`` plus a JWT credential."""

    def __init__(self, client_id: str, client_secret: str | Secret, jwt: str | Secret) -> None:
        self.client_id = client_id
        self.client_secret = _secret(client_secret)
        self._jwt = _secret(jwt)

    def grant_form(self) -> dict[str, str]:
        return {"grant_type": JWT_GRANT, "assertion": self._jwt.get()}


class PasswordAuth(Auth):
    """The (deprecated) password grant."""

    def __init__(
        self,
        client_id: str,
        client_secret: str | Secret,
        username: str,
        password: str | Secret,
        extension: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = _secret(client_secret)
        self.username = username
        self._password = _secret(password)
        self.extension = extension

    def grant_form(self) -> dict[str, str]:
        form = {
            "grant_type": "password",
            "username": self.username,
            "password": self._password.get(),
        }
        if self.extension:
            form["extension"] = self.extension
        return form


class RefreshTokenAuth(Auth):
    """Start from an existing refresh token (no new grant is possible once it fails)."""

    def __init__(
        self, client_id: str, client_secret: str | Secret, refresh_token: str | Secret
    ) -> None:
        self.client_id = client_id
        self.client_secret = _secret(client_secret)
        self.refresh_token = _secret(refresh_token)


class StaticTokenAuth(Auth):
    """A ready access token. It cannot be refreshed: when it expires the stream stops."""

    def __init__(self, access_token: str | Secret) -> None:
        self._token = _secret(access_token)

    async def provide(self) -> str:
        return self._token.get()


class TokenProviderAuth(Auth):
    """An async callable returning a valid access token; called again after a 401."""

    def __init__(self, provider: Callable[[], Awaitable[str]]) -> None:
        self._provider = provider

    async def provide(self) -> str:
        return await self._provider()


@dataclass(frozen=True, slots=True)
class TokenSet:
    """The tokens of one OAuth session. Times are on the monotonic clock (seconds)."""

    access_token: Secret
    expires_at: float | None
    refresh_token: Secret | None = None
    refresh_expires_at: float | None = None
    owner_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class WsToken:
    """A single-use WebSocket gateway token and the gateway ``uri`` to use it on."""

    uri: str
    token: Secret
    expires_in: float | None


class TokenManager:
    """Keeps one access token valid for a client. Internal; used by :class:`rcstream.Client`.

    ``refresh_margin``: refresh this many seconds before expiry, or after 90 % of the
    lifetime when that comes later (short-lived tokens).
    """

    def __init__(
        self,
        auth: Auth,
        rest: RestClient,
        budget: AuthBudget,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = 120.0,
    ) -> None:
        self._auth = auth
        self._rest = rest
        self._budget = budget
        self._clock = clock
        self._margin = refresh_margin
        self._tokens: TokenSet | None = None
        self._lock = anyio.Lock()
        if isinstance(auth, RefreshTokenAuth):
            self._tokens = TokenSet(
                access_token=Secret(""), expires_at=0.0, refresh_token=auth.refresh_token
            )

    @property
    def tokens(self) -> TokenSet | None:
        """The current token set (secrets masked in its repr)."""
        return self._tokens

    def _fresh(self, tokens: TokenSet) -> bool:
        if not tokens.access_token:
            return False
        if tokens.expires_at is None:
            return True
        return self._clock() < tokens.expires_at

    async def access_token(self) -> str:
        """Return a valid access token, granting or refreshing as needed."""
        async with self._lock:
            tokens = self._tokens
            if tokens is not None and self._fresh(tokens):
                return tokens.access_token.get()
            return await self._renew(tokens)

    async def invalidate(self, token: str) -> None:
        """Report that ``token`` was rejected (401/``OAU-*``); the next call renews it."""
        async with self._lock:
            if self._tokens is not None and self._tokens.access_token.get() == token:
                self._tokens = TokenSet(
                    access_token=Secret(""),
                    expires_at=0.0,
                    refresh_token=self._tokens.refresh_token,
                    refresh_expires_at=self._tokens.refresh_expires_at,
                    owner_id=self._tokens.owner_id,
                    session_id=self._tokens.session_id,
                )

    async def _renew(self, tokens: TokenSet | None) -> str:
        provided = await self._auth.provide()
        if provided is not None:
            self._tokens = TokenSet(access_token=Secret(provided), expires_at=None)
            return provided
        if (
            tokens is not None
            and tokens.refresh_token
            and (tokens.refresh_expires_at is None or self._clock() < tokens.refresh_expires_at)
        ):
            try:
                return await self._token_call(
                    {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token.get()},
                    "Refreshing the access token",
                )
            except AuthenticationError as exc:
                if self._auth.grant_form() is None:
                    raise
                logger.info("Token refresh failed (%s); logging in again", exc.error_code)
        form = self._auth.grant_form()
        if form is None:
            raise AuthenticationError(
                "The access token expired and these credentials cannot obtain a new one; "
                "use JWTAuth or a token provider for long-running streams."
            )
        return await self._token_call(form, "Logging in")

    async def _token_call(self, form: dict[str, str], what: str) -> str:
        await self._budget.acquire()
        resp = await self._rest.send(
            "POST", TOKEN_PATH, form=form, basic=self._auth.basic(), what=what
        )
        if not resp.ok:
            exc = error_from_response(what, resp)
            if isinstance(exc, RateLimitedError):
                self._budget.penalise(exc.retry_after)
            raise exc
        self._tokens = self._parse(resp)
        logger.info("%s succeeded", what)
        return self._tokens.access_token.get()

    def _parse(self, resp: Response) -> TokenSet:
        body: Any = resp.body
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise AuthenticationError(
                "The token endpoint answered without an access token; check the server URL."
            )
        now = self._clock()

        def deadline(key: str) -> float | None:
            lifetime = _seconds(body.get(key))
            if lifetime is None:
                return None
            return now + lifetime - min(self._margin, lifetime * 0.1)

        refresh = body.get("refresh_token")
        previous = self._tokens
        keep = previous is not None and not isinstance(refresh, str)  # RFC 6749 §6
        return TokenSet(
            access_token=Secret(body["access_token"]),
            expires_at=deadline("expires_in"),
            refresh_token=Secret(refresh)
            if isinstance(refresh, str)
            else (previous.refresh_token if keep and previous else None),
            refresh_expires_at=deadline("refresh_token_expires_in")
            if isinstance(refresh, str)
            else (previous.refresh_expires_at if keep and previous else None),
            owner_id=str(body["owner_id"]) if body.get("owner_id") is not None else None,
            session_id=str(body["session_id"]) if body.get("session_id") is not None else None,
        )

    async def ws_token(self) -> WsToken:
        """Fetch a fresh single-use WebSocket token (refreshing the access token once on 401)."""
        for attempt in (1, 2):
            token = await self.access_token()
            await self._budget.acquire()
            resp = await self._rest.send(
                "POST", WSTOKEN_PATH, bearer=token, what="Getting a WebSocket token"
            )
            if resp.ok and isinstance(resp.body, dict):
                uri = resp.body.get("uri")
                ws_token = resp.body.get("ws_access_token")
                if not isinstance(uri, str) or not isinstance(ws_token, str):
                    break
                expires = resp.body.get("expires_in")
                return WsToken(
                    uri=uri,
                    token=Secret(ws_token),
                    expires_in=_seconds(expires),
                )
            if resp.ok:
                break
            exc = error_from_response("Getting a WebSocket token", resp)
            if isinstance(exc, RateLimitedError):
                self._budget.penalise(exc.retry_after)
            if resp.status == 401 and attempt == 1:
                await self.invalidate(token)
                continue
            raise exc
        raise AuthenticationError(
            "The wstoken endpoint answered without 'uri' and 'ws_access_token'; "
            "check the server URL."
        )

    async def revoke(self) -> None:
        """Revoke the OAuth session (best effort; errors are ignored, as the docs advise)."""
        tokens = self._tokens
        if tokens is None or not tokens.access_token:
            return
        try:
            await self._rest.send(
                "POST",
                REVOKE_PATH,
                form={"token": tokens.access_token.get()},
                basic=self._auth.basic(),
                what="Revoking the session",
            )
        except Exception:
            logger.debug("Revoking the session failed", exc_info=True)
        self._tokens = None


def _seconds(value: Any) -> float | None:
    """A lifetime in seconds from a token response, or None if absent or absurd."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def auth_from_env(env: dict[str, str]) -> Auth:
    """Build an :class:`Auth` from ``RINGCENTRAL_*`` variables, or raise ConfigurationError."""
    token = env.get("RINGCENTRAL_ACCESS_TOKEN")
    client_id = env.get("RINGCENTRAL_CLIENT_ID")
    secret = env.get("RINGCENTRAL_CLIENT_SECRET", "")
    if env.get("RINGCENTRAL_JWT"):
        if not client_id:
            raise ConfigurationError("RINGCENTRAL_CLIENT_ID is not set; set it to the app's id.")
        return JWTAuth(client_id, secret, env["RINGCENTRAL_JWT"])
    if env.get("RINGCENTRAL_USERNAME") and env.get("RINGCENTRAL_PASSWORD"):
        if not client_id:
            raise ConfigurationError("RINGCENTRAL_CLIENT_ID is not set; set it to the app's id.")
        return PasswordAuth(
            client_id,
            secret,
            env["RINGCENTRAL_USERNAME"],
            env["RINGCENTRAL_PASSWORD"],
            env.get("RINGCENTRAL_EXTENSION") or None,
        )
    if token:
        return StaticTokenAuth(token)
    missing = [k for k in ("RINGCENTRAL_CLIENT_ID", "RINGCENTRAL_JWT") if not env.get(k)]
    raise ConfigurationError(
        f"No RingCentral credentials found: set {' and '.join(missing)} "
        "(or RINGCENTRAL_ACCESS_TOKEN)."
    )
