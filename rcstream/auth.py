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

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from rcstream._http import AuthBudget, Response, RestClient, error_from_response
from rcstream.exceptions import (
    AuthenticationError,
    ConfigurationError,
)
from rcstream.redact import Secret

__all__ = [
    "Auth",
    "JWTAuth",
    "LoginRefusedError",
    "PasswordAuth",
    "RefreshTokenAuth",
    "RefreshTokenRejectedError",
    "StaticTokenAuth",
    "TokenManager",
    "TokenProviderAuth",
    "TokenSet",
    "TokensHook",
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
    #: True when the OAuth session belongs to the caller (an access token, a provider, or
    #: a refresh token they brought): rcstream never revokes it. The one revoke rule is
    #: :attr:`TokenManager.owns_session`, used by ``Client.aclose`` and the CLI alike.
    caller_supplied: bool = False

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
    """Start from a refresh token you already hold, optionally with its access token.

    To resume an OAuth session a previous process stored (a checkpoint), also pass the
    stored ``access_token`` and the wall-clock expiries (Unix seconds, as in
    :attr:`TokenSet.expires_at_wall`): a still-valid access token is then used without an
    Auth-group call. Once the refresh token is refused (revoked, expired or already used)
    no new grant is possible: :class:`RefreshTokenRejectedError` says so, and the caller
    logs in afresh.

    ``owned``: False (default) when the refresh token is yours (you logged in elsewhere):
    rcstream never revokes it. True when it belongs to a session rcstream itself created
    (a checkpoint an earlier rcstream process wrote): closing then revokes it, as after a
    JWT or password login (unless ``keep_session_on_close``).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str | Secret,
        refresh_token: str | Secret,
        *,
        access_token: str | Secret | None = None,
        access_expires_at: float | None = None,
        refresh_expires_at: float | None = None,
        owner_id: str | None = None,
        session_id: str | None = None,
        owned: bool = False,
    ) -> None:
        self.client_id = client_id
        self.client_secret = _secret(client_secret)
        self.refresh_token = _secret(refresh_token)
        self.caller_supplied = not owned
        self.access_token = _secret(access_token) if access_token is not None else None
        self.access_expires_at = access_expires_at
        self.refresh_expires_at = refresh_expires_at
        self.owner_id = owner_id
        self.session_id = session_id


class StaticTokenAuth(Auth):
    """A ready access token. It cannot be refreshed: when it expires the stream stops.

    Give its expiry when you know it (``expires_at``: Unix seconds, or ``expires_in``:
    seconds from now) and rcstream stops at that moment with an
    :class:`~rcstream.AuthenticationError` that says so; otherwise the first 401 does.
    rcstream never revokes a token you supplied.
    """

    caller_supplied = True

    def __init__(
        self,
        access_token: str | Secret,
        *,
        expires_at: float | None = None,
        expires_in: float | None = None,
    ) -> None:
        if expires_at is not None and expires_in is not None:
            raise ConfigurationError("Pass expires_at or expires_in to StaticTokenAuth, not both.")
        self._token = _secret(access_token)
        self.expires_at = time.time() + expires_in if expires_in is not None else expires_at

    async def provide(self) -> str:
        return self._token.get()


class TokenProviderAuth(Auth):
    """An async callable returning a valid access token; called again after a 401 and on
    each :meth:`TokenManager.refresh_now`. rcstream never revokes a token it was given."""

    caller_supplied = True

    def __init__(self, provider: Callable[[], Awaitable[str]]) -> None:
        self._provider = provider

    async def provide(self) -> str:
        return await self._provider()


class LoginRefusedError(AuthenticationError):
    """The token endpoint refused a login (JWT or password grant: ``invalid_client``,
    ``invalid_grant``): the client id, secret or credentials are wrong, or, when the same
    ones worked earlier in the run, the server changed (a restarted emulator)."""


class RefreshTokenRejectedError(AuthenticationError):
    """The refresh token was refused (revoked, expired or already used) and these credentials
    cannot log in again: start a fresh login (e.g. with :class:`JWTAuth`)."""


@dataclass(frozen=True, slots=True)
class TokenSet:
    """The tokens of one OAuth session.

    ``issued_at``, ``expires_at`` and ``refresh_expires_at`` are on the manager's monotonic
    clock (seconds) and mean nothing in another process. ``expires_at_wall`` and
    ``refresh_expires_at_wall`` are the same instants in Unix seconds (``time.time()``):
    store those, e.g. in a checkpoint, and hand them back through
    :class:`RefreshTokenAuth` or :meth:`TokenManager.restore`. Expiries are the server's,
    with no safety margin taken off. ``None`` means unknown.
    """

    access_token: Secret
    expires_at: float | None
    refresh_token: Secret | None = None
    refresh_expires_at: float | None = None
    owner_id: str | None = None
    session_id: str | None = None
    issued_at: float | None = None
    expires_at_wall: float | None = None
    refresh_expires_at_wall: float | None = None


@dataclass(frozen=True, slots=True)
class WsToken:
    """A single-use WebSocket gateway token and the gateway ``uri`` to use it on."""

    uri: str
    token: Secret
    expires_in: float | None


#: A hook awaited with each new token set, before its access token is used.
TokensHook = Callable[[TokenSet], Awaitable[None]]


class TokenManager:
    """Keeps one OAuth session's access token valid. Internal; used by :class:`rcstream.Client`.

    One manager is one OAuth session (at most one login), shared by every connection of a
    client: :meth:`ws_token` gives each connection its own single-use gateway token, and
    every Auth-group call (grant, refresh, wstoken) goes through the shared ``budget``.
    Concurrent callers are safe: renewals are serialised by a lock, so N callers that find
    no token make one login between them.

    Renewal happens two ways:

    * lazily, in :meth:`access_token`, once ``refresh_margin`` seconds (at most 10 % of the
      lifetime) are left, or after :meth:`invalidate` (a 401);
    * proactively: a refresher task sleeps until :meth:`next_refresh_at` and calls
      :meth:`refresh_now`, which refreshes inside the same OAuth session (so the gateway
      session stays recoverable). ``refresh_fraction`` places that moment at that fraction of
      the access token's lifetime (default 0.5: the SDKs refresh 1-hour tokens every 30 min).

    ``on_tokens`` (also settable as an attribute) is awaited with every new :class:`TokenSet`
    right after the grant or refresh and before the new access token is returned to anyone:
    refresh tokens are single-use, so a checkpoint must hold the new pair before it is used.
    An exception from the hook propagates to the caller of the renewal.

    ``clock`` is monotonic seconds, ``wall_clock`` Unix seconds; both injectable for tests.
    """

    def __init__(
        self,
        auth: Auth,
        rest: RestClient,
        budget: AuthBudget,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        refresh_margin: float = 120.0,
        refresh_fraction: float = 0.5,
        on_tokens: TokensHook | None = None,
    ) -> None:
        if not 0.0 < refresh_fraction < 1.0:
            raise ConfigurationError("refresh_fraction must be between 0 and 1 (exclusive).")
        self._auth = auth
        self._rest = rest
        self._budget = budget
        self._clock = clock
        self._wall = wall_clock
        self._margin = refresh_margin
        self._fraction = refresh_fraction
        self.on_tokens = on_tokens
        self._tokens: TokenSet | None = None
        #: a new pair whose ``on_tokens`` save failed: not used until a retry saves it
        self._unsaved: TokenSet | None = None
        self._lock = anyio.Lock()
        self._renewed = anyio.Event()  # set (and replaced) whenever a new token set arrives
        self._logins = 0
        self._rejected: str | None = None  # a caller-supplied token that got a 401
        if isinstance(auth, RefreshTokenAuth):
            self._tokens = self._from_wall(
                access_token=auth.access_token,
                expires_at_wall=auth.access_expires_at,
                refresh_token=auth.refresh_token,
                refresh_expires_at_wall=auth.refresh_expires_at,
                owner_id=auth.owner_id,
                session_id=auth.session_id,
            )

    # ---- state ---------------------------------------------------------------------------

    @property
    def tokens(self) -> TokenSet | None:
        """The current token set (secrets masked in its repr)."""
        return self._tokens

    @property
    def owns_session(self) -> bool:
        """True when rcstream made (or resumed) this OAuth session itself and may revoke it:
        a JWT or password login, or ``RefreshTokenAuth(owned=True)``. False for tokens the
        caller supplied (:class:`StaticTokenAuth`, :class:`TokenProviderAuth`, a
        :class:`RefreshTokenAuth` by default). The only revoke rule, library and CLI."""
        return not self._auth.caller_supplied

    @property
    def can_refresh(self) -> bool:
        """True if :meth:`refresh_now` can produce a new access token (False for a static token)."""
        return not isinstance(self._auth, StaticTokenAuth)

    @property
    def logins(self) -> int:
        """How many new OAuth sessions (grants other than refresh) this manager has made."""
        return self._logins

    def next_refresh_at(self) -> float | None:
        """When :meth:`refresh_now` is next due, on the monotonic clock; None if never/unknown.

        ``refresh_fraction`` of the current access token's lifetime. For a static token
        with a known expiry this is its expiry: :meth:`refresh_now` then raises the
        expiry error, so a refresher task never lets it stall silently. None before the
        first token, for providers (they say nothing about expiry) and for unknown expiries.
        """
        tokens = self._tokens
        if isinstance(self._auth, StaticTokenAuth):
            if self._auth.expires_at is None:
                return None
            return self._clock() + (self._auth.expires_at - self._wall())
        if tokens is None or tokens.expires_at is None or not tokens.access_token:
            return None
        issued = tokens.issued_at if tokens.issued_at is not None else self._clock()
        return issued + max(0.0, tokens.expires_at - issued) * self._fraction

    def restore(self, tokens: TokenSet) -> None:
        """Adopt a stored token set (from a checkpoint). Only its ``*_wall`` expiries are
        trusted; the monotonic ones are recomputed on this process's clock."""
        self._unsaved = None
        self._tokens = self._from_wall(
            access_token=tokens.access_token if tokens.access_token else None,
            expires_at_wall=tokens.expires_at_wall,
            refresh_token=tokens.refresh_token,
            refresh_expires_at_wall=tokens.refresh_expires_at_wall,
            owner_id=tokens.owner_id,
            session_id=tokens.session_id,
        )

    def _from_wall(
        self,
        *,
        access_token: Secret | None,
        expires_at_wall: float | None,
        refresh_token: Secret | None,
        refresh_expires_at_wall: float | None,
        owner_id: str | None,
        session_id: str | None,
    ) -> TokenSet:
        now, wall = self._clock(), self._wall()

        def mono(at: float | None) -> float | None:
            return None if at is None else now + (at - wall)

        expires: float | None
        if access_token is None or not access_token:
            access, expires, expires_wall = Secret(""), 0.0, None
        else:
            # an access token of unknown age is trusted only until its first 401
            access, expires, expires_wall = access_token, mono(expires_at_wall), expires_at_wall
        return TokenSet(
            access_token=access,
            expires_at=expires,
            refresh_token=refresh_token,
            refresh_expires_at=mono(refresh_expires_at_wall),
            owner_id=owner_id,
            session_id=session_id,
            issued_at=now,
            expires_at_wall=expires_wall,
            refresh_expires_at_wall=refresh_expires_at_wall,
        )

    def _fresh(self, tokens: TokenSet) -> bool:
        if not tokens.access_token:
            return False
        if tokens.expires_at is None:
            return True
        lifetime = tokens.expires_at - (tokens.issued_at or tokens.expires_at)
        margin = min(self._margin, lifetime * 0.1) if lifetime > 0 else 0.0
        return self._clock() < tokens.expires_at - margin

    # ---- getting and renewing tokens -----------------------------------------------------

    async def access_token(self) -> str:
        """Return a valid access token, granting or refreshing as needed."""
        async with self._lock:
            self._check_static_expiry()
            tokens = self._tokens
            if tokens is not None and self._fresh(tokens):
                return tokens.access_token.get()
            return await self._renew(tokens)

    async def refresh_now(self) -> TokenSet:
        """Renew the access token now, inside the same OAuth session when possible.

        With a refresh token: the ``refresh_token`` grant (falling back to a new login when
        it is refused and the credentials allow one, else :class:`RefreshTokenRejectedError`).
        :class:`TokenProviderAuth`: the provider is called again. :class:`StaticTokenAuth`:
        raises :class:`~rcstream.AuthenticationError` (it cannot be refreshed) once expired,
        otherwise returns the current set. Returns the new :class:`TokenSet`.
        """
        async with self._lock:
            if isinstance(self._auth, StaticTokenAuth):
                self._check_static_expiry()
                if self._tokens is None:
                    await self._renew(None)
                assert self._tokens is not None
                return self._tokens
            await self._renew(self._tokens)
            assert self._tokens is not None
            return self._tokens

    async def invalidate(self, token: str) -> None:
        """Report that ``token`` was rejected (401/``OAU-*``); the next call renews it."""
        async with self._lock:
            if self._tokens is not None and self._tokens.access_token.get() == token:
                if isinstance(self._auth, StaticTokenAuth):
                    self._rejected = token
                self._tokens = TokenSet(
                    access_token=Secret(""),
                    expires_at=0.0,
                    refresh_token=self._tokens.refresh_token,
                    refresh_expires_at=self._tokens.refresh_expires_at,
                    owner_id=self._tokens.owner_id,
                    session_id=self._tokens.session_id,
                    refresh_expires_at_wall=self._tokens.refresh_expires_at_wall,
                )

    def _check_static_expiry(self) -> None:
        auth = self._auth
        if not isinstance(auth, StaticTokenAuth):
            return
        if auth.expires_at is not None and self._wall() >= auth.expires_at:
            raise AuthenticationError(
                f"The access token given to rcstream expired at {_iso(auth.expires_at)}; it "
                "cannot be refreshed: pass JWT or refresh-token credentials instead."
            )
        if self._rejected is not None:
            raise AuthenticationError(
                "The access token given to rcstream was refused (expired or revoked); it "
                "cannot be refreshed: pass JWT or refresh-token credentials instead."
            )

    async def _renew(self, tokens: TokenSet | None) -> str:
        unsaved = self._unsaved
        if unsaved is not None:
            # a pair the server issued whose save failed: save it first (its refresh token
            # may already have replaced the one in self._tokens); it is used only once saved
            await self._store(unsaved)
            logger.info("Saved the token pair whose earlier save had failed")
            return unsaved.access_token.get()
        provided = await self._auth.provide()
        if provided is not None:
            expires_wall = (
                self._auth.expires_at if isinstance(self._auth, StaticTokenAuth) else None
            )
            new = TokenSet(
                access_token=Secret(provided),
                expires_at=None,
                issued_at=self._clock(),
                expires_at_wall=expires_wall,
            )
            await self._store(new)
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
                    raise RefreshTokenRejectedError(
                        "The refresh token was refused "
                        f"({exc.error_code or 'expired or revoked'}); log in again with JWT "
                        "or password credentials.",
                        error_code=exc.error_code,
                        status=exc.status,
                    ) from None
                logger.info("Token refresh failed (%s); logging in again", exc.error_code)
        form = self._auth.grant_form()
        if form is None:
            if isinstance(self._auth, RefreshTokenAuth):
                raise RefreshTokenRejectedError(
                    "The refresh token has expired; log in again with JWT or password credentials."
                )
            raise AuthenticationError(
                "The access token expired and these credentials cannot obtain a new one; "
                "use JWTAuth or a token provider for long-running streams."
            )
        self._logins += 1
        return await self._token_call(form, "Logging in")

    async def _token_call(self, form: dict[str, str], what: str) -> str:
        resp = await self._budget.spend(
            lambda: self._rest.send(
                "POST", TOKEN_PATH, form=form, basic=self._auth.basic(), what=what
            )
        )
        if not resp.ok:
            exc = error_from_response(what, resp)
            if (
                "grant_type" in form
                and form["grant_type"] != "refresh_token"
                and type(exc) is AuthenticationError
            ):
                raise LoginRefusedError(
                    str(exc), error_code=exc.error_code, status=exc.status
                ) from None
            raise exc
        new = self._parse(resp)
        logger.info("%s succeeded", what)
        await self._store(new)
        return new.access_token.get()

    async def _store(self, new: TokenSet) -> None:
        """Adopt ``new``: the hook first (it must hold the pair before anyone uses it).

        If the hook fails, ``new`` is not adopted: it is kept aside (never handed out) and
        the next renewal retries the hook with it before anything else, so a rotated refresh
        token is neither used unsaved nor thrown away. The hook's error propagates.
        """
        if self.on_tokens is not None:
            try:
                await self.on_tokens(new)
            except BaseException:
                self._unsaved = new
                raise
        self._unsaved = None
        self._tokens = new
        renewed, self._renewed = self._renewed, anyio.Event()
        renewed.set()

    def _parse(self, resp: Response) -> TokenSet:
        body: Any = resp.body
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise AuthenticationError(
                "The token endpoint answered without an access token; check the server URL."
            )
        now, wall = self._clock(), self._wall()
        access_ttl = _seconds(body.get("expires_in"))
        refresh = body.get("refresh_token")
        previous = self._tokens
        if isinstance(refresh, str):
            refresh_ttl = _seconds(body.get("refresh_token_expires_in"))
            refresh_token: Secret | None = Secret(refresh)
            refresh_at = None if refresh_ttl is None else now + refresh_ttl
            refresh_wall = None if refresh_ttl is None else wall + refresh_ttl
        elif previous is not None:  # RFC 6749 §6: the old refresh token stays valid
            refresh_token = previous.refresh_token
            refresh_at = previous.refresh_expires_at
            refresh_wall = previous.refresh_expires_at_wall
        else:
            refresh_token, refresh_at, refresh_wall = None, None, None
        return TokenSet(
            access_token=Secret(body["access_token"]),
            expires_at=None if access_ttl is None else now + access_ttl,
            refresh_token=refresh_token,
            refresh_expires_at=refresh_at,
            owner_id=str(body["owner_id"]) if body.get("owner_id") is not None else None,
            session_id=str(body["session_id"]) if body.get("session_id") is not None else None,
            issued_at=now,
            expires_at_wall=None if access_ttl is None else wall + access_ttl,
            refresh_expires_at_wall=refresh_wall,
        )

    async def ws_token(self) -> WsToken:
        """Fetch a fresh single-use WebSocket token (refreshing the access token once on 401).

        Call it once per connection: several connections share this manager's one OAuth
        session, each with its own gateway token, paced by the shared Auth budget.
        """
        for attempt in (1, 2):
            token = await self.access_token()
            resp = await self._budget.spend(
                functools.partial(
                    self._rest.send,
                    "POST",
                    WSTOKEN_PATH,
                    bearer=token,
                    what="Getting a WebSocket token",
                )
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
            if resp.status == 401 and attempt == 1:
                await self.invalidate(token)
                continue
            raise exc
        raise AuthenticationError(
            "The wstoken endpoint answered without 'uri' and 'ws_access_token'; "
            "check the server URL."
        )

    async def revoke(self, *, within: float = 5.0) -> bool:
        """End this OAuth session on the server (``POST /restapi/oauth/revoke``), best effort.

        Only when :attr:`owns_session`: a caller-supplied token is never revoked. Waits at
        most ``within`` seconds, never raises (failures are logged at DEBUG, without the
        token; the docs advise ignoring revoke errors), and forgets the tokens either way.
        Returns True if the server confirmed. Not an Auth-group call: it is not budgeted.
        """
        tokens = self._tokens
        if not self.owns_session:
            logger.debug("Not revoking: the access token was supplied by the caller")
            return False
        if tokens is None:
            return False
        token = tokens.access_token or tokens.refresh_token
        self._tokens = self._unsaved = None
        if not token:
            return False
        done = False
        with anyio.move_on_after(within):
            try:
                resp = await self._rest.send(
                    "POST",
                    REVOKE_PATH,
                    form={"token": token.get()},
                    basic=self._auth.basic(),
                    what="Revoking the session",
                )
                done = resp.ok
                if done:
                    logger.info("Revoked the OAuth session")
                else:
                    logger.debug("Revoking the session answered HTTP %s", resp.status)
            except Exception as exc:  # best effort: never raise from close
                logger.debug("Revoking the session failed: %s", type(exc).__name__)
        if not done:
            logger.debug("The OAuth session was not confirmed revoked (ignored)")
        return done


def _iso(wall: float) -> str:
    """Unix seconds as an ISO 8601 UTC time to the second."""
    return datetime.fromtimestamp(wall, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
