"""Run an :class:`~rcstream.emulator.Emulator` in a background thread, and the CLI entry.

:class:`EmulatorThread` is for synchronous callers and for clients that block their own
event loop (the official ``ringcentral`` SDK calls ``requests`` from async code): the
emulator gets its own thread and event loop, so it keeps answering while the caller blocks.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TextIO, TypeVar

from rcstream.emulator._state import (
    EmulatorStats,
    GatewaySessionInfo,
    OAuthSessionInfo,
    SubscriptionRecord,
)
from rcstream.emulator.server import Emulator, RateLimitEndpoint

__all__ = ["EmulatorThread", "serve"]

T = TypeVar("T")


class EmulatorThread:
    """A synchronous context manager running an :class:`Emulator` in a daemon thread.

    ``with EmulatorThread(**options) as emu:`` starts the thread and its event loop, binds
    the server, and exposes the same attributes (``server_url``, ``client_id``, ``jwt`` …)
    plus blocking, thread-safe versions of the emulator's coroutine methods. Each call
    waits for the result on the emulator's loop; ``timeout`` arguments are in seconds.
    Leaving the block closes the emulator (all sockets) and joins the thread.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._emulator: Emulator | None = None
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> EmulatorThread:
        started: Future[Emulator] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="rcstream-emulator", daemon=True
        )
        self._thread.start()
        self._emulator = started.result(timeout=30)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._thread = None

    def _run(self, started: Future[Emulator]) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            self._loop = asyncio.get_running_loop()
            try:
                async with Emulator(**self._options) as emu:
                    started.set_result(emu)
                    await self._stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                else:
                    raise

        asyncio.run(main())

    # ------------------------------------------------------------------ plumbing

    @property
    def emulator(self) -> Emulator:
        """The emulator itself; touch its state only from its own loop (see :meth:`call`)."""
        if self._emulator is None:
            raise RuntimeError("EmulatorThread is not started; use 'with EmulatorThread()'")
        return self._emulator

    def _submit(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("EmulatorThread is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[Emulator], T]) -> T:
        """Run ``fn(emulator)`` on the emulator's loop and return its result."""
        emu = self.emulator

        async def run() -> T:
            return fn(emu)

        return self._submit(run())

    # ------------------------------------------------------------------ attributes

    def __getattr__(self, name: str) -> Any:
        # Plain attributes (server_url, client_id, jwt, account_id …) are read directly.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.emulator, name)

    @property
    def server_url(self) -> str:
        """See :attr:`Emulator.server_url`."""
        return self.emulator.server_url

    @property
    def client_id(self) -> str:
        """See :attr:`Emulator.client_id`."""
        return self.emulator.client_id

    @property
    def client_secret(self) -> str:
        """See :attr:`Emulator.client_secret`."""
        return self.emulator.client_secret

    @property
    def jwt(self) -> str:
        """See :attr:`Emulator.jwt`."""
        return self.emulator.jwt

    @property
    def account_id(self) -> str:
        """See :attr:`Emulator.account_id`."""
        return self.emulator.account_id

    @property
    def extension_id(self) -> str:
        """See :attr:`Emulator.extension_id`."""
        return self.emulator.extension_id

    @property
    def extension_ids(self) -> tuple[str, ...]:
        """See :attr:`Emulator.extension_ids`."""
        return self.emulator.extension_ids

    @property
    def stats(self) -> EmulatorStats:
        """See :attr:`Emulator.stats` (read from another thread: values may lag a little)."""
        return self.emulator.stats

    @property
    def sessions(self) -> tuple[GatewaySessionInfo, ...]:
        """See :attr:`Emulator.sessions` (taken on the emulator's loop)."""
        return self.call(lambda e: e.sessions)

    @property
    def subscriptions(self) -> tuple[SubscriptionRecord, ...]:
        """See :attr:`Emulator.subscriptions` (taken on the emulator's loop)."""
        return self.call(lambda e: e.subscriptions)

    @property
    def oauth_sessions(self) -> tuple[OAuthSessionInfo, ...]:
        """See :attr:`Emulator.oauth_sessions` (taken on the emulator's loop)."""
        return self.call(lambda e: e.oauth_sessions)

    def env(self) -> dict[str, str]:
        """See :meth:`Emulator.env`."""
        return self.emulator.env()

    # ------------------------------------------------------------------ blocking methods

    def publish(self, event: str, body: Any, *, uuid: str | None = None) -> str:
        """Blocking :meth:`Emulator.publish`."""
        return self._submit(self.emulator.publish(event, body, uuid=uuid))

    def publish_generated(
        self, family: str | None = None, *, extension_id: str | None = None
    ) -> str:
        """Blocking :meth:`Emulator.publish_generated`."""
        return self._submit(self.emulator.publish_generated(family, extension_id=extension_id))

    def wait_until(self, predicate: Callable[[Emulator], bool], timeout: float = 5.0) -> None:
        """Blocking :meth:`Emulator.wait_until` (``predicate`` runs on the emulator's loop)."""
        self._submit(self.emulator.wait_until(predicate, timeout))

    def wait_for_connections(self, n: int = 1, timeout: float = 5.0) -> None:
        """Blocking :meth:`Emulator.wait_for_connections`."""
        self._submit(self.emulator.wait_for_connections(n, timeout))

    def wait_for_subscription(
        self, count: int = 1, timeout: float = 5.0
    ) -> tuple[SubscriptionRecord, ...]:
        """Blocking :meth:`Emulator.wait_for_subscription`."""
        return self._submit(self.emulator.wait_for_subscription(count, timeout))

    def wait_for_stat(self, name: str, at_least: int = 1, timeout: float = 5.0) -> None:
        """Blocking :meth:`Emulator.wait_for_stat`."""
        self._submit(self.emulator.wait_for_stat(name, at_least, timeout))

    def abort_connections(self) -> int:
        """Blocking :meth:`Emulator.abort_connections`."""
        return self._submit(self.emulator.abort_connections())

    def close_connections(
        self,
        code: int = 1000,
        reason: str = "",
        *,
        error_code: str | None = None,
        error_message: str = "",
    ) -> int:
        """Blocking :meth:`Emulator.close_connections`."""
        return self._submit(
            self.emulator.close_connections(
                code, reason, error_code=error_code, error_message=error_message
            )
        )

    def inject_raw(self, text: str) -> int:
        """Blocking :meth:`Emulator.inject_raw`."""
        return self._submit(self.emulator.inject_raw(text))

    def expire_access_tokens(self, *, close_sockets: bool = False) -> int:
        """Blocking :meth:`Emulator.expire_access_tokens`."""
        return self._submit(self.emulator.expire_access_tokens(close_sockets=close_sockets))

    def revoke_oauth_sessions(self, **kwargs: Any) -> int:
        """Blocking :meth:`Emulator.revoke_oauth_sessions`."""
        return self._submit(self.emulator.revoke_oauth_sessions(**kwargs))

    def fail_next_recovery(self, code: str = "WSG-1005", *, count: int = 1) -> None:
        """Thread-safe :meth:`Emulator.fail_next_recovery`."""
        self.call(lambda e: e.fail_next_recovery(code, count=count))

    def go_silent(self) -> int:
        """Thread-safe :meth:`Emulator.go_silent`."""
        return self.call(lambda e: e.go_silent())

    def end_silence(self) -> int:
        """Thread-safe :meth:`Emulator.end_silence`."""
        return self.call(lambda e: e.end_silence())

    def rate_limit_next(
        self, endpoint: RateLimitEndpoint, *, retry_after: float = 1.0, count: int = 1
    ) -> None:
        """Thread-safe :meth:`Emulator.rate_limit_next`."""
        self.call(lambda e: e.rate_limit_next(endpoint, retry_after=retry_after, count=count))

    def set_timeouts(self, **kwargs: Any) -> None:
        """Thread-safe :meth:`Emulator.set_timeouts`."""
        self.call(lambda e: e.set_timeouts(**kwargs))


async def serve(
    port: int = 0,
    rate: float = 1.0,
    host: str = "127.0.0.1",
    *,
    out: TextIO | None = None,
    **options: Any,
) -> None:
    """Run an emulator until cancelled, publishing ``rate`` synthetic events per second.

    First prints the four ``RINGCENTRAL_SERVER_URL=…``, ``RINGCENTRAL_CLIENT_ID=…``,
    ``RINGCENTRAL_CLIENT_SECRET=…`` and ``RINGCENTRAL_JWT=…`` lines to ``out`` (default
    stdout) and flushes, so a parent process can read them. These are the emulator's own
    throw-away credentials. Other keyword ``options`` go to :class:`Emulator`. Cancelling
    the task closes every socket and returns after a clean shutdown.
    """
    stream = out if out is not None else sys.stdout
    async with Emulator(host=host, port=port, event_rate=rate, **options) as emu:
        for key, value in emu.env().items():
            print(f"{key}={value}", file=stream)
        stream.flush()
        await asyncio.Event().wait()
