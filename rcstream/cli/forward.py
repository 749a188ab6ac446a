"""``--forward-to``: POST each notification to a local URL, like ``stripe listen``.

:class:`Forwarder` logs ``-->`` and ``<--`` lines on stderr (logger ``rcstream.cli.forward``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rcstream.cli.output import family_of, strip_controls
from rcstream.exceptions import ConfigurationError
from rcstream.redact import redact_url

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Forwarder", "validate_forward_url"]

_log = logging.getLogger("rcstream.cli")
_fwd_log = logging.getLogger("rcstream.cli.forward")


def validate_forward_url(url: str) -> str:
    """Check a ``--forward-to`` URL up front: http(s), with a host and a valid port."""
    from urllib.parse import urlsplit

    fix = "pass a full URL such as http://localhost:8000/hook to --forward-to."
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise ConfigurationError(f"The --forward-to URL {url!r} is not valid; {fix}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigurationError(
            f"The --forward-to URL {url!r} needs http:// or https:// and a host; {fix}"
        )
    return url.strip()


class Forwarder:
    """POSTs each notification to a local URL, logging ``-->``/``<--`` lines on stderr.

    Only a connection that could not be opened (nothing was sent) is retried, ``retries``
    times with doubling delays from ``delay`` seconds. Once the request may have reached
    the receiver (a timeout, a dropped connection) it is never sent again, so the receiver
    sees no duplicates; each POST is bounded by ``timeout`` seconds in all. A delivery that
    fails is logged as a warning and skipped, so a stopped receiver never stops the stream.
    """

    def __init__(
        self,
        url: str,
        headers: Sequence[tuple[str, str]] = (),
        *,
        retries: int = 3,
        delay: float = 0.2,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **dict(headers)}
        self._retries = retries
        self._delay = delay
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Forwarder:
        import aiohttp

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(self, data: bytes, *, event: str, uuid: str) -> int | None:
        """POST ``data`` (the JSON line's bytes, exactly as written to stdout); return the
        HTTP status, or ``None`` if it could not be delivered."""
        import aiohttp

        assert self._session is not None, "use 'async with Forwarder(...)'"
        event, uuid = strip_controls(event), strip_controls(uuid)
        _fwd_log.info("--> %s %s [%s]", family_of(event), event, uuid)
        delay = self._delay
        for attempt in range(self._retries + 1):
            try:
                async with self._session.post(self.url, data=data, headers=self.headers) as resp:
                    await resp.read()
                    _fwd_log.info("<-- [%d] POST %s [%s]", resp.status, redact_url(self.url), uuid)
                    return resp.status
            except aiohttp.ClientConnectorError as exc:
                # No connection was made, so nothing was sent: safe to try again.
                if attempt < self._retries:
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                self._give_up(uuid, type(exc).__name__, "is the receiver running?")
                return None
            except TimeoutError:
                self._give_up(
                    uuid,
                    f"no answer within {self._timeout:g} s",
                    "not retried, as the receiver may have got it; make it answer faster.",
                )
                return None
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                self._give_up(uuid, type(exc).__name__, "not retried; check the receiver.")
                return None
        return None  # pragma: no cover

    def _give_up(self, uuid: str, why: str, advice: str) -> None:
        _log.warning("Could not forward %s to %s (%s); %s", uuid, redact_url(self.url), why, advice)
