"""A faithful local RingCentral platform: OAuth, REST and the WebSocket gateway (WSG).

One aiohttp application on one port serves the REST endpoints and the gateway at ``/ws``.
Everything runs in the event loop that entered :class:`Emulator`; timeouts use the
monotonic clock. ``docs/emulator.md`` describes the protocol as emulated, with the source
of each behaviour; where sources disagree the emulator takes the strictest reading by
default, and options (:class:`EmulatorOptions`) switch it to the others.

The implementation is layered, one module per concern, each class extending the one
before: :mod:`._base` (options, shared state, socket primitives) → :mod:`.oauth` →
:mod:`.rest` → :mod:`.gateway` → :mod:`.control` (waiters, faults) → :class:`Emulator`.

Choices where the sources are silent (documented here once):

* ``Error`` frames: ``[{"type": "Error", "messageId": <new uuid>, "status": S, "headers":
  {}}, {"errorCode", "message"}]`` with ``S`` = 401 for ``OAU-*`` codes and 400 otherwise.
* Close codes: 4400 when no token is given (no ``Error`` frame); 1008 after an ``OAU-*``
  error (bad, expired, used or revoked token) and after ``WSG-400`` (malformed ``wsc``);
  1000 after ``WSG-902``/``WSG-903``; 1001 when the emulator shuts down. A missed pong is
  a TCP abort (the client sees 1006).
* Recovery failures: ``WSG-1003`` when the ``wsc`` belongs to another OAuth session;
  ``WSG-1005`` when the session had no subscription *or* no longer exists (its recovery
  window passed). ``wsc.sequence`` starts at 1 and grows by one with every
  ``ConnectionDetails`` (and with every frame when ``wsc_on_every_frame`` is on).
* Timeouts configured below one second are sent in ``ConnectionDetails`` as JSON floats.
* A WebSocket subscription cannot be created or updated over HTTP REST (400 ``CMN-101``);
  it can be listed, read and deleted there.
* Notifications for a session whose socket is gone *or silenced* (:meth:`Emulator.go_silent`)
  are buffered for replay (the oldest are dropped beyond ``recovery_buffer_size``).
* WebHook subscriptions are stored and listed but nothing is delivered to their address.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Self

from aiohttp import web

from rcstream.emulator._base import EmulatorOptions, ErrorStyle, RateLimitEndpoint
from rcstream.emulator._serve import start_app
from rcstream.emulator.control import _ControlLayer

__all__ = ["Emulator", "EmulatorOptions", "ErrorStyle", "RateLimitEndpoint"]

logger = logging.getLogger(__name__)


class Emulator(_ControlLayer):
    """A local RingCentral platform (REST + WebSocket gateway) with fault injection.

    Use ``async with Emulator(**options) as emu:`` (the keywords are the fields of
    :class:`EmulatorOptions`; ``Emulator(options=EmulatorOptions(...))`` is the same). It
    binds ``host``:``port`` (port 0 picks a free port) and serves until the block ends, then
    closes every socket (close code 1001) and stops. Nothing starts before
    ``__aenter__``/:meth:`start`.

    Account and credentials (generated per instance; deterministic with ``seed``):

    * ``extensions``: number of synthetic users (default 5). The first is the authorised
      user for :attr:`jwt` and for a password login without ``extension``.
    * ``account_id``, ``client_id``, ``client_secret``, ``jwt``, ``username`` (the account's
      main number), ``password``: override the generated values.

    Gateway timings (seconds; defaults are the real ones):

    * ``idle_timeout`` 1800 (only client *text* frames count as activity, never WS pings),
      ``absolute_timeout`` 86400 (per socket), ``recovery_timeout`` 180 (a detached session
      and its subscription are discarded after it), ``recovery_buffer_size`` 100
      notifications, ``ping_interval`` 20 (``None``: the server sends no pings),
      ``pong_timeout`` 10, ``close_timeout`` 2 (how long a server-initiated close waits for
      the client's close frame).

    OAuth (seconds): ``access_token_ttl`` 3600, ``refresh_token_ttl`` 604800,
    ``ws_token_ttl`` 600, ``ws_token_single_use`` True (False: reusable within its TTL),
    ``auth_rate_limit`` 5 requests to ``/token`` + ``/wstoken`` per ``auth_rate_window`` 60 s
    per user and app (client id + extension, as on the platform; ``None``: unlimited, no
    ``X-Rate-Limit-*`` headers).

    Readings where sources disagree (defaults are the strictest):

    * ``error_style``: ``"ClientRequest"`` answers a failed ``ClientRequest`` with a
      ``ClientRequest`` frame carrying the 4xx status and RC error body; ``"Error"`` answers
      with an ``Error`` frame carrying the request's ``messageId``.
    * ``heartbeat_status``: include ``status: 200`` in the Heartbeat echo.
    * ``wsc_on_every_frame``: put the current ``wsc`` (with a growing sequence) on every
      server frame, not only on ``ConnectionDetails``.
    * ``replay_from_sequence``: the other plausible reading of recovery. Sources say the
      gateway replays to whoever presents the ``wsc`` token, but not *from where*: the
      default (the documented reading: DOCS ``session-recovery.md``, "within 180 s", a
      buffer of 100 messages) replays
      only what it buffered after the drop; with this on it replays what it sent after the
      sequence of the presented ``wsc`` (the last one the client saw), then what it
      buffered. Every frame then carries a ``wsc`` whose token names its sequence, and the
      session remembers its last ``recovery_buffer_size`` notifications sent.
    * ``close_on_bad_frame``: a client frame the gateway cannot read (not JSON, not an
      array, unknown type, no ``messageId``) gets an ``Error`` frame and close 1008 (the
      strict reading); ``False`` keeps the socket open after the ``Error`` frame.
    * ``revoke_closes_sockets``: ``POST /restapi/oauth/revoke`` also ends that OAuth
      session's sockets (``Error`` ``OAU-129`` + close 1008).

    Permissions and limits: ``deny_websocket_permission`` (every subscription request is
    refused with 403 ``SUB-528``), ``disabled_filters`` (accepted but not granted: listed in
    the reply's ``disabledFilters`` and never delivered), ``forbidden_filters`` (filters,
    with ``~`` or numeric ids,
    refused with 403 ``SUB-528``), ``subscription_limit`` 30 per user and app (``SUB-505``),
    ``max_active_requests`` 10 and ``max_connections_per_session`` 50 (advertised only).

    Tests drive it with :meth:`publish`, the fault methods (:meth:`abort_connections`,
    :meth:`close_connections`, :meth:`go_silent`, :meth:`inject_raw`, :meth:`rate_limit_next`,
    :meth:`expire_access_tokens`, :meth:`revoke_oauth_sessions`, :meth:`fail_next_recovery`,
    :meth:`set_timeouts`) and wait with :meth:`wait_until` and friends instead of sleeping.

    Production fidelity (``docs/emulator.md`` cites the source of each):

    * ``presence_event_path`` ``"extension"``: the ``event`` path of ``line/presence`` and
      ``favorite/presence`` notifications (the watched extension's own presence path, an
      assumption) or ``"filter"`` (the filter's path). Account-level presence and telephony
      filters always get extension-scoped paths.
    * ``on_token_expiry`` ``"close"``: a socket whose OAuth session has no unexpired access
      token is closed (``OAU-128``, 1008); ``"silent"`` keeps it open, echoing heartbeats,
      but drops its notifications and refuses its requests (401 ``OAU-128``) for good: a
      refresh does not revive it, only a new connection recovering the session with
      ``wsc`` brings delivery back.
    * ``subscription_ttl`` 86400: WebSocket subscriptions are renewed while their session
      lives, then outlive it until deleted or expired (this long after the session
      ended), and count toward ``subscription_limit``.
    * ``oauth_session_limit`` 5 per user and app: a new login revokes the oldest session.
    * ``accounts`` 1: how many accounts (see :attr:`accounts`).

    Traffic: ``event_rate`` synthetic events per second for the subscribed catalog families
    (:mod:`rcstream.emulator.catalog`; 0: none); ``seed`` for the account data and events.
    """

    def __init__(self, options: EmulatorOptions | None = None, **keywords: Any) -> None:
        """Build from ``options``, or from keywords named like :class:`EmulatorOptions` fields
        (keywords override fields of ``options`` when both are given)."""
        base = options if options is not None else EmulatorOptions()
        super().__init__(dataclasses.replace(base, **keywords) if keywords else base)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind and start serving; start the janitor and the event generator (if any)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        app = web.Application()
        app.router.add_get("/ws", self._handle_ws)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        self._runner, self._port = await start_app(
            app, self._host, self._requested_port, shutdown_timeout=1.0
        )
        self._spawn(self._janitor(), "rcstream-emulator-janitor")
        if self.event_rate > 0:
            self._spawn(self._generator(), "rcstream-emulator-generator")
        logger.info("Emulator listening on %s", self.server_url)

    async def close(self) -> None:
        """Close every socket (1001 "Going away"), stop background tasks and the server.

        Idempotent. Detached sessions and their buffers are discarded.
        """
        if self._runner is None or self._closing:
            return
        self._closing = True
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        conns = list(self._conns.values())
        if conns:
            await asyncio.gather(
                *(
                    self._terminate(
                        c, None, close_code=1001, reason_text="Going away", reason="shutdown"
                    )
                    for c in conns
                ),
                return_exceptions=True,
            )
        await self._runner.cleanup()
        await self._close_webhooks()
        self._runner = None
        logger.info("Emulator stopped")
