"""Helpers for the CLI tests: run ``python -m rcstream`` as a real subprocess (started by
``support.spawn_cli``, with ``support.child_env``).

The test's event loop serves the in-process emulator while the subprocess runs, so every
wait here is ``await``-based (reading the child's stdout, the emulator's wait helpers);
nothing sleeps for a fixed time. (A module of its own, not ``conftest``: test modules
import it by name, which must not depend on which directory's conftest loaded first.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

#: Upper bound for any single wait in these tests (seconds); generous for loaded machines.
LIMIT = 15.0


class Cli:
    """A running ``rcstream`` subprocess with line-oriented access to its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stdout_lines: list[str] = []
        self._stderr = b""

    async def expect(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` (an emulator wait helper ...), failing at once with the
        child's stderr if the child exits first."""
        task = asyncio.ensure_future(awaitable)
        exited = asyncio.ensure_future(self.proc.wait())
        try:
            await asyncio.wait([task, exited], return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if not task.done():
            task.cancel()
            await self.wait()
            raise AssertionError(
                f"rcstream exited early ({self.proc.returncode}); stderr:\n{await self.stderr()}"
            )
        return task.result()

    async def line(self) -> str:
        """The next stdout line (without the newline); fails at EOF."""
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), LIMIT)
        assert raw, f"stdout closed early; stderr:\n{await self.stderr()}"
        text = raw.decode("utf-8").rstrip("\n")
        self.stdout_lines.append(text)
        return text

    async def json_line(self) -> dict[str, Any]:
        """The next stdout line parsed as JSON."""
        value = json.loads(await self.line())
        assert isinstance(value, dict)
        return value

    async def wait(self) -> int:
        """Wait for exit; collect the rest of stdout and all of stderr."""
        out, err = await asyncio.wait_for(self.proc.communicate(), LIMIT)
        self.stdout_lines.extend(out.decode("utf-8").splitlines())
        self._stderr += err
        assert self.proc.returncode is not None
        return self.proc.returncode

    async def stderr(self) -> str:
        """All of stderr (only complete once the process has exited)."""
        if self.proc.returncode is None:
            return "(still running)"
        return self._stderr.decode("utf-8", "replace")


def assert_no_traceback(stderr: str) -> None:
    """stderr must never show a Python traceback or an interpreter shutdown complaint."""
    assert "Traceback" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


class Receiver:
    """A local HTTP receiver for --forward-to that records each POST's raw body and
    headers, and answers ``status``."""

    def __init__(self, *, hang_first: bool = False, status: int = 200) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.status = status
        self.arrived = asyncio.Condition()
        self.release = asyncio.Event()
        self.hang_first = hang_first
        self.runner: web.AppRunner | None = None

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        async with self.arrived:
            self.bodies.append(body)
            self.headers.append(dict(request.headers))
            self.arrived.notify_all()
        if self.hang_first and len(self.bodies) == 1:
            await self.release.wait()  # never answers within the forwarder's timeout
        return web.Response(status=self.status)

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self.runner is not None
        await self.runner.cleanup()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(LIMIT), self.arrived:
            await self.arrived.wait_for(lambda: len(self.bodies) >= count)
