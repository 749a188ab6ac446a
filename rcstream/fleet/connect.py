"""How to reach NATS: a URL plus credentials taken from the environment or files.

Whatever a deployment uses works: a ``.creds`` file (JWT + nkey), an nkey seed file,
user and password, TLS with a client certificate. Secrets never come from the command
line (``ps`` shows it to every user): only the URL does, and a URL that carries any
userinfo (a user, a password or a token before ``@``) is refused. The environment variables:

=============================  =====================================================
``RCSTREAM_NATS_URL``           default for ``--nats`` (comma-separated for a cluster)
``RCSTREAM_NATS_CREDS``         path of a ``.creds`` file
``RCSTREAM_NATS_NKEY``          path of an nkey seed file
``RCSTREAM_NATS_USER``          user name
``RCSTREAM_NATS_PASSWORD``      password (or ``RCSTREAM_NATS_PASSWORD_FILE``: a path)
``RCSTREAM_NATS_TOKEN``         an auth token (or ``RCSTREAM_NATS_TOKEN_FILE``: a path)
``RCSTREAM_NATS_TLS_CA``        CA bundle that signed the server's certificate
``RCSTREAM_NATS_TLS_CERT``      client certificate (PEM) for mutual TLS
``RCSTREAM_NATS_TLS_KEY``       its private key (PEM)
=============================  =====================================================
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rcstream.exceptions import ConfigurationError
from rcstream.redact import MASK, Secret

__all__ = ["NatsOptions", "redact_nats_url"]

logger = logging.getLogger(__name__)

ENV_PREFIX = "RCSTREAM_NATS_"


def redact_nats_url(url: str) -> str:
    """``url`` with any ``user:password@`` or token userinfo masked."""
    parts = []
    for one in url.split(","):
        split = urlsplit(one.strip())
        if split.username is None and split.password is None:
            parts.append(one.strip())
            continue
        host = split.hostname or ""
        if split.port:
            host = f"{host}:{split.port}"
        parts.append(f"{split.scheme}://{MASK}@{host}{split.path}")
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """Everything needed to connect; :meth:`connect_kwargs` turns it into ``nats.connect``
    keyword arguments. ``repr`` never shows the password."""

    url: str = "nats://127.0.0.1:4222"
    creds_file: Path | None = None
    nkey_seed_file: Path | None = None
    user: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    name: str = "rcstream"

    @classmethod
    def from_env(
        cls, url: str | None = None, environ: Mapping[str, str] | None = None
    ) -> NatsOptions:
        """Read the ``RCSTREAM_NATS_*`` variables; ``url`` (from ``--nats``) wins over
        ``RCSTREAM_NATS_URL``. Raises :class:`ConfigurationError` for a password in the URL,
        a missing file, or half a client certificate."""
        env = os.environ if environ is None else environ
        url = url or env.get(ENV_PREFIX + "URL") or "nats://127.0.0.1:4222"
        for one in url.split(","):
            split = urlsplit(one.strip())
            if split.username is not None or split.password is not None:
                raise ConfigurationError(
                    "The NATS URL carries credentials before '@'; put a token in "
                    "RCSTREAM_NATS_TOKEN_FILE, a user and password in RCSTREAM_NATS_USER and "
                    "RCSTREAM_NATS_PASSWORD_FILE, and pass the URL without them."
                )

        def path(key: str) -> Path | None:
            value = env.get(ENV_PREFIX + key)
            if not value:
                return None
            p = Path(value).expanduser()
            if not p.is_file():
                raise ConfigurationError(
                    f"{ENV_PREFIX}{key} names {p}, which is not a readable file; fix the path."
                )
            return p

        password: Secret | None = None
        if env.get(ENV_PREFIX + "PASSWORD"):
            password = Secret(env[ENV_PREFIX + "PASSWORD"])
        elif (pw_file := path("PASSWORD_FILE")) is not None:
            password = Secret(pw_file.read_text().strip())
        token: Secret | None = None
        if env.get(ENV_PREFIX + "TOKEN"):
            token = Secret(env[ENV_PREFIX + "TOKEN"])
        elif (token_file := path("TOKEN_FILE")) is not None:
            token = Secret(token_file.read_text().strip())
        user = env.get(ENV_PREFIX + "USER") or None
        if password is not None and user is None:
            raise ConfigurationError(
                "A NATS password is set but RCSTREAM_NATS_USER is not; set both or neither."
            )
        cert, key = path("TLS_CERT"), path("TLS_KEY")
        if (cert is None) != (key is None):
            raise ConfigurationError(
                "Set both RCSTREAM_NATS_TLS_CERT and RCSTREAM_NATS_TLS_KEY for a client "
                "certificate."
            )
        return cls(
            url=url,
            creds_file=path("CREDS"),
            nkey_seed_file=path("NKEY"),
            user=user,
            password=password,
            token=token,
            tls_ca=path("TLS_CA"),
            tls_cert=cert,
            tls_key=key,
        )

    @property
    def display_url(self) -> str:
        """The URL safe to log."""
        return redact_nats_url(self.url)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context when a CA or client certificate is configured, else ``None``
        (a ``tls://`` URL then uses the system's trust store)."""
        if self.tls_ca is None and self.tls_cert is None:
            return None
        ctx = ssl.create_default_context(
            cafile=str(self.tls_ca) if self.tls_ca is not None else None
        )
        if self.tls_cert is not None and self.tls_key is not None:
            try:
                ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    "The NATS client certificate or key could not be loaded; check "
                    "RCSTREAM_NATS_TLS_CERT and RCSTREAM_NATS_TLS_KEY."
                ) from exc
        return ctx

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``: reconnect forever (an outage blocks,
        it never ends the process), plus whichever credentials are configured."""
        kwargs: dict[str, Any] = {
            "servers": [u.strip() for u in self.url.split(",")],
            "name": self.name,
            "allow_reconnect": True,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "connect_timeout": 5,
        }
        if self.creds_file is not None:
            kwargs["user_credentials"] = str(self.creds_file)
        if self.nkey_seed_file is not None:
            kwargs["nkeys_seed"] = str(self.nkey_seed_file)
        if self.user is not None:
            kwargs["user"] = self.user
        if self.password is not None:
            kwargs["password"] = self.password.get()
        if self.token is not None:
            kwargs["token"] = self.token.get()
        ctx = self.ssl_context()
        if ctx is not None:
            kwargs["tls"] = ctx
            host = urlsplit(kwargs["servers"][0]).hostname
            if host:
                kwargs["tls_hostname"] = host
        return kwargs

    def describe(self) -> str:
        """One line for logs: the redacted URL and which kinds of credentials are in use."""
        kinds = [
            name
            for name, on in (
                ("creds file", self.creds_file),
                ("nkey", self.nkey_seed_file),
                ("user/password", self.user),
                ("token", self.token),
                ("TLS client cert", self.tls_cert),
                ("TLS CA", self.tls_ca),
            )
            if on
        ]
        return f"{self.display_url} ({', '.join(kinds) or 'no credentials'})"


async def connect(options: NatsOptions, *, initial_attempts: int = 3) -> Any:
    """Connect with ``options``: try ``initial_attempts`` times per server, then raise
    :class:`~rcstream.fleet.errors.NatsUnavailable` (the message names the redacted URL,
    never a secret). Once connected the client reconnects forever: an outage blocks
    publishing, it never ends the process."""
    import nats
    import nats.errors

    from rcstream.fleet.errors import NatsUnavailable

    async def on_error(exc: Exception) -> None:
        logger.warning("NATS at %s: %s", options.display_url, type(exc).__name__)

    async def on_disconnect() -> None:
        logger.warning("disconnected from NATS at %s; reconnecting", options.display_url)

    async def on_reconnect() -> None:
        logger.info("reconnected to NATS at %s", options.display_url)

    kwargs = options.connect_kwargs()
    kwargs.update(
        max_reconnect_attempts=max(1, initial_attempts - 1),
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )
    try:
        nc = await nats.connect(**kwargs)
        try:
            # A server that rejects the client certificate does so after the TLS 1.3
            # handshake, i.e. after connect() returned: one round trip proves we are in.
            await nc.flush(timeout=kwargs["connect_timeout"])
        except BaseException:
            await nc.close()
            raise
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        raise NatsUnavailable(
            f"Could not connect to NATS at {options.display_url} ({type(exc).__name__}); "
            "check the URL, the credentials in RCSTREAM_NATS_* and that the server runs."
        ) from exc
    nc.options["max_reconnect_attempts"] = -1
    logger.info("connected to NATS at %s", options.describe())
    return nc
