"""Run an :class:`~rcstream.emulator.Emulator` in a background thread.

:class:`EmulatorThread` is for synchronous callers and for clients that block their own
event loop (the official ``ringcentral`` SDK calls ``requests`` from async code): the
emulator gets its own thread and event loop, so it keeps answering while the caller blocks.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

from rcstream.emulator.server import Emulator, EmulatorOptions

__all__ = ["EmulatorThread"]

T = TypeVar("T")


class EmulatorThread:
    """A synchronous context manager running an :class:`Emulator` in a daemon thread.

    ``with EmulatorThread(**options) as emu:`` (or ``EmulatorThread(options=...)``) starts
    the thread and its event loop and binds the server. Every public attribute of the
    emulator is forwarded, generically: properties (``server_url``, ``jwt``, ``sessions`` …)
    are read on the emulator's loop (directly once it stopped), plain methods run there,
    and coroutine methods (``publish``, ``wait_until``, ``abort_connections`` …) become
    blocking calls that wait for the result. ``timeout`` arguments are in seconds. Leaving
    the block closes the emulator (all sockets) and joins the thread.
    """

    def __init__(self, options: EmulatorOptions | None = None, **keywords: Any) -> None:
        self._options = options
        self._keywords = keywords
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
                async with Emulator(self._options, **self._keywords) as emu:
                    started.set_result(emu)
                    await self._stop.wait()
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                else:
                    raise

        asyncio.run(main())

    @property
    def emulator(self) -> Emulator:
        """The emulator itself; touch its state only from its own loop (see :meth:`call`)."""
        if self._emulator is None:
            raise RuntimeError("EmulatorThread is not started; use 'with EmulatorThread()'")
        return self._emulator

    def _submit(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("EmulatorThread is not started; use 'with EmulatorThread()'")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def call(self, fn: Callable[[Emulator], T]) -> T:
        """Run ``fn(emulator)`` on the emulator's loop and return its result."""
        emu = self.emulator

        async def run() -> T:
            return fn(emu)

        return self._submit(run())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        emu = self.emulator
        if isinstance(getattr(type(emu), name, None), property):
            if self._loop is None or self._loop.is_closed():
                return getattr(emu, name)  # stopped: nothing changes any more
            return self.call(lambda e: getattr(e, name))
        value = getattr(emu, name)
        if inspect.iscoroutinefunction(value):

            @functools.wraps(value)
            def blocking(*args: Any, **kwargs: Any) -> Any:
                return self._submit(value(*args, **kwargs))

            return blocking
        if inspect.ismethod(value):

            @functools.wraps(value)
            def on_loop(*args: Any, **kwargs: Any) -> Any:
                return self.call(lambda _e: value(*args, **kwargs))

            return on_loop
        return value
